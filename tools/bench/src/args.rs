//! The command line: `warren-bench SCENARIO [OPTIONS] [-- BROKER COMMAND]`, read by clap.
//! Some defaults depend on the scenario (`latency` has a rate, `fanout` ten queues...): clap
//! leaves those options unset and [`Options`] fills them in for the scenario.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, ValueEnum};

use crate::error::Result;
use crate::url::AmqpUrl;

/// What `warren-bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// P publishers -> exchange -> one queue -> C consumers, as fast as possible
    Throughput,
    /// Like throughput at a fixed --rate (default 10000 msg/s); publish->deliver percentiles
    Latency,
    /// One routing key matched by --queues queues, one consumer each
    Fanout,
    /// --queues queues x --bindings Wazo-like topic bindings each; every delivery is checked
    /// against its queue's patterns
    Bindings,
    /// Connections (and --channels channels each) opened and closed, per second
    Churn,
    /// Throughput against an in-process trivial sink: the tool's own ceiling
    Selftest,
    /// Serve the trivial sink on 127.0.0.1:--port until SIGINT or SIGTERM
    Sink,
    /// --connections connections x --channels channels (half publish with confirms to
    /// --queues queues, half consume with manual acks) for --duration, while a chaos loop drops
    /// a random connection's socket every ~--kill-interval; dropped connections reconnect.
    /// Fails on a confirmed message never delivered and acked, a message delivered twice
    /// without `redelivered`, or a broker-side error
    Soak,
    /// --connections connections opened (handshake, --channels channels) and held: the
    /// broker's RSS per connection (needs `ulimit -n` above --connections)
    IdleConnections,
    /// --max-messages messages of --size published with confirms into a queue without
    /// consumer (the broker's RSS per queued message), then drained and checked
    Backlog,
    /// --max-messages messages of --size published with confirms to a topic exchange: one in
    /// --retain-every to a queue without consumer, the rest to a queue with one consumer; the
    /// broker's RSS per retained message, 10 s after the drain. Checks the retained count
    /// (queue.declare passive) and every consumed message
    Retention,
    /// A no-ack consumer that never reads its socket, then --max-messages messages of --size
    /// published with confirms to its queue; then the consumer's socket is dropped: the
    /// broker's RSS with the queue full, its peak over the 5 s after the death (what requeueing
    /// what was buffered for the consumer costs), and after; the messages put back, and those
    /// that went with the consumer
    Requeue,
    /// Starts the broker command given after `--`, reports the milliseconds until --url's port
    /// accepts and until an AMQP handshake completes, and its idle RSS (of --pid-file's pid,
    /// else the command's); then stops it with SIGTERM
    Startup,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Throughput => "throughput",
            Scenario::Latency => "latency",
            Scenario::Fanout => "fanout",
            Scenario::Bindings => "bindings",
            Scenario::Churn => "churn",
            Scenario::Selftest => "selftest",
            Scenario::Sink => "sink",
            Scenario::Soak => "soak",
            Scenario::IdleConnections => "idle-connections",
            Scenario::Backlog => "backlog",
            Scenario::Retention => "retention",
            Scenario::Requeue => "requeue",
            Scenario::Startup => "startup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExchangeKind {
    Topic,
    Direct,
    Fanout,
    Headers,
}

impl ExchangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ExchangeKind::Topic => "topic",
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Headers => "headers",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub scenario: Scenario,
    pub url: AmqpUrl,
    pub duration: Duration,
    pub max_messages: u64,
    pub drain_timeout: Duration,
    pub publishers: usize,
    pub consumers: usize,
    pub size: usize,
    /// Total msg/s over all publishers; `None`: as fast as possible.
    pub rate: Option<u64>,
    /// Publisher confirms with this many unconfirmed messages at most per publisher.
    pub confirm: Option<u32>,
    pub autoack: bool,
    pub prefetch: u16,
    pub exchange_kind: ExchangeKind,
    pub exchange: String,
    pub routing_key: String,
    pub binding_key: String,
    pub queues: usize,
    /// retention: one message in this many goes to the queue nobody consumes.
    pub retain_every: u64,
    pub bindings: usize,
    /// bindings: the users (queues) whose keys are published; `None`: all.
    pub active_users: Option<usize>,
    pub consumer_connections: usize,
    pub connections: usize,
    pub channels: usize,
    pub batch: usize,
    pub threads: Option<usize>,
    pub broker_pid: Option<u32>,
    pub label: Option<String>,
    pub port: u16,
    /// soak: mean time between kills; zero: no chaos.
    pub kill_interval: Duration,
    pub pid_file: Option<String>,
    /// startup: also time the first HTTP 200 from `/api/overview` on this loopback port.
    pub http_port: Option<u16>,
    /// startup: the broker's command line (after `--`).
    pub command: Vec<String>,
}

pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
pub const DEFAULT_ROUTING_KEY: &str = "calls.call.created";

/// The most publishers, and the most consumers, a run may have.
const MAX_CLIENTS: u64 = 1000;

/// The command line as clap reads it; `None`: the scenario's default.
#[derive(Debug, Parser)]
#[command(
    name = "warren-bench",
    version,
    about = "Load tool for AMQP 0-9-1 brokers (Warren, RabbitMQ...).",
    long_about = "Load tool for AMQP 0-9-1 brokers (Warren, RabbitMQ...). Prints one JSON line \
                  per run on stdout; exits 1 when a check fails (lost, duplicated, reordered, \
                  misrouted or unconfirmed messages), 2 on a usage error. Only loopback \
                  addresses are accepted.",
    after_help = "Defaults differ for soak (--duration 60 --queues 4 --rate 5000 --confirm 256 \
                  --prefetch 100) and backlog, retention and requeue (--max-messages 1000000 \
                  --confirm 1000 --duration 600: publishing stops at the first of the two).",
    args_override_self = true,
    max_term_width = 100
)]
struct Cli {
    /// What to run
    #[arg(value_enum, value_name = "SCENARIO")]
    scenario: Scenario,
    /// startup: the broker's command line, after `--`
    #[arg(last = true, value_name = "BROKER_COMMAND")]
    command: Vec<String>,
    /// Broker
    #[arg(long, value_name = "URL", default_value = DEFAULT_URL, value_parser = url)]
    url: AmqpUrl,
    /// Publishing time, decimals allowed [default: 10]
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    duration: Option<Duration>,
    /// Stop publishing after N messages in all [default: 10000000]
    #[arg(long, value_name = "N", value_parser = whole::<u64>(1, u64::MAX))]
    max_messages: Option<u64>,
    /// After publishing, wait this long without progress for the rest
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    drain_timeout: Duration,
    /// Publishing connections, one channel each
    #[arg(long, value_name = "P", default_value = "1", value_parser = whole::<usize>(1, MAX_CLIENTS))]
    publishers: usize,
    /// Consumers on the queue, one connection each (throughput/latency)
    #[arg(long, value_name = "C", default_value = "1", value_parser = whole::<usize>(1, MAX_CLIENTS))]
    consumers: usize,
    /// Body size, at least 54: a Wazo call_created JSON event padded
    #[arg(long, value_name = "BYTES", default_value = "300", value_parser = whole::<usize>(crate::payload::MIN_SIZE as u64, u64::MAX))]
    size: usize,
    /// Total msg/s over all publishers; 0 = unlimited [default: 0; latency: 10000]
    #[arg(long, value_name = "MSGS", value_parser = whole::<u64>(0, u64::MAX))]
    rate: Option<u64>,
    /// Publisher confirms, at most WINDOW unconfirmed per publisher [default: none]
    #[arg(long, value_name = "WINDOW", value_parser = whole::<u32>(1, u64::MAX))]
    confirm: Option<u32>,
    /// Consume with no-ack [default: manual ack, multiple=true every prefetch/4 deliveries]
    #[arg(long)]
    autoack: bool,
    /// basic.qos prefetch per consumer with manual ack [default: 1000]
    #[arg(long, value_name = "N", value_parser = whole::<u16>(0, u64::MAX))]
    prefetch: Option<u16>,
    /// Exchange type
    #[arg(long = "exchange-type", value_name = "T", value_enum, default_value_t = ExchangeKind::Topic)]
    exchange_kind: ExchangeKind,
    /// Exchange to declare and publish to [default: warren-bench.T]
    #[arg(long, value_name = "NAME", value_parser = short_string)]
    exchange: Option<String>,
    /// Routing key of the publishes
    #[arg(long, value_name = "KEY", default_value = DEFAULT_ROUTING_KEY, value_parser = short_string)]
    routing_key: String,
    /// Binding key of the queues [default: topic: calls.#; direct: the routing key;
    /// fanout/headers: empty]
    #[arg(long, value_name = "KEY", value_parser = short_string)]
    binding_key: Option<String>,
    /// fanout: queues [default: 10]; bindings: queues [default: 100]
    #[arg(long, value_name = "N", value_parser = whole::<usize>(1, u64::MAX))]
    queues: Option<usize>,
    /// retention: one message in R goes to the queue nobody consumes
    #[arg(long, value_name = "R", default_value = "100", value_parser = whole::<u64>(2, u64::MAX))]
    retain_every: u64,
    /// bindings: bindings per queue
    #[arg(long, value_name = "K", default_value = "10", value_parser = whole::<usize>(1, u64::MAX))]
    bindings: usize,
    /// bindings: publish only the keys of the first N users, as a bus where few of the bound
    /// users are busy [default: all]
    #[arg(long, value_name = "N", value_parser = whole::<usize>(1, u64::MAX))]
    active_users: Option<usize>,
    /// fanout/bindings: connections the consumers are spread over
    #[arg(long, value_name = "N", default_value = "4", value_parser = whole::<usize>(1, u64::MAX))]
    consumer_connections: usize,
    /// churn: concurrent open/close loops [default: 4]; soak: connections [default: 20];
    /// idle-connections: connections held [default: 10000]
    #[arg(long, value_name = "N", value_parser = whole::<usize>(1, u64::MAX))]
    connections: Option<usize>,
    /// churn: channels opened and closed per connection [default: 1]; soak: channels per
    /// connection [default: 4]; idle-connections: [default: 0]
    #[arg(long, value_name = "K", value_parser = whole::<usize>(0, u64::MAX))]
    channels: Option<usize>,
    /// soak: mean time between two connection kills; 0: no chaos
    #[arg(long, value_name = "SECS", default_value = "0.5", value_parser = seconds)]
    kill_interval: Duration,
    /// startup: read the broker's pid from this file (RabbitMQ's)
    #[arg(long, value_name = "PATH")]
    pid_file: Option<String>,
    /// startup: also time the first HTTP 200 from GET /api/overview on this port (the
    /// management API, with --url's user and password)
    #[arg(long, value_name = "N", value_parser = whole::<u16>(1, u64::MAX))]
    http_port: Option<u16>,
    /// Most messages per socket write
    #[arg(long, value_name = "N", default_value = "256", value_parser = whole::<usize>(1, u64::MAX))]
    batch: usize,
    /// Runtime worker threads [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = whole::<usize>(1, u64::MAX))]
    threads: Option<usize>,
    /// Report the broker's CPU seconds per message and RSS from /proc/PID
    #[arg(long, value_name = "PID", value_parser = whole::<u32>(1, u64::MAX))]
    broker_pid: Option<u32>,
    /// Copied into the JSON line (e.g. the broker's name)
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// sink: port to listen on (0: any; the address goes to stderr)
    #[arg(long, value_name = "N", default_value = "0", value_parser = whole::<u16>(0, u64::MAX))]
    port: u16,
}

impl Options {
    /// The options of `scenario` when none is given.
    pub fn defaults(scenario: Scenario) -> Result<Options> {
        let cli = Cli::try_parse_from(["warren-bench", scenario.name()])
            .map_err(|e| crate::error::Error::usage(e.to_string()))?;
        Ok(cli.options())
    }
}

impl Cli {
    /// The options, with the scenario's defaults where none was given.
    fn options(self) -> Options {
        let scenario = self.scenario;
        // Bounded by a message count, with confirms: every message counts in the memory.
        let counted = matches!(
            scenario,
            Scenario::Backlog | Scenario::Retention | Scenario::Requeue
        );
        let exchange_kind = self.exchange_kind;
        Options {
            scenario,
            url: self.url,
            duration: self.duration.unwrap_or(Duration::from_secs(match scenario {
                Scenario::Soak => 60,
                _ if counted => 600,
                _ => 10,
            })),
            max_messages: self
                .max_messages
                .unwrap_or(if counted { 1_000_000 } else { 10_000_000 }),
            drain_timeout: self.drain_timeout,
            publishers: self.publishers,
            consumers: self.consumers,
            size: self.size,
            rate: match self.rate {
                Some(rate) => Some(rate).filter(|&r| r > 0),
                None => match scenario {
                    Scenario::Latency => Some(10_000),
                    Scenario::Soak => Some(5_000),
                    _ => None,
                },
            },
            confirm: self.confirm.or(match scenario {
                Scenario::Soak => Some(256),
                _ if counted => Some(1000),
                _ => None,
            }),
            autoack: self.autoack,
            prefetch: self.prefetch.unwrap_or(if scenario == Scenario::Soak {
                100
            } else {
                1000
            }),
            exchange_kind,
            exchange: self
                .exchange
                .unwrap_or_else(|| format!("warren-bench.{}", exchange_kind.name())),
            binding_key: self.binding_key.unwrap_or_else(|| match exchange_kind {
                ExchangeKind::Topic => "calls.#".to_owned(),
                ExchangeKind::Direct => self.routing_key.clone(),
                ExchangeKind::Fanout | ExchangeKind::Headers => String::new(),
            }),
            routing_key: self.routing_key,
            queues: self.queues.unwrap_or(match scenario {
                Scenario::Bindings => 100,
                Scenario::Soak => 4,
                _ => 10,
            }),
            retain_every: self.retain_every,
            bindings: self.bindings,
            active_users: self.active_users,
            consumer_connections: self.consumer_connections,
            connections: self.connections.unwrap_or(match scenario {
                Scenario::Soak => 20,
                Scenario::IdleConnections => 10_000,
                _ => 4,
            }),
            channels: self.channels.unwrap_or(match scenario {
                Scenario::Soak => 4,
                Scenario::IdleConnections => 0,
                _ => 1,
            }),
            batch: self.batch,
            threads: self.threads,
            broker_pid: self.broker_pid,
            label: self.label,
            port: self.port,
            kill_interval: self.kill_interval,
            pid_file: self.pid_file,
            http_port: self.http_port,
            command: self.command,
        }
    }
}

/// Reads the arguments after the program name. `--help` and `--version` are errors of their
/// own kind, which clap prints on stdout (exit code 0).
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
) -> std::result::Result<Options, clap::Error> {
    let program = std::iter::once(OsString::from("warren-bench"));
    let options = Cli::try_parse_from(program.chain(args))?.options();
    if options.command.is_empty() == (options.scenario == Scenario::Startup) {
        return Err(Cli::command().error(
            ErrorKind::ArgumentConflict,
            "startup needs the broker's command after `--`; no other scenario takes one",
        ));
    }
    Ok(options)
}

fn url(text: &str) -> std::result::Result<AmqpUrl, String> {
    AmqpUrl::parse(text).map_err(|e| e.to_string())
}

/// A value parser for a whole number from `min` to `max` (and what fits a `T`); `_` may
/// separate digits (`1_000_000`).
fn whole<T: TryFrom<u64>>(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> std::result::Result<T, String> + Clone + Send + Sync + 'static {
    move |text| {
        let n: u64 = text
            .replace('_', "")
            .parse()
            .map_err(|_| "not a whole number (digits, `_` allowed: 1_000_000)".to_owned())?;
        if n < min {
            return Err(format!("at least {min}"));
        }
        if n > max {
            return Err(format!("at most {max}"));
        }
        T::try_from(n).map_err(|_| "too large".to_owned())
    }
}

fn seconds(text: &str) -> std::result::Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if (0.0..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err("between 0 and 86400 seconds".to_owned()),
        Err(_) => Err("not a number of seconds (decimals allowed: 1.5)".to_owned()),
    }
}

/// An AMQP short string: an exchange name or a routing key.
fn short_string(text: &str) -> std::result::Result<String, String> {
    if text.len() > 255 {
        return Err("longer than 255 bytes, AMQP's limit for names and keys".to_owned());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> std::result::Result<Options, String> {
        parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
        for scenario in Scenario::value_variants() {
            let value = scenario.to_possible_value().expect("not skipped");
            assert_eq!(value.get_name(), scenario.name());
        }
        for kind in ExchangeKind::value_variants() {
            let value = kind.to_possible_value().expect("not skipped");
            assert_eq!(value.get_name(), kind.name());
        }
    }

    #[test]
    fn throughput_defaults() {
        let o = run(&["throughput"]).expect("parses");
        assert_eq!(o.scenario, Scenario::Throughput);
        assert_eq!((o.publishers, o.consumers, o.size), (1, 1, 300));
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!(o.rate, None);
        assert_eq!(o.exchange, "warren-bench.topic");
        assert_eq!(o.routing_key, "calls.call.created");
        assert_eq!(o.binding_key, "calls.#");
        assert_eq!(o.url.vhost, "/");
        assert_eq!(
            o,
            Options::defaults(Scenario::Throughput).expect("defaults")
        );
    }

    #[test]
    fn options_with_values_and_flags() {
        let o = run(&[
            "throughput",
            "--url",
            "amqp://guest:guest@127.0.0.1:5699/%2F",
            "--publishers=3",
            "--consumers",
            "2",
            "--size",
            "1_000",
            "--duration",
            "1.5",
            "--autoack",
            "--confirm",
            "500",
            "--exchange-type",
            "direct",
            "--routing-key",
            "k",
            "--broker-pid",
            "42",
        ])
        .expect("parses");
        assert_eq!(o.url.port, 5699);
        assert_eq!((o.publishers, o.consumers, o.size), (3, 2, 1000));
        assert_eq!(o.duration, Duration::from_millis(1500));
        assert!(o.autoack);
        assert_eq!(o.confirm, Some(500));
        assert_eq!(o.exchange_kind, ExchangeKind::Direct);
        assert_eq!(o.exchange, "warren-bench.direct");
        assert_eq!(o.binding_key, "k", "direct binds the routing key");
        assert_eq!(o.broker_pid, Some(42));
        let o = run(&["throughput", "--rate", "5", "--rate", "7"]).expect("parses");
        assert_eq!(o.rate, Some(7), "the last one wins, as scripts expect");
    }

    #[test]
    fn scenario_defaults() {
        assert_eq!(run(&["latency"]).expect("parses").rate, Some(10_000));
        assert_eq!(run(&["latency", "--rate", "0"]).expect("parses").rate, None);
        assert_eq!(run(&["bindings"]).expect("parses").queues, 100);
        assert_eq!(run(&["fanout"]).expect("parses").queues, 10);
        let soak = run(&["soak"]).expect("parses");
        assert_eq!((soak.connections, soak.channels, soak.queues), (20, 4, 4));
        assert_eq!((soak.confirm, soak.rate), (Some(256), Some(5000)));
        assert_eq!(
            (soak.duration, soak.prefetch),
            (Duration::from_secs(60), 100)
        );
        let backlog = run(&["backlog"]).expect("parses");
        assert_eq!(
            (backlog.max_messages, backlog.confirm),
            (1_000_000, Some(1000))
        );
        let retention = run(&["retention"]).expect("parses");
        assert_eq!(
            (retention.max_messages, retention.confirm),
            (1_000_000, Some(1000))
        );
        assert_eq!(retention.retain_every, 100);
        assert_eq!(
            run(&["idle-connections"]).expect("parses").connections,
            10_000
        );
    }

    #[test]
    fn startup_takes_a_command() {
        let o = run(&[
            "startup",
            "--pid-file",
            "/tmp/p",
            "--",
            "warren",
            "--port",
            "1",
        ])
        .expect("parses");
        assert_eq!(o.command, ["warren", "--port", "1"]);
        assert_eq!(o.pid_file.as_deref(), Some("/tmp/p"));
        assert!(run(&["startup"]).is_err(), "no command");
        assert!(
            run(&["throughput", "--", "x"]).is_err(),
            "a command elsewhere"
        );
    }

    #[test]
    fn errors_name_the_option_and_say_what_is_accepted() {
        let error = |args: &[&str]| run(args).expect_err("must be refused");
        assert!(error(&[]).contains("<SCENARIO>"));
        assert!(error(&["nope"]).contains("possible values: throughput, latency"));
        let below = error(&["throughput", "--size", "10"]);
        assert!(
            below.contains("'--size <BYTES>'") && below.contains("at least 54"),
            "{below}"
        );
        assert!(error(&["throughput", "--publishers"]).contains("'--publishers <P>'"));
        assert!(error(&["throughput", "--publishers", "1001"]).contains("at most 1000"));
        assert!(error(&["throughput", "--bogus", "1"]).contains("unexpected argument '--bogus'"));
        assert!(error(&["throughput", "--autoack=1"]).contains("--autoack"));
        assert!(error(&["throughput", "--exchange-type", "x"])
            .contains("possible values: topic, direct, fanout, headers"));
        assert!(error(&["throughput", "--duration", "soon"]).contains("not a number of seconds"));
        let long = "k".repeat(256);
        assert!(error(&["throughput", "--routing-key", &long]).contains("longer than 255 bytes"));
        let help = parse(["throughput", "--help"].map(OsString::from)).expect_err("help");
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
    }
}
