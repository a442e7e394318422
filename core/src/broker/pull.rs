//! PULL_MESSAGE (RocketMQ's `PullMessageProcessor` on a master, 4.9.x): a pull request in, a
//! [`PullDecision`] out: either the response, or "hold this pull" (long polling).
//!
//! Long polling: when nothing is there to read (PULL_NOT_FOUND) and the request has the
//! SUSPEND sysflag, the decision is [`PullDecision::Suspend`]. The shell parks the request and
//! runs [`process_pull`] again with [`PullAttempt::Resumed`] when a message arrives that
//! [`SuspendedPull::wakes_on`] accepts, or when the deadline passes; a resumed pull always
//! responds (PULL_NOT_FOUND if still nothing), and does not commit the offset a second time.
//!
//! Not done here (the defaults of RocketMQ make them no-ops or they belong elsewhere): broker
//! read permission and slave reads (`suggestWhichBrokerId` is always the master, 0),
//! subscription group configs (Java auto-creates them), SQL92 filters (answered SYSTEM_ERROR,
//! as Java does without `enablePropertyFilter`), and the OffsetMovedEvent message Java stores
//! on PULL_OFFSET_MOVED.

use std::borrow::Cow;

use bytes::Bytes;

use super::consumer::{ConsumerManager, RequestError};
use super::offset::OffsetTable;
use crate::protocol::heartbeat::SubscriptionData;
use crate::protocol::{perm, TopicConfig, MASTER_ID};
use crate::remoting::{
    Body, PullMessageRequestHeader, PullMessageResponseHeader, RemotingCommand, ResponseCode, BODY_PARTS_MAX,
};
use crate::store::message_store::GET_MESSAGES_COUNT_MAX;
use crate::store::{GetResult, GetStatus, MessageStore, QueueOffset};

/// Pull sysflag: commit `commitOffset` for the group along with this pull.
pub const PULL_SYS_FLAG_COMMIT_OFFSET: i32 = 1;
/// Pull sysflag: the broker may hold the pull until a message arrives (long polling).
pub const PULL_SYS_FLAG_SUSPEND: i32 = 1 << 1;
/// Pull sysflag: the request carries its subscription expression (else the heartbeat's).
pub const PULL_SYS_FLAG_SUBSCRIPTION: i32 = 1 << 2;
/// Pull sysflag: class filter mode (filter servers; not supported, ignored).
pub const PULL_SYS_FLAG_CLASS_FILTER: i32 = 1 << 3;

/// Longest hold of a suspended pull, whatever the client asks: push consumers ask 15 s and
/// time out at 30 s; a bound keeps a bad request from parking forever.
pub const PULL_SUSPEND_MS_MAX: i64 = 60_000;

// A pull's records become the parts of its body, one part each.
const _: () = assert!(GET_MESSAGES_COUNT_MAX <= BODY_PARTS_MAX);

/// `FAQUrl.suggestTodo(...)`, which Java appends to some remarks.
const FAQ_SUGGESTION: &str = "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// What to do with a pull.
#[derive(Debug, Clone, PartialEq)]
pub enum PullDecision {
    /// Send this response.
    Respond(RemotingCommand),
    /// Hold the request; run it again (resumed) on a waking arrival or at the deadline.
    Suspend(SuspendedPull),
}

/// A held pull: where it waits and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendedPull {
    /// When the pull must be answered at the latest (ms, the shell's clock).
    pub deadline_ms: i64,
    /// Topic of the queue waited on.
    pub topic: String,
    /// Queue waited on.
    pub queue_id: i32,
    /// The offset the pull reads from: a message at or past it wakes the pull.
    pub offset: i64,
    /// The pull's filter, so an arrival with another tag does not wake it.
    pub subscription: SubscriptionData,
}

impl SuspendedPull {
    /// Whether a message just stored in this pull's queue should wake it: the queue now
    /// reaches past the pull's offset (`queue_max_offset` is one past the newest message)
    /// and the message's tag code passes the filter (`None`: unknown, wake).
    pub fn wakes_on(&self, queue_max_offset: i64, tags_code: Option<i64>) -> bool {
        queue_max_offset > self.offset && tags_code.is_none_or(|code| self.subscription.matches_tags_code(code))
    }

    /// Whether the hold is over at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        now_ms >= self.deadline_ms
    }
}

/// Whether this is the pull as received, or a held pull run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAttempt {
    /// As received: may be suspended, commits the offset (Java's `brokerAllowSuspend`).
    First,
    /// Run again after a hold: always responds, commits nothing.
    Resumed,
}

/// What a pull reads besides the offsets it may commit.
pub struct PullContext<'a> {
    /// The messages.
    pub store: &'a MessageStore,
    /// Consumer groups and their heartbeat subscriptions.
    pub consumers: &'a ConsumerManager,
    /// The broker's topic configuration: `None` for a topic that does not exist here.
    pub topics: &'a dyn Fn(&str) -> Option<TopicConfig>,
}

/// PULL_MESSAGE (11), received at `now_ms`.
pub fn process_pull(
    context: &PullContext<'_>,
    offsets: &mut OffsetTable,
    now_ms: i64,
    request: &RemotingCommand,
    attempt: PullAttempt,
) -> PullDecision {
    match read_pull_header(request) {
        Ok(header) => process_read_pull(context, offsets, now_ms, request, &header, attempt, None),
        Err(response) => PullDecision::Respond(response),
    }
}

/// The pull request's header, or the response that refuses a bad one.
pub fn read_pull_header(request: &RemotingCommand) -> Result<PullMessageRequestHeader, RemotingCommand> {
    request.read_header::<PullMessageRequestHeader>().map_err(|error| RequestError::from(error).response_to(request))
}

/// [`process_pull`] with the header already read (`read_pull_header`). A held pull runs again
/// from the header its first attempt read, and passes as `built` the subscription that attempt
/// built from the request's own expression (SUBSCRIPTION sysflag): both depend on the request
/// alone, so reading and building them again would give the same. Everything that depends on
/// the broker's state (the topic, the group's subscription, the store) is looked at anew.
pub fn process_read_pull(
    context: &PullContext<'_>,
    offsets: &mut OffsetTable,
    now_ms: i64,
    request: &RemotingCommand,
    header: &PullMessageRequestHeader,
    attempt: PullAttempt,
    built: Option<&SubscriptionData>,
) -> PullDecision {
    let subscription = match check_topic(context, header, request)
        .and_then(|()| select_subscription(context.consumers, header, request, built))
    {
        Ok(subscription) => subscription,
        Err(response) => return PullDecision::Respond(response),
    };
    let count_max = usize::try_from(header.max_msg_nums).unwrap_or(0);
    let start = QueueOffset(u64::try_from(header.queue_offset).unwrap_or(0));
    let filter = |code: i64| subscription.matches_tags_code(code);
    let got = context.store.get_messages(&header.topic, header.queue_id, start, count_max, &filter);
    let decision = match got {
        Ok(got) => decide(request, header, got, subscription, now_ms, attempt),
        Err(error) => PullDecision::Respond(RequestError::from(error).response_to(request)),
    };
    if attempt == PullAttempt::First && header.sys_flag & PULL_SYS_FLAG_COMMIT_OFFSET != 0 {
        offsets.commit(&header.consumer_group, &header.topic, header.queue_id, header.commit_offset);
    }
    decision
}

/// The topic must exist here, be readable, and have the queue (Java's checks and remarks).
fn check_topic(
    context: &PullContext<'_>,
    header: &PullMessageRequestHeader,
    request: &RemotingCommand,
) -> Result<(), RemotingCommand> {
    let respond = |code, remark: String| Err(RemotingCommand::response_to(request, code, Some(remark)));
    let topic = &header.topic;
    let Some(config) = (context.topics)(topic) else {
        let remark = format!("topic[{topic}] not exist, apply first please! {FAQ_SUGGESTION}");
        return respond(ResponseCode::TopicNotExist, remark);
    };
    if config.perm & perm::READ == 0 {
        let remark = format!("the topic[{topic}] pulling message is forbidden");
        return respond(ResponseCode::NoPermission, remark);
    }
    if header.queue_id < 0 || header.queue_id >= config.read_queue_nums {
        let remark = format!(
            "queueId[{}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}]",
            header.queue_id, config.read_queue_nums
        );
        return respond(ResponseCode::SystemError, remark);
    }
    Ok(())
}

/// The pull's filter: from the request when it carries one (SUBSCRIPTION sysflag; `built`
/// when an earlier attempt of this request built it), else the group's from its heartbeats,
/// which must be at least as new as the request's version. Borrowed where it can be.
fn select_subscription<'a>(
    consumers: &'a ConsumerManager,
    header: &PullMessageRequestHeader,
    request: &RemotingCommand,
    built: Option<&'a SubscriptionData>,
) -> Result<Cow<'a, SubscriptionData>, RemotingCommand> {
    let respond = |code, remark: &str| Err(RemotingCommand::response_to(request, code, Some(remark.to_owned())));
    let subscription = if header.sys_flag & PULL_SYS_FLAG_SUBSCRIPTION != 0 {
        if let Some(built) = built {
            Cow::Borrowed(built)
        } else {
            let expression = header.subscription.as_deref();
            match SubscriptionData::build(&header.topic, expression, header.expression_type.as_deref()) {
                Ok(subscription) => Cow::Owned(subscription),
                Err(_) => {
                    return respond(ResponseCode::SubscriptionParseFailed, "parse the consumer's subscription failed")
                }
            }
        }
    } else {
        let Some(group) = consumers.group(&header.consumer_group) else {
            let remark = format!("the consumer's group info not exist{FAQ_SUGGESTION}");
            return respond(ResponseCode::SubscriptionNotExist, &remark);
        };
        let Some(subscription) = group.subscriptions.get(&header.topic) else {
            let remark = format!("the consumer's subscription not exist{FAQ_SUGGESTION}");
            return respond(ResponseCode::SubscriptionNotExist, &remark);
        };
        if subscription.sub_version < header.sub_version {
            return respond(ResponseCode::SubscriptionNotLatest, "the consumer's subscription not latest");
        }
        Cow::Borrowed(subscription)
    };
    if !subscription.is_tag_type() {
        let remark =
            format!("The broker does not support consumer to filter message by {}", subscription.expression_type);
        return respond(ResponseCode::SystemError, &remark);
    }
    Ok(subscription)
}

/// The response code for a store status, as Java's switch on a master maps it; `requested`
/// is the offset the pull asked for.
pub fn status_code(status: GetStatus, requested: i64) -> ResponseCode {
    match status {
        GetStatus::Found => ResponseCode::Success,
        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue if requested != 0 => ResponseCode::PullOffsetMoved,
        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue => ResponseCode::PullNotFound,
        GetStatus::NoMatchedMessage => ResponseCode::PullRetryImmediately,
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => ResponseCode::PullNotFound,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => ResponseCode::PullOffsetMoved,
    }
}

/// Java's name of a store status, which it puts in the response remark.
pub fn status_name(status: GetStatus) -> &'static str {
    match status {
        GetStatus::Found => "FOUND",
        GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
        GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
    }
}

/// A store offset as the wire's signed number.
fn wire_offset(offset: QueueOffset) -> i64 {
    i64::try_from(offset.0).unwrap_or(i64::MAX)
}

/// Turns the store's answer into the response, or a hold.
fn decide(
    request: &RemotingCommand,
    header: &PullMessageRequestHeader,
    got: GetResult,
    subscription: Cow<'_, SubscriptionData>,
    now_ms: i64,
    attempt: PullAttempt,
) -> PullDecision {
    let code = status_code(got.status, header.queue_offset);
    let suspend = header.sys_flag & PULL_SYS_FLAG_SUSPEND != 0;
    if code == ResponseCode::PullNotFound && suspend && attempt == PullAttempt::First {
        let hold_ms = header.suspend_timeout_millis.clamp(0, PULL_SUSPEND_MS_MAX);
        return PullDecision::Suspend(SuspendedPull {
            deadline_ms: now_ms.saturating_add(hold_ms),
            topic: header.topic.clone(),
            queue_id: header.queue_id,
            offset: header.queue_offset,
            subscription: subscription.into_owned(),
        });
    }
    let remark = Some(status_name(got.status).to_owned());
    let mut response = RemotingCommand::response_to(request, code, remark);
    response.write_header(&PullMessageResponseHeader {
        suggest_which_broker_id: MASTER_ID,
        next_begin_offset: wire_offset(got.next_begin_offset),
        min_offset: wire_offset(got.min_offset),
        max_offset: wire_offset(got.max_offset),
    });
    if code == ResponseCode::Success {
        response.body = Some(records_body(got.records));
    }
    PullDecision::Respond(response)
}

/// The pull body: the stored records back to back, one body part each, so the transport
/// writes them from the store's memory (the mmap'd CommitLog) without copying them together
/// (Java's `ManyMessageTransfer`).
fn records_body(records: Vec<Bytes>) -> Body {
    Body::from_parts(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Store statuses map to response codes as Java's PullMessageProcessor does on a master.
    #[test]
    fn status_codes_follow_pull_message_processor() {
        let cases = [
            (GetStatus::Found, 5, ResponseCode::Success),
            (GetStatus::NoMatchedMessage, 5, ResponseCode::PullRetryImmediately),
            (GetStatus::OffsetFoundNull, 5, ResponseCode::PullNotFound),
            (GetStatus::OffsetOverflowOne, 5, ResponseCode::PullNotFound),
            (GetStatus::OffsetOverflowBadly, 5, ResponseCode::PullOffsetMoved),
            (GetStatus::OffsetTooSmall, 5, ResponseCode::PullOffsetMoved),
            (GetStatus::NoMatchedLogicQueue, 5, ResponseCode::PullOffsetMoved),
            (GetStatus::NoMatchedLogicQueue, 0, ResponseCode::PullNotFound),
            (GetStatus::NoMessageInQueue, 5, ResponseCode::PullOffsetMoved),
            (GetStatus::NoMessageInQueue, 0, ResponseCode::PullNotFound),
        ];
        for (status, requested, code) in cases {
            assert_eq!(status_code(status, requested), code, "{status:?} at {requested}");
        }
        assert_eq!(status_name(GetStatus::OffsetOverflowOne), "OFFSET_OVERFLOW_ONE");
    }

    /// A held pull wakes only for a message at or past its offset whose tag passes its filter,
    /// and expires at its deadline.
    #[test]
    fn suspended_pull_wakes_on_matching_arrival() {
        let held = SuspendedPull {
            deadline_ms: 100,
            topic: "T".into(),
            queue_id: 0,
            offset: 4,
            subscription: SubscriptionData::build("T", Some("A"), None).expect("tags"),
        };
        let code_a = crate::message::tags::tags_code(Some("A"));
        let code_b = crate::message::tags::tags_code(Some("B"));
        assert!(!held.wakes_on(4, Some(code_a)));
        assert!(held.wakes_on(5, Some(code_a)));
        assert!(!held.wakes_on(5, Some(code_b)));
        assert!(held.wakes_on(5, None));
        assert!(!held.expired(99) && held.expired(100));
    }

    /// The body is the records back to back, each a part that is the record itself (the same
    /// memory, not a copy).
    #[test]
    fn body_parts_are_the_records() {
        let records = vec![Bytes::from_static(b"ab"), Bytes::from(vec![b'c'; 3]), Bytes::from_static(b"d")];
        let body = records_body(records.clone());
        assert_eq!(body.joined(), Bytes::from_static(b"abcccd"));
        let addresses = |parts: &[Bytes]| parts.iter().map(|part| part.as_ptr()).collect::<Vec<_>>();
        assert_eq!(addresses(body.parts()), addresses(&records));
        assert!(records_body(Vec::new()).is_empty());
    }
}
