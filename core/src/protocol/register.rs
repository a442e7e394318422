//! Broker registration with a name server: the REGISTER_BROKER body (`RegisterBrokerBody`) and
//! what the broker learns back (`RegisterBrokerResult`, with its `KvTable`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::body::{null_as_default, BodyError, JsonBody};
use super::topic::TopicConfigSerializeWrapper;
use crate::remoting::RegisterBrokerResponseHeader;

/// The body of REGISTER_BROKER (`RegisterBrokerBody.java`).
///
/// With the header's `compressed=false` (RocketMQ's default) the body is this struct as JSON.
/// With `compressed=true` it is a zlib stream of big-endian length-prefixed parts (the data
/// version's JSON, a topic count, each topic config in `TopicConfig.encode`'s space-separated
/// form, the filter server list's JSON), which `decode` reports as
/// `BodyError::CompressedRegisterBody`: Petrel has no inflater yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// The broker's topic configuration and its version; the name server builds the topics'
    /// queue data from it.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// Addresses of the broker's filter servers; an empty list clears any the name server had.
    #[serde(deserialize_with = "null_as_default")]
    pub filter_server_list: Vec<String>,
}

impl JsonBody for RegisterBrokerBody {
    const JAVA_NAME: &'static str = "RegisterBrokerBody";
}

impl RegisterBrokerBody {
    /// Reads a REGISTER_BROKER body; `compressed` is the request header's flag.
    pub fn decode(bytes: &[u8], compressed: bool) -> Result<Self, BodyError> {
        if compressed {
            return Err(BodyError::CompressedRegisterBody);
        }
        Self::decode_json(bytes)
    }
}

/// A string table (`KVTable.java`): the body of a REGISTER_BROKER response (the name server's
/// ORDER_TOPIC_CONFIG namespace) and of GET_KVLIST_BY_NAMESPACE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KvTable {
    /// Key -> value.
    #[serde(deserialize_with = "null_as_default")]
    pub table: BTreeMap<String, String>,
}

impl JsonBody for KvTable {
    const JAVA_NAME: &'static str = "KVTable";
}

/// What a registration tells the broker (`RegisterBrokerResult.java`). It travels as a
/// `RegisterBrokerResponseHeader` plus an optional `KvTable` body, not as JSON of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerResult {
    /// For a slave whose master is registered and live: the master's HA address, to
    /// replicate from.
    pub ha_server_addr: Option<String>,
    /// For a slave whose master is registered and live: the master's address.
    pub master_addr: Option<String>,
    /// The name server's order-topic configuration, when it keeps one.
    pub kv_table: Option<KvTable>,
}

impl RegisterBrokerResult {
    /// The response header carrying the addresses.
    pub fn response_header(&self) -> RegisterBrokerResponseHeader {
        RegisterBrokerResponseHeader {
            ha_server_addr: self.ha_server_addr.clone(),
            master_addr: self.master_addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DataVersion, TopicConfig};

    /// A body as a Java 4.9 broker sends it (uncompressed) decodes to the expected value, and
    /// Petrel's encoding reads back the same.
    #[test]
    fn register_body_from_java_json() {
        let java = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":
            {"counter":7,"timestamp":1700000000123},"topicConfigTable":{"T":{"order":false,
            "perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T",
            "topicSysFlag":0,"writeQueueNums":4}}}}"#;
        let expected = RegisterBrokerBody {
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                topic_config_table: BTreeMap::from([("T".to_owned(), TopicConfig::new("T", 4))]),
                data_version: DataVersion { timestamp: 1_700_000_000_123, counter: 7 },
            },
            filter_server_list: Vec::new(),
        };
        assert_eq!(RegisterBrokerBody::decode(java, false).as_ref(), Ok(&expected));
        let encoded = expected.encode_json();
        assert_eq!(RegisterBrokerBody::decode(&encoded, false), Ok(expected));
    }

    /// A compressed body is a typed error whatever its bytes; an empty JSON object is the
    /// default body (Java's field initialisers).
    #[test]
    fn compressed_body_is_reported() {
        assert_eq!(RegisterBrokerBody::decode(b"\x78\xda\x01", true), Err(BodyError::CompressedRegisterBody));
        assert_eq!(RegisterBrokerBody::decode(b"{}", false), Ok(RegisterBrokerBody::default()));
    }

    /// A KV table round-trips, and a result becomes the response header field for field.
    #[test]
    fn kv_table_and_result_header() {
        let table = KvTable { table: BTreeMap::from([("T".to_owned(), "broker-a:4".to_owned())]) };
        assert_eq!(table.to_json(), r#"{"table":{"T":"broker-a:4"}}"#);
        assert_eq!(KvTable::decode_json(&table.encode_json()), Ok(table));
        let result = RegisterBrokerResult {
            ha_server_addr: Some("10.0.0.1:10912".into()),
            master_addr: Some("10.0.0.1:10911".into()),
            kv_table: None,
        };
        assert_eq!(
            result.response_header(),
            RegisterBrokerResponseHeader {
                ha_server_addr: Some("10.0.0.1:10912".into()),
                master_addr: Some("10.0.0.1:10911".into()),
            }
        );
    }
}
