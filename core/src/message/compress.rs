//! Body compression as RocketMQ's clients do it: zlib (Java's `Deflater` / `Inflater`, level
//! 5), marked by the COMPRESSED sysflag bit. A producer compresses bodies over its threshold
//! (4 KiB by default); the broker stores them as they come; a consumer inflates them.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

/// Java's `zipCompressLevel` default.
pub const COMPRESS_LEVEL: u32 = 5;
/// Largest body an inflate may produce: a compressed body is at most 4 MiB, and a bomb must
/// fail with an error rather than exhaust memory.
pub const INFLATED_BODY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Why a compressed body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("the compressed body is not valid zlib data: {0}")]
    Corrupt(String),
    #[error("the inflated body exceeds {INFLATED_BODY_MAX_BYTES} bytes")]
    TooLarge,
}

/// Compresses a body with zlib at `COMPRESS_LEVEL`.
pub fn compress_body(body: &[u8]) -> Bytes {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(COMPRESS_LEVEL));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Inflates a zlib body, bounded by `INFLATED_BODY_MAX_BYTES`.
pub fn decompress_body(compressed: &[u8]) -> Result<Bytes, InflateError> {
    let mut inflated = Vec::new();
    let limit = INFLATED_BODY_MAX_BYTES as u64 + 1;
    ZlibDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut inflated)
        .map_err(|error| InflateError::Corrupt(error.to_string()))?;
    if inflated.len() > INFLATED_BODY_MAX_BYTES {
        return Err(InflateError::TooLarge);
    }
    Ok(Bytes::from(inflated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_garbage_is_an_error() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let compressed = compress_body(&body);
        assert!(compressed.len() < body.len() / 4, "repetitive data compresses");
        assert_eq!(compressed[0], 0x78, "a zlib stream, as Java's Deflater writes");
        assert_eq!(decompress_body(&compressed).expect("inflates").as_ref(), &body[..]);
        assert!(matches!(decompress_body(b"not zlib at all"), Err(InflateError::Corrupt(_))));
        assert_eq!(decompress_body(&compress_body(b"")).expect("empty").len(), 0);
    }

    #[test]
    fn an_inflate_bomb_is_refused() {
        let bomb = compress_body(&vec![0u8; INFLATED_BODY_MAX_BYTES + 1]);
        assert_eq!(decompress_body(&bomb), Err(InflateError::TooLarge));
    }
}
