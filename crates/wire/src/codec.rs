//! The spec's primitive domains on the wire: `octet`, `short`, `long`, `longlong` and
//! `timestamp` are big-endian unsigned integers; `shortstr` is a one-octet length then bytes,
//! `longstr` a four-octet length then bytes; consecutive `bit`s pack into one octet, first bit
//! in the least significant position; `table` is in `field_codec`.
//!
//! [`Reader`] parses with `nom` and hands out strings as `Bytes` views of the payload it reads
//! (no copy); [`Writer`] appends to a `BytesMut`. Their method names are the spec's type names
//! so that the method table can call them by the type written in it.

use bytes::{BufMut, Bytes, BytesMut};
use nom::multi::length_data;
use nom::number::complete::{be_u16, be_u32, be_u64, be_u8};
use nom::IResult;

use crate::error::{erlang_binary, DecodeError};
use crate::reply_code::{FRAME_ERROR, SYNTAX_ERROR};
use crate::ShortStr;

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

/// The Rust type of a spec type name, as the method and property tables write it.
#[rustfmt::skip]
macro_rules! field_type {
    (octet) => { u8 };
    (short) => { u16 };
    (long) => { u32 };
    (longlong) => { u64 };
    (timestamp) => { u64 };
    (bit) => { bool };
    (shortstr) => { $crate::ShortStr };
    (longstr) => { ::bytes::Bytes };
    (table) => { $crate::FieldTable };
}
pub(crate) use field_type;

/// A cursor over one frame payload (or a part of it), with the AMQP bit-packing state.
pub(crate) struct Reader<'a> {
    src: &'a Bytes,
    rest: &'a [u8],
    bits: u8,
    /// Index of the next unread bit in `bits`; 8 when no octet of bits is open.
    bit_pos: u8,
    /// The first fault inside a field table's contents, reported by [`Reader::finish`] only
    /// when the arguments are otherwise well-formed, as RabbitMQ does: it matches the whole
    /// argument list first, then parses the tables.
    table_fault: Option<DecodeError>,
    /// Reading a field table's contents rather than method arguments.
    in_table: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(src: &'a Bytes) -> Self {
        Reader {
            src,
            rest: src,
            bits: 0,
            bit_pos: 8,
            table_fault: None,
            in_table: false,
        }
    }

    /// A reader of a field table's contents `rest`, which must be a part of `src`.
    pub(crate) fn table_contents(src: &'a Bytes, rest: &'a [u8]) -> Self {
        Reader {
            rest,
            in_table: true,
            ..Reader::new(src)
        }
    }

    pub(crate) fn src(&self) -> &'a Bytes {
        self.src
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Runs a nom parser on the unread input; any nom failure means the input ended early.
    pub(crate) fn run<T, P>(&mut self, mut parser: P) -> Result<T>
    where
        P: FnMut(&'a [u8]) -> IResult<&'a [u8], T>,
    {
        self.bit_pos = 8;
        let (rest, value) = parser(self.rest).map_err(|_| self.malformed())?;
        self.rest = rest;
        Ok(value)
    }

    /// Input that ends early or is left over.
    ///
    /// In method arguments: RabbitMQ's generated `decode_method_fields` falls through to
    /// `rabbit_misc:frame_error/2`, which is 501 with `cannot decode <<...>>` quoting the
    /// arguments (the payload after the method ids).
    ///
    /// Inside a table: RabbitMQ's `rabbit_binary_parser:parse_table` has no clause that
    /// matches, and the crash takes the connection down without a `connection.close`.
    fn malformed(&self) -> DecodeError {
        if self.in_table {
            return DecodeError::new(SYNTAX_ERROR, "malformed field table").abruptly();
        }
        let args = self.src.get(4..).unwrap_or_default();
        DecodeError::new(
            FRAME_ERROR,
            format!("cannot decode {}", erlang_binary(args)),
        )
    }

    /// Keeps the first fault found inside a table's contents for [`Reader::finish`].
    pub(crate) fn defer(&mut self, fault: DecodeError) {
        self.table_fault.get_or_insert(fault);
    }

    /// A zero-copy view of `part`, which was cut from this reader's input.
    fn view(&self, part: &[u8]) -> Bytes {
        self.src.slice_ref(part)
    }

    pub(crate) fn octet(&mut self) -> Result<u8> {
        self.run(be_u8)
    }

    pub(crate) fn short(&mut self) -> Result<u16> {
        self.run(be_u16)
    }

    pub(crate) fn long(&mut self) -> Result<u32> {
        self.run(be_u32)
    }

    pub(crate) fn longlong(&mut self) -> Result<u64> {
        self.run(be_u64)
    }

    pub(crate) fn timestamp(&mut self) -> Result<u64> {
        self.run(be_u64)
    }

    pub(crate) fn bit(&mut self) -> Result<bool> {
        if self.bit_pos >= 8 {
            self.bits = self.octet()?;
            self.bit_pos = 0;
        }
        let bit = (self.bits >> self.bit_pos) & 1 == 1;
        self.bit_pos += 1;
        Ok(bit)
    }

    pub(crate) fn shortstr(&mut self) -> Result<ShortStr> {
        let s = self.run(length_data(be_u8))?;
        Ok(ShortStr::from_bytes_unchecked(self.view(s)))
    }

    pub(crate) fn longstr(&mut self) -> Result<Bytes> {
        let s = self.run(length_data(be_u32))?;
        Ok(self.view(s))
    }

    /// Skips what is left of the input.
    pub(crate) fn skip_rest(&mut self) {
        self.rest = &[];
    }

    /// Fails when input is left over (RabbitMQ's patterns match the arguments exactly), else
    /// with the first fault found inside a table.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if !self.rest.is_empty() {
            return Err(self.malformed());
        }
        self.table_fault.take().map_or(Ok(()), Err)
    }
}

/// Appends values to a buffer, packing consecutive bits into octets.
pub(crate) struct Writer<'a> {
    out: &'a mut BytesMut,
    bits: u8,
    /// Number of bits in the open octet `bits`.
    bit_count: u8,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut BytesMut) -> Self {
        Writer {
            out,
            bits: 0,
            bit_count: 0,
        }
    }

    /// The buffer for a non-bit value: the open octet of bits, if any, goes out first.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        if self.bit_count > 0 {
            self.out.put_u8(self.bits);
            self.bits = 0;
            self.bit_count = 0;
        }
        self.out
    }

    /// Writes out the open octet of bits; call after the last field.
    pub(crate) fn finish(&mut self) {
        self.buf();
    }

    pub(crate) fn octet(&mut self, v: &u8) {
        self.buf().put_u8(*v);
    }

    pub(crate) fn short(&mut self, v: &u16) {
        self.buf().put_u16(*v);
    }

    pub(crate) fn long(&mut self, v: &u32) {
        self.buf().put_u32(*v);
    }

    pub(crate) fn longlong(&mut self, v: &u64) {
        self.buf().put_u64(*v);
    }

    pub(crate) fn timestamp(&mut self, v: &u64) {
        self.buf().put_u64(*v);
    }

    pub(crate) fn bit(&mut self, v: &bool) {
        if self.bit_count == 8 {
            self.buf();
        }
        self.bits |= u8::from(*v) << self.bit_count;
        self.bit_count += 1;
    }

    pub(crate) fn shortstr(&mut self, v: &ShortStr) {
        self.shortstr_bytes(v.as_bytes());
    }

    /// A short string given as its bytes (at most 255).
    pub(crate) fn shortstr_bytes(&mut self, v: &[u8]) {
        put_shortstr(self.buf(), v);
    }

    pub(crate) fn longstr(&mut self, v: &Bytes) {
        put_longstr(self.buf(), v);
    }
}

/// `v` is at most 255 bytes: a [`ShortStr`]'s, or a short string's kept as bytes.
pub(crate) fn put_shortstr(out: &mut BytesMut, v: &[u8]) {
    debug_assert!(v.len() <= crate::SHORT_STR_MAX_LEN);
    out.put_u8(v.len() as u8);
    out.put_slice(v);
}

pub(crate) fn put_longstr(out: &mut BytesMut, v: &[u8]) {
    out.put_u32(v.len() as u32);
    out.put_slice(v);
}

/// Writes a `long` byte count followed by what `body` appends.
pub(crate) fn put_counted(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let at = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}
