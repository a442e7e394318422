//! Headers of client management, broker registration with the name server, routes and topic
//! administration. Field names are Java's (RocketMQ 4.9.x).

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38): the client ids of a group, for rebalancing.
    pub struct GetConsumerListByGroupRequestHeader {
        /// Consumer group asked about.
        consumer_group: String => "consumerGroup",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35): a client shuts down and leaves its groups.
    pub struct UnregisterClientRequestHeader {
        /// The client's id (`ip@instance`); Java spells the key `clientID`.
        client_id: String => "clientID",
        /// Producer group left, if the client was a producer.
        producer_group: Option<String> => "producerGroup",
        /// Consumer group left, if the client was a consumer.
        consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40), broker -> consumer: rebalance now.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// Consumer group whose membership changed.
        consumer_group: String => "consumerGroup",
    }
}

command_header! {
    /// REGISTER_BROKER (103), broker -> name server; the body is the topic config wrapper.
    pub struct RegisterBrokerRequestHeader {
        /// Broker name (a master and its slaves share it).
        broker_name: String => "brokerName",
        /// `ip:port` clients use to reach this broker.
        broker_addr: String => "brokerAddr",
        /// Cluster the broker belongs to.
        cluster_name: String => "clusterName",
        /// `ip:port` of the broker's HA service, for slaves to replicate from.
        ha_server_addr: String => "haServerAddr",
        /// 0 for a master, > 0 for a slave.
        broker_id: i64 => "brokerId",
        /// The body is zlib-compressed; false when absent.
        compressed: bool => "compressed" or false,
        /// CRC32 of the body, checked by the name server when present and non-zero.
        body_crc32: Option<i32> => "bodyCrc32",
    }
}

command_header! {
    /// Response to REGISTER_BROKER.
    pub struct RegisterBrokerResponseHeader {
        /// HA address of the master, for a registering slave.
        ha_server_addr: Option<String> => "haServerAddr",
        /// Address of the master, for a registering slave.
        master_addr: Option<String> => "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104), broker -> name server on shutdown.
    /// (Java's class is spelled `UnRegisterBrokerRequestHeader`.)
    pub struct UnregisterBrokerRequestHeader {
        /// Broker name.
        broker_name: String => "brokerName",
        /// Broker address being removed.
        broker_addr: String => "brokerAddr",
        /// Cluster of the broker.
        cluster_name: String => "clusterName",
        /// 0 for a master, > 0 for a slave.
        broker_id: i64 => "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105): a client asks the name server for a topic's route.
    pub struct GetRouteInfoRequestHeader {
        /// Topic asked about.
        topic: String => "topic",
        /// The client wants standard JSON (quoted map keys) in the body.
        accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17).
    pub struct CreateTopicRequestHeader {
        /// Topic created or updated.
        topic: String => "topic",
        /// Template topic (normally TBW102).
        default_topic: String => "defaultTopic",
        /// Queues consumers read from.
        read_queue_nums: i32 => "readQueueNums",
        /// Queues producers write to.
        write_queue_nums: i32 => "writeQueueNums",
        /// Permission bits: READ 4, WRITE 2, INHERIT 1.
        perm: i32 => "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: String => "topicFilterType",
        /// Topic sys flag bits (unit mode).
        topic_sys_flag: Option<i32> => "topicSysFlag",
        /// Ordered topic.
        order: bool => "order",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215) and DELETE_TOPIC_IN_NAMESRV (216).
    pub struct DeleteTopicRequestHeader {
        /// Topic deleted.
        topic: String => "topic",
    }
}

command_header! {
    /// GET_TOPICS_BY_CLUSTER (224).
    pub struct GetTopicsByClusterRequestHeader {
        /// Cluster asked about.
        cluster: String => "cluster",
    }
}

#[cfg(test)]
mod tests {
    use crate::remoting::ExtFields;

    use proptest::prelude::*;

    use super::*;
    use crate::remoting::header::test_support::wire_round_trip;
    use crate::remoting::header::CommandHeader;

    proptest! {
        /// Every admin header reads what a Java peer sends and writes it back unchanged.
        #[test]
        fn admin_headers_round_trip(
            a in GetConsumerListByGroupRequestHeader::wire_fields_strategy(),
            b in UnregisterClientRequestHeader::wire_fields_strategy(),
            c in NotifyConsumerIdsChangedRequestHeader::wire_fields_strategy(),
            d in RegisterBrokerRequestHeader::wire_fields_strategy(),
            e in RegisterBrokerResponseHeader::wire_fields_strategy(),
            f in UnregisterBrokerRequestHeader::wire_fields_strategy(),
            g in GetRouteInfoRequestHeader::wire_fields_strategy(),
            h in CreateTopicRequestHeader::wire_fields_strategy(),
            i in DeleteTopicRequestHeader::wire_fields_strategy(),
            j in GetTopicsByClusterRequestHeader::wire_fields_strategy(),
        ) {
            wire_round_trip::<GetConsumerListByGroupRequestHeader>(&a)?;
            wire_round_trip::<UnregisterClientRequestHeader>(&b)?;
            wire_round_trip::<NotifyConsumerIdsChangedRequestHeader>(&c)?;
            wire_round_trip::<RegisterBrokerRequestHeader>(&d)?;
            wire_round_trip::<RegisterBrokerResponseHeader>(&e)?;
            wire_round_trip::<UnregisterBrokerRequestHeader>(&f)?;
            wire_round_trip::<GetRouteInfoRequestHeader>(&g)?;
            wire_round_trip::<CreateTopicRequestHeader>(&h)?;
            wire_round_trip::<DeleteTopicRequestHeader>(&i)?;
            wire_round_trip::<GetTopicsByClusterRequestHeader>(&j)?;
        }
    }

    /// A register-broker header as a Java broker sends it: `compressed` and `bodyCrc32` written
    /// from defaults, and the typed values read back.
    #[test]
    fn register_broker_from_java_fields() {
        let fields: ExtFields = [
            ("brokerName", "broker-a"),
            ("brokerAddr", "10.0.0.1:10911"),
            ("clusterName", "DefaultCluster"),
            ("haServerAddr", "10.0.0.1:10912"),
            ("brokerId", "0"),
            ("compressed", "false"),
            ("bodyCrc32", "-12345"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let header = RegisterBrokerRequestHeader::read_fields(&fields);
        assert_eq!(
            header,
            Ok(RegisterBrokerRequestHeader {
                broker_name: "broker-a".into(),
                broker_addr: "10.0.0.1:10911".into(),
                cluster_name: "DefaultCluster".into(),
                ha_server_addr: "10.0.0.1:10912".into(),
                broker_id: 0,
                compressed: false,
                body_crc32: Some(-12345),
            })
        );
    }

    /// `clientID` keeps Java's capitalisation on the wire.
    #[test]
    fn unregister_client_uses_java_key() {
        let header = UnregisterClientRequestHeader { client_id: "1.2.3.4@1".into(), ..Default::default() };
        let mut fields = ExtFields::new();
        header.write_fields(&mut fields);
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["clientID"]);
    }
}
