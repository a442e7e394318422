//! `Body`: a command's payload as one or more byte parts that go on the wire back to back.
//!
//! A received body is always one part: a zero-copy slice of the receive buffer. A body built
//! for sending may have several: a pull response carries the stored records as they are, each
//! a zero-copy slice of the CommitLog, and the transport writes them one after another without
//! joining them (RocketMQ's `ManyMessageTransfer`). The wire does not show where one part ends
//! and the next begins, so two bodies are equal when their bytes are, however they are split.

use std::fmt;

use bytes::{Bytes, BytesMut};

/// Most parts one body may have. Bodies with parts are built by the broker from store reads,
/// whose own bounds are checked against this at compile time (`broker::pull`, `broker::query`).
pub const BODY_PARTS_MAX: usize = 1024;

/// A command's payload: one or more `Bytes` parts, sent in order with nothing between them.
#[derive(Clone)]
pub struct Body {
    /// The parts; one part needs no vector.
    parts: Parts,
}

/// Where the parts are kept: a single part (every received body, most sent ones) without the
/// vector's allocation.
#[derive(Clone)]
enum Parts {
    /// Exactly one part.
    One(Bytes),
    /// Two or more parts, in wire order.
    Many(Vec<Bytes>),
}

impl Body {
    /// A body of `parts` in order, each kept as it is (not copied). Asserts that there are at
    /// most `BODY_PARTS_MAX`: the callers bound their reads by it.
    pub fn from_parts(mut parts: Vec<Bytes>) -> Body {
        assert!(parts.len() <= BODY_PARTS_MAX, "{} body parts, at most {BODY_PARTS_MAX}", parts.len());
        let parts = match parts.len() {
            0 => Parts::One(Bytes::new()),
            1 => Parts::One(parts.swap_remove(0)),
            _ => Parts::Many(parts),
        };
        Body { parts }
    }

    /// The parts in wire order (at least one; parts may be empty).
    pub fn parts(&self) -> &[Bytes] {
        match &self.parts {
            Parts::One(part) => std::slice::from_ref(part),
            Parts::Many(parts) => parts,
        }
    }

    /// Bytes of all parts together: what the frame's length counts.
    pub fn len_bytes(&self) -> usize {
        self.parts().iter().fold(0usize, |total, part| total.saturating_add(part.len()))
    }

    /// True when no part holds a byte.
    pub fn is_empty(&self) -> bool {
        self.parts().iter().all(Bytes::is_empty)
    }

    /// The body as one contiguous `Bytes`: the part itself (no copy) when there is one, else
    /// the parts copied together. For readers; the transport sends the parts as they are.
    pub fn joined(&self) -> Bytes {
        match &self.parts {
            Parts::One(part) => part.clone(),
            Parts::Many(parts) => {
                let mut joined = BytesMut::with_capacity(self.len_bytes());
                for part in parts {
                    joined.extend_from_slice(part);
                }
                joined.freeze()
            }
        }
    }
}

impl From<Bytes> for Body {
    fn from(part: Bytes) -> Body {
        Body { parts: Parts::One(part) }
    }
}

impl PartialEq for Body {
    /// Equal bytes, whatever the parts: the wire cannot tell the splits apart.
    fn eq(&self, other: &Body) -> bool {
        if let (Parts::One(mine), Parts::One(theirs)) = (&self.parts, &other.parts) {
            return mine == theirs;
        }
        let bytes_of = |body: &Body| body.parts().iter().flat_map(|part| part.iter().copied()).collect::<Vec<u8>>();
        self.len_bytes() == other.len_bytes() && bytes_of(self) == bytes_of(other)
    }
}

impl Eq for Body {}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parts {
            Parts::One(part) => fmt::Debug::fmt(part, f),
            Parts::Many(parts) => f.debug_tuple("Body").field(parts).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts are kept as given (the same memory), counted together, and joined in order.
    #[test]
    fn parts_are_kept_counted_and_joined() {
        let parts = vec![Bytes::from_static(b"ab"), Bytes::new(), Bytes::from(vec![b'c'; 3])];
        let body = Body::from_parts(parts.clone());
        assert_eq!(body.parts().len(), 3);
        for (kept, given) in body.parts().iter().zip(&parts) {
            assert_eq!(kept.as_ptr(), given.as_ptr());
        }
        assert_eq!(body.len_bytes(), 5);
        assert!(!body.is_empty());
        assert_eq!(body.joined(), Bytes::from_static(b"abccc"));
    }

    /// A single part is returned by `joined` without a copy; no parts is one empty part.
    #[test]
    fn single_part_joins_without_a_copy() {
        let part = Bytes::from(vec![7u8; 16]);
        let body = Body::from_parts(vec![part.clone()]);
        assert_eq!(body.joined().as_ptr(), part.as_ptr());
        assert_eq!(Body::from(part.clone()).joined().as_ptr(), part.as_ptr());
        let empty = Body::from_parts(Vec::new());
        assert!(empty.is_empty());
        assert_eq!((empty.parts().len(), empty.len_bytes()), (1, 0));
    }

    /// Bodies are equal by their bytes, however split; different bytes or lengths differ.
    #[test]
    fn equality_is_by_bytes() {
        let split = Body::from_parts(vec![Bytes::from_static(b"he"), Bytes::from_static(b"llo")]);
        assert_eq!(split, Body::from(Bytes::from_static(b"hello")));
        assert_eq!(split, Body::from_parts(vec![Bytes::from_static(b"h"), Bytes::from_static(b"ello")]));
        assert_ne!(split, Body::from(Bytes::from_static(b"hellO")));
        assert_ne!(split, Body::from(Bytes::from_static(b"hell")));
    }

    /// More parts than `BODY_PARTS_MAX` is a broken invariant of the caller.
    #[test]
    #[should_panic(expected = "body parts")]
    fn too_many_parts_is_refused() {
        let _ = Body::from_parts(vec![Bytes::new(); BODY_PARTS_MAX + 1]);
    }
}
