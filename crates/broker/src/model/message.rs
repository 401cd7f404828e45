//! A published message, shared by every queue it was routed to.
//!
//! A message is built once when its last body frame arrives and is then only ever shared
//! (`Arc<Message>`): fan-out to a thousand queues clones a pointer, not the body. Its exchange,
//! routing key, header and body are as they were decoded: views into the publisher's 64 KiB
//! read buffer (except a body joined from several frames, which has an allocation of its
//! own). That is free on the way to a consumer, but a view keeps its whole read buffer, and
//! every other message read into it, allocated: a message that waits in a queue among
//! messages consumed at once would cost the buffer rather than its size. So a queue without
//! consumer keeps a message as its [`Message::compacted`] copy, which owns its bytes (see
//! `Queue::publish` and `Connection::enqueue` for when).
//!
//! A body that has an allocation of its own already (joined from several frames, or read
//! straight into one by the server because its frame did not fit the read buffer) is never
//! copied: the message copies its few other bytes at once and is compact from the start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_wire::{
    allocation_size, BasicProperties, Compact, ContentHeader, EncodedHeader, ShortStr,
    FRAME_OVERHEAD,
};

use crate::limits::FRAME_MAX;

/// The largest body that can have come in one frame, a view into a read buffer; a larger one
/// was joined from its frames into an allocation of its own.
const ONE_FRAME_BODY_MAX: usize = FRAME_MAX as usize - FRAME_OVERHEAD;

/// What a body copied into an allocation of its own must save to be worth the second
/// allocation (and its free): more than the allocator's smallest steps.
const SECOND_ALLOCATION: usize = 64;

/// From the end of a body to the header of a message read right after it: the body's frame
/// end (1), a `basic.publish` method frame (header 7, ids 4, reserved 2, exchange and routing
/// key of up to 1 + 255 each, bits 1, frame end 1), the header frame's header (7).
const MAX_GAP_TO_NEXT_HEADER: usize = 1 + 7 + 4 + 2 + 2 * (1 + 255) + 1 + 1 + 7;

/// Only the header's bytes are kept, not its decoded properties (368 bytes, and a heap table
/// for `headers`): a queued message costs that much less, and the few properties the broker
/// needs after the publish are decoded again when needed (dead-lettering) or kept aside.
///
/// 144 bytes, so that an `Arc<Message>` (16 more) is served from jemalloc's 160-byte class
/// (a `Duration` for the TTL made it 168, rounded up to 192).
#[derive(Debug)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub header: EncodedHeader,
    pub body: Bytes,
    /// The per-message TTL from the `expiration` property, checked at publish, in
    /// milliseconds: RabbitMQ's limit is `u32::MAX` (see [`parse_expiration`]).
    ttl_ms: Option<u32>,
    /// The `priority` property (0 without one), which picks the level in a priority queue.
    pub priority: u8,
    /// Made by [`Message::compacted`], or born so: its bytes are its own.
    compact: bool,
    /// The body has an allocation of its own, of its size: a copy would gain nothing.
    own_body: bool,
}

impl Message {
    /// A body this large that a queue keeps for nobody is kept in an allocation of its own
    /// even among messages kept as views (see `Queue::publish`): its view's share of the read
    /// buffer (frames, and the end a body that did not fit left unused) costs more than a copy
    /// from here (about 4,350 bytes against 4,256 for 4 KiB; 1,160 against 1,184 for 1 KiB).
    pub const BODY_KEPT_APART: usize = 4096;

    /// The message with what the broker reads of its header taken from `header`: `ttl` is
    /// given, as the publish path checks it first.
    pub fn new(
        exchange: ShortStr,
        routing_key: ShortStr,
        header: &ContentHeader,
        body: Bytes,
        ttl: Option<Duration>,
    ) -> Self {
        // Nothing else holds a view of the body's allocation (the read buffer it would be a
        // view of is still held by the connection): it is its own, and of its size, as the
        // server and the joining of frames make them. One too large for a frame was joined.
        let own_body = body.is_unique() || body.len() > ONE_FRAME_BODY_MAX;
        let message = Message {
            exchange,
            routing_key,
            header: EncodedHeader::from(header),
            body,
            ttl_ms: ttl.map(|ttl| u32::try_from(ttl.as_millis()).unwrap_or(u32::MAX)),
            priority: header.properties.priority.unwrap_or(0),
            compact: false,
            own_body,
        };
        // Its other bytes are a few views into the read buffer, which they would keep whole:
        // copied at once, as they cost less than the buffer (mostly the start of this body,
        // copied out of it by the server), wherever the message goes.
        if own_body {
            message.compacted()
        } else {
            message
        }
    }

    /// The per-message TTL (from the `expiration` property).
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl_ms.map(|ms| Duration::from_millis(ms.into()))
    }

    /// A copy that keeps no buffer it was decoded from: exchange, routing key and header copied
    /// into one allocation of their own, and the body into it too, or into one of its own when
    /// that takes less with the allocator's size classes (a 1 KiB or 4 KiB body and ~100 bytes
    /// beside it would take the next class, 25 % more than the body). A body that has its own
    /// allocation already (see [`Message::new`]) is shared, not copied.
    pub fn compacted(&self) -> Message {
        let (body, rest) = (self.body.len(), self.byte_len() - self.body.len());
        let copy_body = !self.own_body;
        let apart = allocation_size(body) + allocation_size(rest) + SECOND_ALLOCATION;
        let together = copy_body && allocation_size(body + rest) <= apart;
        let mut compact = Compact::with_capacity(if together { body + rest } else { rest });
        Message {
            exchange: self.exchange.copy_into(&mut compact),
            routing_key: self.routing_key.copy_into(&mut compact),
            header: self.header.copy_into(&mut compact),
            body: match (copy_body, together) {
                (true, true) => compact.copy(&self.body),
                (true, false) => Bytes::copy_from_slice(&self.body),
                (false, _) => self.body.clone(),
            },
            ttl_ms: self.ttl_ms,
            priority: self.priority,
            compact: true,
            own_body: self.own_body || !together,
        }
    }

    /// Makes `message` what a queue keeps: its compacted copy, unless it is one already; in
    /// place when nothing else holds it.
    pub fn keep(message: &mut Arc<Message>) {
        if message.compact {
            return;
        }
        match Arc::get_mut(message) {
            Some(alone) => *alone = alone.compacted(),
            None => *message = Arc::new(message.compacted()),
        }
    }

    /// Whether `next` was read right after this message, into the same buffer: its header
    /// starts within the frames that can separate the two (this body's frame end, `next`'s
    /// method frame, its header frame's start). Messages read one after the other that wait
    /// together fill their read buffers: copies of them would free nothing, and take as much
    /// memory again while they are made.
    /// (By addresses: two read buffers that happen to lie next to each other look like one,
    /// and such a pair is then kept as it came rather than copied; nothing more. A test of
    /// two separate buffers would depend on where the allocator put them.)
    pub fn read_before(&self, next: &Message) -> bool {
        if self.compact || next.compact {
            return false;
        }
        let end = self.body.as_ptr() as usize + self.body.len();
        let start = next.header.as_bytes().as_ptr() as usize;
        start > end && start - end <= MAX_GAP_TO_NEXT_HEADER
    }

    /// The properties, decoded again from the header's bytes.
    pub fn properties(&self) -> BasicProperties {
        self.header.properties()
    }

    /// Its exchange, routing key, header and body: about what its frames took.
    pub fn byte_len(&self) -> usize {
        self.exchange.len()
            + self.routing_key.len()
            + self.header.as_bytes().len()
            + self.body.len()
    }

    /// The size RabbitMQ counts for queue length in bytes: the body alone.
    pub fn body_len(&self) -> u64 {
        self.body.len() as u64
    }
}

/// A message as it sits in one queue, or travels to one consumer.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message: Arc<Message>,
    /// Set once the message has been handed to a consumer and came back unacknowledged.
    pub redelivered: bool,
    /// The queue's enqueue counter at publish time: a requeued message goes back to the place
    /// its number gives it, so the queue keeps publish order, as RabbitMQ does.
    pub seq: u64,
    /// When its TTL (the queue's or its own, the shorter) runs out in this queue; kept when
    /// it is requeued.
    pub expires_at: Option<Instant>,
}

/// The longest TTL RabbitMQ accepts (`?MAX_EXPIRY_TIMER`), in milliseconds.
const MAX_EXPIRY_MS: i128 = 4_294_967_295;

/// Reads the `expiration` property as RabbitMQ's `parse_expiration` does: Erlang's
/// `string:to_integer` on it, then the TTL checks. The error is the reason RabbitMQ prints.
pub fn parse_expiration(expiration: Option<&ShortStr>) -> Result<Option<Duration>, String> {
    let Some(text) = expiration else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(text.as_bytes());
    let sign = usize::from(text.starts_with(['-', '+']));
    let digits = text[sign..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err("no_integer".into());
    }
    let (number, rest) = text.split_at(sign + digits);
    if !rest.is_empty() {
        return Err(format!("{{leftover_string,\"{rest}\"}}"));
    }
    let ms: i128 = number.parse().map_err(|_| "no_integer".to_string())?;
    match ms {
        ms if ms < 0 => Err(format!("{{value_negative,{ms}}}")),
        ms if ms > MAX_EXPIRY_MS => Err(format!("{{value_too_large,{ms}}}")),
        ms => Ok(Some(Duration::from_millis(ms as u64))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::BytesMut;

    /// A message whose exchange, routing key and body are views into one received buffer
    /// (the header has its own encoding here), and that buffer's capacity.
    pub(crate) fn received(body_len: usize) -> (Message, BytesMut, usize) {
        let mut buffer = BytesMut::with_capacity(64 * 1024);
        buffer.extend_from_slice(b"xivocalls.call.created");
        buffer.resize(buffer.len() + body_len, b'{');
        let capacity = buffer.capacity();
        let mut frame = buffer.split().freeze();
        let (exchange, routing_key) = (frame.split_to(4), frame.split_to(18));
        let header = ContentHeader::new(60, body_len as u64, BasicProperties::default());
        let short = |b| ShortStr::try_from_bytes(b).expect("short");
        let message = Message::new(short(exchange), short(routing_key), &header, frame, None);
        (message, buffer, capacity)
    }

    #[test]
    fn a_compacted_message_owns_its_bytes() {
        let (message, mut buffer, capacity) = received(300);
        let copy = message.compacted();
        assert_eq!(
            (&copy.exchange, &copy.routing_key, &copy.header, &copy.body),
            (
                &message.exchange,
                &message.routing_key,
                &message.header,
                &message.body
            )
        );
        let header_end = copy.header.as_bytes().as_ptr_range().end;
        assert_eq!(copy.body.as_ptr(), header_end, "one allocation");
        drop(message);
        assert!(buffer.try_reclaim(capacity), "the copy keeps no view");
    }

    #[test]
    fn a_body_joined_from_frames_is_not_copied_again() {
        let (message, _, _) = received(ONE_FRAME_BODY_MAX + 1);
        assert_eq!(message.compacted().body.as_ptr(), message.body.as_ptr());
    }

    /// `count` messages of `body_len` bytes as the server reads them: encoded one after the
    /// other, read into one buffer and decoded; the buffer is returned, as the connection
    /// keeps it.
    pub(crate) fn read_together(count: usize, body_len: usize) -> (Vec<Message>, BytesMut) {
        use warren_wire::{decode_frame, encode_method_with_content, BasicPublish, Frame, Method};
        let mut wire = BytesMut::new();
        for _ in 0..count {
            let publish = BasicPublish {
                exchange: ShortStr::from_static("xivo"),
                routing_key: ShortStr::from_static("calls.call.created"),
                ..Default::default()
            };
            let properties = BasicProperties {
                content_type: Some(ShortStr::from_static("application/json")),
                ..Default::default()
            };
            let header = ContentHeader::new(60, body_len as u64, properties);
            let body = Bytes::from(vec![b'{'; body_len]);
            encode_method_with_content(1, &publish.into(), &header, &body, 0, &mut wire);
        }
        let mut buffer = BytesMut::with_capacity(wire.len());
        buffer.extend_from_slice(&wire);
        let mut messages = Vec::new();
        let (mut publish, mut header) = (None, None);
        while let Ok(Some(frame)) = decode_frame(&mut buffer, 0) {
            match frame {
                Frame::Method {
                    method: Method::BasicPublish(p),
                    ..
                } => publish = Some(p),
                Frame::Header { header: h, .. } => header = Some(h),
                Frame::Body { payload, .. } => {
                    let (Some(p), Some(h)) = (publish.take(), header.take()) else {
                        panic!("publish, header, body");
                    };
                    messages.push(Message::new(p.exchange, p.routing_key, &h, payload, None));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        (messages, buffer)
    }

    /// What `message.compacted()` takes, from its own allocations: the body's, if it has one
    /// apart, and the one of its other bytes.
    fn allocated(copy: Message) -> usize {
        let (all, rest) = (copy.byte_len(), copy.byte_len() - copy.body.len());
        if !copy.own_body {
            return allocation_size(all);
        }
        let body = copy.body.try_into_mut().expect("a body apart is its own");
        allocation_size(body.capacity()) + allocation_size(rest)
    }

    #[test]
    fn an_arc_of_a_message_takes_the_160_byte_class() {
        let arc = size_of::<Message>() + 2 * size_of::<usize>();
        assert_eq!(allocation_size(arc), 160, "Message is {} bytes", arc - 16);
    }

    #[test]
    fn a_compacted_body_is_not_rounded_up_to_the_next_size_class() {
        for body_len in [1024, 4096, 16 * 1024, 64 * 1024] {
            let (message, _buffer, _) = received(body_len);
            let copy = message.compacted();
            assert_eq!(copy.body, message.body);
            let taken = allocated(copy);
            assert!(
                taken as f64 <= 1.2 * body_len as f64,
                "{body_len}-byte body: {taken} bytes allocated"
            );
        }
    }

    #[test]
    fn a_body_of_its_own_makes_a_compact_message_at_once_and_is_never_copied() {
        let (views, _buffer) = read_together(1, 300);
        let view = &views[0];
        let body = Bytes::from(vec![b'{'; 65_536]);
        let at = body.as_ptr();
        let header = ContentHeader::new(60, 65_536, view.properties());
        let own = Message::new(
            view.exchange.clone(),
            view.routing_key.clone(),
            &header,
            body,
            None,
        );
        assert!(own.compact, "its other bytes copied at once");
        assert_ne!(
            own.header.as_bytes().as_ptr(),
            view.header.as_bytes().as_ptr()
        );
        assert_eq!(own.body.as_ptr(), at);
        let mut kept = Arc::new(own);
        let before = Arc::clone(&kept);
        Message::keep(&mut kept);
        assert!(Arc::ptr_eq(&kept, &before), "kept as it is");
        assert_eq!(kept.compacted().body.as_ptr(), at, "a copy shares it");
    }

    #[test]
    fn messages_read_one_after_the_other_know_it() {
        let (together, _buffer) = read_together(3, 1024);
        assert!(together[0].read_before(&together[1]));
        assert!(together[1].read_before(&together[2]));
        assert!(!together[1].read_before(&together[0]));
        assert!(!together[0].read_before(&together[2]), "one between them");
        let copy = together[0].compacted();
        assert!(
            !copy.read_before(&together[1]),
            "a copy is read from nowhere"
        );
    }

    fn parse(text: &'static str) -> Result<Option<Duration>, String> {
        parse_expiration(Some(&ShortStr::from_static(text)))
    }

    #[test]
    fn expiration_reads_like_rabbitmq() {
        assert_eq!(parse("60000"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(parse("0"), Ok(Some(Duration::ZERO)));
        assert_eq!(parse("abc"), Err("no_integer".into()));
        assert_eq!(parse("12ms"), Err("{leftover_string,\"ms\"}".into()));
        assert_eq!(parse("-5"), Err("{value_negative,-5}".into()));
        assert_eq!(
            parse("4294967296"),
            Err("{value_too_large,4294967296}".into())
        );
    }
}
