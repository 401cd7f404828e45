//! [`Compact`]: copies of decoded views that keep only their own bytes allocated.
//!
//! What [`crate::decode_frame`] cuts off a buffer, and the strings, header and body decoded
//! from it, are views into that buffer (`Bytes` slices): decoding copies nothing, and the
//! buffer, a 64 KiB read buffer in the server, stays allocated while any view of it lives.
//! That costs nothing for a message on its way to a consumer, but a view kept for long keeps
//! the whole buffer, and everything else that was read into it, for its few bytes. `Compact`
//! copies several views into one allocation of their total size, for what is to be kept.

use bytes::{Bytes, BytesMut};

/// One allocation that views are copied into; see the module doc.
#[derive(Debug)]
pub struct Compact(BytesMut);

impl Compact {
    /// Room for `len` bytes: the total of what will be copied, so that it is one allocation.
    pub fn with_capacity(len: usize) -> Self {
        Compact(BytesMut::with_capacity(len))
    }

    /// A copy of `bytes` in this allocation.
    pub fn copy(&mut self, bytes: &[u8]) -> Bytes {
        self.0.extend_from_slice(bytes);
        self.0.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_one_allocation_of_their_own() {
        let mut received = BytesMut::from(&b"..key..header..body.."[..]);
        let capacity = received.capacity();
        let frame = received.split().freeze();
        let (key, body) = (frame.slice(2..5), frame.slice(15..19));
        let mut compact = Compact::with_capacity(key.len() + body.len());
        let copies = [compact.copy(&key), compact.copy(&body)];
        assert_eq!(copies, [&b"key"[..], &b"body"[..]]);
        assert_eq!(copies[1].as_ptr(), copies[0].as_ptr().wrapping_add(3));
        assert!(!received.try_reclaim(capacity), "views keep the buffer");
        drop((frame, key, body));
        assert!(
            received.try_reclaim(capacity),
            "the copies keep nothing of the received buffer"
        );
    }
}
