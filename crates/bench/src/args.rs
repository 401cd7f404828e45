//! The command line: `warren-bench SCENARIO [--option value]...`, parsed by hand (`--opt v` or
//! `--opt=v`). Defaults depend on the scenario (`latency` has a rate, `fanout` ten queues...).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::url::AmqpUrl;

pub const USAGE: &str = "\
usage: warren-bench SCENARIO [OPTIONS]

Load tool for AMQP 0-9-1 brokers (Warren, RabbitMQ...). Prints one JSON line per run on stdout;
exits 1 when a check fails (lost, duplicated, reordered, misrouted or unconfirmed messages), 2 on
a usage error. Only loopback addresses are accepted.

scenarios:
  throughput  P publishers -> exchange -> one queue -> C consumers, as fast as possible
  latency     like throughput at a fixed --rate (default 10000 msg/s); publish->deliver percentiles
  fanout      one routing key matched by --queues queues, one consumer each
  bindings    --queues queues x --bindings Wazo-like topic bindings each; every delivery is checked
              against its queue's patterns
  churn       connections (and --channels channels each) opened and closed, per second
  soak        --connections connections x --channels channels (half publish with confirms to
              --queues queues, half consume with manual acks) for --duration, while a chaos loop
              drops a random connection's socket every ~--kill-interval; dropped connections
              reconnect. Fails on a confirmed message never delivered and acked, a message
              delivered twice without `redelivered`, or a broker-side error
  idle-connections
              --connections connections opened (handshake, --channels channels) and held: the
              broker's RSS per connection (needs `ulimit -n` above --connections)
  backlog     --max-messages messages of --size published with confirms into a queue without
              consumer (the broker's RSS per queued message), then drained and checked
  retention   --max-messages messages of --size published with confirms to a topic exchange: one in
              --retain-every to a queue without consumer, the rest to a queue with one consumer;
              the broker's RSS per retained message, 10 s after the drain. Checks the retained
              count (queue.declare passive) and every consumed message
  requeue     a no-ack consumer that never reads its socket, then --max-messages messages of --size
              published with confirms to its queue; then the consumer's socket is dropped: the
              broker's RSS with the queue full, its peak over the 5 s after the death (what
              requeueing what was buffered for the consumer costs), and after; the messages put
              back, and those that went with the consumer
  startup     starts the broker command given after `--`, reports the milliseconds until
              --url's port accepts and until an AMQP handshake completes, and its idle RSS
              (of --pid-file's pid, else the command's); then stops it with SIGTERM
  selftest    throughput against an in-process trivial sink: the tool's own ceiling
  sink        serve the trivial sink on 127.0.0.1:--port until SIGINT or SIGTERM

options (default):
  --url URL                 broker (amqp://guest:guest@127.0.0.1:5672/%2F)
  --duration SECS           publishing time, decimals allowed (10)
  --max-messages N          stop publishing after N messages in all (10000000)
  --drain-timeout SECS      after publishing, wait this long without progress for the rest (5)
  --publishers P            publishing connections, one channel each (1)
  --consumers C             consumers on the queue, one connection each (1; throughput/latency)
  --size BYTES              body size, at least 54; a Wazo call_created JSON event padded (300)
  --rate MSGS               total msg/s over all publishers; 0 = unlimited (0; latency: 10000)
  --confirm WINDOW          publisher confirms, at most WINDOW unconfirmed per publisher
  --autoack                 consume with no-ack (default: manual ack, multiple=true every
                            prefetch/4 deliveries)
  --prefetch N              basic.qos prefetch per consumer with manual ack (1000)
  --exchange-type T         topic|direct|fanout|headers (topic)
  --exchange NAME           exchange to declare and publish to (warren-bench.T)
  --routing-key KEY         (calls.call.created)
  --binding-key KEY         (topic: calls.#; direct: the routing key; fanout/headers: empty)
  --queues N                fanout: queues (10); bindings: queues (100)
  --retain-every R          retention: one message in R goes to the queue nobody consumes (100)
  --bindings K              bindings: bindings per queue (10)
  --active-users N          bindings: publish only the keys of the first N users, as a bus
                            where few of the bound users are busy (all)
  --consumer-connections N  fanout/bindings: connections the consumers are spread over (4)
  --connections N           churn: concurrent open/close loops (4); soak: connections (20);
                            idle-connections: connections held (10000)
  --channels K              churn: channels opened and closed per connection (1); soak:
                            channels per connection (4); idle-connections: (0)
  --kill-interval SECS      soak: mean time between two connection kills; 0: no chaos (0.5)
  --pid-file PATH           startup: read the broker's pid from this file (RabbitMQ's)
  --batch N                 most messages per socket write (256)
  --threads N               runtime worker threads (the number of CPUs)
  --broker-pid PID          report the broker's CPU seconds per message and RSS from /proc/PID
  --label TEXT              copied into the JSON line (e.g. the broker's name)
  --port N                  sink: port to listen on (0: any; the address goes to stderr)
  --help

Defaults differ for soak (--duration 60 --queues 4 --rate 5000 --confirm 256 --prefetch 100)
and backlog, retention and requeue (--max-messages 1000000 --confirm 1000 --duration 600: publishing
stops at the first of the two).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Throughput,
    Latency,
    Fanout,
    Bindings,
    Churn,
    Selftest,
    Sink,
    Soak,
    IdleConnections,
    Backlog,
    Retention,
    Requeue,
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

    fn parse(s: &str) -> Option<Scenario> {
        Some(match s {
            "throughput" => Scenario::Throughput,
            "latency" => Scenario::Latency,
            "fanout" => Scenario::Fanout,
            "bindings" => Scenario::Bindings,
            "churn" => Scenario::Churn,
            "selftest" => Scenario::Selftest,
            "sink" => Scenario::Sink,
            "soak" => Scenario::Soak,
            "idle-connections" => Scenario::IdleConnections,
            "backlog" => Scenario::Backlog,
            "retention" => Scenario::Retention,
            "requeue" => Scenario::Requeue,
            "startup" => Scenario::Startup,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// startup: the broker's command line (after `--`).
    pub command: Vec<String>,
}

#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";
pub const DEFAULT_ROUTING_KEY: &str = "calls.call.created";

impl Options {
    pub fn defaults(scenario: Scenario) -> Result<Options> {
        let soak = scenario == Scenario::Soak;
        // Bounded by a message count, with confirms: every message counts in the memory.
        let counted = matches!(
            scenario,
            Scenario::Backlog | Scenario::Retention | Scenario::Requeue
        );
        Ok(Options {
            scenario,
            url: AmqpUrl::parse(DEFAULT_URL)?,
            duration: Duration::from_secs(match scenario {
                Scenario::Soak => 60,
                _ if counted => 600,
                _ => 10,
            }),
            max_messages: if counted { 1_000_000 } else { 10_000_000 },
            drain_timeout: Duration::from_secs(5),
            publishers: 1,
            consumers: 1,
            size: 300,
            rate: match scenario {
                Scenario::Latency => Some(10_000),
                Scenario::Soak => Some(5_000),
                _ => None,
            },
            confirm: match scenario {
                Scenario::Soak => Some(256),
                _ if counted => Some(1000),
                _ => None,
            },
            autoack: false,
            prefetch: if soak { 100 } else { 1000 },
            exchange_kind: ExchangeKind::Topic,
            exchange: String::new(),
            routing_key: DEFAULT_ROUTING_KEY.to_owned(),
            binding_key: String::new(),
            queues: match scenario {
                Scenario::Bindings => 100,
                Scenario::Soak => 4,
                _ => 10,
            },
            retain_every: 100,
            bindings: 10,
            active_users: None,
            consumer_connections: 4,
            connections: match scenario {
                Scenario::Soak => 20,
                Scenario::IdleConnections => 10_000,
                _ => 4,
            },
            channels: match scenario {
                Scenario::Soak => 4,
                Scenario::IdleConnections => 0,
                _ => 1,
            },
            batch: 256,
            threads: None,
            broker_pid: None,
            label: None,
            port: 0,
            kill_interval: Duration::from_millis(500),
            pid_file: None,
            command: Vec::new(),
        })
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut args = args.into_iter();
    let first = match args.next() {
        None => return Err(Error::usage("no scenario given")),
        Some(a) if a == "--help" || a == "-h" || a == "help" => return Ok(Command::Help),
        Some(a) => a,
    };
    let scenario = Scenario::parse(&first)
        .ok_or_else(|| Error::usage(format!("unknown scenario '{first}'")))?;
    let mut o = Options::defaults(scenario)?;
    let mut binding_key = None;
    let mut exchange = None;
    while let Some(arg) = args.next() {
        if arg == "--" {
            o.command = args.by_ref().collect();
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let is_flag = matches!(name.as_str(), "--autoack" | "--help" | "-h");
        if is_flag {
            if inline.is_some() {
                return Err(Error::usage(format!("{name} takes no value")));
            }
            match name.as_str() {
                "--autoack" => o.autoack = true,
                _ => return Ok(Command::Help),
            }
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| Error::usage(format!("{name} needs a value")))?,
        };
        match name.as_str() {
            "--url" => o.url = AmqpUrl::parse(&value)?,
            "--duration" => o.duration = seconds(&name, &value)?,
            "--drain-timeout" => o.drain_timeout = seconds(&name, &value)?,
            "--max-messages" => o.max_messages = number(&name, &value, 1)?,
            "--publishers" => o.publishers = number(&name, &value, 1)?,
            "--consumers" => o.consumers = number(&name, &value, 1)?,
            "--size" => o.size = number(&name, &value, crate::payload::MIN_SIZE as u64)?,
            "--rate" => o.rate = Some(number(&name, &value, 0)?).filter(|&r| r > 0),
            "--confirm" => o.confirm = Some(number(&name, &value, 1)?),
            "--prefetch" => o.prefetch = number(&name, &value, 0)?,
            "--exchange-type" => {
                o.exchange_kind = match value.as_str() {
                    "topic" => ExchangeKind::Topic,
                    "direct" => ExchangeKind::Direct,
                    "fanout" => ExchangeKind::Fanout,
                    "headers" => ExchangeKind::Headers,
                    _ => return Err(Error::usage(format!("unknown exchange type '{value}'"))),
                }
            }
            "--exchange" => exchange = Some(value),
            "--routing-key" => o.routing_key = value,
            "--binding-key" => binding_key = Some(value),
            "--queues" => o.queues = number(&name, &value, 1)?,
            "--retain-every" => o.retain_every = number(&name, &value, 2)?,
            "--bindings" => o.bindings = number(&name, &value, 1)?,
            "--active-users" => o.active_users = Some(number(&name, &value, 1)?),
            "--consumer-connections" => o.consumer_connections = number(&name, &value, 1)?,
            "--connections" => o.connections = number(&name, &value, 1)?,
            "--channels" => o.channels = number(&name, &value, 0)?,
            "--batch" => o.batch = number(&name, &value, 1)?,
            "--threads" => o.threads = Some(number(&name, &value, 1)?),
            "--broker-pid" => o.broker_pid = Some(number(&name, &value, 1)?),
            "--label" => o.label = Some(value),
            "--port" => o.port = number(&name, &value, 0)?,
            "--kill-interval" => o.kill_interval = seconds(&name, &value)?,
            "--pid-file" => o.pid_file = Some(value),
            _ => return Err(Error::usage(format!("unknown option '{name}'"))),
        }
    }
    o.exchange = exchange.unwrap_or_else(|| format!("warren-bench.{}", o.exchange_kind.name()));
    o.binding_key = binding_key.unwrap_or_else(|| match o.exchange_kind {
        ExchangeKind::Topic => "calls.#".to_owned(),
        ExchangeKind::Direct => o.routing_key.clone(),
        ExchangeKind::Fanout | ExchangeKind::Headers => String::new(),
    });
    for (what, s) in [
        ("--exchange", &o.exchange),
        ("--routing-key", &o.routing_key),
        ("--binding-key", &o.binding_key),
    ] {
        if s.len() > 255 {
            return Err(Error::usage(format!("{what} is longer than 255 bytes")));
        }
    }
    if o.consumers > 1000 || o.publishers > 1000 {
        return Err(Error::usage("at most 1000 publishers and 1000 consumers"));
    }
    if o.command.is_empty() == (o.scenario == Scenario::Startup) {
        return Err(Error::usage(
            "startup needs the broker's command after `--`; no other scenario takes one",
        ));
    }
    Ok(Command::Run(Box::new(o)))
}

fn number<T: TryFrom<u64>>(name: &str, value: &str, min: u64) -> Result<T> {
    let n: u64 = value
        .replace('_', "")
        .parse()
        .map_err(|_| Error::usage(format!("{name}: '{value}' is not a whole number")))?;
    if n < min {
        return Err(Error::usage(format!("{name}: at least {min}")));
    }
    T::try_from(n).map_err(|_| Error::usage(format!("{name}: {value} is too large")))
}

fn seconds(name: &str, value: &str) -> Result<Duration> {
    let secs: f64 = value
        .parse()
        .map_err(|_| Error::usage(format!("{name}: '{value}' is not a number of seconds")))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(Error::usage(format!("{name}: between 0 and 86400 seconds")));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(o) => Ok(*o),
            Command::Help => Err(Error::usage("help")),
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
        assert_eq!(o.binding_key, "k", "direct binds the routing key");
        assert_eq!(o.broker_pid, Some(42));
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
    fn errors_and_help() {
        assert!(run(&[]).is_err());
        assert!(run(&["nope"]).is_err());
        assert!(
            run(&["throughput", "--size", "10"]).is_err(),
            "below MIN_SIZE"
        );
        assert!(
            run(&["throughput", "--publishers"]).is_err(),
            "missing value"
        );
        assert!(run(&["throughput", "--bogus", "1"]).is_err());
        assert!(run(&["throughput", "--autoack=1"]).is_err());
        assert!(run(&["throughput", "--exchange-type", "x"]).is_err());
        assert!(matches!(
            parse(["throughput".to_string(), "--help".to_string()]),
            Ok(Command::Help)
        ));
    }
}
