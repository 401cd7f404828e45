//! warren-wire: the AMQP 0-9-1 wire codec. Bytes in, frames out, and back. No I/O.

pub mod field;
mod short_str;

pub use field::{FieldTable, FieldValue};
pub use short_str::{ShortStr, SHORT_STR_MAX_LEN};
