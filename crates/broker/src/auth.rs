//! SASL for the handshake: PLAIN (`\0user\0password`) and AMQPLAIN (a field table without its
//! length prefix holding `LOGIN` and `PASSWORD`), the two mechanisms RabbitMQ's clients use.
//! EXTERNAL is deliberately not offered: py-amqp picks it when it is advertised.

use warren_wire::{FieldTable, FieldValue};

/// The mechanisms advertised in `connection.start`, space-separated as the spec wants.
pub const MECHANISMS: &str = "PLAIN AMQPLAIN";

/// A user the broker accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
}

impl User {
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        User {
            name: name.into(),
            password: password.into(),
        }
    }
}

/// Credentials a client presented.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SaslError {
    UnknownMechanism,
    Malformed,
}

/// Reads the response of `connection.start-ok` for `mechanism`.
pub fn parse_response(mechanism: &[u8], response: &[u8]) -> Result<Credentials, SaslError> {
    match mechanism {
        b"PLAIN" => parse_plain(response),
        b"AMQPLAIN" => parse_amqplain(response),
        _ => Err(SaslError::UnknownMechanism),
    }
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`.
fn parse_plain(response: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = response.splitn(3, |&b| b == 0);
    let (Some(_authzid), Some(user), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    Ok(Credentials {
        user: user.to_vec(),
        password: password.to_vec(),
    })
}

fn parse_amqplain(response: &[u8]) -> Result<Credentials, SaslError> {
    // The response is a table's entries without the table's own length: put it back.
    let length = u32::try_from(response.len()).map_err(|_| SaslError::Malformed)?;
    let mut table = Vec::with_capacity(4 + response.len());
    table.extend_from_slice(&length.to_be_bytes());
    table.extend_from_slice(response);
    let table = FieldTable::decode(&table.into()).map_err(|_| SaslError::Malformed)?;
    let text = |key: &[u8]| match table.get(key) {
        Some(FieldValue::LongStr(v)) => Ok(v.to_vec()),
        _ => Err(SaslError::Malformed),
    };
    Ok(Credentials {
        user: text(b"LOGIN")?,
        password: text(b"PASSWORD")?,
    })
}

/// Finds the user these credentials name, if the password matches.
pub fn authenticate<'a>(users: &'a [User], credentials: &Credentials) -> Option<&'a User> {
    users.iter().find(|u| {
        u.name.as_bytes() == credentials.user && u.password.as_bytes() == credentials.password
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_with_and_without_authzid() {
        let creds = parse_response(b"PLAIN", b"\0guest\0guest").expect("valid");
        assert_eq!(creds.user, b"guest");
        assert_eq!(creds.password, b"guest");
        let creds = parse_response(b"PLAIN", b"admin\0bob\0pa\0ss").expect("valid");
        assert_eq!(creds.user, b"bob");
        assert_eq!(creds.password, b"pa\0ss");
        assert_eq!(
            parse_response(b"PLAIN", b"guest"),
            Err(SaslError::Malformed)
        );
    }

    #[test]
    fn unknown_mechanism() {
        assert_eq!(
            parse_response(b"EXTERNAL", b""),
            Err(SaslError::UnknownMechanism)
        );
    }

    #[test]
    fn only_matching_password_authenticates() {
        let users = [User::new("guest", "guest")];
        let ok = Credentials {
            user: b"guest".to_vec(),
            password: b"guest".to_vec(),
        };
        let bad = Credentials {
            user: b"guest".to_vec(),
            password: b"nope".to_vec(),
        };
        assert!(authenticate(&users, &ok).is_some());
        assert!(authenticate(&users, &bad).is_none());
    }
}
