//! Command-line arguments and their environment variables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use warren::{Limits, Watermark, DEFAULT_MAX_HANDSHAKES, DEFAULT_TLS_PORT};

pub const USAGE: &str = "\
usage: warren [--bind ADDR]... [--port N] [--user NAME] [--password SECRET]
              [--definitions FILE] [--loopback-users NAMES]
              [--memory-high-watermark LIMIT] [LIMITS] [TLS]
       warren hash-password [PASSWORD]

Serves AMQP 0-9-1 until SIGINT or SIGTERM.

  --bind ADDR        address to listen on, repeatable (env WARREN_BIND, comma-separated);
                     default: 127.0.0.1 and ::1
  --port N           port (env WARREN_PORT); default: 5672
  --user NAME        the one user (env WARREN_USER); default: guest
  --password SECRET  its password (env WARREN_PASSWORD); default: guest
  --definitions FILE users, vhosts and permissions from a RabbitMQ definitions file (JSON, as
                     `rabbitmqctl export_definitions` writes) instead of --user/--password
                     (env WARREN_DEFINITIONS)
  --loopback-users NAMES
                     users who may connect only from this machine, comma-separated, or `none`
                     (env WARREN_LOOPBACK_USERS); default: guest, as RabbitMQ
  --memory-high-watermark LIMIT
                     above this resident memory, publishers are blocked until it falls back:
                     a fraction of RAM (0.4) or a size (512MiB) (env WARREN_MEMORY_HIGH_WATERMARK);
                     default: 0.4, as RabbitMQ
  --version, --help

hash-password prints the password_hash of a definitions file for PASSWORD (read from standard
input if not given), as rabbit_password_hashing_sha256 with a random salt.

Limits (refused as RabbitMQ refuses them; defaults are RabbitMQ's):
  --channel-max N    channels per connection, proposed in connection.tune (env
                     WARREN_CHANNEL_MAX); default: 2047
  --max-message-size SIZE
                     largest message body, at most 512MiB (env WARREN_MAX_MESSAGE_SIZE);
                     default: 128MiB
  --consumer-max-per-channel N
                     consumers per channel (env WARREN_CONSUMER_MAX_PER_CHANNEL); default: none
  --max-connections N
                     open connections per vhost, as the vhost limit max-connections (env
                     WARREN_MAX_CONNECTIONS); default: none
  --max-queues N     queues per vhost, as the vhost limit max-queues (env WARREN_MAX_QUEUES);
                     default: none
  --max-handshakes N connections between TCP accept and connection.open; newer ones are
                     closed at once (env WARREN_MAX_HANDSHAKES); default: 1000

TLS (amqps; off unless a certificate and key are given):
  --tls-cert FILE    PEM certificate chain, server certificate first (env WARREN_TLS_CERT)
  --tls-key FILE     its PEM private key (env WARREN_TLS_KEY)
  --tls-port N       amqps port (env WARREN_TLS_PORT); default: 5671
  --tls-bind ADDR    amqps address, repeatable (env WARREN_TLS_BIND, comma-separated);
                     default: the --bind addresses

Logging: WARREN_LOG=debug (tracing's filter syntax; default info).";

// Made once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Serve(Options),
    /// `hash-password`: the password, or None to read it from standard input.
    HashPassword(Option<String>),
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Addresses asked for explicitly; empty means the defaults.
    pub bind: Vec<IpAddr>,
    pub port: u16,
    /// The one user, when given (guest otherwise, unless a definitions file says).
    pub user: Option<String>,
    pub password: Option<String>,
    pub definitions: Option<std::path::PathBuf>,
    pub loopback_users: Vec<String>,
    pub memory_high_watermark: Watermark,
    pub limits: Limits,
    pub max_handshakes: usize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_port: u16,
    /// amqps addresses asked for explicitly; empty means those of `bind`.
    pub tls_bind: Vec<IpAddr>,
}

/// The settings of limits and TLS, which read the same from a flag and from the
/// environment: (flag, environment variable).
const SETTINGS: &[(&str, &str)] = &[
    ("--channel-max", "WARREN_CHANNEL_MAX"),
    ("--max-message-size", "WARREN_MAX_MESSAGE_SIZE"),
    (
        "--consumer-max-per-channel",
        "WARREN_CONSUMER_MAX_PER_CHANNEL",
    ),
    ("--max-connections", "WARREN_MAX_CONNECTIONS"),
    ("--max-queues", "WARREN_MAX_QUEUES"),
    ("--max-handshakes", "WARREN_MAX_HANDSHAKES"),
    ("--tls-cert", "WARREN_TLS_CERT"),
    ("--tls-key", "WARREN_TLS_KEY"),
    ("--tls-port", "WARREN_TLS_PORT"),
    ("--tls-bind", "WARREN_TLS_BIND"),
];

impl Options {
    /// Arguments win over the environment, which wins over the defaults.
    pub fn from_env_and_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut options = Options {
            bind: match env("WARREN_BIND") {
                Some(list) => list
                    .split(',')
                    .map(|a| parse_ip(a.trim(), "WARREN_BIND"))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
            port: match env("WARREN_PORT") {
                Some(port) => parse_port(&port, "WARREN_PORT")?,
                None => 5672,
            },
            user: env("WARREN_USER"),
            password: env("WARREN_PASSWORD"),
            definitions: env("WARREN_DEFINITIONS").map(Into::into),
            loopback_users: parse_names(
                &env("WARREN_LOOPBACK_USERS").unwrap_or_else(|| "guest".into()),
            ),
            memory_high_watermark: match env("WARREN_MEMORY_HIGH_WATERMARK") {
                Some(text) => Watermark::parse(&text)
                    .map_err(|e| format!("WARREN_MEMORY_HIGH_WATERMARK: {e}"))?,
                None => Watermark::default(),
            },
            limits: Limits::default(),
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            tls_cert: None,
            tls_key: None,
            tls_port: DEFAULT_TLS_PORT,
            tls_bind: Vec::new(),
        };
        for &(flag, variable) in SETTINGS {
            if let Some(value) = env(variable) {
                options.apply(flag, &value, variable)?;
            }
        }
        let mut tls_bind_from_args = false;
        let mut from_args = Vec::new();
        let mut args = args.into_iter().peekable();
        if args.peek().is_some_and(|a| a == "hash-password") {
            args.next();
            let password = args.next();
            if let Some(extra) = args.next() {
                return Err(format!(
                    "hash-password takes one password, not also '{extra}'"
                ));
            }
            return Ok(Command::HashPassword(password));
        }
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_string(), Some(value.to_string()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--bind" => from_args.push(parse_ip(&value()?, "--bind")?),
                "--port" => options.port = parse_port(&value()?, "--port")?,
                "--user" => options.user = Some(value()?),
                "--password" => options.password = Some(value()?),
                "--definitions" => options.definitions = Some(value()?.into()),
                "--loopback-users" => options.loopback_users = parse_names(&value()?),
                "--memory-high-watermark" => {
                    options.memory_high_watermark = Watermark::parse(&value()?)
                        .map_err(|e| format!("--memory-high-watermark: {e}"))?
                }
                "--tls-bind" if !tls_bind_from_args => {
                    // Flags replace the environment's list.
                    tls_bind_from_args = true;
                    options.tls_bind.clear();
                    options.apply(&flag, &value()?, &flag)?
                }
                setting if SETTINGS.iter().any(|&(f, _)| f == setting) => {
                    options.apply(&flag, &value()?, &flag)?
                }
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                other => return Err(format!("unknown argument '{other}'")),
            }
        }
        if !from_args.is_empty() {
            options.bind = from_args;
        }
        if options.definitions.is_some() && (options.user.is_some() || options.password.is_some()) {
            return Err(
                "--definitions (WARREN_DEFINITIONS) defines the users: drop --user and \
                        --password (WARREN_USER, WARREN_PASSWORD), or add the user to the file"
                    .into(),
            );
        }
        options.check_tls()?;
        Ok(Command::Serve(options))
    }

    /// Sets a limit or TLS setting from `value`, read from `source` (a flag or a variable).
    fn apply(&mut self, flag: &str, value: &str, source: &str) -> Result<(), String> {
        let limits = &mut self.limits;
        match flag {
            "--channel-max" => limits.channel_max = parse_number(value, source, 1..=u16::MAX)?,
            "--max-message-size" => limits.max_message_size = parse_message_size(value, source)?,
            "--consumer-max-per-channel" => {
                limits.consumers_per_channel = Some(parse_number(value, source, 0..=u32::MAX)?)
            }
            "--max-connections" => {
                limits.vhost.max_connections = Some(parse_number(value, source, 0..=u32::MAX)?)
            }
            "--max-queues" => {
                limits.vhost.max_queues = Some(parse_number(value, source, 0..=u32::MAX)?)
            }
            "--max-handshakes" => {
                self.max_handshakes = parse_number(value, source, 1..=u32::MAX as usize)?
            }
            "--tls-cert" => self.tls_cert = Some(PathBuf::from(value)),
            "--tls-key" => self.tls_key = Some(PathBuf::from(value)),
            "--tls-port" => self.tls_port = parse_port(value, source)?,
            "--tls-bind" => {
                for address in value.split(',') {
                    self.tls_bind.push(parse_ip(address.trim(), source)?);
                }
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
        Ok(())
    }

    /// A certificate needs its key, and the amqps settings need both.
    fn check_tls(&self) -> Result<(), String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), Some(_)) => Ok(()),
            (Some(_), None) | (None, Some(_)) => Err(
                "--tls-cert and --tls-key (WARREN_TLS_CERT, WARREN_TLS_KEY) go together: give \
                 both to serve amqps, or neither"
                    .into(),
            ),
            (None, None) if !self.tls_bind.is_empty() || self.tls_port != DEFAULT_TLS_PORT => {
                Err("--tls-port and --tls-bind need --tls-cert and --tls-key".into())
            }
            (None, None) => Ok(()),
        }
    }

    /// The certificate and key files, when amqps is on.
    pub fn tls_files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls_cert.as_ref().zip(self.tls_key.as_ref())
    }

    /// Where amqps listens: `tls_bind`, or the plain listeners' addresses.
    pub fn tls_addresses(&self) -> Vec<SocketAddr> {
        let ips = if self.tls_bind.is_empty() {
            self.ips()
        } else {
            self.tls_bind.clone()
        };
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, self.tls_port))
            .collect()
    }

    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.ips()
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect()
    }

    fn ips(&self) -> Vec<IpAddr> {
        if self.bind.is_empty() {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
        } else {
            self.bind.clone()
        }
    }

    /// The default IPv6 loopback listener may fail (no IPv6 on the host) without stopping us;
    /// an address asked for may not.
    pub fn is_optional(&self, address: &SocketAddr) -> bool {
        let ip = address.ip();
        address.is_ipv6() && !self.bind.contains(&ip) && !self.tls_bind.contains(&ip)
    }
}

fn parse_ip(text: &str, source: &str) -> Result<IpAddr, String> {
    text.trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| {
            format!("{source}: '{text}' is not an IP address (for example 127.0.0.1 or ::1)")
        })
}

/// A whole number in `range`.
fn parse_number<T>(text: &str, source: &str, range: RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    match text.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{source}: '{text}' is not a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn parse_message_size(text: &str, source: &str) -> Result<u32, String> {
    let ceiling = warren::MAX_MESSAGE_SIZE_CEILING;
    match warren::parse_size(text) {
        Some(size) if size <= u64::from(ceiling) => Ok(size as u32),
        Some(_) => Err(format!(
            "{source}: '{text}' is over {ceiling} bytes (512MiB), RabbitMQ's ceiling for max_message_size"
        )),
        None => Err(format!(
            "{source}: '{text}' is not a size: give bytes (134217728) or a size such as 128MiB"
        )),
    }
}

/// A comma-separated list of names; `none` is the empty list.
fn parse_names(text: &str) -> Vec<String> {
    if text.trim() == "none" {
        return Vec::new();
    }
    text.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

fn parse_port(text: &str, source: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("{source}: '{text}' is not a port number (0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        match Options::from_env_and_args(args.iter().map(|s| s.to_string()))? {
            Command::Serve(options) => Ok(options),
            _ => Err("not serve".into()),
        }
    }

    #[test]
    fn flags_override_defaults() {
        let options = parse(&[
            "--bind",
            "0.0.0.0",
            "--port=5673",
            "--user",
            "u",
            "--password",
            "p",
        ])
        .expect("valid");
        assert_eq!(
            options.addresses(),
            vec!["0.0.0.0:5673".parse().expect("addr")]
        );
        assert_eq!(
            (options.user.as_deref(), options.password.as_deref()),
            (Some("u"), Some("p"))
        );
    }

    #[test]
    fn limits_and_tls_flags_are_read() {
        let options = parse(&[
            "--channel-max=16",
            "--max-message-size",
            "1MiB",
            "--consumer-max-per-channel",
            "8",
            "--max-connections",
            "0",
            "--max-queues",
            "100",
            "--max-handshakes",
            "10",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--tls-bind",
            "127.0.0.1",
        ])
        .expect("valid");
        let limits = &options.limits;
        assert_eq!(limits.channel_max, 16);
        assert_eq!(limits.max_message_size, 1 << 20);
        assert_eq!(limits.consumers_per_channel, Some(8));
        assert_eq!(limits.vhost.max_connections, Some(0));
        assert_eq!(limits.vhost.max_queues, Some(100));
        assert_eq!(options.max_handshakes, 10);
        assert!(options.tls_files().is_some());
        assert_eq!(
            options.tls_addresses(),
            vec!["127.0.0.1:5671".parse().expect("addr")]
        );
    }

    #[test]
    fn bad_limits_and_tls_settings_say_what_is_wrong() {
        assert!(parse(&["--max-message-size", "1GiB"])
            .expect_err("over the ceiling")
            .contains("RabbitMQ's ceiling"));
        assert!(parse(&["--channel-max", "0"])
            .expect_err("no channel")
            .contains("not a whole number from 1 to 65535"));
        assert!(parse(&["--tls-cert", "cert.pem"])
            .expect_err("no key")
            .contains("go together"));
        assert!(parse(&["--tls-port", "5999"])
            .expect_err("no certificate")
            .contains("need --tls-cert"));
    }

    #[test]
    fn definitions_loopback_users_and_hash_password() {
        let options =
            parse(&["--definitions", "defs.json", "--loopback-users", "a, b"]).expect("valid");
        assert_eq!(options.definitions, Some("defs.json".into()));
        assert_eq!(options.loopback_users, ["a", "b"]);
        let options = parse(&["--loopback-users=none"]).expect("valid");
        assert!(options.loopback_users.is_empty());
        assert!(parse(&["--definitions", "d.json", "--user", "u"])
            .expect_err("must be refused")
            .contains("drop --user"));
        let args = ["hash-password", "s3cret"].map(String::from);
        assert!(matches!(
            Options::from_env_and_args(args),
            Ok(Command::HashPassword(Some(p))) if p == "s3cret"
        ));
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert!(parse(&["--port", "http"])
            .expect_err("must be refused")
            .contains("not a port number"));
        assert!(parse(&["--bind", "localhost"])
            .expect_err("must be refused")
            .contains("not an IP address"));
        assert!(parse(&["--frobnicate"])
            .expect_err("must be refused")
            .contains("unknown argument"));
        assert!(parse(&["--port"])
            .expect_err("must be refused")
            .contains("needs a value"));
    }
}
