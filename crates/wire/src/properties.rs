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
