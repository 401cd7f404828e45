//! Command-line arguments and their environment variables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use warren_server::Watermark;

pub const USAGE: &str = "\
usage: warren [--bind ADDR]... [--port N] [--user NAME] [--password SECRET]
              [--memory-high-watermark LIMIT]

Serves AMQP 0-9-1 until SIGINT or SIGTERM.

  --bind ADDR        address to listen on, repeatable (env WARREN_BIND, comma-separated);
                     default: 127.0.0.1 and ::1
  --port N           port (env WARREN_PORT); default: 5672
  --user NAME        the one user (env WARREN_USER); default: guest
  --password SECRET  its password (env WARREN_PASSWORD); default: guest
  --memory-high-watermark LIMIT
                     above this resident memory, publishers are blocked until it falls back:
                     a fraction of RAM (0.4) or a size (512MiB) (env WARREN_MEMORY_HIGH_WATERMARK);
                     default: 0.4, as RabbitMQ
  --version, --help

Logging: WARREN_LOG=debug (tracing's filter syntax; default info).";

pub enum Command {
    Serve(Options),
    Help,
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Addresses asked for explicitly; empty means the defaults.
    pub bind: Vec<IpAddr>,
    pub port: u16,
    pub user: String,
    pub password: String,
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
            user: env("WARREN_USER").unwrap_or_else(|| "guest".into()),
            password: env("WARREN_PASSWORD").unwrap_or_else(|| "guest".into()),
            memory_high_watermark: match env("WARREN_MEMORY_HIGH_WATERMARK") {
                Some(text) => Watermark::parse(&text)
                    .map_err(|e| format!("WARREN_MEMORY_HIGH_WATERMARK: {e}"))?,
                None => Watermark::default(),
            },
        };
        let mut from_args = Vec::new();
        let mut args = args.into_iter();
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
                "--user" => options.user = value()?,
                "--password" => options.password = value()?,
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
            (options.user.as_str(), options.password.as_str()),
            ("u", "p")
        );
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
