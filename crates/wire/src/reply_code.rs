//! Reply codes: the `reply-code` values of `connection.close`, `channel.close` and
//! `basic.return`, from the spec's `<constant>` table plus RabbitMQ's `NO_ROUTE` (312).

use bytes::Bytes;

use crate::{ShortStr, SHORT_STR_MAX_LEN};

pub const REPLY_SUCCESS: u16 = 200;
pub const CONTENT_TOO_LARGE: u16 = 311;
pub const NO_ROUTE: u16 = 312;
pub const NO_CONSUMERS: u16 = 313;
pub const CONNECTION_FORCED: u16 = 320;
pub const INVALID_PATH: u16 = 402;
pub const ACCESS_REFUSED: u16 = 403;
pub const NOT_FOUND: u16 = 404;
pub const RESOURCE_LOCKED: u16 = 405;
pub const PRECONDITION_FAILED: u16 = 406;
pub const FRAME_ERROR: u16 = 501;
pub const SYNTAX_ERROR: u16 = 502;
pub const COMMAND_INVALID: u16 = 503;
pub const CHANNEL_ERROR: u16 = 504;
pub const UNEXPECTED_FRAME: u16 = 505;
pub const RESOURCE_ERROR: u16 = 506;
pub const NOT_ALLOWED: u16 = 530;
pub const NOT_IMPLEMENTED: u16 = 540;
pub const INTERNAL_ERROR: u16 = 541;

/// The code's name as RabbitMQ writes it at the start of a reply text
/// (`"NOT_FOUND - no queue 'q' in vhost '/'"`); `"UNKNOWN"` for a code it does not know.
pub fn name(code: u16) -> &'static str {
    match code {
        REPLY_SUCCESS => "REPLY_SUCCESS",
        CONTENT_TOO_LARGE => "CONTENT_TOO_LARGE",
        NO_ROUTE => "NO_ROUTE",
        NO_CONSUMERS => "NO_CONSUMERS",
        CONNECTION_FORCED => "CONNECTION_FORCED",
        INVALID_PATH => "INVALID_PATH",
        ACCESS_REFUSED => "ACCESS_REFUSED",
        NOT_FOUND => "NOT_FOUND",
        RESOURCE_LOCKED => "RESOURCE_LOCKED",
        PRECONDITION_FAILED => "PRECONDITION_FAILED",
        FRAME_ERROR => "FRAME_ERROR",
        SYNTAX_ERROR => "SYNTAX_ERROR",
        COMMAND_INVALID => "COMMAND_INVALID",
        CHANNEL_ERROR => "CHANNEL_ERROR",
        UNEXPECTED_FRAME => "UNEXPECTED_FRAME",
        RESOURCE_ERROR => "RESOURCE_ERROR",
        NOT_ALLOWED => "NOT_ALLOWED",
        NOT_IMPLEMENTED => "NOT_IMPLEMENTED",
        INTERNAL_ERROR => "INTERNAL_ERROR",
        _ => "UNKNOWN",
    }
}

/// A reply text as RabbitMQ builds it: `"NOT_FOUND - "` then the explanation, cut to 252
/// bytes plus `"..."` when longer than a short string allows. An empty explanation gives the
/// bare name, as RabbitMQ sends for a crash (`"INTERNAL_ERROR"`).
pub fn reply_text(code: u16, explanation: &str) -> ShortStr {
    let name = name(code);
    if explanation.is_empty() {
        return ShortStr::from_static(name);
    }
    let mut text = format!("{name} - {explanation}").into_bytes();
    if text.len() > SHORT_STR_MAX_LEN {
        text.truncate(SHORT_STR_MAX_LEN - 3);
        text.extend_from_slice(b"...");
    }
    ShortStr::from_bytes_unchecked(Bytes::from(text))
}
