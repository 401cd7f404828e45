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

/// What an allocation of `len` bytes takes in a size-class allocator: jemalloc's classes
/// (the `warren` binary's allocator), 8 and 16 bytes, then steps of 16 up to 128 and four
/// classes to every doubling above (160, 192, 224, 256, 320, ... 1024, 1280, ... 65536,
/// 81920...). Other allocators round less (glibc: to 16 bytes), never to a class this does
/// not have: a choice of layout made on these sizes costs them nothing.
pub fn allocation_size(len: usize) -> usize {
    if len <= 16 {
        return len.next_multiple_of(8).max(8);
    }
    let lg = (len - 1).ilog2();
    let step = 1usize << lg.saturating_sub(2).max(4);
    len.next_multiple_of(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sizes_are_jemallocs_classes() {
        let classes = [
            (1, 8),
            (9, 16),
            (17, 32),
            (40, 48),
            (97, 112),
            (128, 128),
            (129, 160),
            (152, 160),
            (161, 192),
            (1024, 1024),
            (1025, 1280),
            (1121, 1280),
            (4096, 4096),
            (4193, 5120),
            (16384, 16384),
            (16481, 20480),
            (65536, 65536),
            (65544, 81920),
            (131_072, 131_072),
        ];
        for (len, class) in classes {
            assert_eq!(allocation_size(len), class, "{len} bytes");
        }
    }

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
