//! `JsonBody`: how a protocol body type becomes a command body and back, and `BodyError`, why a
//! received body was rejected.
//!
//! Java peers write bodies with fastjson (`RemotingSerializable.encode`), which is JSON except
//! that maps with integer keys come out with the keys unquoted (`{0:"1.2.3.4:10911"}`). Decoding
//! therefore runs the text through [`java_json_to_valid`] first, and ignores fields it does not
//! know (a newer peer may send more). Encoding is always valid JSON with quoted keys, which every
//! fastjson version reads back (it converts `"0"` to the map's `Long` key).

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::remoting::java_json_to_valid;

/// Longest piece of serde_json's error text kept in a `BodyError`: the text may quote the bad
/// value, and the error can end up in a response remark, so it stays small whatever a peer sent.
pub const BODY_ERROR_REASON_CHARS_MAX: usize = 160;

/// Why a received body cannot be read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not UTF-8, so it cannot be JSON.
    #[error("{body} body is not UTF-8")]
    NotUtf8 {
        /// The Java class the body should hold.
        body: &'static str,
    },

    /// The body is not JSON, or not of the expected shape.
    #[error("{body} body is not valid: {reason}")]
    InvalidJson {
        /// The Java class the body should hold.
        body: &'static str,
        /// serde_json's description, cut to `BODY_ERROR_REASON_CHARS_MAX` characters.
        reason: String,
    },

    /// A REGISTER_BROKER body sent with `compressed=true` (RocketMQ's zlib-deflated layout).
    /// Petrel does not inflate it yet; brokers send it only when `compressedRegister` is set.
    #[error("compressed RegisterBrokerBody is not supported: set compressedRegister=false")]
    CompressedRegisterBody,
}

impl BodyError {
    /// An `InvalidJson` error for `body` holding a bounded piece of `error`'s text.
    fn invalid(body: &'static str, error: &serde_json::Error) -> Self {
        let reason = error.to_string().chars().take(BODY_ERROR_REASON_CHARS_MAX).collect();
        BodyError::InvalidJson { body, reason }
    }
}

/// A type that travels as a JSON command body (Java's `RemotingSerializable` subclasses).
pub trait JsonBody: Serialize + DeserializeOwned {
    /// The Java class name, for error messages.
    const JAVA_NAME: &'static str;

    /// The body as valid JSON text. Map keys come out quoted and, being `BTreeMap`s, sorted, so
    /// the same value always encodes to the same bytes.
    fn to_json(&self) -> String {
        // Every body type is made of strings, integers, booleans, vectors and maps keyed by
        // strings or integers, which serde_json always serializes.
        serde_json::to_string(self).expect("protocol body types always serialize to JSON")
    }

    /// The body as command body bytes.
    fn encode_json(&self) -> Bytes {
        Bytes::from(self.to_json())
    }

    /// Reads the body from JSON text written by Petrel or by a Java peer (fastjson's unquoted
    /// integer keys accepted, unknown fields ignored).
    fn from_json(text: &str) -> Result<Self, BodyError> {
        let valid = java_json_to_valid(text);
        serde_json::from_str(&valid).map_err(|error| BodyError::invalid(Self::JAVA_NAME, &error))
    }

    /// Reads the body from command body bytes; see `from_json`.
    fn decode_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| BodyError::NotUtf8 { body: Self::JAVA_NAME })?;
        Self::from_json(text)
    }
}

/// Deserializes `null` as the type's default: fastjson omits null fields, but a Java object
/// whose collection field is null may still be written `"field":null` by other serializers,
/// and Java reads that as an absent collection.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A small body type for exercising the trait's defaults.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        /// An integer-keyed map, the case fastjson writes without quotes.
        #[serde(default, deserialize_with = "null_as_default")]
        ids: BTreeMap<i64, String>,
    }

    impl JsonBody for Sample {
        const JAVA_NAME: &'static str = "Sample";
    }

    /// Unquoted integer keys, unknown fields and `null` collections are all accepted.
    #[test]
    fn decodes_java_style_json() {
        let decoded = Sample::decode_json(br#"{"ids":{0:"a",-1:"b"},"extra":[1,{"x":2}]}"#);
        let expected = BTreeMap::from([(-1, "b".to_owned()), (0, "a".to_owned())]);
        assert_eq!(decoded, Ok(Sample { ids: expected }));
        assert_eq!(Sample::decode_json(br#"{"ids":null}"#), Ok(Sample { ids: BTreeMap::new() }));
    }

    /// Encoding quotes integer keys and sorts them, so the text is valid and deterministic.
    #[test]
    fn encodes_valid_sorted_json() {
        let sample = Sample { ids: BTreeMap::from([(10, "x".to_owned()), (2, "y".to_owned())]) };
        assert_eq!(sample.to_json(), r#"{"ids":{"2":"y","10":"x"}}"#);
        assert_eq!(Sample::decode_json(&sample.encode_json()), Ok(sample));
    }

    /// Bytes that are not UTF-8, not JSON, or of the wrong shape are typed errors, and a huge
    /// bad value is cut short in the error.
    #[test]
    fn rejects_bad_bodies() {
        assert_eq!(Sample::decode_json(&[0xff, 0xfe]), Err(BodyError::NotUtf8 { body: "Sample" }));
        assert!(matches!(Sample::decode_json(b"{\"ids\":"), Err(BodyError::InvalidJson { body: "Sample", .. })));
        let huge = format!("{{\"ids\":\"{}\"}}", "z".repeat(10_000));
        let Err(BodyError::InvalidJson { reason, .. }) = Sample::decode_json(huge.as_bytes()) else {
            panic!("a string is not a map")
        };
        assert!(reason.chars().count() <= BODY_ERROR_REASON_CHARS_MAX, "{reason}");
    }
}
