//! Header text to integers: `parse_i64` and `parse_i32` read exactly what `str::parse` reads,
//! as plain loops. Header fields carry every number as text (Java's `toString()` and
//! `Long.parseLong`), a command's numbers are read on every request and response, and for text
//! this short the generic parser's per-call overhead was most of its cost. (The other way, the
//! `itoa` crate writes them.)

/// Digits that never overflow a u64 (10^19 - 1 still fits).
const U64_SAFE_DIGITS_MAX: usize = 19;

const _: () = assert!(10u64.checked_pow(U64_SAFE_DIGITS_MAX as u32).is_some());

/// `raw` as an i64 exactly when `raw.parse::<i64>()` accepts it (an optional `+` or `-`, then
/// one or more ASCII digits, leading zeros allowed, within range), else `None`.
pub(crate) fn parse_i64(raw: &str) -> Option<i64> {
    let bytes = raw.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    if digits.len() <= U64_SAFE_DIGITS_MAX {
        for &byte in digits {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            magnitude = magnitude * 10 + u64::from(digit);
        }
    } else {
        for &byte in digits {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit))?;
        }
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `raw` as an i32 exactly when `raw.parse::<i32>()` accepts it.
pub(crate) fn parse_i32(raw: &str) -> Option<i32> {
    parse_i64(raw).and_then(|value| i32::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Text that looks like a number, often at or past the edges of i32 and i64.
    fn numberish() -> impl Strategy<Value = String> {
        prop_oneof![
            "[+-]?[0-9]{0,25}",
            "[+-]{0,2}0{0,30}[0-9]{0,20}",
            "[-+0-9 a.]{0,8}",
            any::<i64>().prop_map(|value| value.to_string()),
            any::<i32>().prop_map(|value| value.to_string()),
            any::<i64>().prop_map(|value| i128::from(value) * 2).prop_map(|value| value.to_string()),
            any::<String>(),
        ]
    }

    proptest! {
        /// `parse_i64` and `parse_i32` accept and reject what `str::parse` does, with its values.
        #[test]
        fn parse_is_str_parse(raw in numberish()) {
            prop_assert_eq!(parse_i64(&raw), raw.parse::<i64>().ok(), "{:?}", raw);
            prop_assert_eq!(parse_i32(&raw), raw.parse::<i32>().ok(), "{:?}", raw);
        }
    }

    /// The edges: both ends of the range, one past them, lone signs, and long runs of zeros.
    #[test]
    fn parse_edges() {
        for raw in [
            "-9223372036854775808",
            "9223372036854775807",
            "-9223372036854775809",
            "9223372036854775808",
            "+0",
            "-0",
            "+",
            "-",
            "",
            "+-1",
            "-+1",
            "00000000000000000000000000000000042",
            "-2147483648",
            "2147483648",
            "18446744073709551616",
            "99999999999999999999",
            "1 ",
            "１",
        ] {
            assert_eq!(parse_i64(raw), raw.parse::<i64>().ok(), "{raw:?}");
            assert_eq!(parse_i32(raw), raw.parse::<i32>().ok(), "{raw:?}");
        }
    }
}
