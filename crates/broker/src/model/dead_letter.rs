//! Dead-lettering, as RabbitMQ 3.x does it (`rabbit_dead_letter`): a message rejected without
//! requeue, expired, or dropped for a queue's length limit is republished to the queue's
//! `x-dead-letter-exchange`, with `x-dead-letter-routing-key` or its own routing key, and an
//! `x-death` header telling its story.
//!
//! `x-death` is an array of tables, newest first, one per (queue, reason): `count`, `exchange`,
//! `queue`, `reason`, `routing-keys`, `time`, and `original-expiration` when the message had
//! an `expiration` (which is removed, so the copy does not expire again by it). A second death
//! in the same queue for the same reason increments `count` and moves that entry to the front.
//! The first death also sets `x-first-death-reason`, `-queue` and `-exchange`.
//!
//! A message that would go round a cycle of queues with no rejection in it is dropped instead
//! (`is_cycle` in RabbitMQ), so expiry loops end.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use warren_wire::{ContentHeader, FieldTable, FieldValue, ShortStr};

use crate::model::message::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    Rejected,
    Expired,
    Maxlen,
}

impl DeathReason {
    fn name(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::Maxlen => "maxlen",
        }
    }
}

/// Where a queue sends what it lets go of: its `x-dead-letter-exchange`, and the
/// `x-dead-letter-routing-key` that replaces the message's own, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadLetterTarget<'a> {
    pub queue: &'a ShortStr,
    pub exchange: &'a ShortStr,
    pub routing_key: Option<&'a ShortStr>,
}

/// `message` as it leaves its queue for the dead-letter exchange, with its `x-death` history,
/// and the decoded header, whose `headers` route it (so that they are not decoded again).
pub(crate) fn dead_lettered(
    message: &Message,
    reason: DeathReason,
    target: DeadLetterTarget<'_>,
) -> (Message, ContentHeader) {
    let queue = target.queue;
    let mut properties = message.properties();
    let mut headers = properties.headers.take().unwrap_or_default();
    let original_expiration = properties.expiration.take();
    let mut deaths = match headers.get(b"x-death") {
        Some(FieldValue::Array(deaths)) => deaths.clone(),
        _ => Vec::new(),
    };
    let first_death = deaths.is_empty();
    let same = deaths
        .iter()
        .position(|d| matches!(d, FieldValue::Table(t) if names(t, queue, reason)));
    let entry = match same.map(|at| deaths.remove(at)) {
        Some(FieldValue::Table(mut previous)) => {
            let count = match previous.get(b"count") {
                Some(count) => count.as_i128().unwrap_or(0) as i64,
                None => 0,
            };
            previous.insert("count", FieldValue::I64(count + 1));
            previous
        }
        _ => {
            let text = |s: &[u8]| FieldValue::LongStr(Bytes::copy_from_slice(s));
            let mut entry = FieldTable::new();
            entry.insert("count", FieldValue::I64(1));
            entry.insert("exchange", text(message.exchange()));
            if let Some(expiration) = &original_expiration {
                entry.insert("original-expiration", text(expiration.as_bytes()));
            }
            entry.insert("queue", text(queue.as_bytes()));
            entry.insert("reason", text(reason.name().as_bytes()));
            entry.insert(
                "routing-keys",
                FieldValue::Array(vec![text(message.routing_key())]),
            );
            entry.insert("time", FieldValue::Timestamp(unix_seconds()));
            entry
        }
    };
    deaths.insert(0, FieldValue::Table(entry));
    headers.insert("x-death", FieldValue::Array(deaths));
    if first_death {
        let text = |s: &[u8]| FieldValue::LongStr(Bytes::copy_from_slice(s));
        headers.insert("x-first-death-exchange", text(message.exchange()));
        headers.insert("x-first-death-queue", text(queue.as_bytes()));
        headers.insert("x-first-death-reason", text(reason.name().as_bytes()));
    }
    properties.headers = Some(headers);
    let routing_key = target
        .routing_key
        .map_or(message.routing_key(), ShortStr::as_bytes);
    let header = ContentHeader::new(60, message.body_len(), properties); // 60: basic
    let message = Message::new(
        target.exchange.as_bytes(),
        routing_key,
        &header,
        message.body().clone(),
        None,
    );
    (message, header)
}

/// Whether an `x-death` entry is for this queue and reason.
fn names(death: &FieldTable, queue: &ShortStr, reason: DeathReason) -> bool {
    let is =
        |key: &[u8], value: &[u8]| death.get(key).and_then(FieldValue::as_bytes) == Some(value);
    is(b"queue", queue.as_bytes()) && is(b"reason", reason.name().as_bytes())
}

/// RabbitMQ's `is_cycle`: the message already died in `queue`, and no death since then (that
/// one included) was a rejection.
pub(crate) fn is_cycle(queue: &ShortStr, headers: Option<&FieldTable>) -> bool {
    let Some(FieldValue::Array(deaths)) = headers.and_then(|h| h.get(b"x-death")) else {
        return false;
    };
    let mut reasons = Vec::new();
    for death in deaths {
        let FieldValue::Table(death) = death else {
            return false;
        };
        reasons.push(death.get(b"reason").and_then(FieldValue::as_bytes));
        if death.get(b"queue").and_then(FieldValue::as_bytes) == Some(queue.as_bytes()) {
            return reasons.iter().all(|r| *r != Some(&b"rejected"[..]));
        }
    }
    false
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
