//! Fuzzes the remoting frame decoder with arbitrary bytes.
//!
//! Properties checked, beyond "never panics": waiting (`Ok(None)`) and failing consume nothing,
//! a decoded frame consumes at least its 8 prefix bytes, and every decoded command that can be
//! re-encoded decodes back to the same command.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use petrel_core::remoting::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        match decode_frame(&mut buf) {
            Ok(None) | Err(_) => {
                assert_eq!(buf, before, "waiting or failing consumed bytes");
                break;
            }
            Ok(Some(command)) => {
                assert!(buf.len() + 8 <= before.len(), "a frame is at least 8 bytes");
                let mut again = BytesMut::new();
                if encode_frame(&command, &mut again).is_ok() {
                    assert_eq!(decode_frame(&mut again), Ok(Some(command)));
                    assert!(again.is_empty());
                }
            }
        }
    }
});
