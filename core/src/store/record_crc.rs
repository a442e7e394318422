//! A checksum over the whole stored record, carried as the last property.
//!
//! RocketMQ's V1 record protects only its body with BODYCRC. A power loss can tear a record at
//! sector granularity so that its header and body survive but its topic or properties do not:
//! such a record passes every V1 check and would be served with, say, half of its KEYS. The
//! store therefore appends one property to every record it writes, as RocketMQ 5 does with
//! `__CRC32#`: `__CRC32#\x01` + the CRC32 of every byte of the record before the ten digits,
//! as ten zero-padded decimal digits + `\x02`. Recovery and lookups verify it; a record without
//! it, or with a wrong value, is torn or corrupt. Clients see one extra property.

/// The property's key (RocketMQ 5's name for it).
pub const RECORD_CRC_KEY: &str = "__CRC32#";
/// Decimal digits of the value.
const CRC_DIGITS: usize = 10;
/// Bytes the property adds to a record: key, `\x01`, digits, `\x02`.
pub const RECORD_CRC_BYTES: usize = RECORD_CRC_KEY.len() + 1 + CRC_DIGITS + 1;
const _: () = assert!(RECORD_CRC_BYTES == 20);

/// Appends the checksum property to the record that occupies `record[..]` (just encoded, with
/// `properties_len` bytes of properties at its end), fixing TOTALSIZE and the properties length.
/// Fails if the properties would outgrow their i16 length.
pub fn seal(record: &mut Vec<u8>, start: usize, properties_len: usize) -> Result<(), usize> {
    let new_properties_len = properties_len + RECORD_CRC_BYTES;
    if new_properties_len > i16::MAX as usize {
        return Err(new_properties_len);
    }
    let length_at = record.len() - properties_len - 2;
    record[length_at..length_at + 2].copy_from_slice(&(new_properties_len as i16).to_be_bytes());
    let total = record.len() - start + RECORD_CRC_BYTES;
    record[start..start + 4].copy_from_slice(&(total as i32).to_be_bytes());
    record.extend_from_slice(RECORD_CRC_KEY.as_bytes());
    record.push(1);
    let crc = crc32fast::hash(&record[start..]);
    let mut digits = [b'0'; CRC_DIGITS];
    let mut rest = crc;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    record.extend_from_slice(&digits);
    record.push(2);
    debug_assert_eq!(verify(&record[start..]), Ok(()));
    Ok(())
}

/// Checks the checksum property of one whole record.
pub fn verify(record: &[u8]) -> Result<(), String> {
    let Some(tail_at) = record.len().checked_sub(RECORD_CRC_BYTES) else {
        return Err("record too short for its checksum".into());
    };
    let tail = &record[tail_at..];
    let (key, rest) = tail.split_at(RECORD_CRC_KEY.len());
    if key != RECORD_CRC_KEY.as_bytes() || rest[0] != 1 || rest[CRC_DIGITS + 1] != 2 {
        return Err("record checksum property missing (torn record?)".into());
    }
    let digits = std::str::from_utf8(&rest[1..=CRC_DIGITS]).map_err(|_| "record checksum is not digits".to_string())?;
    let stored: u64 = digits.parse().map_err(|_| "record checksum is not digits".to_string())?;
    let computed = crc32fast::hash(&record[..tail_at + RECORD_CRC_KEY.len() + 1]);
    if stored != u64::from(computed) {
        return Err(format!("record checksum {stored} does not match {computed} (torn record?)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_verifies_and_any_changed_byte_fails() {
        let mut record = vec![0u8, 0, 0, 0, 9, 9, 9];
        record.extend_from_slice(&5i16.to_be_bytes());
        record.extend_from_slice(b"a\x01b\x02c");
        // properties_len is 5 ("a\x01b\x02c"); the 2 bytes before them hold its length.
        seal(&mut record, 0, 5).expect("fits");
        assert_eq!(i32::from_be_bytes(record[0..4].try_into().unwrap()) as usize, record.len());
        assert_eq!(i16::from_be_bytes(record[7..9].try_into().unwrap()), 25);
        assert_eq!(verify(&record), Ok(()));
        for at in 0..record.len() {
            let mut damaged = record.clone();
            damaged[at] ^= 0x10;
            assert!(verify(&damaged).is_err(), "a flip at {at} went unnoticed");
        }
        let zeroed_tail: Vec<u8> = record[..record.len() - 8].iter().copied().chain([0u8; 8]).collect();
        assert!(verify(&zeroed_tail).is_err(), "a torn (zeroed) tail is caught");
    }
}
