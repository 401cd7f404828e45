//! Why a verb failed, and the exit code rabbitmqctl gives for it (its codes are sysexits.h's).

use std::fmt;

/// A verb's failure: the text for standard error and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: u8,
    pub text: String,
}

/// EX_USAGE: bad arguments.
pub const USAGE: u8 = 64;
/// EX_DATAERR: bad input data (a definitions file, a missing password).
pub const DATA: u8 = 65;
/// EX_NOUSER: the user does not exist.
pub const NO_USER: u8 = 67;
/// EX_UNAVAILABLE: the node cannot be reached, or the object is not there.
pub const UNAVAILABLE: u8 = 69;
/// EX_SOFTWARE: the broker refused.
pub const SOFTWARE: u8 = 70;
/// EX_TEMPFAIL: the operation timed out.
pub const TEMPFAIL: u8 = 75;

impl Failure {
    pub fn new(code: u8, text: impl Into<String>) -> Failure {
        Failure {
            code,
            text: text.into(),
        }
    }

    /// rabbitmqctl's `Error:` block: the word on a line, the reason below.
    pub fn error(code: u8, reason: impl fmt::Display) -> Failure {
        Failure::new(code, format!("Error:\n{reason}"))
    }

    /// rabbitmqctl's argument validation error.
    pub fn usage(reason: impl fmt::Display) -> Failure {
        Failure::new(USAGE, format!("Error (argument validation): {reason}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
