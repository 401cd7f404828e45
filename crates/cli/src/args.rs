//! Command-line arguments and their environment variables, read by clap: a flag wins over its
//! `WARREN_*` variable, which wins over the default. A variable set to the empty string counts
//! as unset (as `WARREN_USER=` in a compose file means "no user given").

use std::ffi::OsString;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use warren::{
    Limits, VHostLimits, Watermark, DEFAULT_MAX_HANDSHAKES, DEFAULT_TLS_PORT, DEFAULT_TRACE_SIZE,
    MAX_MESSAGE_SIZE_CEILING,
};

/// What the command line asks for.
// Made once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Command {
    Serve(Options),
    /// `hash-password`: the password, or None to read it from standard input.
    HashPassword(Option<String>),
    /// `ctl`: a rabbitmqctl verb against a running broker's management API.
    Ctl(crate::ctl::Ctl),
}

#[derive(Debug, Parser)]
#[command(
    name = "warren",
    version,
    about = "Serves AMQP 0-9-1 until SIGINT or SIGTERM.",
    after_help = "Logging: WARREN_LOG=debug (tracing's filter syntax; default info).",
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Subcommands>,
    #[command(flatten)]
    serve: Options,
}

#[derive(Debug, Subcommand)]
enum Subcommands {
    /// Prints the password_hash of a definitions file for PASSWORD, as
    /// rabbit_password_hashing_sha256 with a random salt
    HashPassword {
        /// The password [default: the first line of standard input]
        #[arg(value_name = "PASSWORD")]
        password: Option<String>,
    },
    /// rabbitmqctl's verbs (list_queues, purge_queue, add_user…) against a running broker's
    /// management API
    Ctl(crate::ctl::Ctl),
}

#[derive(Debug, Clone, PartialEq, Args)]
pub struct Options {
    /// Address to listen on, repeatable (comma-separated in WARREN_BIND) [default: 127.0.0.1
    /// and ::1]
    #[arg(long, value_name = "ADDR", env = "WARREN_BIND", value_delimiter = ',', value_parser = parse_ip)]
    pub bind: Vec<IpAddr>,
    /// Port
    #[arg(long, value_name = "N", env = "WARREN_PORT", default_value_t = 5672, value_parser = port)]
    pub port: u16,
    /// The one user [default: guest]
    #[arg(long, value_name = "NAME", env = "WARREN_USER")]
    pub user: Option<String>,
    /// Its password [default: guest]
    #[arg(
        long,
        value_name = "SECRET",
        env = "WARREN_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Users, vhosts and permissions from a RabbitMQ definitions file (JSON, as `rabbitmqctl
    /// export_definitions` writes) instead of --user/--password
    #[arg(long, value_name = "FILE", env = "WARREN_DEFINITIONS")]
    pub definitions: Option<PathBuf>,
    /// Users who may connect only from this machine, comma-separated, or `none` (as RabbitMQ)
    #[arg(long, value_name = "NAMES", env = "WARREN_LOOPBACK_USERS", default_value = "guest", value_parser = parse_names)]
    pub loopback_users: Names,
    /// Above this resident memory, publishers are blocked until it falls back: a fraction of
    /// RAM (0.4, as RabbitMQ) or a size (512MiB)
    #[arg(long, value_name = "LIMIT", env = "WARREN_MEMORY_HIGH_WATERMARK", default_value = "0.4", value_parser = Watermark::parse)]
    pub memory_high_watermark: Watermark,
    /// Once every port listens, one JSON line of the broker's URLs and pid is written here
    /// (a FIFO, or /dev/fd/N for a pipe the caller keeps): for a supervisor that starts
    /// Warren on free ports (--port 0) and must learn which
    #[arg(long, value_name = "FILE", env = "WARREN_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    #[command(
        flatten,
        next_help_heading = "Limits (refused as RabbitMQ refuses them; the defaults are RabbitMQ's)"
    )]
    pub limits: LimitOptions,
    #[command(
        flatten,
        next_help_heading = "TLS (amqps; off unless a certificate and its key are given)"
    )]
    pub tls: TlsOptions,
    #[command(
        flatten,
        next_help_heading = "Management (RabbitMQ's HTTP API and Prometheus metrics)"
    )]
    pub management: ManagementOptions,
}

#[derive(Debug, Clone, PartialEq, Args)]
pub struct ManagementOptions {
    /// Port of the management HTTP API (RabbitMQ's /api/...); 0 picks a free one
    #[arg(
        long,
        value_name = "N",
        env = "WARREN_MANAGEMENT_PORT",
        default_value_t = 15672
    )]
    pub management_port: u16,
    /// Address of the management HTTP API
    #[arg(long, value_name = "ADDR", env = "WARREN_MANAGEMENT_BIND", default_value = "127.0.0.1", value_parser = parse_ip)]
    pub management_bind: IpAddr,
    /// No management HTTP API
    #[arg(long, env = "WARREN_NO_MANAGEMENT")]
    pub no_management: bool,
    /// Port of the Prometheus metrics (/metrics, /metrics/per-object); 0 picks a free one
    #[arg(
        long,
        value_name = "N",
        env = "WARREN_PROMETHEUS_PORT",
        default_value_t = 15692
    )]
    pub prometheus_port: u16,
    /// Address of the Prometheus metrics
    #[arg(long, value_name = "ADDR", env = "WARREN_PROMETHEUS_BIND", default_value = "127.0.0.1", value_parser = parse_ip)]
    pub prometheus_bind: IpAddr,
    /// No Prometheus metrics
    #[arg(long, env = "WARREN_NO_PROMETHEUS")]
    pub no_prometheus: bool,
}

impl ManagementOptions {
    /// Where the management API listens, unless it is off.
    pub fn api_address(&self) -> Option<SocketAddr> {
        (!self.no_management).then(|| SocketAddr::new(self.management_bind, self.management_port))
    }

    /// Where the Prometheus metrics listen, unless they are off.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        (!self.no_prometheus).then(|| SocketAddr::new(self.prometheus_bind, self.prometheus_port))
    }
}

/// Comma-separated user names; `none` is the empty list.
#[derive(Debug, Clone, PartialEq)]
pub struct Names(pub Vec<String>);

#[derive(Debug, Clone, PartialEq, Args)]
pub struct LimitOptions {
    /// Channels per connection, proposed in connection.tune
    #[arg(long, value_name = "N", env = "WARREN_CHANNEL_MAX", default_value_t = Limits::default().channel_max, value_parser = whole("a whole number", 1..=u16::MAX))]
    pub channel_max: u16,
    /// Largest message body, at most 512MiB
    #[arg(long, value_name = "SIZE", env = "WARREN_MAX_MESSAGE_SIZE", default_value = "128MiB", value_parser = message_size)]
    pub max_message_size: u32,
    /// Consumers per channel [default: none]
    #[arg(long, value_name = "N", env = "WARREN_CONSUMER_MAX_PER_CHANNEL", value_parser = whole("a whole number", 0..=u32::MAX))]
    pub consumer_max_per_channel: Option<u32>,
    /// Open connections per vhost, as the vhost limit max-connections [default: none]
    #[arg(long, value_name = "N", env = "WARREN_MAX_CONNECTIONS", value_parser = whole("a whole number", 0..=u32::MAX))]
    pub max_connections: Option<u32>,
    /// Queues per vhost, as the vhost limit max-queues [default: none]
    #[arg(long, value_name = "N", env = "WARREN_MAX_QUEUES", value_parser = whole("a whole number", 0..=u32::MAX))]
    pub max_queues: Option<u32>,
    /// Publishes each vhost's routing trace keeps (GET /api/warren/trace/VHOST); 0 turns it off
    #[arg(long, value_name = "N", env = "WARREN_TRACE_SIZE", default_value_t = DEFAULT_TRACE_SIZE, value_parser = whole("a whole number", 0..=1_000_000usize))]
    pub trace_size: usize,
    /// Connections between TCP accept and connection.open; newer ones are closed at once
    #[arg(long, value_name = "N", env = "WARREN_MAX_HANDSHAKES", default_value_t = DEFAULT_MAX_HANDSHAKES, value_parser = whole("a whole number", 1..=u32::MAX as usize))]
    pub max_handshakes: usize,
}

#[derive(Debug, Clone, PartialEq, Args)]
pub struct TlsOptions {
    /// PEM certificate chain, server certificate first
    #[arg(long, value_name = "FILE", env = "WARREN_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Its PEM private key (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", env = "WARREN_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// amqps port
    #[arg(long, value_name = "N", env = "WARREN_TLS_PORT", default_value_t = DEFAULT_TLS_PORT, value_parser = port)]
    pub tls_port: u16,
    /// amqps address, repeatable (comma-separated in WARREN_TLS_BIND) [default: the --bind
    /// addresses]
    #[arg(long, value_name = "ADDR", env = "WARREN_TLS_BIND", value_delimiter = ',', value_parser = parse_ip)]
    pub tls_bind: Vec<IpAddr>,
}

/// Reads the command line (without the program name) and the environment.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    let mut command = command();
    let program = std::iter::once(OsString::from("warren"));
    let matches = command
        .try_get_matches_from_mut(program.chain(args.iter().cloned()))
        .map_err(|e| name_the_variable(e, &command, &args))?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    match cli.command {
        Some(Subcommands::HashPassword { password }) => Ok(Command::HashPassword(password)),
        Some(Subcommands::Ctl(ctl)) => Ok(Command::Ctl(ctl)),
        None => match cli.serve.check() {
            Ok(()) => Ok(Command::Serve(cli.serve)),
            Err(message) => Err(command.error(ErrorKind::ArgumentConflict, message)),
        },
    }
}

/// The clap command, without the variables that are set to the empty string.
fn command() -> clap::Command {
    Cli::command()
        .mut_args(unset_if_empty)
        .mut_subcommand("ctl", |ctl| ctl.mut_args(unset_if_empty))
}

fn unset_if_empty(arg: clap::Arg) -> clap::Arg {
    let empty = arg
        .get_env()
        .and_then(std::env::var_os)
        .is_some_and(|value| value.is_empty());
    if empty {
        arg.env(None::<&'static str>)
    } else {
        arg
    }
}

/// Whether the command line is `warren ctl ...` (whose usage errors exit as rabbitmqctl's).
pub fn is_ctl(args: &[OsString]) -> bool {
    args.first().is_some_and(|first| first == "ctl")
}

/// clap names the flag of a bad value; when the value came from the flag's variable, say so.
fn name_the_variable(
    mut error: clap::Error,
    command: &clap::Command,
    args: &[OsString],
) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return error;
    }
    let Some(ContextValue::String(invalid)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    // "--port <N>"
    let flag = invalid.split(' ').next().unwrap_or_default().to_owned();
    let given = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    let variable = command
        .get_arguments()
        .find(|arg| {
            arg.get_long()
                .is_some_and(|long| flag == format!("--{long}"))
        })
        .and_then(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned());
    if let (false, Some(variable)) = (given, variable) {
        error.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![format!(
                "the value comes from {variable}: correct or unset it, or give {flag}"
            )
            .into()]),
        );
    }
    error
}

impl Options {
    /// What clap cannot say alone: which settings exclude or need each other.
    fn check(&self) -> Result<(), &'static str> {
        if self.definitions.is_some() && (self.user.is_some() || self.password.is_some()) {
            return Err(
                "--definitions (WARREN_DEFINITIONS) defines the users: drop --user and \
                 --password (WARREN_USER, WARREN_PASSWORD), or add the user to the file",
            );
        }
        let tls = &self.tls;
        match (&tls.tls_cert, &tls.tls_key) {
            (Some(_), Some(_)) => Ok(()),
            (Some(_), None) | (None, Some(_)) => Err(
                "--tls-cert and --tls-key (WARREN_TLS_CERT, WARREN_TLS_KEY) go together: give \
                 both to serve amqps, or neither",
            ),
            (None, None) if !tls.tls_bind.is_empty() || tls.tls_port != DEFAULT_TLS_PORT => {
                Err("--tls-port and --tls-bind need --tls-cert and --tls-key")
            }
            (None, None) => Ok(()),
        }
    }

    /// The limits the broker enforces.
    pub fn limits(&self) -> Limits {
        let l = &self.limits;
        Limits {
            channel_max: l.channel_max,
            max_message_size: l.max_message_size,
            consumers_per_channel: l.consumer_max_per_channel,
            vhost: VHostLimits {
                max_connections: l.max_connections,
                max_queues: l.max_queues,
            },
            trace_size: l.trace_size,
        }
    }

    /// The certificate and key files, when amqps is on.
    pub fn tls_files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls.tls_cert.as_ref().zip(self.tls.tls_key.as_ref())
    }

    /// Where amqps listens: `--tls-bind`, or the plain listeners' addresses.
    pub fn tls_addresses(&self) -> Vec<SocketAddr> {
        let ips = if self.tls.tls_bind.is_empty() {
            self.ips()
        } else {
            self.tls.tls_bind.clone()
        };
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, self.tls.tls_port))
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
        address.is_ipv6() && !self.bind.contains(&ip) && !self.tls.tls_bind.contains(&ip)
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| {
            "not an IP address: give one such as 127.0.0.1 or ::1 (host names are not resolved)"
                .into()
        })
}

/// A value parser for a whole number in `range`; `what` names it in the error.
fn whole<T>(
    what: &'static str,
    range: RangeInclusive<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    move |text| match text.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "not {what} from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn port(text: &str) -> Result<u16, String> {
    whole("a port number", 0..=u16::MAX)(text)
}

fn message_size(text: &str) -> Result<u32, String> {
    match warren::parse_size(text) {
        Some(size) if size <= u64::from(MAX_MESSAGE_SIZE_CEILING) => Ok(size as u32),
        Some(_) => Err(format!(
            "over {MAX_MESSAGE_SIZE_CEILING} bytes (512MiB), RabbitMQ's ceiling for max_message_size"
        )),
        None => Err(
            "not a size: give bytes (134217728) or a number with kB, KiB, MB, MiB, GB or GiB \
             (128MiB)"
                .into(),
        ),
    }
}

fn parse_names(text: &str) -> Result<Names, String> {
    if text.trim() == "none" {
        return Ok(Names(Vec::new()));
    }
    Ok(Names(
        text.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    fn serve(args: &[&str]) -> Result<Options, String> {
        match parse_args(args)? {
            Command::Serve(options) => Ok(options),
            Command::HashPassword(_) | Command::Ctl(_) => Err("not serve".into()),
        }
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_libraries() {
        let options = serve(&[]).expect("valid");
        assert_eq!(options.port, 5672);
        assert_eq!(options.limits(), Limits::default());
        assert_eq!(options.limits.max_handshakes, DEFAULT_MAX_HANDSHAKES);
        assert_eq!(options.memory_high_watermark, Watermark::default());
        assert_eq!(options.loopback_users, Names(vec!["guest".into()]));
        assert_eq!(options.tls.tls_port, DEFAULT_TLS_PORT);
        assert_eq!(options.addresses().len(), 2, "127.0.0.1 and ::1");
        assert!(options.is_optional(&"[::1]:5672".parse().expect("addr")));
    }

    #[test]
    fn flags_override_defaults() {
        let options = serve(&[
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
        let options = serve(&["--bind", "127.0.0.1", "--bind", "[::1]"]).expect("valid");
        assert_eq!(options.bind.len(), 2, "--bind adds up");
        assert!(!options.is_optional(&"[::1]:5672".parse().expect("addr")));
        let options = serve(&["--port", "1", "--port", "2"]).expect("valid");
        assert_eq!(options.port, 2, "the last one wins, as before clap");
    }

    #[test]
    fn limits_and_tls_flags_are_read() {
        let options = serve(&[
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
            "--memory-high-watermark",
            "512MiB",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--tls-bind",
            "127.0.0.1",
        ])
        .expect("valid");
        let limits = options.limits();
        assert_eq!(limits.channel_max, 16);
        assert_eq!(limits.max_message_size, 1 << 20);
        assert_eq!(limits.consumers_per_channel, Some(8));
        assert_eq!(limits.vhost.max_connections, Some(0));
        assert_eq!(limits.vhost.max_queues, Some(100));
        assert_eq!(options.limits.max_handshakes, 10);
        assert_eq!(options.memory_high_watermark, Watermark::Bytes(512 << 20));
        assert!(options.tls_files().is_some());
        assert_eq!(
            options.tls_addresses(),
            vec!["127.0.0.1:5671".parse().expect("addr")]
        );
    }

    #[test]
    fn definitions_loopback_users_and_hash_password() {
        let options =
            serve(&["--definitions", "defs.json", "--loopback-users", "a, b"]).expect("valid");
        assert_eq!(options.definitions, Some("defs.json".into()));
        assert_eq!(options.loopback_users, Names(vec!["a".into(), "b".into()]));
        let options = serve(&["--loopback-users=none"]).expect("valid");
        assert!(options.loopback_users.0.is_empty());
        assert!(matches!(
            parse_args(&["hash-password", "s3cret"]),
            Ok(Command::HashPassword(Some(p))) if p == "s3cret"
        ));
        assert!(matches!(
            parse_args(&["hash-password"]),
            Ok(Command::HashPassword(None))
        ));
        assert!(
            parse_args(&["hash-password", "a", "b"]).is_err(),
            "one password"
        );
        assert!(
            parse_args(&["--port", "1", "hash-password", "a"]).is_err(),
            "flags are for serving"
        );
    }

    #[test]
    fn ctl_takes_rabbitmqctl_options_before_and_after_the_verb() {
        for args in [
            &[
                "ctl",
                "-q",
                "add_user",
                "app",
                "s3cret",
                "--username",
                "admin",
            ][..],
            &["ctl", "add_user", "app", "s3cret", "-q", "--username=admin"],
        ] {
            let Ok(Command::Ctl(ctl)) = parse_args(args) else {
                panic!("{args:?} is a ctl verb");
            };
            let text = format!("{ctl:?}");
            // The user added is not the user who acts (their arguments have distinct ids).
            assert!(text.contains(r#"username: "admin""#), "{text}");
            assert!(text.contains(r#"user: "app""#), "{text}");
            assert!(text.contains("quiet: true"), "{text}");
        }
        assert!(
            parse_args(&["ctl", "purge_queue"]).is_err(),
            "a queue is needed"
        );
        assert!(is_ctl(&["ctl".into()]) && !is_ctl(&["--port".into()]));
    }

    #[test]
    fn bad_values_and_settings_say_what_is_wrong() {
        for (args, expected) in [
            (
                &["--port", "http"][..],
                &[
                    "invalid value 'http' for '--port <N>'",
                    "not a port number from 0 to 65535",
                ][..],
            ),
            (&["--port"], &["a value is required for '--port <N>'"]),
            (
                &["--bind", "localhost"],
                &["'--bind <ADDR>'", "not an IP address"],
            ),
            (&["--frobnicate"], &["unexpected argument '--frobnicate'"]),
            (
                &["--max-message-size", "1GiB"],
                &["'--max-message-size <SIZE>'", "RabbitMQ's ceiling"],
            ),
            (&["--max-message-size", "big"], &["not a size: give bytes"]),
            (
                &["--channel-max", "0"],
                &["'--channel-max <N>'", "not a whole number from 1 to 65535"],
            ),
            (
                &["--memory-high-watermark", "lots"],
                &["a fraction of RAM such as 0.4, or a size such as 512MiB"],
            ),
            (&["--tls-cert", "cert.pem"], &["go together"]),
            (&["--tls-port", "5999"], &["need --tls-cert"]),
            (
                &["--definitions", "d.json", "--user", "u"],
                &["drop --user"],
            ),
        ] {
            let error = serve(args).expect_err("must be refused");
            for text in expected {
                assert!(error.contains(text), "{args:?}: {error}");
            }
        }
    }
}
