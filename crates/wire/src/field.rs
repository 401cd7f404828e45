//! Field values and tables: the typed, self-describing values of AMQP 0-9-1 as RabbitMQ
//! and its clients actually use them (the "0-9-1 errata" type letters, not the spec's).
//!
//! | letter | type            | letter | type                |
//! |--------|-----------------|--------|---------------------|
//! | `t`    | boolean         | `f`    | 32-bit float        |
//! | `b`    | signed 8-bit    | `d`    | 64-bit float        |
//! | `B`    | unsigned 8-bit  | `D`    | decimal             |
//! | `s`    | signed 16-bit   | `S`    | long string (bytes) |
//! | `u`    | unsigned 16-bit | `A`    | array               |
//! | `I`    | signed 32-bit   | `T`    | timestamp (u64)     |
//! | `i`    | unsigned 32-bit | `F`    | nested table        |
//! | `l`    | signed 64-bit   | `V`    | void                |
//! | `L`    | signed 64-bit (py-amqp sends it; RabbitMQ reads it as `l`) |
//! | `x`    | byte array      |        |                     |
//!
//! Tables keep their entries in wire order so that a message's headers are re-sent exactly as
//! they arrived; lookups are linear, which is faster than hashing for the handful of keys that
//! real tables hold.

use bytes::Bytes;

use crate::ShortStr;

/// One typed value inside a field table or array.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(f32),
    F64(f64),
    /// `D`: `scale` decimal digits after the point, then the unscaled value.
    Decimal {
        scale: u8,
        value: u32,
    },
    /// `S`: a long string; AMQP strings are bytes, not necessarily UTF-8.
    LongStr(Bytes),
    Array(Vec<FieldValue>),
    Timestamp(u64),
    Table(FieldTable),
    Void,
    /// `x`: a byte array, RabbitMQ's extension.
    Bytes(Bytes),
}

impl FieldValue {
    /// The value as a signed integer when it is any integer type, so that values compare
    /// across widths the way RabbitMQ 3.x compares them (`1` as `b` equals `1` as `l`).
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v.into(),
            FieldValue::Timestamp(v) => v.into(),
            _ => return None,
        })
    }

    /// The type atom RabbitMQ tags a decoded value with (`rabbit_binary_parser`), as it prints
    /// it in error texts: `l` and py-amqp's `L` are both `long`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Bool(_) => "bool",
            FieldValue::I8(_) => "byte",
            FieldValue::U8(_) => "unsignedbyte",
            FieldValue::I16(_) => "short",
            FieldValue::U16(_) => "unsignedshort",
            FieldValue::I32(_) => "signedint",
            FieldValue::U32(_) => "unsignedint",
            FieldValue::I64(_) => "long",
            FieldValue::F32(_) => "float",
            FieldValue::F64(_) => "double",
            FieldValue::Decimal { .. } => "decimal",
            FieldValue::LongStr(_) => "longstr",
            FieldValue::Array(_) => "array",
            FieldValue::Timestamp(_) => "timestamp",
            FieldValue::Table(_) => "table",
            FieldValue::Void => "void",
            FieldValue::Bytes(_) => "binary",
        }
    }

    /// A deep copy that owns its bytes (see [`FieldTable::detached`]).
    pub fn detached(&self) -> FieldValue {
        match self {
            FieldValue::LongStr(b) => FieldValue::LongStr(Bytes::copy_from_slice(b)),
            FieldValue::Bytes(b) => FieldValue::Bytes(Bytes::copy_from_slice(b)),
            FieldValue::Array(items) => {
                FieldValue::Array(items.iter().map(FieldValue::detached).collect())
            }
            FieldValue::Table(table) => FieldValue::Table(table.detached()),
            other => other.clone(),
        }
    }

    /// The bytes of a string-like value (`S` or `x`).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            FieldValue::LongStr(b) | FieldValue::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// An ordered table of named values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldTable(pub Vec<(ShortStr, FieldValue)>);

impl FieldTable {
    pub fn new() -> Self {
        FieldTable(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&FieldValue> {
        self.0
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing entry of that name in place.
    pub fn insert(&mut self, key: impl Into<ShortStr>, value: FieldValue) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// A deep copy that owns all its strings (see [`ShortStr::detached`]): for tables kept
    /// long, such as binding and queue arguments.
    pub fn detached(&self) -> FieldTable {
        FieldTable(
            self.0
                .iter()
                .map(|(k, v)| (k.detached(), v.detached()))
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ShortStr, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
