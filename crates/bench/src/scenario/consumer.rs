//! One consuming connection (channel 1, one or more consumers): reads with a large buffer,
//! accounts every delivery (loss, duplicates, order, latency, routing), and acks each read's
//! worth of deliveries with one `basic.ack multiple=true`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use warren_wire::{encode_method_frame, BasicAck, Method};

use crate::accounting::QueueLog;
use crate::client::{closed_error, write_some, Assembler, Client, Incoming, CHANNEL};
use crate::error::{Error, Result};
use crate::latency::Histogram;
use crate::payload;
use crate::topic::Pattern;

/// What all consumers share.
pub struct ConsumerShared {
    pub start: Instant,
    pub autoack: bool,
    pub publishers: usize,
    /// The most messages one publisher can publish: larger sequence numbers are foreign.
    pub max_seq: u64,
    /// Per queue, the patterns every delivery's routing key must match (`bindings`).
    pub patterns: Option<Vec<Vec<Pattern>>>,
    /// Deliveries seen for the first time on their consumer connection, over all consumers.
    pub fresh: AtomicU64,
    /// When the last delivery arrived, in nanoseconds since `start`.
    pub last_delivery_ns: AtomicU64,
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

/// The queue index in a tag made by [`consumer_tag`].
fn queue_of(tag: &[u8]) -> Option<usize> {
    let digits = tag.strip_prefix(b"b")?;
    let end = digits.iter().position(|&b| b == b'.')?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Consumes until `stop` changes (or its sender goes), then closes the connection.
/// `queues`: the queue indices this connection has consumers on.
pub async fn run(
    mut client: Client,
    queues: Vec<usize>,
    shared: Arc<ConsumerShared>,
    mut stop: watch::Receiver<bool>,
) -> Result<ConsumerOutcome> {
    let mut slots: Vec<Option<usize>> = Vec::new();
    let mut logs: Vec<(usize, QueueLog)> = Vec::with_capacity(queues.len());
    for &q in &queues {
        if slots.len() <= q {
            slots.resize(q + 1, None);
        }
        slots[q] = Some(logs.len());
        logs.push((q, QueueLog::new(shared.publishers, shared.max_seq)));
    }
    let mut latency = Histogram::default();
    let mut assembler = Assembler::default();
    let mut last_tag = 0;
    let mut acked = 0;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = client.reader.fill() => {
                read?;
                let now_ns = shared.start.elapsed().as_nanos() as u64;
                let mut fresh = 0;
                while let Some(frame) = client.reader.next_lean()? {
                    let content = match assembler.push_lean(frame)? {
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
                    last_tag = deliver.delivery_tag;
                    let tag = deliver.consumer_tag.as_bytes();
                    let Some((queue, slot)) = queue_of(tag)
                        .and_then(|q| Some((q, slots.get(q).copied().flatten()?)))
                    else {
                        return Err(Error::protocol(format!(
                            "delivery for an unknown consumer tag {:?}",
                            deliver.consumer_tag
                        )));
                    };
                    let delivery = Delivery {
                        queue,
                        routing_key: deliver.routing_key.as_bytes(),
                        body: &content.body,
                        now_ns,
                    };
                    if record(&shared, &mut logs[slot].1, &mut latency, delivery) {
                        fresh += 1;
                    }
                }
                if fresh > 0 {
                    shared.fresh.fetch_add(fresh, Ordering::Relaxed);
                    shared.last_delivery_ns.fetch_max(now_ns, Ordering::Relaxed);
                }
                if !shared.autoack && last_tag > acked {
                    let ack = BasicAck { delivery_tag: last_tag, multiple: true };
                    encode_method_frame(CHANNEL, &ack.into(), &mut client.out);
                    acked = last_tag;
                }
            }
            written = write_some(&mut client.writer, &mut client.out), if !client.out.is_empty() => {
                written?;
            }
        }
    }
    let _ = client.flush().await;
    let _ = client.close().await;
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
        if !patterns.iter().any(|p| p.matches(d.routing_key)) {
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
fn check_method(method: &Method) -> Result<()> {
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

    #[test]
    fn tags_round_trip() {
        assert_eq!(queue_of(consumer_tag(42, 3).as_bytes()), Some(42));
        assert_eq!(queue_of(b"amq.ctag-x"), None);
    }
}
