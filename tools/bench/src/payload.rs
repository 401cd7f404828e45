//! Message bodies: a Wazo `call_created` event in JSON, padded to the asked size, whose first
//! field carries what the consumers check: the publisher id, the publisher's sequence number
//! and the send time, in fixed-width hex at fixed offsets so that stamping and reading one costs
//! a few nanoseconds:
//!
//! ```text
//! {"bench":"PPPPPPPP:SSSSSSSSSSSSSSSS:TTTTTTTTTTTTTTTT","name":"call_created",...,"pad":"xxx"}
//!           publisher seq              sent (ns since the run's clock started)
//! ```
//!
//! Sizes from [`MIN_SIZE`] up are valid JSON: the event's fields are dropped when they do not
//! fit, and short padding is whitespace.

/// `{"bench":"` + 8 + `:` + 16 + `:` + 16 + `"`.
pub const PREFIX_LEN: usize = 53;
/// The prefix and the closing brace.
pub const MIN_SIZE: usize = PREFIX_LEN + 1;

const OPEN: &[u8] = b"{\"bench\":\"";
const PUBLISHER_AT: usize = 10;
const SEQ_AT: usize = 19;
const SENT_AT: usize = 36;

/// The rest of a `call_created` event as wazo-calld publishes it, trimmed to the fields that
/// make it recognisable (the whole event is about 600 bytes; the default body is 300).
const EVENT: &str = concat!(
    r#","name":"call_created","origin_uuid":"08c56466-8f29-45c7-9856-92bf1ba89b82","#,
    r#""data":{"call_id":"1714564800.1234","#,
    r#""peer_caller_id_number":"1002","status":"Ringing","#,
    r#""user_uuid":"2f8a6d2e-3d2f-4c2a-9f0e-2b9f7a1c4e11"}"#
);
const EVENT_NAME_ONLY: &str = r#","name":"call_created""#;
const PAD_OPEN: &[u8] = b",\"pad\":\"";

/// What a body carries for the consumers' checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u32,
    pub seq: u64,
    /// Nanoseconds since the run's clock started (the same process's monotonic clock).
    pub sent_ns: u64,
}

/// A body of exactly `size` bytes (at least [`MIN_SIZE`]), stamped with zeros.
pub fn template(size: usize) -> Vec<u8> {
    let size = size.max(MIN_SIZE);
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(OPEN);
    body.resize(PREFIX_LEN - 1, b'0');
    body[PUBLISHER_AT + 8] = b':';
    body[SEQ_AT + 16] = b':';
    body.push(b'"');
    for event in [EVENT, EVENT_NAME_ONLY] {
        if body.len() + event.len() < size {
            body.extend_from_slice(event.as_bytes());
            break;
        }
    }
    let room = size - body.len() - 1;
    if room > PAD_OPEN.len() {
        body.extend_from_slice(PAD_OPEN);
        body.resize(size - 2, b'x');
        body.push(b'"');
    } else {
        body.resize(size - 1, b' ');
    }
    body.push(b'}');
    body
}

/// Writes `stamp` into the first [`PREFIX_LEN`] bytes of a body made by [`template`].
pub fn stamp(body: &mut [u8], stamp: Stamp) {
    put_hex(
        &mut body[PUBLISHER_AT..PUBLISHER_AT + 8],
        u64::from(stamp.publisher),
    );
    put_hex(&mut body[SEQ_AT..SEQ_AT + 16], stamp.seq);
    put_hex(&mut body[SENT_AT..SENT_AT + 16], stamp.sent_ns);
}

/// Reads the stamp from the start of a body; `None` if it is not one of ours.
pub fn read(body: &[u8]) -> Option<Stamp> {
    let prefix = body.get(..PREFIX_LEN)?;
    if !prefix.starts_with(OPEN) || prefix[PREFIX_LEN - 1] != b'"' {
        return None;
    }
    Some(Stamp {
        publisher: u32::try_from(hex(&prefix[PUBLISHER_AT..PUBLISHER_AT + 8])?).ok()?,
        seq: hex(&prefix[SEQ_AT..SEQ_AT + 16])?,
        sent_ns: hex(&prefix[SENT_AT..SENT_AT + 16])?,
    })
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn put_hex(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

fn hex(digits: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u64::from(nibble);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let mut body = template(300);
        let s = Stamp {
            publisher: 7,
            seq: 123_456_789,
            sent_ns: u64::MAX - 5,
        };
        stamp(&mut body, s);
        assert_eq!(read(&body), Some(s));
        assert!(body.starts_with(b"{\"bench\":\"00000007:00000000075bcd15:"));
    }

    #[test]
    fn templates_have_the_exact_size_and_are_json_shaped() {
        for size in [MIN_SIZE, MIN_SIZE + 5, 63, 64, 100, 300, 4096] {
            let body = template(size);
            assert_eq!(body.len(), size, "size {size}");
            assert_eq!(body.first(), Some(&b'{'));
            assert_eq!(body.last(), Some(&b'}'));
            assert!(std::str::from_utf8(&body).is_ok());
        }
        let default = String::from_utf8(template(300)).expect("utf-8");
        assert!(default.contains("\"name\":\"call_created\""), "{default}");
        assert!(default.contains("\"pad\":\""), "{default}");
    }

    #[test]
    fn foreign_bodies_are_not_read() {
        assert_eq!(read(b"hello"), None);
        let mut body = template(100);
        body[SEQ_AT] = b'g';
        assert_eq!(read(&body), None);
    }
}
