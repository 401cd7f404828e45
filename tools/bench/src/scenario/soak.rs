//! `soak`: `--connections` connections of `--channels` channels each, every second channel a
//! publisher (confirms, at most `--confirm` unsettled; `--rate` msg/s over all publishers) to
//! one of `--queues` queues through the default exchange, the others consumers of those
//! queues (manual acks, `--prefetch`). For `--duration`, a chaos loop drops the socket of a
//! random connection every ~`--kill-interval` (uniformly 0 to twice that): in the middle of a
//! write, with publishes unconfirmed, with deliveries unacked, and one time in three after
//! writing half a publish frame. A killed connection reconnects at once and carries on: its
//! publishers continue their sequence numbers, its consumers consume again.
//!
//! After the duration the chaos stops, publishers wait for their last confirms, and consumers
//! drain until every confirmed message has been acked (or nothing new was acked for
//! `--drain-timeout`). The run fails on:
//! - a confirmed message never delivered, or delivered only to consumers that were killed
//!   before acking it (the broker must requeue a message it delivered to a consumer that went
//!   away without acking);
//! - a message delivered twice with `redelivered` unset both times (a requeued message must
//!   come back flagged);
//! - a delivery that is not ours, not published, or on another queue than its publisher's;
//! - the broker closing a connection or a channel, or a socket we did not drop closing.
//!
//! Unconfirmed messages (publishes in doubt when their connection was killed, or nacked) may
//! be lost or delivered: they are counted apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use warren_wire::{encode_method_frame, BasicAck, BasicConsume, Frame, Method, ShortStr};

use crate::accounting::{Confirms, Published, SeqSet};
use crate::args::Options;
use crate::client::{
    closed_error, short, write_some, Assembler, Client, Incoming, LeanFrame, PublishTemplate,
    CHANNEL,
};
use crate::error::{Error, Result};
use crate::payload::{self, Stamp};
use crate::procfs::Meter;
use crate::report::{self, Json};

use super::consumer::{ack_every, check_method};
use super::runner::{clean_up, message_properties, run_id};

/// How often a connection tops its publishers up and acks what its consumers have not acked.
const TICK: Duration = Duration::from_millis(10);
/// Most messages one publisher encodes per tick.
const BATCH: u64 = 64;
/// A connection stops encoding publishes while this much output waits for the socket.
const MAX_OUTPUT: usize = 256 * 1024;
/// The longest drain, even while acks still trickle in.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// The failures quoted in the report (all are counted).
const FAILURES_QUOTED: usize = 10;

/// A channel's role: channel `c` of connection `i` is global channel `g = i * channels + c - 1`;
/// even `g` publish (publisher `g / 2`), odd `g` consume (consumer `g / 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher(usize),
    Consumer(usize),
}

fn role(connection: usize, channel: u16, channels: usize) -> Role {
    let g = connection * channels + usize::from(channel) - 1;
    if g % 2 == 0 {
        Role::Publisher(g / 2)
    } else {
        Role::Consumer(g / 2)
    }
}

/// (publishers, consumers) over all connections.
fn role_counts(connections: usize, channels: usize) -> (usize, usize) {
    let total = connections * channels;
    (total.div_ceil(2), total / 2)
}

/// Everything the consumers saw, per publisher.
#[derive(Default)]
struct Track {
    delivered: SeqSet,
    /// Delivered with `redelivered` unset.
    fresh: SeqSet,
    /// Acked (the ack was encoded on the connection that got the delivery).
    acked: SeqSet,
}

#[derive(Default)]
struct Ledger {
    tracks: Vec<Track>,
    /// Second deliveries without `redelivered`.
    fresh_twice: u64,
    /// Bodies that are not ours, unknown publishers, or a queue other than the publisher's.
    foreign: u64,
    acked: u64,
}

#[derive(Default)]
struct Counters {
    deliveries: AtomicU64,
    redeliveries: AtomicU64,
    kills: AtomicU64,
    kills_with_unacked: AtomicU64,
    kills_with_unconfirmed: AtomicU64,
    kills_mid_write: AtomicU64,
    kills_mid_frame: AtomicU64,
    /// Deliveries unacked on a killed connection: the broker owes them again.
    orphaned: AtomicU64,
    reconnects: AtomicU64,
    connect_errors: AtomicU64,
}

struct Shared {
    start: Instant,
    /// Publishing and chaos end here.
    deadline: Instant,
    queues: Vec<String>,
    channels: usize,
    rate_per_publisher: Option<f64>,
    window: u64,
    ack_every: u64,
    prefetch: u16,
    drain_timeout: Duration,
    body: Bytes,
    ledger: Mutex<Ledger>,
    /// Per publisher, what it published and got confirmed, once it stopped.
    finals: Mutex<Vec<Option<(Published, u64)>>>,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        let mut failures = lock(&self.failures);
        if failures.len() < FAILURES_QUOTED {
            failures.push(what);
        }
    }
}

/// SplitMix64: enough randomness to pick victims and moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A publisher across the incarnations of its connection.
struct PublisherState {
    id: usize,
    channel: u16,
    queue: usize,
    /// The next sequence number (they continue over reconnections).
    seq: u64,
    /// The sequence number of this incarnation's delivery tag 1.
    base: u64,
    /// This incarnation's confirms (tags from 1).
    confirms: Confirms,
    confirmed: SeqSet,
    nacked: u64,
    reported: bool,
}

impl PublisherState {
    fn unsettled(&self) -> u64 {
        self.seq - self.base - self.confirms.settled()
    }

    /// Folds this incarnation's confirms into the totals; what is unsettled stays in doubt.
    fn end_incarnation(&mut self) {
        let confirms = std::mem::take(&mut self.confirms);
        for s in confirms.confirmed.iter() {
            self.confirmed.insert(self.base + s);
        }
        self.nacked += confirms.nacked;
        self.base = self.seq;
    }
}

/// A consumer channel during one incarnation.
struct ConsumerChannel {
    channel: u16,
    queue: usize,
    assembler: Assembler,
    last_tag: u64,
    /// (publisher, seq) delivered since the last ack.
    unacked: Vec<(usize, u64)>,
}

/// A delivery read, before it is recorded.
struct Seen {
    consumer: usize,
    redelivered: bool,
    stamp: Option<Stamp>,
}

enum End {
    Killed,
    Stopped,
}

pub async fn run(o: &Options) -> Result<(String, bool)> {
    if o.connections * o.channels < 2 {
        return Err(Error::usage(
            "soak needs at least two channels in all (--connections x --channels)",
        ));
    }
    let (publishers, consumers) = role_counts(o.connections, o.channels);
    if consumers < o.queues {
        return Err(Error::usage(format!(
            "soak: {consumers} consumers for {} queues; every queue needs one (raise --connections or --channels, or lower --queues)",
            o.queues
        )));
    }
    let mut setup = Client::connect(&o.url, "warren-bench soak setup").await?;
    setup.open_channel(CHANNEL).await?;
    let id = run_id();
    let queues: Vec<String> = (0..o.queues)
        .map(|q| format!("warren-bench.{id}.soak{q}"))
        .collect();
    let result = soak(o, &mut setup, queues.clone(), publishers).await;
    clean_up(setup, &queues).await;
    result
}

async fn soak(
    o: &Options,
    setup: &mut Client,
    queues: Vec<String>,
    publishers: usize,
) -> Result<(String, bool)> {
    for queue in &queues {
        // Not auto-delete: the queue outlives its consumers being killed.
        setup.declare_queue(CHANNEL, queue, false).await?;
    }
    let meter = Meter::start(o.broker_pid);
    let start = Instant::now();
    let shared = Arc::new(Shared {
        start,
        deadline: start + o.duration,
        queues,
        channels: o.channels,
        rate_per_publisher: o.rate.map(|r| r as f64 / publishers as f64),
        window: u64::from(o.confirm.unwrap_or(256)),
        ack_every: ack_every(o.prefetch),
        prefetch: o.prefetch,
        drain_timeout: o.drain_timeout,
        body: Bytes::from(payload::template(o.size)),
        ledger: Mutex::new(Ledger {
            tracks: (0..publishers).map(|_| Track::default()).collect(),
            ..Ledger::default()
        }),
        finals: Mutex::new(vec![None; publishers]),
        failures: Mutex::new(Vec::new()),
        failure_count: AtomicU64::new(0),
        counters: Counters::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut rng = Rng(seed());
    let kills: Vec<Arc<Notify>> = (0..o.connections)
        .map(|_| Arc::new(Notify::new()))
        .collect();
    let slots: Vec<_> = kills
        .iter()
        .enumerate()
        .map(|(i, kill)| {
            let slot = Slot {
                index: i,
                url: o.url.clone(),
                shared: Arc::clone(&shared),
                kill: Arc::clone(kill),
                stop: stop_rx.clone(),
                rng: Rng(rng.next()),
            };
            tokio::spawn(slot.run())
        })
        .collect();

    // Chaos until the deadline.
    if !o.kill_interval.is_zero() {
        let mean_ms = o.kill_interval.as_millis().max(1) as u64;
        loop {
            let pause = Duration::from_millis(rng.below(2 * mean_ms + 1));
            if Instant::now() + pause >= shared.deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            kills[rng.below(kills.len() as u64) as usize].notify_one();
        }
    }
    tokio::time::sleep_until(shared.deadline.into()).await;

    // Drain: until every publisher has reported and every confirmed message is acked, or no
    // ack came for the drain timeout.
    let drain_start = Instant::now();
    let mut last_acked = lock(&shared.ledger).acked;
    let mut progress = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let finals = lock(&shared.finals).clone();
        let ledger = lock(&shared.ledger);
        if ledger.acked != last_acked {
            last_acked = ledger.acked;
            progress = Instant::now();
        }
        let reported = finals.iter().all(Option::is_some);
        let missing: u64 = finals
            .iter()
            .zip(&ledger.tracks)
            .filter_map(|(f, t)| f.as_ref().map(|(p, _)| (p, t)))
            .map(|(p, t)| missing(p, &t.acked))
            .sum();
        drop(ledger);
        let stalled = progress.elapsed() >= o.drain_timeout;
        if (reported && (missing == 0 || stalled)) || drain_start.elapsed() >= DRAIN_LIMIT {
            break;
        }
    }
    let drain_s = drain_start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for slot in slots {
        if let Err(e) = slot.await {
            shared.fail(format!("a connection task failed: {e}"));
        }
    }
    let usage = meter.stop();
    let elapsed = start.elapsed().as_secs_f64();
    // What the queues still hold once every consumer has gone: a message the broker kept
    // but never delivered is here, one it lost is not.
    let mut left_in_queues = 0;
    for queue in &shared.queues {
        left_in_queues += u64::from(setup.queue_length(CHANNEL, queue).await?);
    }

    let finals = lock(&shared.finals).clone();
    let ledger = lock(&shared.ledger);
    let mut v = SoakVerdict::default();
    for (p, final_state) in finals.iter().enumerate() {
        let Some((published, nacked)) = final_state else {
            shared.fail(format!("publisher {p} never reported"));
            continue;
        };
        v.add(p, published, *nacked, &ledger.tracks[p]);
    }
    v.fresh_twice = ledger.fresh_twice;
    v.unexpected += ledger.foreign;
    drop(ledger);
    let c = &shared.counters;
    let mut failures = lock(&shared.failures).clone();
    let failure_count = shared.failure_count.load(Ordering::Relaxed);
    let mut check = |n: u64, what: &str| {
        if n > 0 {
            failures.push(format!("{n} {what}"));
        }
    };
    check(v.lost, "confirmed messages never delivered");
    check(
        v.lost_after_delivery,
        "confirmed messages delivered but never acked (not requeued after a kill)",
    );
    check(
        v.fresh_twice,
        "messages delivered twice without redelivered",
    );
    check(v.unexpected, "unexpected deliveries");
    if v.published == 0 {
        failures.push("nothing published".to_owned());
    }
    let ok = failures.is_empty() && failure_count == 0;

    let mut params = Json::default();
    params
        .int("connections", o.connections as u64)
        .int("channels_per_connection", o.channels as u64)
        .int("publishers", publishers as u64)
        .int("consumers", role_counts(o.connections, o.channels).1 as u64)
        .int("queues", o.queues as u64)
        .int("size", o.size as u64)
        .num("duration_s", o.duration.as_secs_f64(), 3)
        .opt_int("rate", o.rate)
        .int("confirm_window", shared.window)
        .int("prefetch", u64::from(o.prefetch))
        .num("kill_interval_s", o.kill_interval.as_secs_f64(), 3)
        .num("drain_timeout_s", o.drain_timeout.as_secs_f64(), 3);
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut kills = Json::default();
    kills
        .int("total", load(&c.kills))
        .int("with_unacked_deliveries", load(&c.kills_with_unacked))
        .int(
            "with_unconfirmed_publishes",
            load(&c.kills_with_unconfirmed),
        )
        .int("mid_write", load(&c.kills_mid_write))
        .int("mid_frame", load(&c.kills_mid_frame))
        .int("orphaned_deliveries", load(&c.orphaned));
    let mut j = report::header(o);
    j.object("params", params)
        .num("elapsed_s", elapsed, 3)
        .num("drain_s", drain_s, 3)
        .int("published", v.published)
        .int("confirmed", v.confirmed)
        .int("nacked", v.nacked)
        .int("in_doubt", v.in_doubt)
        .int("deliveries", load(&c.deliveries))
        .int("redeliveries", load(&c.redeliveries))
        .int("acked", v.acked)
        .num(
            "publish_rate",
            v.published as f64 / o.duration.as_secs_f64().max(1e-3),
            0,
        )
        .object("kills", kills)
        .int("reconnects", load(&c.reconnects))
        .int("connect_errors", load(&c.connect_errors))
        .int("lost", v.lost)
        .int("lost_after_delivery", v.lost_after_delivery)
        .int("duplicated_without_redelivered", v.fresh_twice)
        .int("unexpected", v.unexpected)
        .int("unconfirmed_delivered", v.unconfirmed_delivered)
        .int("unconfirmed_lost", v.unconfirmed_lost)
        .strings("lost_examples", &v.lost_examples)
        .int("left_in_queues", left_in_queues)
        .int("broker_failures", failure_count);
    report::usage(&mut j, &usage, v.published, "msg");
    j.bool("ok", ok).strings("failures", &failures);
    Ok((j.finish(), ok))
}

/// Confirmed messages not acked yet.
fn missing(published: &Published, acked: &SeqSet) -> u64 {
    published.confirmed.as_ref().map_or(0, |c| {
        c.iter().filter(|&s| !acked.contains(s)).count() as u64
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
struct SoakVerdict {
    published: u64,
    confirmed: u64,
    nacked: u64,
    in_doubt: u64,
    acked: u64,
    lost: u64,
    lost_after_delivery: u64,
    fresh_twice: u64,
    unexpected: u64,
    unconfirmed_delivered: u64,
    unconfirmed_lost: u64,
    /// The first few lost messages, `publisher:seq`.
    lost_examples: Vec<String>,
}

impl SoakVerdict {
    fn add(&mut self, publisher: usize, published: &Published, nacked: u64, track: &Track) {
        let empty = SeqSet::default();
        let confirmed = published.confirmed.as_ref().unwrap_or(&empty);
        self.published += published.count;
        self.confirmed += confirmed.len();
        self.nacked += nacked;
        self.in_doubt += published.count - confirmed.len() - nacked;
        self.acked += track.acked.len();
        for seq in 0..published.count {
            let delivered = track.delivered.contains(seq);
            if confirmed.contains(seq) {
                let acked = track.acked.contains(seq);
                if !acked && self.lost_examples.len() < FAILURES_QUOTED {
                    self.lost_examples.push(format!("{publisher}:{seq}"));
                }
                self.lost += u64::from(!delivered);
                self.lost_after_delivery += u64::from(delivered && !acked);
            } else if delivered {
                self.unconfirmed_delivered += 1;
            } else {
                self.unconfirmed_lost += 1;
            }
        }
        self.unexpected += track
            .delivered
            .iter()
            .filter(|&s| s >= published.count)
            .count() as u64;
    }
}

/// One connection slot: connects, runs until killed, reconnects, until the run stops.
struct Slot {
    index: usize,
    url: crate::url::AmqpUrl,
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    stop: watch::Receiver<bool>,
    rng: Rng,
}

impl Slot {
    async fn run(mut self) {
        let channels = self.shared.channels;
        let mut publishers: Vec<PublisherState> = Vec::new();
        let mut consumer_specs: Vec<(u16, usize)> = Vec::new();
        for channel in 1..=channels as u16 {
            match role(self.index, channel, channels) {
                Role::Publisher(id) => publishers.push(PublisherState {
                    id,
                    channel,
                    queue: id % self.shared.queues.len(),
                    seq: 0,
                    base: 0,
                    confirms: Confirms::default(),
                    confirmed: SeqSet::default(),
                    nacked: 0,
                    reported: false,
                }),
                Role::Consumer(k) => consumer_specs.push((channel, k % self.shared.queues.len())),
            }
        }
        let name = format!("warren-bench soak {}", self.index);
        let mut first = true;
        while !*self.stop.borrow() {
            let mut client = match Client::connect(&self.url, &name).await {
                Ok(client) => client,
                Err(e) => {
                    self.shared
                        .counters
                        .connect_errors
                        .fetch_add(1, Ordering::Relaxed);
                    self.shared
                        .fail(format!("connection {}: cannot connect: {e}", self.index));
                    report_finals(&self.shared, &mut publishers, true);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            if !first {
                self.shared
                    .counters
                    .reconnects
                    .fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            let mut consumers: Vec<ConsumerChannel> = consumer_specs
                .iter()
                .map(|&(channel, queue)| ConsumerChannel {
                    channel,
                    queue,
                    assembler: Assembler::default(),
                    last_tag: 0,
                    unacked: Vec::new(),
                })
                .collect();
            let outcome = self
                .incarnation(&mut client, &mut publishers, &mut consumers)
                .await;
            match outcome {
                Ok(End::Stopped) => {
                    encode_acks(&self.shared, &mut client, &mut consumers);
                    let _ = client.close().await;
                }
                Ok(End::Killed) => self.kill_now(client, &publishers, &consumers),
                Err(e) => {
                    self.shared.fail(format!("connection {}: {e}", self.index));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
            for p in &mut publishers {
                p.end_incarnation();
            }
            report_finals(
                &self.shared,
                &mut publishers,
                Instant::now() >= self.shared.deadline,
            );
        }
        report_finals(&self.shared, &mut publishers, true);
    }

    /// Opens the channels, then publishes, consumes and acks until killed or stopped.
    async fn incarnation(
        &mut self,
        client: &mut Client,
        publishers: &mut [PublisherState],
        consumers: &mut [ConsumerChannel],
    ) -> Result<End> {
        let shared = Arc::clone(&self.shared);
        let mut templates = Vec::with_capacity(publishers.len());
        for p in publishers.iter() {
            client.open_channel(p.channel).await?;
            client.confirm_select(p.channel).await?;
            templates.push(PublishTemplate::new(
                p.channel,
                ShortStr::from_static(""),
                short(shared.queues[p.queue].clone())?,
                message_properties(),
                shared.body.clone(),
                client.frame_max,
            ));
        }
        for c in consumers.iter() {
            client.open_channel(c.channel).await?;
            client.qos(c.channel, shared.prefetch).await?;
        }
        // The queues hold messages already: a consumer gets deliveries at once. Waiting for
        // consume-ok on the next channel would skip (and later ack unseen) the deliveries of
        // the previous one, so every consume is no-wait, and its errors come as a close.
        for c in consumers.iter() {
            let consume = BasicConsume {
                queue: short(shared.queues[c.queue].clone())?,
                consumer_tag: short(format!("soak{}.{}", self.index, c.channel))?,
                no_wait: true,
                ..Default::default()
            };
            encode_method_frame(c.channel, &consume.into(), &mut client.out);
        }
        let began = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        loop {
            let now = Instant::now();
            if now < shared.deadline && client.out.len() < MAX_OUTPUT {
                for (p, template) in publishers.iter_mut().zip(&templates) {
                    publish_due(&shared, client, p, template, began, now);
                }
            }
            let settled = publishers.iter().all(|p| p.unsettled() == 0);
            if now >= shared.deadline
                && (settled || now >= shared.deadline + shared.drain_timeout)
                && publishers.iter().any(|p| !p.reported)
            {
                for p in publishers.iter_mut() {
                    p.end_incarnation();
                }
                report_finals(&shared, publishers, true);
            }
            tokio::select! {
                biased;
                changed = self.stop.changed() => {
                    if changed.is_err() || *self.stop.borrow() {
                        return Ok(End::Stopped);
                    }
                }
                _ = self.kill.notified(), if now < shared.deadline => return Ok(End::Killed),
                read = client.reader.fill() => {
                    read?;
                    read_frames(&shared, client, publishers, consumers)?;
                }
                written = write_some(&mut client.writer, &mut client.out), if !client.out.is_empty() => {
                    written?;
                }
                _ = tick.tick() => encode_acks(&shared, client, consumers),
            }
        }
    }

    /// Drops the socket without a word, sometimes after half a publish frame.
    fn kill_now(
        &mut self,
        client: Client,
        publishers: &[PublisherState],
        consumers: &[ConsumerChannel],
    ) {
        let c = &self.shared.counters;
        c.kills.fetch_add(1, Ordering::Relaxed);
        let orphaned: usize = consumers.iter().map(|c| c.unacked.len()).sum();
        if orphaned > 0 {
            c.kills_with_unacked.fetch_add(1, Ordering::Relaxed);
            c.orphaned.fetch_add(orphaned as u64, Ordering::Relaxed);
        }
        if publishers.iter().any(|p| p.unsettled() > 0) {
            c.kills_with_unconfirmed.fetch_add(1, Ordering::Relaxed);
        }
        if !client.out.is_empty() {
            c.kills_mid_write.fetch_add(1, Ordering::Relaxed);
        } else if let (Some(p), 0) = (publishers.first(), self.rng.below(3)) {
            // Half a publish: the broker must drop it with the connection.
            let template = PublishTemplate::new(
                p.channel,
                ShortStr::from_static(""),
                ShortStr::from_static("half"),
                message_properties(),
                self.shared.body.clone(),
                client.frame_max,
            );
            let half = &template.frames[..template.frames.len() / 2];
            if client.writer.try_write(half).is_ok() {
                c.kills_mid_frame.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(client);
    }
}

/// Hands each publisher's totals to the run once it will publish no more (`done`).
fn report_finals(shared: &Shared, publishers: &mut [PublisherState], done: bool) {
    if !done {
        return;
    }
    let mut finals = lock(&shared.finals);
    for p in publishers.iter_mut().filter(|p| !p.reported) {
        p.reported = true;
        finals[p.id] = Some((
            Published {
                count: p.seq,
                confirmed: Some(p.confirmed.clone()),
            },
            p.nacked,
        ));
    }
}

/// Encodes the messages this publisher may send now: its share of the rate since the
/// incarnation began, within the confirm window.
fn publish_due(
    shared: &Shared,
    client: &mut Client,
    p: &mut PublisherState,
    template: &PublishTemplate,
    began: Instant,
    now: Instant,
) {
    let mut n = BATCH.min(shared.window.saturating_sub(p.unsettled()));
    if let Some(rate) = shared.rate_per_publisher {
        let due = (rate * now.saturating_duration_since(began).as_secs_f64()) as u64 + 1;
        n = n.min(due.saturating_sub(p.seq - p.base));
    }
    let sent_ns = now.saturating_duration_since(shared.start).as_nanos() as u64;
    for _ in 0..n {
        let stamp = Stamp {
            publisher: p.id as u32,
            seq: p.seq,
            sent_ns,
        };
        template.push_stamped(&mut client.out, stamp);
        p.seq += 1;
    }
}

/// Handles what one read brought: confirms, deliveries (recorded in the ledger), acks when a
/// consumer has `ack_every` unacked deliveries.
fn read_frames(
    shared: &Shared,
    client: &mut Client,
    publishers: &mut [PublisherState],
    consumers: &mut [ConsumerChannel],
) -> Result<()> {
    let mut seen = Vec::new();
    while let Some(frame) = client.reader.next_lean()? {
        let number = frame.channel();
        if let Some(p) = publishers.iter_mut().find(|p| p.channel == number) {
            if let LeanFrame::Frame(Frame::Method { method, .. }) = frame {
                confirm(p, &method)?;
            }
            continue;
        }
        let Some((k, c)) = consumers
            .iter_mut()
            .enumerate()
            .find(|(_, c)| c.channel == number)
        else {
            if let LeanFrame::Frame(Frame::Method { method, .. }) = &frame {
                if let Some(error) = closed_error(method) {
                    return Err(error);
                }
            }
            continue;
        };
        match c.assembler.push_lean(frame)? {
            Incoming::Content(content) => {
                if let Method::BasicDeliver(d) = content.method {
                    c.last_tag = d.delivery_tag;
                    seen.push(Seen {
                        consumer: k,
                        redelivered: d.redelivered,
                        stamp: payload::read(&content.body),
                    });
                }
            }
            Incoming::Method(_, method) => check_method(&method)?,
            Incoming::Nothing => {}
        }
    }
    if seen.is_empty() {
        return Ok(());
    }
    let counters = &shared.counters;
    counters
        .deliveries
        .fetch_add(seen.len() as u64, Ordering::Relaxed);
    let redelivered = seen.iter().filter(|s| s.redelivered).count() as u64;
    counters
        .redeliveries
        .fetch_add(redelivered, Ordering::Relaxed);
    let mut ledger = lock(&shared.ledger);
    for s in seen {
        let c = &mut consumers[s.consumer];
        let Some(stamp) = s.stamp else {
            ledger.foreign += 1;
            continue;
        };
        let p = stamp.publisher as usize;
        if p >= ledger.tracks.len() || p % shared.queues.len() != c.queue {
            ledger.foreign += 1;
            continue;
        }
        let track = &mut ledger.tracks[p];
        track.delivered.insert(stamp.seq);
        let twice = !s.redelivered && !track.fresh.insert(stamp.seq);
        ledger.fresh_twice += u64::from(twice);
        c.unacked.push((p, stamp.seq));
    }
    for c in consumers.iter_mut() {
        if c.unacked.len() as u64 >= shared.ack_every {
            ack(&mut ledger, client, c);
        }
    }
    Ok(())
}

fn confirm(p: &mut PublisherState, method: &Method) -> Result<()> {
    if let Some(error) = closed_error(method) {
        return Err(error);
    }
    let published = p.seq - p.base;
    match method {
        Method::BasicAck(a) => p
            .confirms
            .settle(a.delivery_tag, a.multiple, false, published),
        Method::BasicNack(n) => p
            .confirms
            .settle(n.delivery_tag, n.multiple, true, published),
        _ => {}
    }
    Ok(())
}

/// Acks (multiple) every consumer's deliveries so far.
fn encode_acks(shared: &Shared, client: &mut Client, consumers: &mut [ConsumerChannel]) {
    if consumers.iter().all(|c| c.unacked.is_empty()) {
        return;
    }
    let mut ledger = lock(&shared.ledger);
    for c in consumers.iter_mut().filter(|c| !c.unacked.is_empty()) {
        ack(&mut ledger, client, c);
    }
}

fn ack(ledger: &mut Ledger, client: &mut Client, c: &mut ConsumerChannel) {
    let ack = BasicAck {
        delivery_tag: c.last_tag,
        multiple: true,
    };
    encode_method_frame(c.channel, &ack.into(), &mut client.out);
    for (p, seq) in c.unacked.drain(..) {
        if ledger.tracks[p].acked.insert(seq) {
            ledger.acked += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_alternate_over_all_channels() {
        assert_eq!(role(0, 1, 4), Role::Publisher(0));
        assert_eq!(role(0, 2, 4), Role::Consumer(0));
        assert_eq!(role(1, 3, 4), Role::Publisher(3));
        assert_eq!(
            role(3, 1, 1),
            Role::Consumer(1),
            "one channel: connections alternate"
        );
        assert_eq!(role_counts(3, 1), (2, 1));
        assert_eq!(role_counts(20, 4), (40, 40));
    }

    #[test]
    fn verdict_separates_confirmed_from_in_doubt() {
        let mut confirmed = SeqSet::default();
        for s in [0, 1, 2, 3] {
            confirmed.insert(s);
        }
        let published = Published {
            count: 7,
            confirmed: Some(confirmed),
        };
        let mut track = Track::default();
        // 0, 1 delivered and acked; 2 delivered to a consumer killed before its ack and never
        // redelivered; 3 never delivered; 4 (in doubt) delivered; 5 nacked; 6 in doubt, lost;
        // 9 never published.
        for s in [0, 1, 2, 4, 9] {
            track.delivered.insert(s);
        }
        for s in [0, 1, 4] {
            track.acked.insert(s);
        }
        let mut v = SoakVerdict::default();
        v.add(7, &published, 1, &track);
        assert_eq!(
            v,
            SoakVerdict {
                published: 7,
                confirmed: 4,
                nacked: 1,
                in_doubt: 2,
                acked: 3,
                lost: 1,
                lost_after_delivery: 1,
                fresh_twice: 0,
                unexpected: 1,
                unconfirmed_delivered: 1,
                unconfirmed_lost: 2,
                lost_examples: vec!["7:2".to_owned(), "7:3".to_owned()],
            }
        );
    }

    #[test]
    fn incarnations_map_tags_to_sequence_numbers() {
        let mut p = PublisherState {
            id: 0,
            channel: 1,
            queue: 0,
            seq: 5,
            base: 0,
            confirms: Confirms::default(),
            confirmed: SeqSet::default(),
            nacked: 0,
            reported: false,
        };
        p.confirms.settle(3, true, false, 5);
        assert_eq!(p.unsettled(), 2);
        p.end_incarnation(); // 3 and 4 in doubt
        p.seq = 8;
        p.confirms.settle(2, false, false, 3); // tag 2 of the second incarnation: seq 6
        p.end_incarnation();
        assert_eq!(p.confirmed.iter().collect::<Vec<_>>(), vec![0, 1, 2, 6]);
        assert_eq!(p.unsettled(), 0);
    }
}
