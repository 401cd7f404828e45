//! Content headers: a header frame's payload is the content's `short` class id, a `short`
//! weight (always 0), the `longlong` body size, then property flags and the properties that
//! are present.
//!
//! Property flags are 16-bit words; the first property is bit 15 of the first word. Bit 0 of a
//! word set means another flag word follows. The basic class has 14 properties, all in the
//! first word, and the encoder writes that single word.
//!
//! RabbitMQ 3.10's generated `decode_properties(60, ...)` reads one flag word, ignores its two
//! low bits, and requires the property values to end exactly; anything else crashes the
//! channel and closes the connection with a bare `INTERNAL_ERROR` (541). This decoder is as
//! strict about values and trailing bytes, but tolerates continuation words: it reads them,
//! and when any flag names a property beyond the basic class's 14 (whose values, of unknown
//! types, come last) it ignores the rest of the payload.

use bytes::{Bytes, BytesMut};

use crate::codec::{field_type, Reader, Result, Writer};
use crate::error::{unknown_frame, DecodeError};
use crate::frame::FRAME_HEADER;
use crate::reply_code::INTERNAL_ERROR;

/// The header of a message: what `basic.publish`, `basic.deliver`, `basic.return` and
/// `basic.get-ok` carry between the method frame and the body frames.
#[derive(Debug, Clone)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub properties: BasicProperties,
    /// The frame payload exactly as received, which [`ContentHeader::encode`] writes back
    /// verbatim: RabbitMQ passes a publisher's encoded properties through untouched, so a
    /// consumer sees the very bytes (py-amqp's `L` integers stay `L`), and re-sending them costs
    /// a copy instead of an encoding. Whoever changes `properties` of a received header must
    /// set this to `None` (or build a new header with [`ContentHeader::new`]).
    pub received: Option<Bytes>,
}

/// Headers are equal when they mean the same; how one was received does not count.
impl PartialEq for ContentHeader {
    fn eq(&self, other: &Self) -> bool {
        self.class_id == other.class_id
            && self.body_size == other.body_size
            && self.properties == other.properties
    }
}

impl ContentHeader {
    pub fn new(class_id: u16, body_size: u64, properties: BasicProperties) -> Self {
        ContentHeader {
            class_id,
            body_size,
            properties,
            received: None,
        }
    }

    /// Decodes a header frame payload; strings and tables are views into `payload`.
    pub fn decode(payload: &Bytes) -> std::result::Result<ContentHeader, DecodeError> {
        let mut r = Reader::new(payload);
        let (Ok(class_id), Ok(_weight), Ok(body_size)) = (r.short(), r.short(), r.longlong())
        else {
            return Err(unknown_frame(FRAME_HEADER, payload));
        };
        // RabbitMQ decodes properties lazily, in the channel process, whose crash on bad ones
        // closes the connection with a bare "INTERNAL_ERROR".
        let properties = BasicProperties::decode(&mut r)
            .map_err(|_| DecodeError::new(INTERNAL_ERROR, String::new()))?;
        Ok(ContentHeader {
            class_id,
            body_size,
            properties,
            received: Some(payload.clone()),
        })
    }

    /// Appends the header frame payload.
    pub fn encode(&self, out: &mut BytesMut) {
        if let Some(received) = &self.received {
            out.extend_from_slice(received);
            return;
        }
        let mut w = Writer::new(out);
        w.short(&self.class_id);
        w.short(&0);
        w.longlong(&self.body_size);
        self.properties.encode(&mut w);
        w.finish();
    }
}

/// A content header as its frame payload, ready to be sent again: what a broker keeps with
/// each message, 32 bytes instead of the 416 of a decoded [`ContentHeader`]. Only a
/// [`ContentHeader`] makes one, so the bytes are always a header that decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHeader(Bytes);

impl EncodedHeader {
    /// The payload, as [`ContentHeader::encode`] writes it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The property flags and values: what follows the class id, weight and body size, and
    /// all that a [`BasicHeader`] needs besides the body size.
    pub fn property_bytes(&self) -> &[u8] {
        self.0.get(HEADER_PREFIX_LEN..).unwrap_or_default()
    }

    /// The body size, read from the payload without decoding it.
    pub fn body_size(&self) -> u64 {
        let size = self.0.get(4..12).and_then(|b| b.try_into().ok());
        size.map_or(0, u64::from_be_bytes)
    }

    /// Decodes the properties again; strings and tables are views into these bytes. The
    /// bytes were decoded or encoded by [`ContentHeader`], so this does not fail; if it did,
    /// the properties would be empty.
    pub fn properties(&self) -> BasicProperties {
        ContentHeader::decode(&self.0)
            .map(|header| header.properties)
            .unwrap_or_default()
    }
}

impl From<&ContentHeader> for EncodedHeader {
    /// The received bytes when there are some (a copy of a pointer), else a new encoding.
    fn from(header: &ContentHeader) -> Self {
        if let Some(received) = &header.received {
            return EncodedHeader(received.clone());
        }
        let mut out = BytesMut::new();
        header.encode(&mut out);
        EncodedHeader(out.freeze())
    }
}

/// What comes before the property flags in a header payload: the class id, the weight and the
/// body size.
const HEADER_PREFIX_LEN: usize = 2 + 2 + 8;
/// The basic class, the only one with content.
const BASIC_CLASS_ID: u16 = 60;

/// A basic-class content header as a broker can keep it inside a message: the encoded
/// property flags and values ([`EncodedHeader::property_bytes`]), borrowed, and the body size.
/// The class id (60) and the weight (0) are the same for every such header, as RabbitMQ writes
/// them.
#[derive(Debug, Clone, Copy)]
pub struct BasicHeader<'a> {
    pub body_size: u64,
    pub property_bytes: &'a [u8],
}

impl BasicHeader<'_> {
    /// Decodes the properties; strings and tables are views into a copy of the header.
    pub fn properties(&self) -> BasicProperties {
        let mut payload = BytesMut::with_capacity(HEADER_PREFIX_LEN + self.property_bytes.len());
        HeaderPayload::encode(self, &mut payload);
        ContentHeader::decode(&payload.freeze())
            .map(|header| header.properties)
            .unwrap_or_default()
    }
}

impl HeaderPayload for BasicHeader<'_> {
    fn body_size(&self) -> u64 {
        self.body_size
    }

    fn encode(&self, out: &mut BytesMut) {
        out.reserve(HEADER_PREFIX_LEN + self.property_bytes.len());
        let mut w = Writer::new(out);
        w.short(&BASIC_CLASS_ID);
        w.short(&0);
        w.longlong(&self.body_size);
        w.finish();
        out.extend_from_slice(self.property_bytes);
    }
}

/// What [`crate::encode_content`] writes as the header frame: a decoded header or an encoded
/// one.
pub trait HeaderPayload {
    fn body_size(&self) -> u64;
    /// Appends the header frame payload.
    fn encode(&self, out: &mut BytesMut);
}

impl HeaderPayload for ContentHeader {
    fn body_size(&self) -> u64 {
        self.body_size
    }

    fn encode(&self, out: &mut BytesMut) {
        ContentHeader::encode(self, out);
    }
}

impl HeaderPayload for EncodedHeader {
    fn body_size(&self) -> u64 {
        EncodedHeader::body_size(self)
    }

    fn encode(&self, out: &mut BytesMut) {
        out.extend_from_slice(&self.0);
    }
}

/// Reads presence flags, the first property's flag first.
struct FlagReader(u16);

impl FlagReader {
    fn next(&mut self) -> bool {
        let present = self.0 & 0x8000 != 0;
        self.0 <<= 1;
        present
    }
}

/// Builds presence flags, the first property's flag first.
struct FlagWriter {
    flags: u16,
    next: u16,
}

impl FlagWriter {
    fn push(&mut self, present: bool) {
        if present {
            self.flags |= self.next;
        }
        self.next >>= 1;
    }
}

macro_rules! basic_properties {
    ($($(#[$doc:meta])* $field:ident: $ty:ident,)*) => {
        /// The basic class's properties, each present or not.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct BasicProperties {
            $($(#[$doc])* pub $field: Option<field_type!($ty)>,)*
        }

        /// The property names in flag order, for the test that compares them with the XML.
        #[cfg(test)]
        pub(crate) const PROPERTY_NAMES: &[&str] = &[$(stringify!($field)),*];

        impl BasicProperties {
            fn decode(r: &mut Reader<'_>) -> Result<Self> {
                let first = r.short()?;
                // Bit 1 would be a 15th property; continuation words hold more of them.
                let mut unknown = first & 0b10;
                let mut word = first;
                while word & 1 == 1 {
                    word = r.short()?;
                    unknown |= word & !1;
                }
                let mut flags = FlagReader(first);
                $(let $field = if flags.next() { Some(r.$ty()?) } else { None };)*
                if unknown != 0 {
                    // The values of properties unknown to us follow; their types are unknown.
                    r.skip_rest();
                }
                r.finish()?;
                Ok(BasicProperties { $($field),* })
            }

            fn encode(&self, w: &mut Writer<'_>) {
                let mut flags = FlagWriter { flags: 0, next: 0x8000 };
                $(flags.push(self.$field.is_some());)*
                w.short(&flags.flags);
                $(if let Some(v) = &self.$field {
                    w.$ty(v);
                })*
            }
        }
    };
}

basic_properties! {
    content_type: shortstr,
    content_encoding: shortstr,
    headers: table,
    delivery_mode: octet,
    priority: octet,
    correlation_id: shortstr,
    reply_to: shortstr,
    expiration: shortstr,
    message_id: shortstr,
    timestamp: timestamp,
    /// The spec's `type` property.
    kind: shortstr,
    user_id: shortstr,
    app_id: shortstr,
    /// The spec's `reserved` property (`cluster-id` in 0-9).
    cluster_id: shortstr,
}
