//! Queue arguments Warren acts on, parsed and checked once at declare time.
//!
//! Invalid values are 406 PRECONDITION_FAILED with RabbitMQ's wording:
//! `invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}`.
//! Arguments Warren does not act on are stored as given and compared on redeclare
//! (see `vhost.rs`).

use std::time::Duration;

use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::error::{AmqpError, AmqpResult};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueArguments {
    /// `x-message-ttl`: how long a message may wait in the queue.
    pub message_ttl: Option<Duration>,
    /// `x-expires`: how long the queue may stay unused before it is deleted.
    pub expires: Option<Duration>,
}

impl QueueArguments {
    pub fn parse(arguments: &FieldTable, queue: &ShortStr, vhost: &ShortStr) -> AmqpResult<Self> {
        let invalid = |key: &str, reason: String| {
            AmqpError::precondition_failed(format!(
                "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}': {reason}"
            ))
        };
        let millis = |key: &str, zero_allowed: bool| -> AmqpResult<Option<Duration>> {
            let Some(value) = arguments.get(key.as_bytes()) else {
                return Ok(None);
            };
            let Some(n) = value.as_i128() else {
                return Err(invalid(
                    key,
                    format!("{{unacceptable_type,{}}}", erlang_type(value)),
                ));
            };
            if n < 0 {
                return Err(invalid(key, format!("{{value_negative,{n}}}")));
            }
            if n == 0 && !zero_allowed {
                return Err(invalid(key, "{value_zero,0}".to_string()));
            }
            let n =
                u64::try_from(n).map_err(|_| invalid(key, format!("{{value_too_large,{n}}}")))?;
            Ok(Some(Duration::from_millis(n)))
        };
        Ok(QueueArguments {
            message_ttl: millis("x-message-ttl", true)?,
            expires: millis("x-expires", false)?,
        })
    }

    pub fn is_timed(&self) -> bool {
        self.message_ttl.is_some() || self.expires.is_some()
    }
}

/// The type names RabbitMQ prints for a value of the wrong type.
fn erlang_type(value: &FieldValue) -> &'static str {
    match value {
        FieldValue::Bool(_) => "bool",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal { .. } => "decimal",
        FieldValue::LongStr(_) => "longstr",
        FieldValue::Array(_) => "array",
        FieldValue::Table(_) => "table",
        FieldValue::Void => "void",
        FieldValue::Bytes(_) => "binary",
        _ => "signedint",
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
    fn integers_of_any_width_are_milliseconds() {
        let parsed = parse("x-message-ttl", FieldValue::I16(1500)).expect("valid");
        assert_eq!(parsed.message_ttl, Some(Duration::from_millis(1500)));
        let parsed = parse("x-expires", FieldValue::I64(200)).expect("valid");
        assert_eq!(parsed.expires, Some(Duration::from_millis(200)));
    }

    #[test]
    fn invalid_values_are_406_in_rabbitmq_words() {
        let error = parse("x-message-ttl", FieldValue::I32(-1)).expect_err("negative");
        assert_eq!(error.code, 406);
        assert_eq!(
            error.explanation,
            "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}"
        );
        let error = parse("x-expires", FieldValue::I32(0)).expect_err("zero");
        assert!(error.explanation.ends_with("{value_zero,0}"));
        let error = parse("x-expires", FieldValue::LongStr("soon".into())).expect_err("string");
        assert!(error.explanation.ends_with("{unacceptable_type,longstr}"));
    }
}
