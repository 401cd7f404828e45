//! The one error type of the tool: bad arguments, socket faults, and what the broker said when
//! it closed a channel or the connection.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// The command line or a value in it is wrong (exit code 2).
    Usage(String),
    Io(io::Error),
    /// The broker closed a channel (`channel.close`) or the connection (`connection.close`).
    Closed {
        what: &'static str,
        code: u16,
        text: String,
        class_id: u16,
        method_id: u16,
    },
    /// The broker sent something this client did not expect, or undecodable bytes.
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn protocol(text: impl Into<String>) -> Self {
        Error::Protocol(text.into())
    }

    pub fn usage(text: impl Into<String>) -> Self {
        Error::Usage(text.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(text) => write!(f, "{text}"),
            Error::Io(e) => write!(f, "I/O: {e}"),
            Error::Closed {
                what,
                code,
                text,
                class_id,
                method_id,
            } => write!(
                f,
                "broker closed the {what}: {code} {text} (method {class_id}.{method_id})"
            ),
            Error::Protocol(text) => write!(f, "protocol: {text}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
