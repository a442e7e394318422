//! Registration with the NameServers (RocketMQ's `BrokerOuterAPI.registerBrokerAll` and
//! `unregisterBrokerAll`): REGISTER_BROKER with the topic table to every NameServer at once,
//! each call with its own timeout, so one NameServer that is down or slow delays and stops
//! none of the others.

use std::net::SocketAddr;
use std::time::Duration;

use petrel_core::broker::config::BrokerConfig;
use petrel_core::protocol::{JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper};
use petrel_core::remoting::{
    RegisterBrokerRequestHeader, RemotingCommand, RequestCode, ResponseCode, UnregisterBrokerRequestHeader,
};
use tracing::{debug, warn};

use crate::remoting::RemotingClient;

/// How long one REGISTER_BROKER call may take (RocketMQ's `registerBrokerTimeoutMills`, 6 s).
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(6);

/// How long one UNREGISTER_BROKER call may take at shutdown: best effort, kept short so a
/// NameServer that is down does not hold the shutdown up.
pub const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// The HA port is the listen port plus this (RocketMQ's `haListenPort` default 10912 next to
/// 10911). Nothing listens there yet: replication is not implemented.
const HA_PORT_OFFSET: u16 = 1;

/// REGISTER_BROKER for `config`'s broker with `topics` (an uncompressed JSON body).
pub fn register_request(config: &BrokerConfig, topics: TopicConfigSerializeWrapper) -> RemotingCommand {
    let addr = config.broker_addr;
    let ha_addr = SocketAddr::new(addr.ip(), addr.port().wrapping_add(HA_PORT_OFFSET));
    let header = RegisterBrokerRequestHeader {
        broker_name: config.broker_name.clone(),
        broker_addr: addr.to_string(),
        cluster_name: config.cluster_name.clone(),
        ha_server_addr: ha_addr.to_string(),
        broker_id: config.broker_id,
        compressed: false,
        body_crc32: None,
    };
    let body = RegisterBrokerBody { topic_config_serialize_wrapper: topics, filter_server_list: Vec::new() };
    RemotingCommand::request(RequestCode::RegisterBroker, &header).with_body(body.encode_json())
}

/// UNREGISTER_BROKER for `config`'s broker.
pub fn unregister_request(config: &BrokerConfig) -> RemotingCommand {
    let header = UnregisterBrokerRequestHeader {
        broker_name: config.broker_name.clone(),
        broker_addr: config.broker_addr.to_string(),
        cluster_name: config.cluster_name.clone(),
        broker_id: config.broker_id,
    };
    RemotingCommand::request(RequestCode::UnregisterBroker, &header)
}

/// Sends `request` to every NameServer concurrently, each call bounded by `timeout`; returns
/// how many answered SUCCESS. Failures are logged, never fatal.
pub async fn call_all(
    client: &RemotingClient,
    namesrv_addrs: &[SocketAddr],
    request: &RemotingCommand,
    timeout: Duration,
) -> usize {
    let calls: Vec<_> = namesrv_addrs
        .iter()
        .map(|&addr| {
            let (client, request) = (client.clone(), request.clone());
            tokio::spawn(async move { (addr, client.invoke(addr, request, timeout).await) })
        })
        .collect();
    let mut succeeded = 0;
    for call in calls {
        match call.await {
            Ok((addr, Ok(response))) if response.code == ResponseCode::Success.as_i32() => {
                debug!(%addr, code = request.code, "name server answered");
                succeeded += 1;
            }
            Ok((addr, Ok(response))) => {
                warn!(%addr, code = response.code, remark = ?response.remark, "name server refused");
            }
            Ok((addr, Err(error))) => warn!(%addr, %error, "name server call failed"),
            Err(error) => warn!(%error, "name server call task failed"),
        }
    }
    succeeded
}
