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
    /// None: the user cannot log in with a password (RabbitMQ's empty `password_hash`).
    pub password: Option<PasswordHash>,
    /// RabbitMQ's user tags. `impersonator` lets the user publish with any `user-id`; the
    /// others (`administrator`, `management`, ...) are about the management API, and kept.
    pub tags: Vec<String>,
}

impl User {
    /// A user whose password is given in clear (command line, embedding): only its hash is
    /// kept.
    pub fn new(name: impl Into<String>, password: &str) -> Self {
        User {
            name: name.into(),
            password: Some(PasswordHash::new(HashingAlgorithm::Sha256, password)),
            tags: Vec::new(),
        }
    }
}

/// RabbitMQ's password hashing modules (`hashing_algorithm` in a definitions file). MD5, the
/// pre-3.6 scheme, is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashingAlgorithm {
    Sha256,
    Sha512,
}

impl HashingAlgorithm {
    /// RabbitMQ's default since 3.6.
    pub const DEFAULT_NAME: &'static str = HashingAlgorithm::Sha256.name();

    /// The algorithm a definitions file names, e.g. `rabbit_password_hashing_sha256`.
    pub fn from_name(name: &str) -> Option<Self> {
        [HashingAlgorithm::Sha256, HashingAlgorithm::Sha512]
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    /// Its name in a definitions file.
    pub const fn name(self) -> &'static str {
        match self {
            HashingAlgorithm::Sha256 => "rabbit_password_hashing_sha256",
            HashingAlgorithm::Sha512 => "rabbit_password_hashing_sha512",
        }
    }

    fn digest(self, salt: &[u8], password: &[u8]) -> Vec<u8> {
        fn hash<D: sha2::Digest>(salt: &[u8], password: &[u8]) -> Vec<u8> {
            let mut digest = D::new();
            digest.update(salt);
            digest.update(password);
            digest.finalize().to_vec()
        }
        match self {
            HashingAlgorithm::Sha256 => hash::<sha2::Sha256>(salt, password),
            HashingAlgorithm::Sha512 => hash::<sha2::Sha512>(salt, password),
        }
    }

    fn digest_len(self) -> usize {
        match self {
            HashingAlgorithm::Sha256 => 32,
            HashingAlgorithm::Sha512 => 64,
        }
    }
}

/// The length of the salt RabbitMQ puts in front of a password hash.
const SALT_LEN: usize = 4;

/// A password as RabbitMQ stores it: a 4-byte salt followed by `hash(salt ++ password)`,
/// written in base64 in definitions files (`rabbitmqctl hash_password` prints one).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    algorithm: HashingAlgorithm,
    /// The salt, then the digest.
    salted: Vec<u8>,
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt. Should the system's random source fail, the
    /// salt is derived from the clock: a salt only has to differ between stored hashes.
    pub fn new(algorithm: HashingAlgorithm, password: &str) -> Self {
        let mut salt = [0u8; SALT_LEN];
        if getrandom::fill(&mut salt).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            salt = nanos.to_be_bytes();
        }
        Self::with_salt(algorithm, salt, password.as_bytes())
    }

    pub fn with_salt(algorithm: HashingAlgorithm, salt: [u8; SALT_LEN], password: &[u8]) -> Self {
        let mut salted = salt.to_vec();
        salted.extend(algorithm.digest(&salt, password));
        PasswordHash { algorithm, salted }
    }

    /// Reads a base64 hash from a definitions file.
    pub fn from_base64(algorithm: HashingAlgorithm, text: &str) -> Result<Self, String> {
        use base64::Engine;
        let salted = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("not valid base64 ({e})"))?;
        let expected = SALT_LEN + algorithm.digest_len();
        if salted.len() != expected {
            return Err(format!(
                "{} bytes once decoded where {algorithm:?} gives {expected} (4 of salt, then the \
                 hash); is hashing_algorithm right?",
                salted.len()
            ));
        }
        Ok(PasswordHash { algorithm, salted })
    }

    pub fn algorithm(&self) -> HashingAlgorithm {
        self.algorithm
    }

    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.salted)
    }

    /// Whether `password` is the one hashed; compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let (salt, digest) = self.salted.split_at(SALT_LEN);
        let candidate = self.algorithm.digest(salt, password);
        candidate.len() == digest.len()
            && candidate
                .iter()
                .zip(digest)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl std::fmt::Debug for PasswordHash {
    /// Never shows the hash: configurations get logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PasswordHash({:?}, <redacted>)", self.algorithm)
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

/// Finds the user these credentials name, if the password matches. An empty password never
/// does (RabbitMQ's internal backend refuses blank passwords). Of two users with one name, the
/// later counts, as when RabbitMQ imports definitions.
pub fn authenticate<'a>(users: &'a [User], credentials: &Credentials) -> Option<&'a User> {
    if credentials.password.is_empty() {
        return None;
    }
    users
        .iter()
        .rev()
        .find(|u| u.name.as_bytes() == credentials.user)
        .filter(|u| {
            u.password
                .as_ref()
                .is_some_and(|hash| hash.verify(&credentials.password))
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
        let blank = Credentials {
            user: b"guest".to_vec(),
            password: Vec::new(),
        };
        assert!(authenticate(&users, &blank).is_none());
        let redefined = [User::new("guest", "old"), User::new("guest", "guest")];
        assert!(
            authenticate(&redefined, &ok).is_some(),
            "the later definition counts"
        );
    }

    #[test]
    fn hashes_as_rabbitmq_does() {
        // rabbit_password:salted_hash(rabbit_password_hashing_sha256, <<1,2,3,4>>, <<"guest">>),
        // written out: base64(salt ++ sha256(salt ++ "guest")).
        let hash = PasswordHash::with_salt(HashingAlgorithm::Sha256, [1, 2, 3, 4], b"guest");
        let text = hash.to_base64();
        let read = PasswordHash::from_base64(HashingAlgorithm::Sha256, &text).expect("valid");
        assert!(read.verify(b"guest"));
        assert!(!read.verify(b"guesT"));
        assert_eq!(&read.salted[..4], &[1, 2, 3, 4]);
        // Made with Python's hashlib, independently: "s3cret" with the salt 9a 3b 10 7e.
        let rabbit = PasswordHash::from_base64(
            HashingAlgorithm::Sha256,
            "mjsQflkU6HJWhoRH4X3pDSi/eE98bpUYrHe48YSj2y7T8u55",
        )
        .expect("valid");
        assert!(rabbit.verify(b"s3cret"));
        assert!(!rabbit.verify(b"secret"));
    }

    #[test]
    fn sha512_and_bad_hashes() {
        let hash = PasswordHash::new(HashingAlgorithm::Sha512, "pw");
        let read =
            PasswordHash::from_base64(HashingAlgorithm::Sha512, &hash.to_base64()).expect("valid");
        assert!(read.verify(b"pw"));
        let error = PasswordHash::from_base64(HashingAlgorithm::Sha256, &hash.to_base64())
            .expect_err("a sha512 hash is too long for sha256");
        assert!(error.contains("hashing_algorithm"), "{error}");
        assert!(PasswordHash::from_base64(HashingAlgorithm::Sha256, "not base64!").is_err());
        assert!(!format!("{hash:?}").contains(&hash.to_base64()));
    }
}
