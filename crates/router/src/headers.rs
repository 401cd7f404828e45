//! Headers-exchange matching, as RabbitMQ 3.x does it (`rabbit_exchange_type_headers.erl`,
//! 3.10–3.13; read from the RabbitMQ source).
//!
//! # Semantics
//! - The routing key is ignored; a binding's arguments are matched against the message's
//!   `headers` property.
//! - `x-match` selects the mode: `all` (also when absent), `any`, and since 3.10 `all-with-x` and
//!   `any-with-x`. Any other string, or a value that is not a long string (`S`), fails the bind
//!   with RabbitMQ's `validate_binding` text; see [`HeadersMatcher::new`].
//! - The `x-match` argument itself never takes part. Other arguments whose name starts with `x-`
//!   are skipped under `all`/`any` (webhookd's `x-internal: true` relies on it) and count under
//!   the `-with-x` modes. Header names are plain bytes: `user_uuid:*` is no wildcard.
//! - `all`: every counted argument matches, so a binding with none matches every message, even
//!   one without headers. `any`: at least one does, so a binding with none matches nothing.
//! - An argument of type void (`V`) only asks that the header be present, whatever its value.
//!   Any other argument asks for an equal value, where "equal" is Erlang's `==` on the values that
//!   RabbitMQ decoded, type tags ignored (3.x: `PV == DV`; 4.x is said to use `=:=`, which we
//!   have not checked in its source; Wazo's tests run `rabbitmq:3`, so we follow 3.x):
//!   - integers of any width and timestamps compare by value (`I8(1)` equals `I64(1)`), and so do
//!     floats, against each other and against integers (`1` equals `1.0`; an `f` is widened to a
//!     double first);
//!   - `S` (long string) and `x` (byte array) are both binaries: equal when their bytes are;
//!   - booleans equal booleans only (`true` is not `1` nor `"true"`), decimals equal decimals of
//!     the same scale and unscaled value, void equals void;
//!   - nested tables and arrays compare element by element, *with* their type tags (there
//!     RabbitMQ compares `{Type, Value}` tuples), so `[I8(1)]` is not `[I64(1)]`; an empty table
//!     equals an empty array (both decode to `[]`).
//! - Repeated names: RabbitMQ sorts both tables by name (stable) and merges them, so the n-th
//!   argument of a name meets the n-th header of that name. We look it up the same way.
//!
//! # Cost
//! [`HeadersMatcher::new`] parses the arguments once, at bind time. [`HeadersMatcher::matches`]
//! is O(counted arguments × headers) byte comparisons with no allocation, stopping at the first
//! failure (`all`) or success (`any`); tables are a handful of entries, where a linear scan beats
//! sorting or hashing.

use warren_wire::{FieldTable, FieldValue, ShortStr};

use crate::erlang::{int_equals_float, Term};
use crate::BindError;

/// One binding's arguments, parsed for matching.
#[derive(Debug, Clone)]
pub struct HeadersMatcher {
    mode: Mode,
    wanted: Vec<Wanted>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    All,
    Any,
}

/// One counted argument.
#[derive(Debug, Clone)]
struct Wanted {
    name: ShortStr,
    /// How many counted arguments of the same name come before this one.
    nth: usize,
    /// `None` for a void argument: the header need only be present.
    value: Option<FieldValue>,
}

impl HeadersMatcher {
    /// Parses binding arguments. Fails as RabbitMQ's `validate_binding` does, with its text (the
    /// broker prefixes `PRECONDITION_FAILED - `):
    /// `Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x`, or,
    /// for a non-string value, `Invalid x-match field type bool (value true); expected longstr`.
    pub fn new(arguments: &FieldTable) -> Result<Self, BindError> {
        let (mode, with_x) = match arguments.get(b"x-match") {
            None => (Mode::All, false),
            Some(FieldValue::LongStr(text)) => match &text[..] {
                b"all" => (Mode::All, false),
                b"any" => (Mode::Any, false),
                b"all-with-x" => (Mode::All, true),
                b"any-with-x" => (Mode::Any, true),
                _ => {
                    return Err(BindError {
                        text: format!(
                            "Invalid x-match field value {}; \
                             expected all, any, all-with-x, or any-with-x",
                            Term::Binary(text)
                        ),
                    })
                }
            },
            Some(other) => {
                return Err(BindError {
                    text: format!(
                        "Invalid x-match field type {} (value {}); expected longstr",
                        other.type_name(),
                        Term::of(other)
                    ),
                })
            }
        };
        let mut wanted: Vec<Wanted> = Vec::new();
        for (name, value) in arguments.iter() {
            if name.as_bytes() == b"x-match" || (!with_x && name.starts_with(b"x-")) {
                continue;
            }
            wanted.push(Wanted {
                name: name.clone(),
                nth: wanted.iter().filter(|w| w.name == *name).count(),
                value: (!matches!(value, FieldValue::Void)).then(|| value.clone()),
            });
        }
        Ok(HeadersMatcher { mode, wanted })
    }

    /// Whether a message with these headers (`None`: the property is absent) matches.
    pub fn matches(&self, headers: Option<&FieldTable>) -> bool {
        let hit = |w: &Wanted| w.matches(headers);
        match self.mode {
            Mode::All => self.wanted.iter().all(hit),
            Mode::Any => self.wanted.iter().any(hit),
        }
    }
}

impl Wanted {
    fn matches(&self, headers: Option<&FieldTable>) -> bool {
        let Some(header) = headers.and_then(|h| {
            h.iter()
                .filter(|(name, _)| **name == self.name)
                .nth(self.nth)
                .map(|(_, value)| value)
        }) else {
            return false;
        };
        self.value
            .as_ref()
            .map_or(true, |want| value_eq(want, header))
    }
}

/// RabbitMQ 3.x's `PV == DV` on two decoded values, type tags ignored (see the module doc).
/// [`crate::reference`] checks the same thing through an Erlang-term model.
fn value_eq(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as V;
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        return x.eq(y);
    }
    match (a, b) {
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::LongStr(x) | V::Bytes(x), V::LongStr(y) | V::Bytes(y)) => x == y,
        (V::Decimal { .. }, V::Decimal { .. }) | (V::Void, V::Void) => a == b,
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| tagged_eq(x, y))
        }
        (V::Table(x), V::Table(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((kx, x), (ky, y))| kx == ky && tagged_eq(x, y))
        }
        // Both decode to the empty list.
        (V::Table(t), V::Array(items)) | (V::Array(items), V::Table(t)) => {
            t.is_empty() && items.is_empty()
        }
        _ => false,
    }
}

/// Inside arrays and tables RabbitMQ compares `{Type, Value}`: the tags must agree as well.
fn tagged_eq(a: &FieldValue, b: &FieldValue) -> bool {
    a.type_name() == b.type_name() && value_eq(a, b)
}

#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn of(value: &FieldValue) -> Option<Number> {
        match value {
            FieldValue::F32(x) => Some(Number::Float((*x).into())),
            FieldValue::F64(x) => Some(Number::Float(*x)),
            other => other.as_i128().map(Number::Int),
        }
    }

    fn eq(self, other: Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                int_equals_float(i, f)
            }
        }
    }
}
