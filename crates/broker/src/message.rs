//! A published message, shared by every queue it was routed to.
//!
//! A message is built once when its last body frame arrives and is then only ever shared
//! (`Arc<Message>`): fan-out to a thousand queues clones a pointer, not the body, and the body
//! is the `Bytes` cut from the publisher's read buffer when it fitted in one frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use warren_wire::{BasicProperties, ContentHeader, EncodedHeader, ShortStr};

/// Only the header's bytes are kept, not its decoded properties (368 bytes, and a heap table
/// for `headers`): a queued message costs that much less, and the few properties the broker
/// needs after the publish are decoded again when needed (dead-lettering) or kept aside.
#[derive(Debug)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub header: EncodedHeader,
    pub body: Bytes,
    /// The per-message TTL from the `expiration` property, checked at publish.
    pub ttl: Option<Duration>,
    /// The `priority` property (0 without one), which picks the level in a priority queue.
    pub priority: u8,
}

impl Message {
    /// The message with what the broker reads of its header taken from `header`: `ttl` is
    /// given, as the publish path checks it first.
    pub fn new(
        exchange: ShortStr,
        routing_key: ShortStr,
        header: &ContentHeader,
        body: Bytes,
        ttl: Option<Duration>,
    ) -> Self {
        Message {
            exchange,
            routing_key,
            header: EncodedHeader::from(header),
            body,
            ttl,
            priority: header.properties.priority.unwrap_or(0),
        }
    }

    /// The properties, decoded again from the header's bytes.
    pub fn properties(&self) -> BasicProperties {
        self.header.properties()
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
mod tests {
    use super::*;

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
