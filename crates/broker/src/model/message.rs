//! A published message, shared by every queue it was routed to.
//!
//! A message is built once when its last body frame arrives and is then only ever shared
//! (`Arc<Message>`): fan-out to a thousand queues clones a pointer, not the body. Its exchange,
//! routing key and encoded properties are copied into the message itself, one after the other
//! (up to 102 bytes, as most messages' are; more go into one allocation of their own): a
//! queued message is then its body and one allocation of jemalloc's 160-byte class, and the
//! session writes these bytes into `basic.deliver` as they are (`warren_wire::ContentMethod`,
//! `BasicHeader`), with nothing to clone or count.
//!
//! The body is as it was decoded: a view into the publisher's 64 KiB read buffer (except a
//! body joined from several frames, which has an allocation of its own). That is free on the
//! way to a consumer, but a view keeps its whole read buffer, and every other message read into
//! it, allocated: a message that waits in a queue among messages consumed at once would cost
//! the buffer rather than its size. So a queue without consumer keeps a message as its
//! [`Message::compacted`] copy, whose body has an allocation of its own (see `Queue::publish`
//! and `Connection::enqueue` for when).
//!
//! A body that has an allocation of its own already (joined from several frames, or read
//! straight into one by the server because its frame did not fit the read buffer) is never
//! copied: the message is compact from the start.

use std::num::NonZeroU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_wire::{
    allocation_size, BasicHeader, BasicProperties, ContentHeader, EncodedHeader, ShortStr,
    FRAME_OVERHEAD, SHORT_STR_MAX_LEN,
};

use crate::limits::FRAME_MAX;

/// The largest body that can have come in one frame, a view into a read buffer; a larger one
/// was joined from its frames into an allocation of its own.
const ONE_FRAME_BODY_MAX: usize = FRAME_MAX as usize - FRAME_OVERHEAD;

/// What a message's frames take besides its exchange, routing key, property bytes and body:
/// three frames' headers and ends, `basic.publish`'s fixed arguments (class and method ids,
/// reserved short, the two strings' lengths, the bits) and the header's class id, weight and
/// body size. It is also the distance from the end of a body to the body of a message read
/// right after it, less that message's exchange, routing key and properties.
const FRAMES_AROUND_BODY: usize = 3 * FRAME_OVERHEAD + (2 + 2 + 2 + 1 + 1 + 1) + (2 + 2 + 8);

/// The bytes of exchange, routing key and properties kept inside the message: as many as
/// make `Arc<Message>` 160 bytes (see the test).
const INLINE_META: usize = 102;

/// [`Message::flags`]: the message has a per-message TTL.
const HAS_TTL: u8 = 1;
/// The body has an allocation of its own, of its size: a copy would gain nothing.
const OWN_BODY: u8 = 2;
/// Published with `delivery_mode` 2 (persistent).
const PERSISTENT: u8 = 4;

/// Only the header's property bytes are kept, not its decoded properties (368 bytes, and a
/// heap table for `headers`): a queued message costs that much less, and the few properties
/// the broker needs after the publish are decoded again when needed (dead-lettering) or kept
/// aside.
///
/// 144 bytes, so that an `Arc<Message>` (16 more) is served from jemalloc's 160-byte class:
/// the body's `Bytes` (32), the exchange, routing key and properties inline (104 with their
/// length and where they are), and 8 bytes of small fields.
#[derive(Debug)]
pub struct Message {
    body: Bytes,
    meta: Meta,
    /// The per-message TTL from the `expiration` property, checked at publish, in
    /// milliseconds (RabbitMQ's limit is `u32::MAX`, see [`parse_expiration`]), when
    /// [`HAS_TTL`] is set.
    ttl_ms: u32,
    exchange_len: u8,
    routing_key_len: u8,
    /// The `priority` property (0 without one), which picks the level in a priority queue.
    pub priority: u8,
    /// [`HAS_TTL`], [`OWN_BODY`], [`PERSISTENT`].
    flags: u8,
}

/// A message's exchange, routing key and property bytes, one after the other.
#[derive(Debug, Clone)]
enum Meta {
    Inline { len: u8, bytes: [u8; INLINE_META] },
    Apart(Box<[u8]>),
}

impl Meta {
    fn new(parts: [&[u8]; 3]) -> Meta {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len > INLINE_META {
            return Meta::Apart(parts.concat().into_boxed_slice());
        }
        let mut bytes = [0; INLINE_META];
        let mut at = 0;
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Meta::Inline {
            len: len as u8,
            bytes,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Meta::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Meta::Apart(bytes) => bytes,
        }
    }
}

impl Message {
    /// The message with what the broker reads of its header taken from `header`: `ttl` is
    /// given, as the publish path checks it first. `exchange` and `routing_key` are short
    /// strings (at most 255 bytes; more would be cut).
    pub fn new(
        exchange: &[u8],
        routing_key: &[u8],
        header: &ContentHeader,
        body: Bytes,
        ttl: Option<Duration>,
    ) -> Self {
        let short = |s: &[u8]| s.len().min(SHORT_STR_MAX_LEN);
        let (exchange_len, routing_key_len) = (short(exchange), short(routing_key));
        let encoded = EncodedHeader::from(header);
        let meta = Meta::new([
            &exchange[..exchange_len],
            &routing_key[..routing_key_len],
            encoded.property_bytes(),
        ]);
        // Nothing else holds a view of the body's allocation (the read buffer it would be a
        // view of is still held by the connection): it is its own, and of its size, as the
        // server and the joining of frames make them. One too large for a frame was joined.
        let own_body = body.is_empty() || body.is_unique() || body.len() > ONE_FRAME_BODY_MAX;
        let persistent = header.properties.delivery_mode == Some(2);
        let flag = |set: bool, flag: u8| if set { flag } else { 0 };
        Message {
            body,
            meta,
            ttl_ms: ttl.map_or(0, |ttl| u32::try_from(ttl.as_millis()).unwrap_or(u32::MAX)),
            exchange_len: exchange_len as u8,
            routing_key_len: routing_key_len as u8,
            priority: header.properties.priority.unwrap_or(0),
            flags: flag(ttl.is_some(), HAS_TTL)
                | flag(own_body, OWN_BODY)
                | flag(persistent, PERSISTENT),
        }
    }

    /// The exchange it was published to.
    pub fn exchange(&self) -> &[u8] {
        &self.meta.as_bytes()[..usize::from(self.exchange_len)]
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> &[u8] {
        let at = usize::from(self.exchange_len);
        &self.meta.as_bytes()[at..at + usize::from(self.routing_key_len)]
    }

    /// Its content header, as it is sent to consumers.
    pub fn header(&self) -> BasicHeader<'_> {
        let at = usize::from(self.exchange_len) + usize::from(self.routing_key_len);
        BasicHeader {
            body_size: self.body.len() as u64,
            property_bytes: &self.meta.as_bytes()[at..],
        }
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The per-message TTL (from the `expiration` property).
    pub fn ttl(&self) -> Option<Duration> {
        (self.flags & HAS_TTL != 0).then(|| Duration::from_millis(self.ttl_ms.into()))
    }

    /// Published as persistent (`delivery_mode` 2): what a durable queue counts as
    /// `messages_persistent`.
    pub fn persistent(&self) -> bool {
        self.flags & PERSISTENT != 0
    }

    fn owns_body(&self) -> bool {
        self.flags & OWN_BODY != 0
    }

    /// A copy that keeps no buffer it was decoded from: its body copied into an allocation of
    /// its own size (its other bytes are its own already). A body that has its own allocation
    /// already (see [`Message::new`]) is shared, not copied.
    pub fn compacted(&self) -> Message {
        Message {
            body: if self.owns_body() {
                self.body.clone()
            } else {
                Bytes::copy_from_slice(&self.body)
            },
            meta: self.meta.clone(),
            flags: self.flags | OWN_BODY,
            ..*self
        }
    }

    /// Makes `message` what a queue keeps: its compacted copy, unless it is one already; in
    /// place when nothing else holds it.
    pub fn keep(message: &mut Arc<Message>) {
        if message.owns_body() {
            return;
        }
        match Arc::get_mut(message) {
            Some(alone) => {
                alone.body = Bytes::copy_from_slice(&alone.body);
                alone.flags |= OWN_BODY;
            }
            None => *message = Arc::new(message.compacted()),
        }
    }

    /// Whether its compacted copy takes less than what it holds as a view of its read buffer:
    /// the body and its frames (1,024 bytes against 1,154 for a 1 KiB body with the bench's
    /// 35-byte routing key and 50 bytes of properties; a 1,040-byte body would take 1,280).
    /// A queue that keeps it for nobody then copies it even among messages kept as views
    /// (see `Queue::publish`).
    pub fn copy_takes_less(&self) -> bool {
        allocation_size(self.body.len()) <= self.body.len() + self.frames_around_body()
    }

    /// What its frames took besides the body.
    fn frames_around_body(&self) -> usize {
        FRAMES_AROUND_BODY + self.meta.as_bytes().len()
    }

    /// Whether `next` was read right after this message, into the same buffer: its body
    /// starts where the frames between the two bodies (this body's frame end, `next`'s method
    /// and header frames, its body frame's header) put it. Messages read one after the other
    /// that wait together fill their read buffers: copies of them would free nothing, and take
    /// as much memory again while they are made.
    /// (By addresses: two read buffers that happen to lie next to each other look like one,
    /// and such a pair is then kept as it came rather than copied; nothing more. A test of
    /// two separate buffers would depend on where the allocator put them.)
    pub fn read_before(&self, next: &Message) -> bool {
        if self.owns_body() || next.owns_body() {
            return false;
        }
        let end = self.body.as_ptr() as usize + self.body.len();
        let start = next.body.as_ptr() as usize;
        start.checked_sub(end) == Some(next.frames_around_body())
    }

    /// The properties, decoded again from the header's bytes.
    pub fn properties(&self) -> BasicProperties {
        self.header().properties()
    }

    /// Its exchange, routing key, properties and body: about what its frames took.
    pub fn byte_len(&self) -> usize {
        self.meta.as_bytes().len() + self.body.len()
    }

    /// The size RabbitMQ counts for queue length in bytes: the body alone.
    pub fn body_len(&self) -> u64 {
        self.body.len() as u64
    }
}

/// A message as it sits in one queue, or travels to one consumer.
///
/// 24 bytes, as a queue holds one per message (in a `VecDeque`, which doubles): the flag is
/// kept in the sequence number's lowest bit and the deadline in nanoseconds, not as an
/// `Option<Instant>` (16 bytes).
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message: Arc<Message>,
    /// The queue's enqueue counter at publish time, shifted left by one: a requeued message
    /// goes back to the place its number gives it, so the queue keeps publish order, as
    /// RabbitMQ does. Bit 0: set once the message has been handed to a consumer and came
    /// back unacknowledged.
    seq_redelivered: u64,
    /// When its TTL (the queue's or its own, the shorter) runs out in this queue; kept when
    /// it is requeued.
    expires_at: Option<Deadline>,
}

impl QueuedMessage {
    pub fn new(message: Arc<Message>, seq: u64, expires_at: Option<Instant>) -> Self {
        QueuedMessage {
            message,
            seq_redelivered: seq << 1,
            expires_at: expires_at.map(Deadline::from),
        }
    }

    /// Its place in its queue's publish order.
    pub fn seq(&self) -> u64 {
        self.seq_redelivered >> 1
    }

    /// Whether it was handed to a consumer before and came back unacknowledged.
    pub fn redelivered(&self) -> bool {
        self.seq_redelivered & 1 != 0
    }

    /// Marks it `redelivered` if `delivered` (it stays so once marked).
    pub fn mark_redelivered(&mut self, delivered: bool) {
        self.seq_redelivered |= u64::from(delivered);
    }

    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at.map(Deadline::instant)
    }

    pub fn expires(&self) -> bool {
        self.expires_at.is_some()
    }
}

/// An instant as nanoseconds since [`epoch`], plus one (so that `Option<Deadline>` is 8
/// bytes): 584 years of uptime.
#[derive(Debug, Clone, Copy)]
struct Deadline(NonZeroU64);

/// A second before the first deadline was made: before any instant read to make one (an
/// earlier instant would be taken as the epoch).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(1)).unwrap_or(now)
    })
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Self {
        let nanos = at.saturating_duration_since(epoch()).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        Deadline(NonZeroU64::MIN.saturating_add(nanos))
    }
}

impl Deadline {
    fn instant(self) -> Instant {
        epoch() + Duration::from_nanos(self.0.get() - 1)
    }
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

    /// A message whose body is a view into one received buffer, and that buffer's capacity.
    pub(crate) fn received(body_len: usize) -> (Message, BytesMut, usize) {
        let mut buffer = BytesMut::with_capacity(64 * 1024);
        buffer.extend_from_slice(b"xivocalls.call.created");
        buffer.resize(buffer.len() + body_len, b'{');
        let capacity = buffer.capacity();
        let mut frame = buffer.split().freeze();
        let (exchange, routing_key) = (frame.split_to(4), frame.split_to(18));
        let header = ContentHeader::new(60, body_len as u64, BasicProperties::default());
        let message = Message::new(&exchange, &routing_key, &header, frame, None);
        (message, buffer, capacity)
    }

    #[test]
    fn a_compacted_message_owns_its_bytes() {
        let (message, mut buffer, capacity) = received(300);
        let copy = message.compacted();
        assert_eq!(copy.exchange(), b"xivo");
        assert_eq!(copy.routing_key(), b"calls.call.created");
        assert_eq!(
            copy.header().property_bytes,
            message.header().property_bytes
        );
        assert_eq!(copy.body(), message.body());
        assert!(!buffer.try_reclaim(capacity), "the view keeps its buffer");
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
                    let (exchange, key) = (p.exchange.as_bytes(), p.routing_key.as_bytes());
                    messages.push(Message::new(exchange, key, &h, payload, None));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        (messages, buffer)
    }

    #[test]
    fn an_arc_of_a_message_takes_the_160_byte_class() {
        assert_eq!(size_of::<Message>(), 144);
        let arc = size_of::<Message>() + 2 * size_of::<usize>();
        assert_eq!(allocation_size(arc), 160, "Message is {} bytes", arc - 16);
    }

    #[test]
    fn a_queue_entry_is_24_bytes_and_keeps_what_it_was_given() {
        assert_eq!(size_of::<QueuedMessage>(), 24);
        let at = Instant::now() + Duration::from_millis(1500);
        let mut queued = QueuedMessage::new(Arc::new(received(10).0), 41, Some(at));
        assert_eq!((queued.seq(), queued.redelivered()), (41, false));
        let kept = queued.expires_at().expect("a deadline");
        assert!(kept.max(at) - kept.min(at) < Duration::from_micros(1));
        queued.mark_redelivered(false);
        assert!(!queued.redelivered());
        queued.mark_redelivered(true);
        queued.mark_redelivered(false);
        assert_eq!((queued.seq(), queued.redelivered()), (41, true));
        assert!(QueuedMessage::new(Arc::new(received(10).0), 0, None)
            .expires_at()
            .is_none());
    }

    #[test]
    fn exchange_routing_key_and_properties_beyond_the_inline_bytes_are_kept_apart() {
        let properties = |len| BasicProperties {
            message_id: ShortStr::try_from_bytes(Bytes::from(vec![b'm'; len])).ok(),
            ..Default::default()
        };
        let (inline, apart) = (INLINE_META - 4 - 18 - 2 - 1, INLINE_META - 4 - 18 - 2);
        for (len, kept_inline) in [(inline, true), (apart, false)] {
            let header = ContentHeader::new(60, 3, properties(len));
            let body = Bytes::from_static(b"abc");
            let message = Message::new(b"xivo", b"calls.call.created", &header, body, None);
            assert_eq!(matches!(message.meta, Meta::Inline { .. }), kept_inline);
            assert_eq!(message.exchange(), b"xivo");
            assert_eq!(message.routing_key(), b"calls.call.created");
            assert_eq!(message.properties(), header.properties);
            assert_eq!(message.compacted().properties(), header.properties);
        }
    }

    #[test]
    fn a_compacted_body_takes_its_size() {
        for body_len in [1024, 4096, 16 * 1024, 64 * 1024] {
            let (message, _buffer, _) = received(body_len);
            let copy = message.compacted();
            assert_eq!(copy.body, message.body);
            let body = copy.body.try_into_mut().expect("a copied body is its own");
            assert_eq!(body.capacity(), body_len);
        }
    }

    #[test]
    fn copies_take_less_than_views_but_above_a_size_class() {
        let (messages, _buffer) = read_together(1, 1024);
        assert!(
            messages[0].copy_takes_less(),
            "1,024 against 1,024 + frames"
        );
        let (messages, _buffer) = read_together(1, 1100);
        assert!(
            !messages[0].copy_takes_less(),
            "1,280 against 1,100 + frames"
        );
    }

    #[test]
    fn a_body_of_its_own_makes_a_compact_message_at_once_and_is_never_copied() {
        let body = Bytes::from(vec![b'{'; 65_536]);
        let at = body.as_ptr();
        let header = ContentHeader::new(60, 65_536, BasicProperties::default());
        let own = Message::new(b"xivo", b"calls.call.created", &header, body, None);
        assert!(own.owns_body());
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
