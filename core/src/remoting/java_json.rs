//! Java's fastjson writes maps with integer keys without quotes, e.g. TopicRouteData's
//! `"brokerAddrs":{0:"1.2.3.4:10911"}`. That is not JSON. `java_json_to_valid` quotes such keys
//! so serde_json can read bodies from Java peers; Petrel itself always writes valid JSON.

use std::borrow::Cow;

/// Returns `text` with every unquoted integer object key quoted (`{0:` becomes `{"0":`), and
/// everything else, string contents above all, untouched. Borrows when there is nothing to fix.
///
/// A key is recognised as an optional `-` and ASCII digits, directly after `{` or `,` (outside
/// strings, whitespace allowed) and directly before `:`. Numbers in arrays and values are left
/// alone. Input that is not JSON-like is returned with at most such keys quoted, never an error.
pub fn java_json_to_valid(text: &str) -> Cow<'_, str> {
    let keys = unquoted_integer_keys(text.as_bytes());
    if keys.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 2 * keys.len());
    let mut copied_to = 0;
    // Every boundary is at an ASCII byte found by the scan, so it is a char boundary.
    for (start, end) in keys {
        out.push_str(&text[copied_to..start]);
        out.push('"');
        out.push_str(&text[start..end]);
        out.push('"');
        copied_to = end;
    }
    out.push_str(&text[copied_to..]);
    Cow::Owned(out)
}

/// Byte ranges of the unquoted integer keys in `bytes`, in order.
fn unquoted_integer_keys(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut keys = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    // The last byte outside strings, ignoring whitespace, was `{` or `,`: a key may start here.
    let mut key_may_start = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        index += 1;
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                key_may_start = false;
            }
            b'{' | b',' => key_may_start = true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'-' | b'0'..=b'9' if key_may_start => {
                let start = index - 1;
                let end = integer_end(bytes, start);
                if end > start && next_non_whitespace(bytes, end) == Some(b':') {
                    keys.push((start, end));
                }
                index = end.max(index);
                key_may_start = false;
            }
            _ => key_may_start = false,
        }
    }
    keys
}

/// End of the integer (`-`? digits+) starting at `start`, or `start` if there is none.
fn integer_end(bytes: &[u8], start: usize) -> usize {
    let sign = usize::from(bytes.get(start) == Some(&b'-'));
    let digits = bytes.get(start + sign..).unwrap_or_default().iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        start
    } else {
        start + sign + digits
    }
}

fn next_non_whitespace(bytes: &[u8], from: usize) -> Option<u8> {
    bytes.get(from..)?.iter().copied().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// fastjson's TopicRouteData map with integer keys becomes valid JSON serde_json can read.
    #[test]
    fn quotes_integer_keys() {
        let fixed = java_json_to_valid(r#"{"brokerAddrs":{0:"1.2.3.4:10911",1:"1.2.3.5:10911"}}"#);
        assert_eq!(fixed, r#"{"brokerAddrs":{"0":"1.2.3.4:10911","1":"1.2.3.5:10911"}}"#);
        assert!(serde_json::from_str::<serde_json::Value>(&fixed).is_ok());
    }

    /// Whitespace around keys and negative keys are handled; layout is kept.
    #[test]
    fn handles_whitespace_and_sign() {
        assert_eq!(java_json_to_valid("{ 12 : \"a\" ,\n-3:\"b\"}"), "{ \"12\" : \"a\" ,\n\"-3\":\"b\"}");
    }

    /// Valid JSON, numbers in arrays and values, and a bare `-` are left alone (and borrowed).
    #[test]
    fn leaves_valid_json_alone() {
        for text in [r#"{"a":1,"b":[0,1,-2],"c":{"0":"x"}}"#, "[1,2]", "{-:1}", "", "12:3"] {
            assert!(matches!(java_json_to_valid(text), Cow::Borrowed(t) if t == text), "{text}");
        }
    }

    /// Braces, commas, colons, quotes and escapes inside strings are never taken for keys.
    #[test]
    fn leaves_string_contents_alone() {
        let text = r#"{"s":"{0:\"x\",1:2}","t":{5:"\\"},"u":"\\\"{7:8}",9:"é{1:}"}"#;
        let expected = r#"{"s":"{0:\"x\",1:2}","t":{"5":"\\"},"u":"\\\"{7:8}","9":"é{1:}"}"#;
        assert_eq!(java_json_to_valid(text), expected);
        assert!(serde_json::from_str::<serde_json::Value>(expected).is_ok());
    }

    proptest! {
        /// A map rendered the fastjson way (unquoted integer keys, arbitrary string values)
        /// reads back, after fixing, as the same map.
        #[test]
        fn fastjson_maps_read_back(map in proptest::collection::btree_map(any::<i64>(), any::<String>(), 0..8)) {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{key}:{}", serde_json::Value::String(value.clone())))
                .collect();
            let text = format!("{{\"m\":{{{}}},\"n\":[{}]}}", entries.join(","), entries.len());
            let fixed = java_json_to_valid(&text);
            let parsed: Result<BTreeMap<String, serde_json::Value>, _> = serde_json::from_str(&fixed);
            prop_assert!(parsed.is_ok(), "{}", fixed);
            let expected: serde_json::Map<String, serde_json::Value> =
                map.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone()))).collect();
            let parsed = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.get("m"), Some(&serde_json::Value::Object(expected)));
        }

        /// Arbitrary text never panics, and valid JSON from serde_json is returned unchanged.
        #[test]
        fn arbitrary_text_is_safe(text in any::<String>(), values in proptest::collection::vec(any::<String>(), 0..4)) {
            let _ = java_json_to_valid(&text);
            let valid = serde_json::json!({ "values": values, "text": text }).to_string();
            prop_assert_eq!(java_json_to_valid(&valid), valid.as_str());
        }
    }
}
