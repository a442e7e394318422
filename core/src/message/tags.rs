//! Tag hash codes: what a ConsumeQueue unit stores so the broker can filter by tag without
//! reading the CommitLog.
//!
//! RocketMQ stores `tags.hashCode()` (Java's `String.hashCode`, an `i32`) widened to `i64`, and 0
//! when the message has no tags. Java hashes UTF-16 code units, so a character outside the Basic
//! Multilingual Plane contributes its two surrogates.

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |hash, unit| hash.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// The ConsumeQueue tag code of a message with these tags: 0 for none or empty.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(tags) if !tags.is_empty() => i64::from(java_string_hash(tags)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Matches values Java's `String.hashCode()` returns (computed with Java's formula by hand
    /// and cross-checked independently).
    #[test]
    fn java_string_hash_matches_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // 84*31^3 + 97*31^2 + 103*31 + 65
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        // A famous wrap-around: this string hashes to Integer.MIN_VALUE in Java.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    /// A non-BMP character is hashed as its two UTF-16 surrogates, not as one code point.
    #[test]
    fn java_string_hash_uses_utf16_surrogates() {
        // U+1F600 = surrogates 0xD83D 0xDE00: 0xD83D*31 + 0xDE00.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
        assert_ne!(java_string_hash("\u{1F600}"), 0x1F600);
    }

    /// No tags and empty tags both code to 0; otherwise the hash is sign-extended to i64.
    #[test]
    fn tags_code_widens_and_defaults_to_zero() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
        assert_eq!(tags_code(Some("polygenelubricants")), i64::from(i32::MIN));
    }
}
