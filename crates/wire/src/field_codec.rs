//! Field tables and arrays on the wire.
//!
//! A table is a `long` byte count, then entries of `shortstr` name, one type letter and the
//! value; an array is a `long` byte count, then letter-and-value items. The letters are those of
//! [`FieldValue`] (RabbitMQ's set); `L` is read as a signed 64-bit integer like `l`, as
//! RabbitMQ's `rabbit_binary_parser` reads it, and written back as `l`.
//!
//! Faults inside a table's contents (unknown type letter, value cut short) crash RabbitMQ's
//! connection process, so they are reported as `abrupt` 502 `SYNTAX_ERROR`s. Nesting deeper
//! than [`MAX_FIELD_NESTING`] is refused (502, not abrupt) so that a hostile frame cannot
//! exhaust the stack; RabbitMQ has no such limit.

use bytes::{BufMut, Bytes, BytesMut};
use nom::multi::length_data;
use nom::number::complete::{
    be_f32, be_f64, be_i16, be_i32, be_i64, be_i8, be_u16, be_u32, be_u64, be_u8,
};

use crate::codec::{put_counted, put_longstr, put_shortstr, Reader, Result, Writer};
use crate::error::DecodeError;
use crate::reply_code::SYNTAX_ERROR;
use crate::{FieldTable, FieldValue};

/// The deepest nesting of tables and arrays that the decoder accepts; a method's argument
/// table is at depth 1.
pub const MAX_FIELD_NESTING: usize = 64;

impl FieldTable {
    /// Decodes a table with its `long` byte count, which must span all of `bytes`. Strings are
    /// views into `bytes`.
    pub fn decode(bytes: &Bytes) -> std::result::Result<FieldTable, DecodeError> {
        let mut r = Reader::table_contents(bytes, bytes);
        let table = r.table()?;
        r.finish()?;
        Ok(table)
    }

    /// Appends the table with its `long` byte count.
    pub fn encode(&self, out: &mut BytesMut) {
        put_table(out, self);
    }
}

impl<'a> Reader<'a> {
    /// A table; a fault in its contents is deferred to [`Reader::finish`] (see `codec`).
    pub(crate) fn table(&mut self) -> Result<FieldTable> {
        let body = self.run(length_data(be_u32))?;
        Reader::table_contents(self.src(), body)
            .entries(1)
            .or_else(|fault| {
                self.defer(fault);
                Ok(FieldTable::new())
            })
    }

    fn entries(&mut self, depth: usize) -> Result<FieldTable> {
        let mut entries = Vec::new();
        while !self.is_empty() {
            let name = self.shortstr()?;
            let value = self.value(depth)?;
            entries.push((name, value));
        }
        Ok(FieldTable(entries))
    }

    fn items(&mut self, depth: usize) -> Result<Vec<FieldValue>> {
        let mut items = Vec::new();
        while !self.is_empty() {
            items.push(self.value(depth)?);
        }
        Ok(items)
    }

    /// The contents of a nested table or array, one level deeper than `depth`.
    fn nested(&mut self, depth: usize) -> Result<(Reader<'a>, usize)> {
        if depth >= MAX_FIELD_NESTING {
            return Err(DecodeError::new(
                SYNTAX_ERROR,
                format!("field tables and arrays nested deeper than {MAX_FIELD_NESTING}"),
            ));
        }
        let body = self.run(length_data(be_u32))?;
        Ok((Reader::table_contents(self.src(), body), depth + 1))
    }

    /// One type letter and its value, inside a table or array at `depth`.
    fn value(&mut self, depth: usize) -> Result<FieldValue> {
        Ok(match self.octet()? {
            b't' => FieldValue::Bool(self.octet()? != 0),
            b'b' => FieldValue::I8(self.run(be_i8)?),
            b'B' => FieldValue::U8(self.run(be_u8)?),
            b's' => FieldValue::I16(self.run(be_i16)?),
            b'u' => FieldValue::U16(self.run(be_u16)?),
            b'I' => FieldValue::I32(self.run(be_i32)?),
            b'i' => FieldValue::U32(self.run(be_u32)?),
            b'l' | b'L' => FieldValue::I64(self.run(be_i64)?),
            b'f' => FieldValue::F32(self.run(be_f32)?),
            b'd' => FieldValue::F64(self.run(be_f64)?),
            b'D' => FieldValue::Decimal {
                scale: self.octet()?,
                value: self.long()?,
            },
            b'S' => FieldValue::LongStr(self.longstr()?),
            b'x' => FieldValue::Bytes(self.longstr()?),
            b'T' => FieldValue::Timestamp(self.run(be_u64)?),
            b'V' => FieldValue::Void,
            b'F' => {
                let (mut r, depth) = self.nested(depth)?;
                FieldValue::Table(r.entries(depth)?)
            }
            b'A' => {
                let (mut r, depth) = self.nested(depth)?;
                FieldValue::Array(r.items(depth)?)
            }
            letter => {
                let text = format!("unknown field type {:?}", char::from(letter));
                return Err(DecodeError::new(SYNTAX_ERROR, text).abruptly());
            }
        })
    }
}

impl Writer<'_> {
    pub(crate) fn table(&mut self, v: &FieldTable) {
        put_table(self.buf(), v);
    }
}

fn put_table(out: &mut BytesMut, table: &FieldTable) {
    put_counted(out, |out| {
        for (name, value) in table.iter() {
            put_shortstr(out, name.as_bytes());
            put_value(out, value);
        }
    });
}

fn put_value(out: &mut BytesMut, value: &FieldValue) {
    match value {
        FieldValue::Bool(v) => {
            out.put_u8(b't');
            out.put_u8(u8::from(*v));
        }
        FieldValue::I8(v) => {
            out.put_u8(b'b');
            out.put_i8(*v);
        }
        FieldValue::U8(v) => {
            out.put_u8(b'B');
            out.put_u8(*v);
        }
        FieldValue::I16(v) => {
            out.put_u8(b's');
            out.put_i16(*v);
        }
        FieldValue::U16(v) => {
            out.put_u8(b'u');
            out.put_u16(*v);
        }
        FieldValue::I32(v) => {
            out.put_u8(b'I');
            out.put_i32(*v);
        }
        FieldValue::U32(v) => {
            out.put_u8(b'i');
            out.put_u32(*v);
        }
        FieldValue::I64(v) => {
            out.put_u8(b'l');
            out.put_i64(*v);
        }
        FieldValue::F32(v) => {
            out.put_u8(b'f');
            out.put_f32(*v);
        }
        FieldValue::F64(v) => {
            out.put_u8(b'd');
            out.put_f64(*v);
        }
        FieldValue::Decimal { scale, value } => {
            out.put_u8(b'D');
            out.put_u8(*scale);
            out.put_u32(*value);
        }
        FieldValue::LongStr(v) => {
            out.put_u8(b'S');
            put_longstr(out, v);
        }
        FieldValue::Bytes(v) => {
            out.put_u8(b'x');
            put_longstr(out, v);
        }
        FieldValue::Timestamp(v) => {
            out.put_u8(b'T');
            out.put_u64(*v);
        }
        FieldValue::Void => out.put_u8(b'V'),
        FieldValue::Table(v) => {
            out.put_u8(b'F');
            put_table(out, v);
        }
        FieldValue::Array(items) => {
            out.put_u8(b'A');
            put_counted(out, |out| {
                items.iter().for_each(|item| put_value(out, item))
            });
        }
    }
}
