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
//! object, numbers must fit i32, a field may not appear twice, and nothing but whitespace may
//! follow the object.
//!
//! Every request and response passes through here twice, so both directions are written by hand
//! for this one shape rather than through serde (which cost a quarter of a simulated cluster's
//! CPU). The output is byte-for-byte what serde_json writes, and decoding accepts and rejects
//! what serde_json does: the tests hold both to a serde_json reference on generated input.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::code::{LanguageCode, SerializeType};
use super::command::RemotingCommand;
use super::error::{EncodeError, FrameError};
use super::ext_fields::{ExtFields, EXT_FIELDS_TYPICAL};

/// How deep arrays and objects may nest inside a value that is read (serde_json's limit).
const NESTING_DEPTH_MAX: usize = 128;

/// Appends the JSON header of `command` to `out`.
pub(crate) fn encode(command: &RemotingCommand, out: &mut BytesMut) -> Result<(), EncodeError> {
    let fields_len: usize = command.ext_fields.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    out.reserve(112 + fields_len + command.remark.as_ref().map_or(0, String::len));
    out.put_slice(b"{\"code\":");
    put_i32(out, command.code);
    if !command.ext_fields.is_empty() {
        out.put_slice(b",\"extFields\":{");
        for (n, (key, value)) in command.ext_fields.iter().enumerate() {
            if n > 0 {
                out.put_u8(b',');
            }
            put_string(out, key);
            out.put_u8(b':');
            put_string(out, value);
        }
        out.put_u8(b'}');
    }
    out.put_slice(b",\"flag\":");
    put_i32(out, command.flag);
    out.put_slice(b",\"language\":");
    put_string(out, command.language.java_name());
    out.put_slice(b",\"opaque\":");
    put_i32(out, command.opaque);
    if let Some(remark) = &command.remark {
        out.put_slice(b",\"remark\":");
        put_string(out, remark);
    }
    out.put_slice(b",\"serializeTypeCurrentRPC\":");
    put_string(out, SerializeType::Json.java_name());
    out.put_slice(b",\"version\":");
    put_i32(out, command.version);
    out.put_u8(b'}');
    Ok(())
}

/// Writes `value` in decimal.
fn put_i32(out: &mut BytesMut, value: i32) {
    out.put_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes `text` as a JSON string, escaping as serde_json does: quote, backslash and the control
/// characters below 0x20 (short escapes where JSON has them, `\u00xx` otherwise).
fn put_string(out: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.put_slice(&bytes[clean_from..at]);
        clean_from = at + 1;
        if short == b'u' {
            out.put_slice(b"\\u00");
            out.put_u8(HEX[usize::from(byte >> 4)]);
            out.put_u8(HEX[usize::from(byte & 0xf)]);
        } else {
            out.put_u8(b'\\');
            out.put_u8(short);
        }
    }
    out.put_slice(&bytes[clean_from..]);
    out.put_u8(b'"');
}

/// Decodes a whole JSON header. The returned command has no body.
pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let text = std::str::from_utf8(header).map_err(|_| FrameError::InvalidUtf8 { field: "JSON header" })?;
    let mut parser = Parser::new(text);
    parser.skip_whitespace();
    if parser.peek() != Some(b'{') {
        return Err(invalid("not a JSON object"));
    }
    let fields = parser.header_fields()?;
    let rest = text.get(parser.at..).unwrap_or_default().trim_start();
    if !rest.is_empty() {
        return Err(FrameError::TrailingHeaderBytes { section: "JSON header", trailing_bytes: rest.len() });
    }
    if fields.ext_value_nested {
        return Err(invalid("an extFields value is an array or object"));
    }
    Ok(RemotingCommand {
        code: fields.code.unwrap_or(0),
        language: fields.language.unwrap_or(LanguageCode::Java),
        version: fields.version.unwrap_or(0),
        opaque: fields.opaque.unwrap_or(0),
        flag: fields.flag.unwrap_or(0),
        remark: fields.remark.flatten(),
        ext_fields: fields.ext_fields.flatten().unwrap_or_default(),
        body: None,
        serialize_type: SerializeType::Json,
    })
}

fn invalid(reason: &str) -> FrameError {
    FrameError::InvalidJsonHeader { reason: reason.to_owned() }
}

/// The header's fields as read; `None` for a field that did not appear.
#[derive(Default)]
struct HeaderFields {
    code: Option<i32>,
    language: Option<LanguageCode>,
    version: Option<i32>,
    opaque: Option<i32>,
    flag: Option<i32>,
    /// `Some(None)`: the remark was null.
    remark: Option<Option<String>>,
    /// `Some(None)`: extFields was null.
    ext_fields: Option<Option<ExtFields>>,
    /// An extFields value was an array or object: reported after the whole text is checked, as
    /// it is a wrong shape in otherwise well-formed JSON.
    ext_value_nested: bool,
}

/// A cursor over the header text.
struct Parser<'a> {
    text: &'a str,
    /// Byte position of the next unread byte; always on a char boundary between tokens.
    at: usize,
    /// How many more arrays or objects may be opened while reading values (serde_json's
    /// recursion limit, which counts the containers it reads but not those it skips).
    depth_left: usize,
}

/// The JSON scalar or container that starts a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Str,
    Number,
    True,
    False,
    Null,
    Array,
    Object,
}

/// How a value is consumed: `Read` checks what serde_json checks when it builds a value
/// (strings must be valid Unicode, numbers in range, nesting bounded); `Skip` checks only what
/// it checks for a value it ignores (the grammar).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Skip,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, at: 0, depth_left: NESTING_DEPTH_MAX }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// What the next value is, after optional whitespace; consumes nothing of it.
    fn start(&mut self) -> Result<Start, FrameError> {
        self.skip_whitespace();
        Ok(match self.peek() {
            Some(b'"') => Start::Str,
            Some(b'-' | b'0'..=b'9') => Start::Number,
            Some(b't') => Start::True,
            Some(b'f') => Start::False,
            Some(b'n') => Start::Null,
            Some(b'[') => Start::Array,
            Some(b'{') => Start::Object,
            Some(_) => return Err(invalid("expected a value")),
            None => return Err(invalid("EOF while parsing a value")),
        })
    }

    /// Consumes the literal `word` (true, false, null).
    fn literal(&mut self, word: &str) -> Result<(), FrameError> {
        if self.text.get(self.at..).is_some_and(|rest| rest.starts_with(word)) {
            self.at += word.len();
            Ok(())
        } else {
            Err(invalid("expected a literal"))
        }
    }

    /// Consumes a number and returns its text; checks the JSON number grammar only.
    fn number(&mut self) -> Result<&'a str, FrameError> {
        let bytes = self.text.as_bytes();
        let digits_from =
            |at: usize| at + bytes.get(at..).unwrap_or_default().iter().take_while(|b| b.is_ascii_digit()).count();
        let from = self.at;
        let mut at = from + usize::from(bytes.get(from) == Some(&b'-'));
        match bytes.get(at) {
            Some(b'0') if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) => return Err(invalid("invalid number")),
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = digits_from(at),
            _ => return Err(invalid("invalid number")),
        }
        if bytes.get(at) == Some(&b'.') {
            let end = digits_from(at + 1);
            if end == at + 1 {
                return Err(invalid("invalid number"));
            }
            at = end;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let end = digits_from(at);
            if end == at {
                return Err(invalid("invalid number"));
            }
            at = end;
        }
        self.at = at;
        Ok(&self.text[from..at])
    }

    /// Consumes a string (the cursor is on its quote). In `Read` mode returns its contents,
    /// unescaped, and refuses escapes that are not Unicode (lone surrogates); in `Skip` mode
    /// returns nothing and checks only that escapes are well-formed.
    fn string(&mut self, mode: Mode) -> Result<Option<Cow<'a, str>>, FrameError> {
        let bytes = self.text.as_bytes();
        let from = self.at + 1;
        let mut at = from;
        let mut out: Option<String> = None;
        let mut clean_from = from;
        loop {
            match bytes.get(at) {
                Some(b'"') => {
                    self.at = at + 1;
                    if mode == Mode::Skip {
                        return Ok(None);
                    }
                    let clean = &self.text[clean_from..at];
                    return Ok(Some(match out {
                        None => Cow::Borrowed(clean),
                        Some(mut text) => {
                            text.push_str(clean);
                            Cow::Owned(text)
                        }
                    }));
                }
                Some(b'\\') => {
                    let (ch, next) = self.escape(at + 1, mode)?;
                    if let Some(ch) = ch {
                        let text = out.get_or_insert_with(String::new);
                        text.push_str(&self.text[clean_from..at]);
                        text.push(ch);
                    }
                    at = next;
                    clean_from = next;
                }
                Some(0x00..=0x1f) => return Err(invalid("control character in a string")),
                Some(_) => at += 1,
                None => return Err(invalid("EOF while parsing a string")),
            }
        }
    }

    /// The escape whose letter is at `at` (after the backslash): the char it stands for (in
    /// `Read` mode) and the position after it.
    fn escape(&self, at: usize, mode: Mode) -> Result<(Option<char>, usize), FrameError> {
        let ch = match self.text.as_bytes().get(at) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') if mode == Mode::Skip => return self.hex4(at + 1).map(|_| (None, at + 5)),
            Some(b'u') => return self.unicode_escape(at + 1).map(|(ch, next)| (Some(ch), next)),
            Some(_) => return Err(invalid("invalid escape")),
            None => return Err(invalid("EOF while parsing a string")),
        };
        Ok((Some(ch), at + 1))
    }

    /// Decodes the `\u` escape whose four hex digits start at `at`, with the low half that must
    /// follow a high surrogate; returns the char and the position after the escape.
    fn unicode_escape(&self, at: usize) -> Result<(char, usize), FrameError> {
        let lone = || invalid("lone surrogate in hex escape");
        let (scalar, next) = match self.hex4(at)? {
            0xdc00..=0xdfff => return Err(lone()),
            high @ 0xd800..=0xdbff => {
                if self.text.as_bytes().get(at + 4..at + 6) != Some(b"\\u".as_slice()) {
                    return Err(lone());
                }
                let low = self.hex4(at + 6)?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(lone());
                }
                (0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(low) - 0xdc00), at + 10)
            }
            unit => (u32::from(unit), at + 4),
        };
        char::from_u32(scalar).map(|ch| (ch, next)).ok_or_else(lone)
    }

    /// The four hex digits at `at` as a number.
    fn hex4(&self, at: usize) -> Result<u16, FrameError> {
        let digits = self.text.as_bytes().get(at..at + 4).ok_or_else(|| invalid("EOF while parsing a string"))?;
        digits.iter().try_fold(0u16, |value, &digit| {
            let nibble = char::from(digit).to_digit(16).ok_or_else(|| invalid("invalid escape"))?;
            Ok(value << 4 | nibble as u16)
        })
    }

    /// Consumes one value of any shape, checked as `mode` says.
    fn value(&mut self, mode: Mode) -> Result<(), FrameError> {
        match self.start()? {
            Start::Str => self.string(mode).map(drop),
            Start::Number => {
                let text = self.number()?;
                if mode == Mode::Read {
                    parse_number(text)?;
                }
                Ok(())
            }
            Start::True => self.literal("true"),
            Start::False => self.literal("false"),
            Start::Null => self.literal("null"),
            Start::Array | Start::Object => self.container(mode, |parser, _key| parser.value(mode)),
        }
    }

    /// Consumes an array or object (the cursor is on its bracket), calling `item` for each
    /// element with the cursor before it; objects pass the element's key (`None` when skipping).
    fn container(
        &mut self,
        mode: Mode,
        mut item: impl FnMut(&mut Self, Option<Cow<'a, str>>) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        if mode == Mode::Read {
            self.depth_left -= 1;
            if self.depth_left == 0 {
                return Err(invalid("recursion limit exceeded"));
            }
        }
        let is_object = self.peek() == Some(b'{');
        let close = if is_object { b'}' } else { b']' };
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                let key = if is_object {
                    self.skip_whitespace();
                    if self.peek() != Some(b'"') {
                        return Err(invalid("key must be a string"));
                    }
                    let key = self.string(mode)?;
                    self.skip_whitespace();
                    if self.peek() != Some(b':') {
                        return Err(invalid("expected `:`"));
                    }
                    self.at += 1;
                    key
                } else {
                    None
                };
                item(self, key)?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(byte) if byte == close => {
                        self.at += 1;
                        break;
                    }
                    Some(_) => return Err(invalid("expected `,` or the end of the container")),
                    None => return Err(invalid("EOF while parsing a container")),
                }
            }
        }
        if mode == Mode::Read {
            self.depth_left += 1;
        }
        Ok(())
    }

    /// Reads the header object (the cursor is on its brace).
    fn header_fields(&mut self) -> Result<HeaderFields, FrameError> {
        let mut fields = HeaderFields::default();
        self.container(Mode::Read, |parser, key| match key.as_deref().unwrap_or_default() {
            "code" => set_once(&mut fields.code, "code", || parser.i32_value()),
            "version" => set_once(&mut fields.version, "version", || parser.i32_value()),
            "opaque" => set_once(&mut fields.opaque, "opaque", || parser.i32_value()),
            "flag" => set_once(&mut fields.flag, "flag", || parser.i32_value()),
            "language" => set_once(&mut fields.language, "language", || parser.language_value()),
            "remark" => set_once(&mut fields.remark, "remark", || parser.remark_value()),
            "extFields" => {
                set_once(&mut fields.ext_fields, "extFields", || parser.ext_fields_value(&mut fields.ext_value_nested))
            }
            _ => parser.value(Mode::Skip),
        })?;
        Ok(fields)
    }

    /// An i32 field: a JSON integer in range (a fraction or exponent makes it a float: refused).
    fn i32_value(&mut self) -> Result<i32, FrameError> {
        if self.start()? != Start::Number {
            return Err(invalid("invalid type: expected i32"));
        }
        let whole = parse_number(self.number()?)?.as_i64().ok_or_else(|| invalid("invalid type: expected i32"))?;
        i32::try_from(whole).map_err(|_| invalid("invalid value: expected i32"))
    }

    /// The language: a Java name, or a number as the binary header's code; null is JAVA, any
    /// other shape or unknown value OTHER.
    fn language_value(&mut self) -> Result<LanguageCode, FrameError> {
        Ok(match self.start()? {
            Start::Null => {
                self.literal("null")?;
                LanguageCode::Java
            }
            Start::Str => {
                let name = self.string(Mode::Read)?.unwrap_or_default();
                LanguageCode::from_java_name(&name).unwrap_or(LanguageCode::Other)
            }
            Start::Number => parse_number(self.number()?)?
                .as_u64()
                .and_then(|code| u8::try_from(code).ok())
                .and_then(LanguageCode::from_u8)
                .unwrap_or(LanguageCode::Other),
            _ => {
                self.value(Mode::Read)?;
                LanguageCode::Other
            }
        })
    }

    /// The remark: a string, or null for none.
    fn remark_value(&mut self) -> Result<Option<String>, FrameError> {
        match self.start()? {
            Start::Null => self.literal("null").map(|()| None),
            Start::Str => Ok(self.string(Mode::Read)?.map(Cow::into_owned)),
            _ => Err(invalid("invalid type: expected a string")),
        }
    }

    /// extFields: an object of scalars (kept as text; null drops the key), or null. A nested
    /// value sets `nested` (reported once the whole text is known to be JSON).
    fn ext_fields_value(&mut self, nested: &mut bool) -> Result<Option<ExtFields>, FrameError> {
        match self.start()? {
            Start::Null => return self.literal("null").map(|()| None),
            Start::Object => {}
            _ => return Err(invalid("invalid type: expected a map")),
        }
        // Every key's occurrences in order; the last one decides, as successive puts into a map.
        let mut occurrences: Vec<(Cow<'a, str>, Occurrence<'a>)> = Vec::with_capacity(EXT_FIELDS_TYPICAL);
        self.container(Mode::Read, |parser, key| {
            let key = key.unwrap_or_default();
            let occurrence = match parser.start()? {
                Start::Str => parser.string(Mode::Read)?.map_or(Occurrence::Null, Occurrence::Text),
                Start::Number => Occurrence::Text(Cow::Owned(parse_number(parser.number()?)?.to_string())),
                Start::True => parser.literal("true").map(|()| Occurrence::Text(Cow::Borrowed("true")))?,
                Start::False => parser.literal("false").map(|()| Occurrence::Text(Cow::Borrowed("false")))?,
                Start::Null => parser.literal("null").map(|()| Occurrence::Null)?,
                Start::Array | Start::Object => parser.value(Mode::Read).map(|()| Occurrence::Nested)?,
            };
            occurrences.push((key, occurrence));
            Ok(())
        })?;
        // A stable sort keeps each key's occurrences in order: the last of each run decides.
        occurrences.sort_by(|a, b| a.0.cmp(&b.0));
        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(occurrences.len());
        for run in occurrences.chunk_by(|a, b| a.0 == b.0) {
            match run.last() {
                Some((key, Occurrence::Text(value))) => fields.push((key, value)),
                Some((_, Occurrence::Nested)) => *nested = true,
                Some((_, Occurrence::Null)) | None => {}
            }
        }
        Ok(Some(ExtFields::from_pairs(fields)))
    }
}

/// One occurrence of a key in extFields.
enum Occurrence<'a> {
    /// A scalar, as text: the key's value.
    Text(Cow<'a, str>),
    /// `null`: the key has no value.
    Null,
    /// An array or object: an error once the whole text is known to be JSON, unless a later
    /// occurrence of the key replaces it.
    Nested,
}

/// Reads a field's value into `slot`; a second occurrence is an error, as in serde's derived
/// readers (which stop at the key, before reading the value).
fn set_once<T>(
    slot: &mut Option<T>,
    name: &str,
    read: impl FnOnce() -> Result<T, FrameError>,
) -> Result<(), FrameError> {
    if slot.is_some() {
        return Err(FrameError::InvalidJsonHeader { reason: format!("duplicate field `{name}`") });
    }
    *slot = Some(read()?);
    Ok(())
}

/// A number's value as serde_json reads it: an integer that fits i64 or u64, else a float (`-0`
/// included); a float out of range is an error.
fn parse_number(text: &str) -> Result<serde_json::Number, FrameError> {
    text.parse::<serde_json::Number>().map_err(|e| FrameError::InvalidJsonHeader { reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// The serde_json codec this module replaced, kept as the reference both directions are held
    /// to: same bytes out, same commands in, same kind of error.
    mod reference {
        use std::collections::BTreeMap;

        use serde::{Deserialize, Serialize};
        use serde_json::Value;

        use super::super::{ExtFields, FrameError, LanguageCode, RemotingCommand, SerializeType};

        #[derive(Serialize)]
        struct Out<'a> {
            code: i32,
            #[serde(rename = "extFields", skip_serializing_if = "BTreeMap::is_empty")]
            ext_fields: &'a BTreeMap<&'a str, &'a str>,
            flag: i32,
            language: &'static str,
            opaque: i32,
            #[serde(skip_serializing_if = "Option::is_none")]
            remark: Option<&'a str>,
            #[serde(rename = "serializeTypeCurrentRPC")]
            serialize_type_current_rpc: &'static str,
            version: i32,
        }

        #[derive(Deserialize)]
        struct In {
            #[serde(default)]
            code: i32,
            #[serde(default)]
            language: Option<Value>,
            #[serde(default)]
            version: i32,
            #[serde(default)]
            opaque: i32,
            #[serde(default)]
            flag: i32,
            #[serde(default)]
            remark: Option<String>,
            #[serde(default, rename = "extFields")]
            ext_fields: Option<BTreeMap<String, Value>>,
        }

        pub fn encode(command: &RemotingCommand) -> Vec<u8> {
            let out = Out {
                code: command.code,
                ext_fields: &command.ext_fields.iter().collect(),
                flag: command.flag,
                language: command.language.java_name(),
                opaque: command.opaque,
                remark: command.remark.as_deref(),
                serialize_type_current_rpc: SerializeType::Json.java_name(),
                version: command.version,
            };
            serde_json::to_vec(&out).unwrap_or_default()
        }

        pub fn decode(header: &[u8]) -> Result<RemotingCommand, FrameError> {
            let bad = |reason: String| FrameError::InvalidJsonHeader { reason };
            let text = std::str::from_utf8(header).map_err(|_| FrameError::InvalidUtf8 { field: "JSON header" })?;
            if !text.trim_start().starts_with('{') {
                return Err(bad("not a JSON object".into()));
            }
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<In>();
            let parsed = match stream.next() {
                Some(Ok(parsed)) => parsed,
                Some(Err(e)) => return Err(bad(e.to_string())),
                None => return Err(bad("no JSON value".into())),
            };
            let rest = text.get(stream.byte_offset()..).unwrap_or_default().trim_start();
            if !rest.is_empty() {
                return Err(FrameError::TrailingHeaderBytes { section: "JSON header", trailing_bytes: rest.len() });
            }
            let language = match parsed.language {
                None | Some(Value::Null) => LanguageCode::Java,
                Some(Value::String(name)) => LanguageCode::from_java_name(&name).unwrap_or(LanguageCode::Other),
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|c| u8::try_from(c).ok())
                    .and_then(LanguageCode::from_u8)
                    .unwrap_or(LanguageCode::Other),
                Some(_) => LanguageCode::Other,
            };
            let mut ext_fields = ExtFields::new();
            for (key, value) in parsed.ext_fields.unwrap_or_default() {
                let text = match value {
                    Value::String(text) => text,
                    Value::Number(number) => number.to_string(),
                    Value::Bool(flag) => flag.to_string(),
                    Value::Null => continue,
                    Value::Array(_) | Value::Object(_) => return Err(bad("nested".into())),
                };
                ext_fields.insert(key, text);
            }
            Ok(RemotingCommand {
                code: parsed.code,
                language,
                version: parsed.version,
                opaque: parsed.opaque,
                flag: parsed.flag,
                remark: parsed.remark,
                ext_fields,
                body: None,
                serialize_type: SerializeType::Json,
            })
        }
    }

    /// A decode result with error reasons left out (the two codecs word them differently).
    fn outcome(result: Result<RemotingCommand, FrameError>) -> Result<RemotingCommand, FrameError> {
        result.map_err(|error| match error {
            FrameError::InvalidJsonHeader { .. } => FrameError::InvalidJsonHeader { reason: String::new() },
            other => other,
        })
    }

    fn assert_decodes_like_reference(text: &str) {
        assert_eq!(outcome(decode(text.as_bytes())), outcome(reference::decode(text.as_bytes())), "{text:?}");
    }

    /// Arbitrary JSON values, with keys drawn mostly from the header's own field names.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            proptest::sample::select(vec!["code", "language", "version", "opaque", "flag", "remark", "extFields", "x"])
                .prop_map(str::to_owned),
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            proptest::sample::select(vec!["JAVA", "RUST", "GO", "KOTLIN", ""]).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// Bits of text a confused peer might put anywhere: JSON syntax, bad escapes and numbers,
    /// whitespace JSON does not allow, a raw control character.
    const NOISE: &[&str] = &[
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "-0", "01", "1e400", "1.", " ",
        "\u{a0}", "\n", "null", "\u{1}",
    ];

    /// `text` with each edit applied: insert a piece of `NOISE`, or (past its end) delete a char.
    fn mutate(text: &str, edits: &[(usize, usize)]) -> String {
        let mut out = text.to_owned();
        for &(at, what) in edits {
            let mut at = at % (out.len() + 1);
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            if let Some(noise) = NOISE.get(what) {
                out.insert_str(at, noise);
            } else if let Some(ch) = out[at..].chars().next() {
                out.replace_range(at..at + ch.len_utf8(), "");
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any command encodes to exactly the bytes serde_json wrote, and decodes back.
        #[test]
        fn encoding_matches_serde_json(
            code in any::<i32>(), flag in any::<i32>(), opaque in any::<i32>(), version in any::<i32>(),
            language in proptest::sample::select(LanguageCode::ALL),
            remark in proptest::option::of(any::<String>()),
            ext_fields in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        ) {
            let command = RemotingCommand {
                code, language, version, opaque, flag, remark, ext_fields: ext_fields.into_iter().collect(),
                body: None,
                serialize_type: SerializeType::Json,
            };
            let mut out = BytesMut::new();
            prop_assert_eq!(encode(&command, &mut out), Ok(()));
            prop_assert_eq!(&out[..], &reference::encode(&command)[..]);
            prop_assert_eq!(decode(&out), Ok(command));
        }

        /// Headers shaped like real ones, well-formed or edited, decode as serde_json decoded
        /// them: the same command, or the same kind of error.
        #[test]
        fn decoding_matches_serde_json(
            fields in proptest::collection::vec((proptest::sample::select(vec![
                "code", "language", "version", "opaque", "flag", "remark", "extFields", "serializeTypeCurrentRPC", "other",
            ]), json_value()), 0..8),
            edits in proptest::collection::vec((any::<usize>(), 0usize..24), 0..3),
            trailing in proptest::sample::select(vec!["", " ", " x", "\u{a0}", "{}", "\n\t"]),
        ) {
            let mut text = String::from("{");
            for (n, (name, value)) in fields.iter().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                text.push_str(&format!("{}:{value}", Value::from(*name)));
            }
            text.push('}');
            text.push_str(trailing);
            let text = mutate(&text, &edits);
            prop_assert_eq!(outcome(decode(text.as_bytes())), outcome(reference::decode(text.as_bytes())), "{:?}", text);
        }

        /// Short texts over JSON's alphabet agree with the reference (and never panic).
        #[test]
        fn arbitrary_text_matches_serde_json(text in "[{}\\[\\],:\"a-z0-9 .eE+\\\\-]{0,40}") {
            prop_assert_eq!(outcome(decode(text.as_bytes())), outcome(reference::decode(text.as_bytes())), "{:?}", text);
        }
    }

    /// Edge cases of serde_json's reading, one by one: nesting limits (counted for values it
    /// reads, not for those it skips), surrogates (checked where it reads a string, not where it
    /// skips one), numbers it reads as floats, duplicate fields, replaced extFields values.
    #[test]
    fn edge_cases_match_serde_json() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let mut cases: Vec<String> = Vec::new();
        for n in [125, 126, 127, 128, 300] {
            cases.push(format!(r#"{{"other":{}}}"#, deep(n)));
            cases.push(format!(r#"{{"language":{}}}"#, deep(n)));
            cases.push(format!(r#"{{"extFields":{{"a":{}}}}}"#, deep(n)));
        }
        for text in [
            r#"{"remark":"\ud800"}"#,
            r#"{"remark":"\udc00"}"#,
            r#"{"remark":"\ud83d\ude00 ok"}"#,
            r#"{"remark":"\ud83d\u0041"}"#,
            r#"{"other":"\ud800"}"#,
            r#"{"other":"\uzzzz"}"#,
            r#"{"other":{"\ud800":1}}"#,
            r#"{"extFields":{"\ud800":"x"}}"#,
            r#"{"c\u006fde":5}"#,
            r#"{"code":-0}"#,
            r#"{"code":1.0}"#,
            r#"{"code":1e2}"#,
            r#"{"code":null}"#,
            r#"{"code":1,"code":2}"#,
            r#"{"other":1,"other":2}"#,
            r#"{"language":1e400}"#,
            r#"{"other":1e400}"#,
            r#"{"language":[1e400]}"#,
            r#"{"language":true}"#,
            r#"{"language":99999999999999999999}"#,
            r#"{"extFields":{"a":1e400}}"#,
            r#"{"extFields":{"a":-0,"b":1.50,"c":12345678901234567890123}}"#,
            r#"{"extFields":{"a":[1],"a":"x"}}"#,
            r#"{"extFields":{"a":"x","a":[1]}}"#,
            r#"{"extFields":{"a":"x","a":null}}"#,
            r#"{"extFields":{"a":[1]}} x"#,
            r#"{"extFields":null,"remark":null,"language":null}"#,
            r#"{"extFields":[]}"#,
            r#"{"remark":5}"#,
            r#"{"other":[1,]}"#,
            r#"{"other":[,1]}"#,
            r#"{"code":1,}"#,
            "{\"remark\":\"a\u{1}b\"}",
            "\u{a0}{}",
            "{}\u{a0}",
            r#"{"a":"\/\b\f\n\r\t\"\\"}"#,
        ] {
            cases.push(text.to_owned());
        }
        for text in &cases {
            assert_decodes_like_reference(text);
        }
    }

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
        assert_eq!(command.ext_fields.get("topic"), Some("T"));
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
        command.ext_fields.insert("k", "v");
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
        let fields: Vec<(&str, &str)> = command.ext_fields.iter().collect();
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
