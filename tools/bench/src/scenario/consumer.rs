//! One consuming connection (one or more consumers, each on its own channel): reads with a
//! large buffer,
//! accounts every delivery (loss, duplicates, order, latency, routing), and acks batches of
//! deliveries with one `basic.ack multiple=true`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use warren_router::reference::topic_matches;
use warren_wire::{encode_method_frame, BasicAck, Frame, Method};

use crate::accounting::QueueLog;
use crate::client::{closed_error, write_some, Assembler, Client, Incoming, LeanFrame};
use crate::error::{Error, Result};
use crate::latency::Histogram;
use crate::payload;

/// What all consumers share.
pub struct ConsumerShared {
    pub start: Instant,
    pub autoack: bool,
    pub publishers: usize,
    /// The most messages one publisher can publish: larger sequence numbers are foreign.
    pub max_seq: u64,
    /// Per queue, the topic patterns every delivery's routing key must match (`bindings`).
    pub patterns: Option<Vec<Vec<String>>>,
    /// Deliveries seen for the first time on their consumer connection, over all consumers.
    pub fresh: AtomicU64,
    /// When the last delivery arrived, in nanoseconds since `start`.
    pub last_delivery_ns: AtomicU64,
    /// Manual acks: one `basic.ack multiple=true` per read, once this many deliveries are
    /// unacked (see [`ack_every`]).
    pub ack_every: u64,
}

impl ConsumerShared {
    /// After publishing: waits until `owed` fresh deliveries have arrived, none came for
    /// `quiet`, `deadline` passed, or `give_up` says so.
    pub async fn drain(
        &self,
        owed: u64,
        quiet: Duration,
        deadline: Instant,
        mut give_up: impl FnMut() -> bool,
    ) {
        let mut seen = self.fresh.load(Ordering::Relaxed);
        let mut progress = Instant::now();
        while seen < owed && Instant::now() < deadline && !give_up() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now_seen = self.fresh.load(Ordering::Relaxed);
            if now_seen != seen {
                seen = now_seen;
                progress = Instant::now();
            } else if progress.elapsed() >= quiet {
                break;
            }
        }
    }
}

/// A quarter of the prefetch window (256 without one): the broker always has three quarters
/// of its window left to deliver into while our ack travels, and acks cost it (and us) one
/// method per hundreds of messages. Per-read acks would degrade to one per message against a
/// broker that writes each delivery separately (RabbitMQ), when the consumer keeps up.
pub fn ack_every(prefetch: u16) -> u64 {
    match prefetch {
        0 => 256,
        p => u64::from(p / 4).max(1),
    }
}

pub struct ConsumerOutcome {
    /// (queue index, what arrived from it on this connection).
    pub logs: Vec<(usize, QueueLog)>,
    pub latency: Histogram,
}

/// The consumer tag for consumer `instance` of queue `queue`: `b<queue>.<instance>`.
pub fn consumer_tag(queue: usize, instance: usize) -> String {
    format!("b{queue}.{instance}")
}

/// One consumer: its channel (channel `i + 1` of the connection holds consumer `i`), so that
/// the deliveries of two consumers never share a channel's content-frame sequence nor its
/// delivery tags.
struct ChannelState {
    queue: usize,
    log: QueueLog,
    assembler: Assembler,
    last_tag: u64,
    acked: u64,
}

/// Consumes until `stop` changes (or its sender goes), then closes the connection.
/// `queues[i]`: the queue of the consumer on channel `i + 1`.
pub async fn run(
    mut client: Client,
    queues: Vec<usize>,
    shared: Arc<ConsumerShared>,
    mut stop: watch::Receiver<bool>,
) -> Result<ConsumerOutcome> {
    let mut channels: Vec<ChannelState> = queues
        .iter()
        .map(|&queue| ChannelState {
            queue,
            log: QueueLog::new(shared.publishers, shared.max_seq),
            assembler: Assembler::default(),
            last_tag: 0,
            acked: 0,
        })
        .collect();
    let mut latency = Histogram::default();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = client.reader.fill() => {
                read?;
                let now_ns = shared.start.elapsed().as_nanos() as u64;
                let mut fresh = 0;
                while let Some(frame) = client.reader.next_lean()? {
                    let number = frame.channel();
                    let Some(channel) = (number as usize)
                        .checked_sub(1)
                        .and_then(|i| channels.get_mut(i))
                    else {
                        if let LeanFrame::Frame(Frame::Method { method, .. }) = &frame {
                            check_method(method)?;
                        }
                        continue;
                    };
                    let content = match channel.assembler.push_lean(frame)? {
                        Incoming::Content(content) => content,
                        Incoming::Method(_, method) => {
                            check_method(&method)?;
                            continue;
                        }
                        Incoming::Nothing => continue,
                    };
                    let Method::BasicDeliver(deliver) = content.method else {
                        continue;
                    };
                    channel.last_tag = deliver.delivery_tag;
                    let delivery = Delivery {
                        queue: channel.queue,
                        routing_key: deliver.routing_key.as_bytes(),
                        body: &content.body,
                        now_ns,
                    };
                    if record(&shared, &mut channel.log, &mut latency, delivery) {
                        fresh += 1;
                    }
                }
                if fresh > 0 {
                    shared.fresh.fetch_add(fresh, Ordering::Relaxed);
                    shared.last_delivery_ns.fetch_max(now_ns, Ordering::Relaxed);
                }
                if !shared.autoack {
                    for (i, channel) in channels.iter_mut().enumerate() {
                        if channel.last_tag >= channel.acked + shared.ack_every {
                            let ack = BasicAck { delivery_tag: channel.last_tag, multiple: true };
                            encode_method_frame(i as u16 + 1, &ack.into(), &mut client.out);
                            channel.acked = channel.last_tag;
                        }
                    }
                }
            }
            written = write_some(&mut client.writer, &mut client.out), if !client.out.is_empty() => {
                written?;
            }
        }
    }
    let _ = client.close().await;
    let logs = channels.into_iter().map(|c| (c.queue, c.log)).collect();
    Ok(ConsumerOutcome { logs, latency })
}

struct Delivery<'a> {
    queue: usize,
    routing_key: &'a [u8],
    body: &'a [u8],
    /// When the read that completed it returned.
    now_ns: u64,
}

/// Accounts one delivery; true if it is the first time this message arrived here.
fn record(
    shared: &ConsumerShared,
    log: &mut QueueLog,
    latency: &mut Histogram,
    d: Delivery<'_>,
) -> bool {
    if let Some(patterns) = shared.patterns.as_ref().and_then(|p| p.get(d.queue)) {
        if !patterns
            .iter()
            .any(|p| topic_matches(p.as_bytes(), d.routing_key))
        {
            log.misrouted += 1;
        }
    }
    match payload::read(d.body) {
        Some(stamp) => {
            latency.record(d.now_ns.saturating_sub(stamp.sent_ns));
            log.record(stamp.publisher, stamp.seq)
        }
        None => {
            log.foreign += 1;
            false
        }
    }
}

/// Methods a consumer may get besides deliveries: closes and cancels end the run.
pub fn check_method(method: &Method) -> Result<()> {
    if let Some(error) = closed_error(method) {
        return Err(error);
    }
    match method {
        Method::BasicCancel(c) => Err(Error::protocol(format!(
            "the broker cancelled consumer {:?}",
            c.consumer_tag
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records one delivery with `routing_key` on queue 0, bound with `patterns`: misrouted?
    fn misrouted(patterns: &[&str], routing_key: &[u8]) -> bool {
        let shared = ConsumerShared {
            start: Instant::now(),
            autoack: true,
            publishers: 1,
            max_seq: 10,
            patterns: Some(vec![patterns.iter().map(|p| p.to_string()).collect()]),
            fresh: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            ack_every: 1,
        };
        let mut log = QueueLog::new(1, 10);
        let mut body = payload::template(payload::MIN_SIZE);
        payload::stamp(
            &mut body,
            payload::Stamp {
                publisher: 0,
                seq: 0,
                sent_ns: 0,
            },
        );
        let delivery = Delivery {
            queue: 0,
            routing_key,
            body: &body,
            now_ns: 1,
        };
        record(&shared, &mut log, &mut Histogram::default(), delivery);
        log.misrouted == 1
    }

    #[test]
    fn deliveries_are_checked_as_rabbitmq_routes() {
        // The empty key has zero words: `*` needs one, `#` takes none (RabbitMQ's rule).
        assert!(misrouted(&["*"], b""), "`*` must not match the empty key");
        assert!(!misrouted(&["#"], b""));
        assert!(!misrouted(&["*"], b"calls"));
        assert!(!misrouted(&["calls.*", "x"], b"calls.created"));
        assert!(misrouted(&["calls.*"], b"calls.call.created"));
    }

    #[test]
    fn acks_a_quarter_of_the_window() {
        assert_eq!(ack_every(1000), 250);
        assert_eq!(ack_every(1), 1);
        assert_eq!(ack_every(0), 256);
    }
}
