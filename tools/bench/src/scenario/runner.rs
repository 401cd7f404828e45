//! Runs a [`Plan`]: declares its topology, connects consumers and publishers, publishes for the
//! duration (or the message budget), drains, then verifies what every queue received against
//! what was published to it, and cleans up.
//!
//! Timeline: setup (not measured) → `start` (the broker's and our CPU clocks are read) →
//! publishing until the deadline or the budget → publishers wait for their confirms (at most
//! the drain timeout) → consumers get the rest (until everything owed has arrived, nothing
//! arrived for the drain timeout, or [`DRAIN_LIMIT`] passed) → CPU clocks read again → consumers stop → verification →
//! queues deleted.
//!
//! A queue planned with no consumer retains what is routed to it: its length is checked
//! (`queue.declare passive`) after the drain instead of its deliveries. A plan that measures
//! memory reads the broker's RSS once it has been left alone, before publishing and after the
//! drain (publishers and consumers closed): what the retained messages cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warren_wire::{BasicProperties, FieldTable, FieldValue, ShortStr};

use crate::accounting::{verify, Published, QueueLog, Route, Verdict};
use crate::args::Options;
use crate::client::{short, Client, PublishTemplate, CHANNEL};
use crate::error::{Error, Result};
use crate::latency::Histogram;
use crate::payload;
use crate::procfs::{settled_rss, Meter, Usage, SETTLE};

use super::consumer::{self, consumer_tag, ConsumerOutcome, ConsumerShared};
use super::publisher::{self, PublisherOutcome, PublisherSpec};

/// The longest drain (or twice the duration, if longer), even while deliveries still
/// trickle in: what has not arrived by then counts as lost.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct QueuePlan {
    pub name: String,
    /// (binding key, arguments).
    pub bindings: Vec<(String, FieldTable)>,
    /// 0: nobody consumes the queue; it retains its messages.
    pub consumers: usize,
}

/// One routing key publishers use; message `seq` uses key `seq % keys.len()`.
pub struct KeyPlan {
    pub routing_key: String,
    /// The indices of the queues it reaches (what the checks expect).
    pub queues: Vec<usize>,
}

pub struct Plan {
    pub exchange: String,
    pub exchange_kind: &'static str,
    pub queues: Vec<QueuePlan>,
    pub keys: Vec<KeyPlan>,
    /// Consumers are spread round-robin over this many connections (at most one per consumer).
    pub consumer_connections: usize,
    /// Per queue, topic patterns every delivery's routing key must match.
    pub patterns: Option<Vec<Vec<String>>>,
    /// Read the broker's RSS before publishing and after the drain.
    pub measure_memory: bool,
}

impl Plan {
    fn consumer_count(&self) -> usize {
        self.queues.iter().map(|q| q.consumers).sum()
    }
}

/// A queue nobody consumed, at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// The messages routed to it (confirmed, with confirms).
    pub expected: u64,
    /// The messages it holds (`queue.declare passive`).
    pub found: u64,
}

/// How long the broker is left alone before the RSS after the drain is read: jemalloc returns
/// the pages freed by the consumed messages over 10 s (its decay time), so what remains is
/// what the broker keeps.
const RETAINED_SETTLE: Duration = Duration::from_secs(10);

pub struct RunOutcome {
    pub published: u64,
    pub confirmed: Option<u64>,
    pub nacked: u64,
    pub unconfirmed: u64,
    pub verdict: Verdict,
    /// From the start to the last message written, over all publishers.
    pub publish_time: Duration,
    /// From the start to the last new delivery.
    pub deliver_time: Duration,
    pub latency: Histogram,
    pub usage: Usage,
    pub connections: usize,
    pub retained: Vec<Retained>,
    /// The broker's RSS in KiB before publishing and after the drain, when the plan measures
    /// memory and the broker's pid is known.
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
}

/// The properties of every message: JSON, and a `name` header as Wazo's bus sets it (what
/// the headers exchange scenario binds on).
pub fn message_properties() -> BasicProperties {
    let mut headers = FieldTable::new();
    headers.insert(
        "name",
        FieldValue::LongStr(Bytes::from_static(b"call_created")),
    );
    BasicProperties {
        content_type: Some(ShortStr::from_static("application/json")),
        delivery_mode: Some(1),
        headers: Some(headers),
        ..Default::default()
    }
}

/// A name unique to this run, for queues.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}-{:x}", std::process::id(), nanos)
}

pub async fn run_plan(o: &Options, plan: Plan) -> Result<RunOutcome> {
    let mut setup = Client::connect(&o.url, "warren-bench setup").await?;
    setup.open_channel(CHANNEL).await?;
    let result = run_declared(o, &plan, &mut setup).await;
    // Queues are auto-delete (gone once their consumers closed); deleting them again is a
    // no-op, but covers a run that failed before consuming.
    let names: Vec<String> = plan.queues.iter().map(|q| q.name.clone()).collect();
    clean_up(setup, &names).await;
    result
}

/// Deletes a run's queues and closes its setup connection. Bounded: a broker that stopped
/// answering does not hold the report back.
pub async fn clean_up(mut setup: Client, queues: &[String]) {
    let cleanup = async {
        for queue in queues {
            if setup.delete_queue(CHANNEL, queue).await.is_err() {
                break;
            }
        }
        let _ = setup.close().await;
    };
    let _ = tokio::time::timeout(CLEANUP_TIMEOUT, cleanup).await;
}

async fn run_declared(o: &Options, plan: &Plan, setup: &mut Client) -> Result<RunOutcome> {
    if !plan.exchange.is_empty() && !plan.exchange.starts_with("amq.") {
        setup
            .declare_exchange(CHANNEL, &plan.exchange, plan.exchange_kind)
            .await?;
    }
    for queue in &plan.queues {
        setup.declare_queue(CHANNEL, &queue.name, true).await?;
        for (key, arguments) in &queue.bindings {
            setup
                .bind_queue(CHANNEL, &queue.name, &plan.exchange, key, arguments.clone())
                .await?;
        }
    }

    // Consumers, spread round-robin over their connections.
    let connections = plan
        .consumer_connections
        .clamp(1, plan.consumer_count().max(1));
    let mut assignments: Vec<Vec<(usize, usize)>> = vec![Vec::new(); connections];
    let mut next = 0;
    for (q, queue) in plan.queues.iter().enumerate() {
        for instance in 0..queue.consumers {
            assignments[next % connections].push((q, instance));
            next += 1;
        }
    }
    let mut consumer_clients = Vec::new();
    for (i, assigned) in assignments.iter().enumerate() {
        let mut client = Client::connect(&o.url, &format!("warren-bench consumer {i}")).await?;
        if assigned.len() > usize::from(client.channel_max) {
            return Err(Error::usage(format!(
                "{} consumers on one connection, over the broker's channel_max {}: raise \
                 --consumer-connections",
                assigned.len(),
                client.channel_max
            )));
        }
        // Consumer k of this connection gets channel k + 1.
        for (k, &(q, instance)) in assigned.iter().enumerate() {
            let channel = k as u16 + 1;
            client.open_channel(channel).await?;
            if !o.autoack {
                client.qos(channel, o.prefetch).await?;
            }
            let tag = consumer_tag(q, instance);
            client
                .consume(channel, &plan.queues[q].name, &tag, o.autoack)
                .await?;
        }
        let queues: Vec<usize> = assigned.iter().map(|&(q, _)| q).collect();
        consumer_clients.push((client, queues));
    }

    let publishers = o.publishers;
    let mut publisher_clients = Vec::new();
    for p in 0..publishers {
        let mut client = Client::connect(&o.url, &format!("warren-bench publisher {p}")).await?;
        client.open_channel(CHANNEL).await?;
        if o.confirm.is_some() {
            client.confirm_select(CHANNEL).await?;
        }
        publisher_clients.push(client);
    }
    let frame_max = publisher_clients
        .first()
        .map_or(131_072, |c: &Client| c.frame_max);
    let body = Bytes::from(payload::template(o.size));
    let templates = plan
        .keys
        .iter()
        .map(|k| {
            Ok(PublishTemplate::new(
                CHANNEL,
                short(plan.exchange.clone())?,
                short(k.routing_key.clone())?,
                message_properties(),
                body.clone(),
                frame_max,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let templates = Arc::new(templates);

    let budget = |p: usize| {
        let share = o.max_messages / publishers as u64;
        share + u64::from((p as u64) < o.max_messages % publishers as u64)
    };
    let pid = o.broker_pid.filter(|_| plan.measure_memory);
    let rss_before_kib = settled_rss(pid, SETTLE).await;
    let meter = Meter::start(o.broker_pid);
    let start = Instant::now();
    let shared = Arc::new(ConsumerShared {
        start,
        autoack: o.autoack,
        publishers,
        max_seq: budget(0),
        patterns: plan.patterns.clone(),
        fresh: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        ack_every: consumer::ack_every(o.prefetch),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let consumers: Vec<JoinHandle<Result<ConsumerOutcome>>> = consumer_clients
        .into_iter()
        .map(|(client, queues)| {
            tokio::spawn(consumer::run(
                client,
                queues,
                Arc::clone(&shared),
                stop_rx.clone(),
            ))
        })
        .collect();
    let publisher_tasks: Vec<JoinHandle<Result<PublisherOutcome>>> = publisher_clients
        .into_iter()
        .enumerate()
        .map(|(p, client)| {
            let spec = PublisherSpec {
                id: p as u32,
                start,
                deadline: start + o.duration,
                max_messages: budget(p),
                rate: o.rate.map(|r| r as f64 / publishers as f64),
                confirm_window: o.confirm.map(u64::from),
                batch: o.batch as u64,
                drain_timeout: o.drain_timeout,
                templates: Arc::clone(&templates),
            };
            tokio::spawn(publisher::run(client, spec))
        })
        .collect();

    let mut first_error: Option<Error> = None;
    let mut outcomes = Vec::new();
    for task in publisher_tasks {
        match joined(task).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let published: Vec<Published> = outcomes.iter().map(|o| o.published.clone()).collect();

    // Drain: until everything owed has arrived, nothing new came for the drain timeout, or a
    // consumer failed.
    let owed_per_queue = owed_deliveries(&published, &plan.keys, plan.queues.len());
    let owed = (plan.queues.iter().zip(&owed_per_queue))
        .filter(|(queue, _)| queue.consumers > 0)
        .map(|(_, owed)| owed)
        .sum();
    if first_error.is_none() {
        let drain_limit = Instant::now() + DRAIN_LIMIT.max(o.duration * 2);
        let a_consumer_ended = || consumers.iter().any(|c| c.is_finished());
        shared
            .drain(owed, o.drain_timeout, drain_limit, a_consumer_ended)
            .await;
    }
    let usage = meter.stop();
    let _ = stop_tx.send(true);
    let closing: Vec<_> = outcomes
        .iter_mut()
        .filter_map(|o| o.client.take())
        .map(|client| tokio::spawn(client.close()))
        .collect();
    for close in closing {
        let _ = close.await;
    }

    let mut latency = Histogram::default();
    let mut logs: Vec<Option<QueueLog>> = (0..plan.queues.len()).map(|_| None).collect();
    for task in consumers {
        match joined(task).await {
            Ok(outcome) => {
                latency.merge(&outcome.latency);
                for (q, log) in outcome.logs {
                    match &mut logs[q] {
                        Some(merged) => merged.merge(&log),
                        slot @ None => *slot = Some(log),
                    }
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let rss_after_kib = settled_rss(pid, RETAINED_SETTLE).await;
    let mut retained = Vec::new();
    for (queue, &expected) in plan.queues.iter().zip(&owed_per_queue) {
        if queue.consumers == 0 {
            let found = setup.queue_length(CHANNEL, &queue.name).await?;
            retained.push(Retained {
                expected,
                found: u64::from(found),
            });
        }
    }

    let nkeys = plan.keys.len() as u64;
    let mut verdict = Verdict::default();
    for (q, log) in logs.iter().enumerate() {
        if plan.queues[q].consumers == 0 {
            continue;
        }
        let empty = QueueLog::new(publishers, budget(0));
        let log = log.as_ref().unwrap_or(&empty);
        let route = Route {
            nkeys,
            keys: (0..nkeys)
                .filter(|&k| plan.keys[k as usize].queues.contains(&q))
                .collect(),
        };
        let ordered = plan.queues[q].consumers == 1;
        verdict.add(verify(log, &published, &route, ordered));
    }

    let total_published = published.iter().map(|p| p.count).sum();
    let confirmed = o.confirm.map(|_| {
        published
            .iter()
            .map(|p| p.confirmed.as_ref().map_or(0, |c| c.len()))
            .sum()
    });
    let nacked: u64 = outcomes.iter().map(|o| o.nacked).sum();
    Ok(RunOutcome {
        published: total_published,
        confirmed,
        nacked,
        unconfirmed: confirmed.map_or(0, |c| total_published.saturating_sub(c + nacked)),
        verdict,
        publish_time: outcomes
            .iter()
            .map(|o| o.publish_time)
            .max()
            .unwrap_or_default(),
        deliver_time: Duration::from_nanos(shared.last_delivery_ns.load(Ordering::Relaxed)),
        latency,
        usage,
        connections: 1 + connections + publishers,
        retained,
        rss_before_kib,
        rss_after_kib,
    })
}

/// How many messages the broker owes each of `queues` queues.
fn owed_deliveries(published: &[Published], keys: &[KeyPlan], queues: usize) -> Vec<u64> {
    let mut owed = vec![0; queues];
    if keys.is_empty() {
        return owed;
    }
    let n = keys.len() as u64;
    let mut per_key = vec![0u64; keys.len()];
    for p in published {
        match &p.confirmed {
            Some(confirmed) => {
                for seq in confirmed.iter().filter(|&s| s < p.count) {
                    per_key[(seq % n) as usize] += 1;
                }
            }
            None => {
                for (k, count) in per_key.iter_mut().enumerate() {
                    let k = k as u64;
                    *count += p.count / n + u64::from(k < p.count % n);
                }
            }
        }
    }
    for (count, key) in per_key.iter().zip(keys) {
        for &q in &key.queues {
            if let Some(owed) = owed.get_mut(q) {
                *owed += count;
            }
        }
    }
    owed
}

async fn joined<T>(task: JoinHandle<Result<T>>) -> Result<T> {
    match task.await {
        Ok(result) => result,
        Err(e) => Err(Error::protocol(format!("a task failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::SeqSet;

    #[test]
    fn owed_counts_follow_keys_and_confirms() {
        let keys = vec![
            KeyPlan {
                routing_key: "a".into(),
                queues: vec![0, 1],
            },
            KeyPlan {
                routing_key: "b".into(),
                queues: vec![],
            },
            KeyPlan {
                routing_key: "c".into(),
                queues: vec![1],
            },
        ];
        let plain = Published {
            count: 7, // keys a b c a b c a
            confirmed: None,
        };
        assert_eq!(owed_deliveries(&[plain], &keys, 2), [3, 3 + 2]);
        let mut confirmed = SeqSet::default();
        confirmed.insert(0);
        confirmed.insert(2);
        let confirming = Published {
            count: 7,
            confirmed: Some(confirmed),
        };
        assert_eq!(owed_deliveries(&[confirming], &keys, 2), [1, 1 + 1]);
    }
}
