//! Queue arguments Warren acts on, parsed and checked once at declare time, with the checks
//! and words of RabbitMQ 3.x's `rabbit_amqqueue`: an invalid value is 406 PRECONDITION_FAILED
//! `invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}`.
//! Arguments Warren does not act on are stored as given (see `vhost.rs` for equivalence).

use std::time::Duration;

use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::error::{AmqpError, AmqpResult};

/// RabbitMQ's `?MAX_SUPPORTED_PRIORITY`.
pub const MAX_PRIORITY: u8 = 255;

/// What a full queue (`x-max-length`, `x-max-length-bytes`) does with one more message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest messages: RabbitMQ's default.
    #[default]
    DropHead,
    /// Refuse the new message (basic.nack in confirm mode).
    RejectPublish,
    /// Refuse it and dead-letter it.
    RejectPublishDlx,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueArguments {
    /// `x-message-ttl`: how long a message may wait in the queue.
    pub message_ttl: Option<Duration>,
    /// `x-expires`: how long the queue may stay unused before it is deleted.
    pub expires: Option<Duration>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub dead_letter_exchange: Option<ShortStr>,
    pub dead_letter_routing_key: Option<ShortStr>,
    /// `x-max-priority`: a priority queue with levels 0..=max.
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
}

impl QueueArguments {
    pub fn parse(arguments: &FieldTable, queue: &ShortStr, vhost: &ShortStr) -> AmqpResult<Self> {
        let check = Check {
            arguments,
            queue,
            vhost,
        };
        let max_priority = match check.non_negative("x-max-priority")? {
            Some(p) if p > u64::from(MAX_PRIORITY) => {
                return Err(check.invalid("x-max-priority", format!("{{max_value_exceeded,{p}}}")))
            }
            p => p.map(|p| p as u8),
        };
        let dead_letter_exchange = check.string("x-dead-letter-exchange")?;
        let dead_letter_routing_key = check.string("x-dead-letter-routing-key")?;
        if dead_letter_routing_key.is_some() && dead_letter_exchange.is_none() {
            return Err(check.invalid(
                "x-dead-letter-routing-key",
                "routing_key_but_no_dlx_defined".into(),
            ));
        }
        Ok(QueueArguments {
            message_ttl: check
                .non_negative("x-message-ttl")?
                .map(Duration::from_millis),
            expires: check.positive("x-expires")?.map(Duration::from_millis),
            max_length: check.non_negative("x-max-length")?,
            max_length_bytes: check.non_negative("x-max-length-bytes")?,
            overflow: check.overflow()?,
            dead_letter_exchange,
            dead_letter_routing_key,
            max_priority,
            single_active_consumer: check.boolean("x-single-active-consumer")?,
        })
    }

    /// Whether the queue needs the broker's timer (message TTLs, queue expiry).
    pub fn is_timed(&self) -> bool {
        self.message_ttl.is_some() || self.expires.is_some()
    }
}

struct Check<'a> {
    arguments: &'a FieldTable,
    queue: &'a ShortStr,
    vhost: &'a ShortStr,
}

impl Check<'_> {
    fn invalid(&self, key: &str, reason: String) -> AmqpError {
        AmqpError::precondition_failed(format!(
            "invalid arg '{key}' for queue '{}' in vhost '{}': {reason}",
            self.queue, self.vhost
        ))
    }

    fn unacceptable(&self, key: &str, value: &FieldValue) -> AmqpError {
        self.invalid(key, format!("{{unacceptable_type,{}}}", value.type_name()))
    }

    /// An integer argument (RabbitMQ's `check_int_arg`: the integer types, not timestamps).
    fn integer(&self, key: &str) -> AmqpResult<Option<i128>> {
        let wrong_type = |value: &FieldValue| {
            self.invalid(
                key,
                format!("\"expected integer, got {}\"", value.type_name()),
            )
        };
        match self.arguments.get(key.as_bytes()) {
            None => Ok(None),
            Some(value @ FieldValue::Timestamp(_)) => Err(wrong_type(value)),
            Some(value) => value.as_i128().map(Some).ok_or_else(|| wrong_type(value)),
        }
    }

    fn non_negative(&self, key: &str) -> AmqpResult<Option<u64>> {
        match self.integer(key)? {
            None => Ok(None),
            Some(n) if n < 0 => Err(self.invalid(key, format!("{{value_negative,{n}}}"))),
            Some(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{{value_too_large,{n}}}"))),
        }
    }

    fn positive(&self, key: &str) -> AmqpResult<Option<u64>> {
        match self.integer(key)? {
            Some(0) => Err(self.invalid(key, "{value_zero,0}".into())),
            _ => self.non_negative(key),
        }
    }

    /// A name (`x-dead-letter-exchange`, `-routing-key`); a value of another type gets
    /// RabbitMQ's other text shape.
    fn string(&self, key: &str) -> AmqpResult<Option<ShortStr>> {
        match self.arguments.get(key.as_bytes()) {
            None => Ok(None),
            Some(FieldValue::LongStr(s)) => {
                ShortStr::try_from_bytes(bytes::Bytes::copy_from_slice(s))
                    .map(Some)
                    .map_err(|_| self.invalid(key, "name_too_long".into()))
            }
            Some(other) => Err(AmqpError::precondition_failed(format!(
                "invalid type '{}' for arg '{key}' in queue '{}' in vhost '{}'",
                other.type_name(),
                self.queue,
                self.vhost
            ))),
        }
    }

    fn boolean(&self, key: &str) -> AmqpResult<bool> {
        match self.arguments.get(key.as_bytes()) {
            None => Ok(false),
            Some(FieldValue::Bool(b)) => Ok(*b),
            Some(other) => Err(self.unacceptable(key, other)),
        }
    }

    fn overflow(&self) -> AmqpResult<Overflow> {
        match self.arguments.get(b"x-overflow") {
            None => Ok(Overflow::DropHead),
            Some(FieldValue::LongStr(s)) => match &s[..] {
                b"drop-head" => Ok(Overflow::DropHead),
                b"reject-publish" => Ok(Overflow::RejectPublish),
                b"reject-publish-dlx" => Ok(Overflow::RejectPublishDlx),
                _ => Err(self.invalid("x-overflow", "invalid_overflow".into())),
            },
            Some(other) => Err(self.unacceptable("x-overflow", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(key: &'static str, value: FieldValue) -> AmqpResult<QueueArguments> {
        let mut table = FieldTable::new();
        table.insert(key, value);
        QueueArguments::parse(&table, &"q".into(), &"/".into())
    }

    #[test]
    fn integers_of_any_width_are_accepted() {
        let parsed = parse("x-message-ttl", FieldValue::I16(1500)).expect("valid");
        assert_eq!(parsed.message_ttl, Some(Duration::from_millis(1500)));
        let parsed = parse("x-expires", FieldValue::I64(200)).expect("valid");
        assert_eq!(parsed.expires, Some(Duration::from_millis(200)));
        assert_eq!(
            parse("x-max-priority", FieldValue::U8(10))
                .expect("valid")
                .max_priority,
            Some(10)
        );
    }

    #[test]
    fn invalid_values_are_406_in_rabbitmq_words() {
        let error = parse("x-message-ttl", FieldValue::I32(-1)).expect_err("negative");
        assert_eq!(error.code, 406);
        assert_eq!(
            error.explanation,
            "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}"
        );
        let reason = |key, value| parse(key, value).expect_err("invalid").explanation;
        assert!(reason("x-expires", FieldValue::I32(0)).ends_with("{value_zero,0}"));
        assert!(reason("x-expires", FieldValue::LongStr("soon".into()))
            .ends_with("\"expected integer, got longstr\""));
        assert!(
            reason("x-max-priority", FieldValue::I32(300)).ends_with("{max_value_exceeded,300}")
        );
        assert!(
            reason("x-overflow", FieldValue::LongStr("bogus".into())).ends_with("invalid_overflow")
        );
        assert!(reason("x-single-active-consumer", FieldValue::I8(1))
            .ends_with("{unacceptable_type,byte}"));
        assert!(
            reason("x-dead-letter-routing-key", FieldValue::LongStr("k".into()))
                .ends_with("routing_key_but_no_dlx_defined")
        );
    }
}
