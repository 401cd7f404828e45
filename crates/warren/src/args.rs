//! Command-line arguments and their environment variables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use warren_server::Watermark;

pub const USAGE: &str = "\
usage: warren [--bind ADDR]... [--port N] [--user NAME] [--password SECRET]
              [--definitions FILE] [--loopback-users NAMES]
              [--memory-high-watermark LIMIT]
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

Logging: WARREN_LOG=debug (tracing's filter syntax; default info).";

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
}

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
        };
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
        Ok(Command::Serve(options))
    }

    pub fn addresses(&self) -> Vec<SocketAddr> {
        let ips = if self.bind.is_empty() {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
        } else {
            self.bind.clone()
        };
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect()
    }

    /// The default IPv6 loopback listener may fail (no IPv6 on the host) without stopping us.
    pub fn is_optional(&self, address: &SocketAddr) -> bool {
        self.bind.is_empty() && address.is_ipv6()
    }
}

fn parse_ip(text: &str, source: &str) -> Result<IpAddr, String> {
    text.trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| {
            format!("{source}: '{text}' is not an IP address (for example 127.0.0.1 or ::1)")
        })
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
