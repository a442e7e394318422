//! The JSON header (serialize type 0), as Java's fastjson writes `RemotingCommand`:
//!
//! ```text
//! {"code":105,"extFields":{"topic":"T"},"flag":0,"language":"JAVA","opaque":7,
//!  "serializeTypeCurrentRPC":"JSON","version":401}
//! ```
//!
//! Encoding writes the fields in fastjson's (alphabetical) order, leaves out a missing remark and
//! empty extFields as fastjson leaves out nulls. Decoding is lenient the way a Java peer is:
//! unknown fields are ignored, missing ones take Java's defaults (0, language JAVA), an unknown
//! language is OTHER, and an extFields value may be a number or a boolean (kept as its text) or
//! null (dropped). It is strict about what would lose data: the text must be UTF-8, one JSON
//! object, numbers must fit i32, and nothing but whitespace may follow the object.

use std::collections::BTreeMap;

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::{LanguageCode, SerializeType};
use super::command::RemotingCommand;
use super::error::{EncodeError, FrameError};

/// The header as written. Field order is the JSON order.
#[derive(Serialize)]
struct JsonHeaderOut<'a> {
    /// Request or response code.
    code: i32,
    /// Typed-header fields; absent when empty.
    #[serde(rename = "extFields", skip_serializing_if = "BTreeMap::is_empty")]
    ext_fields: &'a BTreeMap<String, String>,
    /// Response / one-way bits.
    flag: i32,
    /// Java enum name of the sender's language.
    language: &'static str,
    /// Request id.
    opaque: i32,
    /// Remark; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    /// Always "JSON": Java deserializes this field into the command it builds.
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type_current_rpc: &'static str,
    /// Sender's protocol version.
    version: i32,
}

/// The header as read: every field optional, unknown fields ignored.
#[derive(Deserialize)]
struct JsonHeaderIn {
    /// Request or response code; Java's default 0 when absent.
    #[serde(default)]
    code: i32,
    /// Language as a name (normal) or a number; read leniently by `language_from_json`.
    #[serde(default)]
    language: Option<Value>,
    /// Protocol version; 0 when absent.
    #[serde(default)]
    version: i32,
    /// Request id; 0 when absent.
    #[serde(default)]
    opaque: i32,
    /// Response / one-way bits; 0 when absent.
    #[serde(default)]
    flag: i32,
    /// Remark; a JSON null is none.
    #[serde(default)]
    remark: Option<String>,
    /// Typed-header fields; values read leniently by `ext_value_from_json`.
    #[serde(default, rename = "extFields")]
    ext_fields: Option<BTreeMap<String, Value>>,
}

/// Appends the JSON header of `command` to `out`.
pub(crate) fn encode(command: &RemotingCommand, out: &mut BytesMut) -> Result<(), EncodeError> {
    let header = JsonHeaderOut {
        code: command.code,
        ext_fields: &command.ext_fields,
        flag: command.flag,
        language: command.language.java_name(),
        opaque: command.opaque,
        remark: command.remark.as_deref(),
        serialize_type_current_rpc: SerializeType::Json.java_name(),
        version: command.version,
    };
    serde_json::to_writer(out.writer(), &header).map_err(|e| EncodeError::Json { reason: e.to_string() })
}

/// Decodes a whole JSON header. The returned command has no body.
pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let text = std::str::from_utf8(header).map_err(|_| FrameError::InvalidUtf8 { field: "JSON header" })?;
    // serde would also read a struct from an array of its fields in order; Java never sends one.
    if !text.trim_start().starts_with('{') {
        return Err(FrameError::InvalidJsonHeader { reason: "not a JSON object".to_owned() });
    }
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<JsonHeaderIn>();
    let parsed = match stream.next() {
        Some(Ok(parsed)) => parsed,
        Some(Err(e)) => return Err(FrameError::InvalidJsonHeader { reason: e.to_string() }),
        None => return Err(FrameError::InvalidJsonHeader { reason: "no JSON value".to_owned() }),
    };
    let rest = text.get(stream.byte_offset()..).unwrap_or_default().trim_start();
    if !rest.is_empty() {
        return Err(FrameError::TrailingHeaderBytes { section: "JSON header", trailing_bytes: rest.len() });
    }
    Ok(RemotingCommand {
        code: parsed.code,
        language: language_from_json(parsed.language.as_ref()),
        version: parsed.version,
        opaque: parsed.opaque,
        flag: parsed.flag,
        remark: parsed.remark,
        ext_fields: ext_fields_from_json(parsed.ext_fields.unwrap_or_default())?,
        body: None,
        serialize_type: SerializeType::Json,
    })
}

/// The language of a JSON header: Java's default JAVA when absent or null, OTHER when unknown.
fn language_from_json(value: Option<&Value>) -> LanguageCode {
    match value {
        None | Some(Value::Null) => LanguageCode::Java,
        Some(Value::String(name)) => LanguageCode::from_java_name(name).unwrap_or(LanguageCode::Other),
        Some(Value::Number(number)) => number
            .as_u64()
            .and_then(|code| u8::try_from(code).ok())
            .and_then(LanguageCode::from_u8)
            .unwrap_or(LanguageCode::Other),
        Some(_) => LanguageCode::Other,
    }
}

fn ext_fields_from_json(raw: BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, FrameError> {
    let mut fields = BTreeMap::new();
    for (key, value) in raw {
        if let Some(text) = ext_value_from_json(value)? {
            fields.insert(key, text);
        }
    }
    Ok(fields)
}

/// An extFields value as text: strings as they are, numbers and booleans as their JSON text,
/// null as absent (Java's `HashMap.get` cannot tell the two apart). Arrays and objects are
/// rejected: no Java header field is one, so they mean a confused or hostile peer.
fn ext_value_from_json(value: Value) -> Result<Option<String>, FrameError> {
    match value {
        Value::String(text) => Ok(Some(text)),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        Value::Null => Ok(None),
        Value::Array(_) | Value::Object(_) => {
            Err(FrameError::InvalidJsonHeader { reason: "an extFields value is an array or object".to_owned() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_str(text: &str) -> Result<RemotingCommand, FrameError> {
        decode(text.as_bytes())
    }

    /// The example from the protocol reference decodes to the fields it spells out.
    #[test]
    fn decodes_reference_example() {
        let command =
            decode_str(r#"{"code":105,"language":"JAVA","version":401,"opaque":7,"flag":0,"extFields":{"topic":"T"}}"#);
        let Ok(command) = command else { panic!("{command:?}") };
        assert_eq!((command.code, command.version, command.opaque, command.flag), (105, 401, 7, 0));
        assert_eq!(command.language, LanguageCode::Java);
        assert_eq!(command.remark, None);
        assert_eq!(command.ext_fields.get("topic").map(String::as_str), Some("T"));
    }

    /// Encoding writes fastjson's field names and order, and leaves out none/empty fields.
    #[test]
    fn encodes_fastjson_shape() {
        let mut command = RemotingCommand::response(super::super::ResponseCode::Success, None).with_opaque(9);
        command.language = LanguageCode::Java;
        let mut out = BytesMut::new();
        assert_eq!(encode(&command, &mut out), Ok(()));
        assert_eq!(
            &out[..],
            br#"{"code":0,"flag":1,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":401}"#
        );
        command.remark = Some("r".into());
        command.ext_fields.insert("k".into(), "v".into());
        let mut out = BytesMut::new();
        assert_eq!(encode(&command, &mut out), Ok(()));
        assert_eq!(
            &out[..],
            br#"{"code":0,"extFields":{"k":"v"},"flag":1,"language":"JAVA","opaque":9,"remark":"r","serializeTypeCurrentRPC":"JSON","version":401}"#
        );
    }

    /// Unknown fields are ignored, missing ones take Java's defaults, an unknown or numeric
    /// language is read leniently, and scalar extFields values become text (null dropped).
    #[test]
    fn decoding_is_lenient_where_java_is() {
        let command = decode_str(
            r#" {"code":11,"language":"KOTLIN","future":[1,{"x":2}],"extFields":{"a":1,"b":true,"c":null,"d":-2.5}} "#,
        );
        let Ok(command) = command else { panic!("{command:?}") };
        assert_eq!((command.code, command.version, command.opaque, command.flag), (11, 0, 0, 0));
        assert_eq!(command.language, LanguageCode::Other);
        let fields: Vec<(&str, &str)> = command.ext_fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(fields, [("a", "1"), ("b", "true"), ("d", "-2.5")]);
        assert_eq!(decode_str("{}").map(|c| c.language), Ok(LanguageCode::Java));
        assert_eq!(decode_str(r#"{"language":9}"#).map(|c| c.language), Ok(LanguageCode::Go));
        assert_eq!(decode_str(r#"{"language":900}"#).map(|c| c.language), Ok(LanguageCode::Other));
    }

    /// Shapes that would lose data are InvalidJsonHeader: not an object, a number out of i32
    /// range, a nested extFields value, empty text.
    #[test]
    fn wrong_shapes_are_invalid_json() {
        for text in [
            "[]",
            "[1,2]",
            "7",
            r#"{"code":2147483648}"#,
            r#"{"code":"1"}"#,
            r#"{"extFields":{"a":[1]}}"#,
            "",
            "  ",
            "{",
        ] {
            assert!(
                matches!(decode_str(text), Err(FrameError::InvalidJsonHeader { .. })),
                "{text:?} gave {:?}",
                decode_str(text)
            );
        }
    }

    /// Non-whitespace after the object is TrailingHeaderBytes, with the count of those bytes.
    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(
            decode_str(r#"{"code":1} x{}"#),
            Err(FrameError::TrailingHeaderBytes { section: "JSON header", trailing_bytes: 3 })
        );
    }

    /// A header that is not UTF-8 is InvalidUtf8, before any JSON parsing.
    #[test]
    fn invalid_utf8_is_rejected() {
        assert_eq!(decode(b"{\"remark\":\"\xff\"}"), Err(FrameError::InvalidUtf8 { field: "JSON header" }));
    }
}
