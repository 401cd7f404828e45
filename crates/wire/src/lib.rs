//! warren-wire: the AMQP 0-9-1 wire codec. Bytes in, frames out, and back. No I/O.
//!
//! Modules, from the bottom up: `codec` (the spec's primitive types), `field_codec` (field
//! tables), [`method`] (the method table), [`properties`] (content headers), [`frame`]
//! (framing), [`reply_code`] and `error` (what a decode fault closes the connection with);
//! [`allocation_size`] tells what an allocation takes with jemalloc's size classes.

mod codec;
mod error;
pub mod field;
mod field_codec;
pub mod frame;
pub mod method;
pub mod properties;
pub mod reply_code;
mod short_str;
mod size_class;

pub use error::{DecodeError, FrameDecodeError, MethodDecodeError};
pub use field::{FieldTable, FieldValue};
pub use field_codec::MAX_FIELD_NESTING;
pub use frame::{
    decode_frame, encode_content, encode_message, encode_method_frame, encode_method_with_content,
    Frame, LargeBody, FRAME_MIN_SIZE, FRAME_OVERHEAD, PROTOCOL_HEADER, PROTOCOL_HEADER_0_9,
};
pub use method::*;
pub use properties::{BasicHeader, BasicProperties, ContentHeader, EncodedHeader, HeaderPayload};
pub use short_str::{ShortStr, SHORT_STR_MAX_LEN};
pub use size_class::allocation_size;
