//! AMQP exceptions as values.
//!
//! AMQP has two levels of error, and the reply code alone says which: a *soft* code (311–406)
//! closes the channel that caused it and the connection goes on; a *hard* code (320, 402, 5xx)
//! closes the whole connection. RabbitMQ follows that rule even when a hard error is raised by a
//! channel method (an invalid exchange type, `immediate=true`, a reused consumer tag), so one type
//! serves both and [`AmqpError::is_hard`] decides.
//!
//! The reply text reads as RabbitMQ writes it: the code's name, a dash, then the detail
//! (`NOT_FOUND - no exchange 'x' in vhost '/'`); clients show it to people, and some match on it.

use std::fmt;

use warren_wire::reply_code::{self, *};
use warren_wire::{Method, ShortStr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: u16,
    /// What went wrong, without the code's name (see [`AmqpError::reply_text`]).
    pub explanation: String,
    /// The method that caused the error, as (class id, method id); zero when none.
    pub class_id: u16,
    pub method_id: u16,
}

pub type AmqpResult<T> = Result<T, AmqpError>;

impl AmqpError {
    pub fn new(code: u16, explanation: impl fmt::Display) -> Self {
        AmqpError {
            code,
            explanation: explanation.to_string(),
            class_id: 0,
            method_id: 0,
        }
    }

    /// The reply text as RabbitMQ sends it: `NOT_FOUND - no exchange 'x' in vhost '/'`, cut
    /// to fit a short string.
    pub fn reply_text(&self) -> ShortStr {
        reply_code::reply_text(self.code, &self.explanation)
    }

    /// Names the method that caused the error, unless one is already named.
    pub fn caused_by(mut self, method: &Method) -> Self {
        if self.class_id == 0 {
            self.class_id = method.class_id();
            self.method_id = method.method_id();
        }
        self
    }

    /// Hard errors close the connection; soft ones only the channel.
    pub fn is_hard(&self) -> bool {
        !matches!(
            self.code,
            CONTENT_TOO_LARGE
                | NO_ROUTE
                | NO_CONSUMERS
                | ACCESS_REFUSED
                | NOT_FOUND
                | RESOURCE_LOCKED
                | PRECONDITION_FAILED
        )
    }

    pub fn access_refused(detail: impl fmt::Display) -> Self {
        Self::new(ACCESS_REFUSED, detail)
    }
    pub fn not_found(detail: impl fmt::Display) -> Self {
        Self::new(NOT_FOUND, detail)
    }
    pub fn resource_locked(detail: impl fmt::Display) -> Self {
        Self::new(RESOURCE_LOCKED, detail)
    }
    pub fn precondition_failed(detail: impl fmt::Display) -> Self {
        Self::new(PRECONDITION_FAILED, detail)
    }
    pub fn frame_error(detail: impl fmt::Display) -> Self {
        Self::new(FRAME_ERROR, detail)
    }
    pub fn command_invalid(detail: impl fmt::Display) -> Self {
        Self::new(COMMAND_INVALID, detail)
    }
    pub fn channel_error(detail: impl fmt::Display) -> Self {
        Self::new(CHANNEL_ERROR, detail)
    }
    pub fn unexpected_frame(detail: impl fmt::Display) -> Self {
        Self::new(UNEXPECTED_FRAME, detail)
    }
    pub fn not_allowed(detail: impl fmt::Display) -> Self {
        Self::new(NOT_ALLOWED, detail)
    }
    pub fn not_implemented(detail: impl fmt::Display) -> Self {
        Self::new(NOT_IMPLEMENTED, detail)
    }
    pub fn internal_error(detail: impl fmt::Display) -> Self {
        Self::new(INTERNAL_ERROR, detail)
    }
}

impl fmt::Display for AmqpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reply_text())
    }
}

impl std::error::Error for AmqpError {}
