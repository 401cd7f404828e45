//! A vhost's routing trace: its last publishes, each with the queues it reached, for the test
//! controls' "where did my event go?". A ring of at most `capacity` slots, each keeping a
//! copy of the message's exchange, routing key, properties (up to [`PROPERTIES_MAX`] bytes)
//! and the first [`PREVIEW`] bytes of its body, in a buffer the slot reuses: once the ring is
//! full a publish allocates nothing, and its memory is bounded by its size. With a capacity of
//! 0 it is off, and a publish pays one branch.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;
use warren_wire::{BasicHeader, BasicProperties, ShortStr};

use crate::model::message::Message;
use crate::model::queue::Queue;

/// How much of a body the trace keeps.
pub const PREVIEW: usize = 1024;

/// The largest encoded properties the trace keeps; a message with more is traced without them.
pub const PROPERTIES_MAX: usize = 16 * 1024;

/// One publish, as the trace gives it back.
#[derive(Debug, Clone)]
pub struct Traced {
    pub at: SystemTime,
    pub exchange: Bytes,
    pub routing_key: Bytes,
    /// None when they were larger than [`PROPERTIES_MAX`].
    pub properties: Option<BasicProperties>,
    /// The body's first [`PREVIEW`] bytes.
    pub body: Bytes,
    /// The whole body's length.
    pub body_len: u64,
    /// The queues it was routed to, by name (none: unroutable).
    pub queues: Vec<ShortStr>,
}

#[derive(Debug)]
pub struct Trace {
    capacity: usize,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    slots: Vec<Slot>,
    /// The oldest slot once the ring is full (the next to be written).
    next: usize,
}

#[derive(Debug)]
struct Slot {
    at: SystemTime,
    /// Exchange, routing key, properties and the body's start, one after the other.
    bytes: Vec<u8>,
    exchange_len: usize,
    routing_key_len: usize,
    /// usize::MAX: not kept (too large).
    properties_len: usize,
    /// How much of the body is kept (after the properties).
    preview_len: usize,
    body_len: u64,
    /// The lengths of the queue names kept after the body's start: copied, not counted
    /// references, so that a publish touches no other thread's cache lines.
    queue_name_lens: Vec<u8>,
}

impl Trace {
    pub fn new(capacity: usize) -> Self {
        Trace {
            capacity,
            ring: Mutex::default(),
        }
    }

    /// Keeps `message` and where it went, in place of the oldest entry when full.
    pub fn record(&self, message: &Message, queues: &[Arc<Queue>]) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = self.ring.lock();
        let slot = if ring.slots.len() < self.capacity {
            ring.slots.push(Slot::empty());
            ring.slots.last_mut()
        } else {
            let at = ring.next;
            ring.next = (at + 1) % self.capacity;
            ring.slots.get_mut(at)
        };
        if let Some(slot) = slot {
            slot.write(message, queues);
        }
    }

    /// The last `limit` publishes (to `exchange` only, if given), newest first.
    pub fn latest(&self, exchange: Option<&[u8]>, limit: usize) -> Vec<Traced> {
        let ring = self.ring.lock();
        let (older, newer) = ring.slots.split_at(ring.next.min(ring.slots.len()));
        newer
            .iter()
            .chain(older)
            .rev()
            .filter(|slot| exchange.map_or(true, |name| slot.exchange() == name))
            .take(limit)
            .map(Slot::traced)
            .collect()
    }

    pub fn clear(&self) {
        *self.ring.lock() = Ring::default();
    }
}

impl Slot {
    fn empty() -> Self {
        Slot {
            at: SystemTime::UNIX_EPOCH,
            bytes: Vec::new(),
            exchange_len: 0,
            routing_key_len: 0,
            properties_len: 0,
            preview_len: 0,
            body_len: 0,
            queue_name_lens: Vec::new(),
        }
    }

    fn write(&mut self, message: &Message, queues: &[Arc<Queue>]) {
        let (exchange, routing_key) = (message.exchange(), message.routing_key());
        let properties = message.header().property_bytes;
        let fits = properties.len() <= PROPERTIES_MAX;
        let kept_properties = if fits { properties } else { &[] };
        let body = message.body();
        let preview = &body[..body.len().min(PREVIEW)];
        self.at = SystemTime::now();
        self.bytes.clear();
        for part in [exchange, routing_key, kept_properties, preview] {
            self.bytes.extend_from_slice(part);
        }
        self.queue_name_lens.clear();
        for queue in queues {
            self.bytes.extend_from_slice(queue.name.as_bytes());
            self.queue_name_lens.push(queue.name.len() as u8);
        }
        self.exchange_len = exchange.len();
        self.routing_key_len = routing_key.len();
        self.properties_len = if fits { properties.len() } else { usize::MAX };
        self.preview_len = preview.len();
        self.body_len = message.body_len();
    }

    fn exchange(&self) -> &[u8] {
        &self.bytes[..self.exchange_len]
    }

    fn traced(&self) -> Traced {
        let key_end = self.exchange_len + self.routing_key_len;
        let kept = if self.properties_len == usize::MAX {
            0
        } else {
            self.properties_len
        };
        let properties = (self.properties_len != usize::MAX).then(|| {
            let header = BasicHeader {
                body_size: self.body_len,
                property_bytes: &self.bytes[key_end..key_end + kept],
            };
            header.properties()
        });
        let body_start = key_end + kept;
        let mut at = body_start + self.preview_len;
        let queues = self
            .queue_name_lens
            .iter()
            .filter_map(|&len| {
                let name = &self.bytes[at..at + usize::from(len)];
                at += usize::from(len);
                ShortStr::try_from_bytes(Bytes::copy_from_slice(name)).ok()
            })
            .collect();
        Traced {
            at: self.at,
            exchange: Bytes::copy_from_slice(self.exchange()),
            routing_key: Bytes::copy_from_slice(&self.bytes[self.exchange_len..key_end]),
            properties,
            body: Bytes::copy_from_slice(&self.bytes[body_start..body_start + self.preview_len]),
            body_len: self.body_len,
            queues,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_wire::{ContentHeader, FieldTable, FieldValue};

    fn message(exchange: &str, body: Vec<u8>, headers: Option<FieldTable>) -> Message {
        let properties = BasicProperties {
            headers,
            ..BasicProperties::default()
        };
        let header = ContentHeader::new(60, body.len() as u64, properties);
        Message::new(
            exchange.as_bytes(),
            b"key",
            &header,
            Bytes::from(body),
            None,
        )
    }

    #[test]
    fn the_ring_keeps_the_last_entries_with_bodies_cut() {
        let trace = Trace::new(2);
        for exchange in ["a", "b", "c"] {
            trace.record(&message(exchange, vec![b'x'; 4 * PREVIEW], None), &[]);
        }
        let latest = trace.latest(None, 10);
        let exchanges: Vec<&[u8]> = latest.iter().map(|e| e.exchange.as_ref()).collect();
        assert_eq!(exchanges, [b"c".as_slice(), b"b"]);
        assert_eq!(latest[0].body.len(), PREVIEW);
        assert_eq!(latest[0].body_len, 4 * PREVIEW as u64);
        assert_eq!(latest[0].routing_key.as_ref(), b"key");
        assert_eq!(trace.latest(Some(b"b"), 10).len(), 1);
        trace.clear();
        assert!(trace.latest(None, 10).is_empty());
    }

    #[test]
    fn properties_come_back_and_too_large_ones_are_left_out() {
        let trace = Trace::new(4);
        let mut small = FieldTable::new();
        small.insert(
            ShortStr::from_static("name"),
            FieldValue::LongStr(b"call_created".to_vec().into()),
        );
        let mut large = FieldTable::new();
        large.insert(
            ShortStr::from_static("blob"),
            FieldValue::LongStr(vec![b'z'; 2 * PROPERTIES_MAX].into()),
        );
        trace.record(&message("a", b"{}".to_vec(), Some(small.clone())), &[]);
        trace.record(&message("a", b"{}".to_vec(), Some(large)), &[]);
        let [too_large, kept] = &trace.latest(None, 2)[..] else {
            panic!("two entries");
        };
        assert_eq!(
            kept.properties.as_ref().and_then(|p| p.headers.clone()),
            Some(small)
        );
        assert!(too_large.properties.is_none());
        assert_eq!(too_large.body.as_ref(), b"{}");
    }

    #[test]
    fn a_trace_of_size_zero_keeps_nothing() {
        let trace = Trace::new(0);
        trace.record(&message("a", b"body".to_vec(), None), &[]);
        assert!(trace.latest(None, 10).is_empty());
    }
}
