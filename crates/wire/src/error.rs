//! Decode errors, each carrying what RabbitMQ 3.10 does on the same fault, so that the broker
//! can answer it without interpreting it: usually `connection.close` with `reply_code` and
//! `text`, but for a few faults RabbitMQ's connection process crashes and the socket is just
//! closed (`abrupt`).

mod erlang;

use std::fmt;

pub(crate) use erlang::{erlang_binary, ErlangTerm};
use erlang::{pretty_binary, pretty_term};

use crate::reply_code;

/// A fault inside one frame's payload: method arguments, a content header or a field table.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub reply_code: u16,
    /// The explanation, without the `"FRAME_ERROR - "` prefix: see [`reply_code::reply_text`].
    pub text: String,
    /// The offending method's ids when known, else 0.
    pub class_id: u16,
    pub method_id: u16,
    /// RabbitMQ sends no `connection.close` for this fault: its connection process crashes and
    /// the socket is closed (clients report a lost connection). `reply_code` and `text` still
    /// describe the fault, for logs or for a broker that prefers to explain.
    pub abrupt: bool,
}

/// What [`Method::decode`](crate::Method::decode) fails with.
pub type MethodDecodeError = DecodeError;

impl DecodeError {
    pub(crate) fn new(reply_code: u16, text: impl Into<String>) -> Self {
        DecodeError {
            reply_code,
            text: text.into(),
            class_id: 0,
            method_id: 0,
            abrupt: false,
        }
    }

    pub(crate) fn abruptly(self) -> Self {
        DecodeError {
            abrupt: true,
            ..self
        }
    }

    pub(crate) fn in_method(self, class_id: u16, method_id: u16) -> Self {
        DecodeError {
            class_id,
            method_id,
            ..self
        }
    }
}

/// Both errors display as the reply text RabbitMQ would send: `"FRAME_ERROR - ..."`.
fn display(reply_code: u16, text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&reply_code::reply_text(reply_code, text).to_string_lossy())
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self.reply_code, &self.text, f)
    }
}

impl std::error::Error for DecodeError {}

/// A fault that ends the connection, found while cutting frames from the byte stream.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDecodeError {
    pub reply_code: u16,
    /// The explanation, without the `"FRAME_ERROR - "` prefix: see [`reply_code::reply_text`].
    pub text: String,
    /// The channel of the offending frame (RabbitMQ closes the whole connection regardless).
    pub channel: u16,
    pub class_id: u16,
    pub method_id: u16,
    /// RabbitMQ sends no `connection.close` for this fault but closes the socket: see
    /// [`DecodeError::abrupt`](DecodeError#structfield.abrupt).
    pub abrupt: bool,
}

impl FrameDecodeError {
    pub(crate) fn on_channel(e: DecodeError, channel: u16) -> Self {
        FrameDecodeError {
            reply_code: e.reply_code,
            text: e.text,
            channel,
            class_id: e.class_id,
            method_id: e.method_id,
            abrupt: e.abrupt,
        }
    }
}

impl fmt::Display for FrameDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self.reply_code, &self.text, f)
    }
}

impl std::error::Error for FrameDecodeError {}

/// RabbitMQ's `rabbit_reader:frame_error/5`: 501, text `type T, all octets = <<...>>: REASON`
/// (`first 16 octets` when the payload is longer), formatted with Erlang's `~p`.
pub(crate) fn frame_error(kind: u8, payload: &[u8], reason: ErlangTerm<'_>) -> DecodeError {
    let (which, snippet) = match payload.get(..16) {
        Some(first) if payload.len() > 16 => ("first 16", first),
        _ => ("all", payload),
    };
    let mut text = format!("type {kind}, {which} octets = ");
    pretty_binary(&mut text, snippet);
    text.push_str(": ");
    pretty_term(&mut text, reason);
    DecodeError::new(reply_code::FRAME_ERROR, text)
}

/// A payload that is not a frame of its type: a method shorter than its ids, a header shorter
/// than its fixed fields, a heartbeat with a payload, an unknown frame type.
pub(crate) fn unknown_frame(kind: u8, payload: &[u8]) -> DecodeError {
    frame_error(kind, payload, ErlangTerm::Atom("unknown_frame"))
}
