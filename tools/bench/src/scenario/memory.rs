//! What the broker's memory costs, from its RSS (`--broker-pid`) read before and after, each
//! time once it has been left alone for [`SETTLE`]:
//!
//! - `idle-connections`: `--connections` connections opened (TCP, handshake, vhost, then
//!   `--channels` channels each) and held; bytes per connection. They are then closed, and
//!   the RSS read again (what the broker gives back).
//! - `backlog`: `--max-messages` messages of `--size` bytes published with confirms into a
//!   queue nobody consumes; bytes per queued message (and per body byte). The queue is then
//!   drained by one consumer and checked: every confirmed message once, in order.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use warren_wire::ShortStr;

use crate::accounting::{verify, Published, Route};
use crate::args::Options;
use crate::client::{short, Client, PublishTemplate, CHANNEL};
use crate::error::{Error, Result};
use crate::payload;
use crate::procfs::{bytes_each, open_files_limit, settled_rss, Meter, SETTLE};
use crate::report::{self, Json};

use super::consumer::{self, ack_every, ConsumerShared};
use super::publisher::{self, PublisherSpec};
use super::runner::{clean_up, message_properties, run_id};

/// Connections being opened (or closed) at once.
const OPENING_AT_ONCE: usize = 64;
/// Descriptors this process needs besides one per connection.
const SPARE_FILES: u64 = 64;

/// The memory fields every memory run reports.
fn rss_fields(j: &mut Json, before: Option<u64>, after: Option<u64>, released: Option<u64>) {
    j.opt_int("rss_before_kib", before)
        .opt_int("rss_after_kib", after)
        .opt_int("rss_released_kib", released);
}

pub async fn idle_connections(o: &Options) -> Result<(String, bool)> {
    let n = o.connections;
    let needed = n as u64 + SPARE_FILES;
    if let Some((soft, hard)) = open_files_limit() {
        if soft < needed {
            let fix = if hard >= needed {
                format!("run `ulimit -n {hard}` first")
            } else {
                format!("raise the hard limit (now {hard}) first")
            };
            return Err(Error::usage(format!(
                "{n} connections need {needed} open files and the limit is {soft}: {fix} \
                 (the broker needs as many)"
            )));
        }
    }
    // One connection first, so that a wrong URL is an error, not a failed run.
    Client::connect(&o.url, "warren-bench idle probe")
        .await?
        .close()
        .await?;
    let before = settled_rss(o.broker_pid, SETTLE).await;
    let opening = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for first in (0..n).step_by(OPENING_AT_ONCE) {
        let batch: Vec<_> = (first..n.min(first + OPENING_AT_ONCE))
            .map(|i| {
                let (url, channels) = (o.url.clone(), o.channels as u16);
                tokio::spawn(async move {
                    let mut client =
                        Client::connect(&url, &format!("warren-bench idle {i}")).await?;
                    for channel in 1..=channels {
                        client.open_channel(channel).await?;
                    }
                    Ok::<_, Error>(client)
                })
            })
            .collect();
        for task in batch {
            match task.await {
                Ok(Ok(client)) => held.push(client),
                Ok(Err(e)) => failures.push(e.to_string()),
                Err(e) => failures.push(format!("a task failed: {e}")),
            }
        }
        if !failures.is_empty() {
            break;
        }
    }
    let open_s = opening.elapsed().as_secs_f64();
    let opened = held.len() as u64;
    let after = settled_rss(o.broker_pid, SETTLE).await;
    // The broker must still answer on every connection: a channel opened on each.
    let channel = o.channels as u16 + 1;
    for client in held.iter_mut() {
        if let Err(e) = client.open_channel(channel).await {
            failures.push(format!("a held connection no longer answers: {e}"));
            break;
        }
    }
    // Closed as they were opened, a batch at a time: RabbitMQ answers 10 000 simultaneous
    // closes in more than the 3 s a close may take.
    let mut held = held.into_iter();
    loop {
        let batch: Vec<_> = held
            .by_ref()
            .take(OPENING_AT_ONCE)
            .map(|c| tokio::spawn(c.close()))
            .collect();
        if batch.is_empty() {
            break;
        }
        for close in batch {
            if let Ok(Err(e)) = close.await {
                failures.push(format!("close: {e}"));
            }
        }
    }
    let released = settled_rss(o.broker_pid, SETTLE).await;
    failures.truncate(10);
    let ok = failures.is_empty() && opened == n as u64;

    let mut params = Json::default();
    params
        .int("connections", n as u64)
        .int("channels_per_connection", o.channels as u64);
    let mut j = report::header(o);
    j.object("params", params)
        .int("opened", opened)
        .num("open_s", open_s, 3)
        .num("connections_per_s", opened as f64 / open_s, 0);
    rss_fields(&mut j, before, after, released);
    j.opt_num("bytes_per_connection", bytes_each(before, after, opened), 0)
        .opt_int("broker_pid", o.broker_pid.map(u64::from));
    j.bool("ok", ok).strings("failures", &failures);
    Ok((j.finish(), ok))
}

pub async fn backlog(o: &Options) -> Result<(String, bool)> {
    let queue = format!("warren-bench.{}.backlog", run_id());
    let mut setup = Client::connect(&o.url, "warren-bench backlog setup").await?;
    setup.open_channel(CHANNEL).await?;
    let result = fill_and_drain(o, &mut setup, &queue).await;
    clean_up(setup, std::slice::from_ref(&queue)).await;
    result
}

/// What [`fill_queue`] published.
pub(super) struct Filled {
    pub start: Instant,
    pub publish_s: f64,
    pub published: Published,
}

/// Publishes `--max-messages` messages of `--size` to `queue` through the default exchange,
/// with confirms (a window of `--confirm`, 1,000 unless set), on a connection of its own
/// named `name`, closed when done.
pub(super) async fn fill_queue(o: &Options, queue: &str, name: &str) -> Result<Filled> {
    let mut publisher_client = Client::connect(&o.url, name).await?;
    publisher_client.open_channel(CHANNEL).await?;
    publisher_client.confirm_select(CHANNEL).await?;
    let template = PublishTemplate::new(
        CHANNEL,
        ShortStr::from_static(""),
        short(queue)?,
        message_properties(),
        Bytes::from(payload::template(o.size)),
        publisher_client.frame_max,
    );
    let start = Instant::now();
    let spec = PublisherSpec {
        id: 0,
        start,
        deadline: start + o.duration,
        max_messages: o.max_messages,
        rate: o.rate.map(|r| r as f64),
        confirm_window: Some(u64::from(o.confirm.unwrap_or(1000))),
        batch: o.batch as u64,
        drain_timeout: o.drain_timeout,
        templates: Arc::new(vec![template]),
    };
    let mut outcome = publisher::run(publisher_client, spec).await?;
    if let Some(client) = outcome.client.take() {
        let _ = client.close().await;
    }
    Ok(Filled {
        start,
        publish_s: outcome.publish_time.as_secs_f64(),
        published: outcome.published,
    })
}

async fn fill_and_drain(o: &Options, setup: &mut Client, queue: &str) -> Result<(String, bool)> {
    // Not auto-delete: it holds the messages before any consumer comes.
    setup.declare_queue(CHANNEL, queue, false).await?;
    let before = settled_rss(o.broker_pid, SETTLE).await;
    let meter = Meter::start(o.broker_pid);
    let Filled {
        start,
        publish_s,
        published,
    } = fill_queue(o, queue, "warren-bench backlog publisher").await?;
    let confirmed = published.confirmed.as_ref().map_or(0, |c| c.len());
    let full = settled_rss(o.broker_pid, SETTLE).await;

    // The drain: one consumer, manual acks.
    let mut consumer_client = Client::connect(&o.url, "warren-bench backlog consumer").await?;
    consumer_client.open_channel(1).await?;
    consumer_client.qos(1, o.prefetch).await?;
    consumer_client.consume(1, queue, "backlog", false).await?;
    let drain_start = Instant::now();
    let shared = Arc::new(ConsumerShared {
        start,
        autoack: false,
        publishers: 1,
        max_seq: o.max_messages,
        patterns: None,
        fresh: AtomicU64::new(0),
        last_delivery_ns: AtomicU64::new(0),
        ack_every: ack_every(o.prefetch),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let consuming = tokio::spawn(consumer::run(
        consumer_client,
        vec![0],
        Arc::clone(&shared),
        stop_rx,
    ));
    // No deadline but the drain timeout: a million messages may take a while.
    let no_deadline = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    shared
        .drain(published.count, o.drain_timeout, no_deadline, || {
            consuming.is_finished()
        })
        .await;
    let drain_s = drain_start.elapsed().as_secs_f64();
    let usage = meter.stop();
    let _ = stop_tx.send(true);
    let log = match consuming.await {
        Ok(result) => result?.logs.pop().map(|(_, log)| log),
        Err(e) => return Err(Error::protocol(format!("the consumer failed: {e}"))),
    };
    let log = log.ok_or_else(|| Error::protocol("the consumer kept no log"))?;
    let v = verify(&log, std::slice::from_ref(&published), &Route::all(1), true);
    let drained = settled_rss(o.broker_pid, SETTLE).await;

    let mut failures = Vec::new();
    for (n, what) in [
        (v.lost, "lost"),
        (v.duplicated, "duplicated"),
        (v.reordered, "reordered"),
        (v.unexpected, "unexpected"),
        (published.count - confirmed, "unconfirmed"),
    ] {
        if n > 0 {
            failures.push(format!("{n} {what}"));
        }
    }
    if published.count < o.max_messages {
        failures.push(format!(
            "{} of {} messages published within {} s",
            published.count,
            o.max_messages,
            o.duration.as_secs_f64()
        ));
    }
    let ok = failures.is_empty();

    let mut params = report::message_params(o);
    params.str("queue", queue);
    let mut j = report::header(o);
    j.object("params", params)
        .int("published", published.count)
        .int("confirmed", confirmed)
        .num("publish_s", publish_s, 3)
        .num("publish_rate", published.count as f64 / publish_s, 0)
        .int("delivered", v.delivered)
        .num("drain_s", drain_s, 3)
        .num("drain_rate", v.delivered as f64 / drain_s, 0);
    rss_fields(&mut j, before, full, drained);
    let per_message = bytes_each(before, full, confirmed);
    j.opt_num("bytes_per_message", per_message, 1)
        .opt_num(
            "rss_per_body_byte",
            per_message.map(|b| b / o.size as f64),
            3,
        )
        .int("lost", v.lost)
        .int("duplicated", v.duplicated)
        .int("reordered", v.reordered)
        .int("unexpected", v.unexpected);
    report::usage(&mut j, &usage, published.count, "msg");
    j.bool("ok", ok).strings("failures", &failures);
    Ok((j.finish(), ok))
}
