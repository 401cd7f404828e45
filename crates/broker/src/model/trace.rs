//! A vhost's routing trace: its last publishes, each with the queues it reached, for the test
//! controls' "where did my event go?". A bounded ring of at most `capacity` entries, each with
//! the message's body cut to [`PREVIEW`] bytes, so its memory is bounded by its size; with a
//! capacity of 0 it is off, and a publish pays one branch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use warren_wire::ShortStr;

use crate::model::message::Message;
use crate::model::queue::Queue;

/// How much of a body the trace keeps.
pub const PREVIEW: usize = 1024;

/// One publish, as the trace keeps it.
#[derive(Debug, Clone)]
pub struct Traced {
    pub at: SystemTime,
    /// The message as published, its body cut to [`PREVIEW`] bytes.
    pub message: Arc<Message>,
    /// The whole body's length.
    pub body_len: u64,
    /// The queues it was routed to, by name (none: unroutable).
    pub queues: Vec<ShortStr>,
}

#[derive(Debug)]
pub struct Trace {
    capacity: usize,
    entries: Mutex<VecDeque<Traced>>,
}

impl Trace {
    pub fn new(capacity: usize) -> Self {
        Trace {
            capacity,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps `message` and where it went, forgetting the oldest entry when full.
    pub fn record(&self, message: &Arc<Message>, queues: &[Arc<Queue>]) {
        if self.capacity == 0 {
            return;
        }
        let entry = Traced {
            at: SystemTime::now(),
            message: Message::preview(message, PREVIEW),
            body_len: message.body_len(),
            queues: queues.iter().map(|queue| queue.name.clone()).collect(),
        };
        let mut entries = self.entries.lock();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The last `limit` publishes (to `exchange` only, if given), newest first.
    pub fn latest(&self, exchange: Option<&[u8]>, limit: usize) -> Vec<Traced> {
        let entries = self.entries.lock();
        entries
            .iter()
            .rev()
            .filter(|entry| exchange.map_or(true, |name| entry.message.exchange() == name))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use warren_wire::{BasicProperties, ContentHeader};

    fn message(exchange: &str, body: Vec<u8>) -> Arc<Message> {
        let header = ContentHeader {
            class_id: 60,
            body_size: body.len() as u64,
            properties: BasicProperties::default(),
            received: None,
        };
        Arc::new(Message::new(
            exchange.as_bytes(),
            b"key",
            &header,
            Bytes::from(body),
            None,
        ))
    }

    #[test]
    fn the_ring_keeps_the_last_entries_with_bodies_cut() {
        let trace = Trace::new(2);
        for exchange in ["a", "b", "c"] {
            trace.record(&message(exchange, vec![b'x'; 4 * PREVIEW]), &[]);
        }
        let latest = trace.latest(None, 10);
        let exchanges: Vec<&[u8]> = latest.iter().map(|e| e.message.exchange()).collect();
        assert_eq!(exchanges, [b"c".as_slice(), b"b"]);
        assert_eq!(latest[0].message.body().len(), PREVIEW);
        assert_eq!(latest[0].body_len, 4 * PREVIEW as u64);
        assert_eq!(trace.latest(Some(b"b"), 10).len(), 1);
        trace.clear();
        assert!(trace.latest(None, 10).is_empty());
    }

    #[test]
    fn a_trace_of_size_zero_keeps_nothing() {
        let trace = Trace::new(0);
        trace.record(&message("a", b"body".to_vec()), &[]);
        assert!(trace.latest(None, 10).is_empty());
    }
}
