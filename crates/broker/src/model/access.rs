//! Authorisation as RabbitMQ's internal backend does it: per user and vhost, three regular
//! expressions (configure, write, read) matched against the name of the exchange or queue a
//! method touches, and the loopback-only users (`loopback_users`, `guest` by default).
//!
//! Matching follows `rabbit_auth_backend_internal:check_resource_access`: the expression is
//! *not* anchored (`foo` allows `xfooy`; write `^foo$` to mean one name), an empty expression
//! allows nothing (it stands for `^$`), and the default exchange is checked under the name
//! `amq.default`. RabbitMQ uses PCRE; Rust's `regex` has no back-references or look-around,
//! and expressions that use them are refused when the definitions are loaded.
//!
//! Topic permissions (RabbitMQ's `topic_permissions`) restrict the routing keys a user may
//! publish with (write) or bind with (read) on one topic exchange; `{username}` and `{vhost}`
//! in their expressions stand for the user's name and the vhost's.

use std::fmt;
use std::net::IpAddr;

use regex::bytes::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Configure,
    Write,
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Exchange,
    Queue,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Exchange => "exchange",
            Resource::Queue => "queue",
        })
    }
}

/// One permission's expression. `.*` matches every name without running a regex: it is what
/// most users have, and `basic.publish` checks write access on every message.
#[derive(Debug, Clone)]
pub enum Pattern {
    Any,
    /// What a user whose permissions were cleared while connected has: every check refused.
    Nothing,
    Regex(Regex),
}

impl Pattern {
    pub fn new(expression: &str) -> Result<Self, String> {
        if expression == ".*" {
            return Ok(Pattern::Any);
        }
        let expression = if expression.is_empty() {
            "^$"
        } else {
            expression
        };
        Regex::new(expression)
            .map(Pattern::Regex)
            .map_err(|e| format!("'{expression}' is not a regular expression Warren supports: {e}"))
    }

    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Nothing => false,
            Pattern::Regex(regex) => regex.is_match(name),
        }
    }
}

/// What one user may do in one vhost.
#[derive(Debug, Clone)]
pub struct Permissions {
    pub configure: Pattern,
    pub write: Pattern,
    pub read: Pattern,
    /// Routing-key restrictions on topic exchanges; usually none.
    pub topics: Vec<TopicPermission>,
}

/// The routing keys a user may publish with (`write`) and bind with (`read`) on one topic
/// exchange, `{username}` and `{vhost}` already replaced.
#[derive(Debug, Clone)]
pub struct TopicPermission {
    pub exchange: String,
    pub write: Pattern,
    pub read: Pattern,
}

impl Permissions {
    /// `.*` for all three: what a fresh RabbitMQ gives guest on `/`.
    pub fn full() -> Self {
        Permissions {
            configure: Pattern::Any,
            write: Pattern::Any,
            read: Pattern::Any,
            topics: Vec::new(),
        }
    }

    /// Nothing allowed: a connected user's permissions once they are cleared.
    pub fn none() -> Self {
        Permissions {
            configure: Pattern::Nothing,
            write: Pattern::Nothing,
            read: Pattern::Nothing,
            topics: Vec::new(),
        }
    }

    pub fn allows(&self, permission: Permission, name: &[u8]) -> bool {
        match permission {
            Permission::Configure => &self.configure,
            Permission::Write => &self.write,
            Permission::Read => &self.read,
        }
        .matches(name)
    }

    /// Whether `routing_key` may be used on the topic exchange `exchange`: yes unless a topic
    /// permission for that exchange says otherwise.
    pub fn allows_topic(
        &self,
        permission: Permission,
        exchange: &[u8],
        routing_key: &[u8],
    ) -> bool {
        self.topics
            .iter()
            .rev()
            .find(|t| t.exchange.as_bytes() == exchange)
            .map_or(true, |t| match permission {
                Permission::Write => t.write.matches(routing_key),
                _ => t.read.matches(routing_key),
            })
    }
}

/// `rabbit_net:is_loopback`: 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6.
pub fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(expression: &str, name: &str) -> bool {
        Pattern::new(expression)
            .expect("valid")
            .matches(name.as_bytes())
    }

    #[test]
    fn expressions_match_as_in_rabbitmq() {
        assert!(allows(".*", "anything"));
        assert!(allows(".*", ""));
        // Not anchored: a match anywhere in the name is enough.
        assert!(allows("foo", "xfooy"));
        assert!(!allows("^foo$", "xfooy"));
        assert!(allows("^(foo|bar)-.*", "bar-1"));
        assert!(!allows("^(foo|bar)-.*", "baz-1"));
        // Empty: nothing at all (RabbitMQ reads it as ^$; no exchange or queue has that name).
        assert!(!allows("", "x"));
        assert!(allows("^amq\\.gen-", "amq.gen-AbC"));
    }

    #[test]
    fn unsupported_expressions_are_refused_with_the_reason() {
        let error = Pattern::new("^(?!secret)").expect_err("look-ahead");
        assert!(error.contains("(?!secret)"), "{error}");
    }

    #[test]
    fn loopback_addresses() {
        for loopback in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(loopback.parse().expect("ip")), "{loopback}");
        }
        for remote in ["10.0.0.1", "192.0.2.7", "::ffff:192.0.2.7", "2001:db8::1"] {
            assert!(!is_loopback(remote.parse().expect("ip")), "{remote}");
        }
    }
}
