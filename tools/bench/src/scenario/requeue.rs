//! `requeue`: what a no-ack consumer that stops reading costs, and what its death costs.
//!
//! A consumer (`no-ack`, its own connection) subscribes to a queue and then never reads its
//! socket again. One publisher sends `--max-messages` messages of `--size` bytes (with
//! confirms) to the queue: the broker hands some of them to the consumer (what its socket,
//! its output buffers and its delivery window take) and keeps the rest waiting. Then the
//! consumer's socket is dropped. A broker that kept what it had buffered for the consumer
//! puts it back in the queue; RabbitMQ counts no-ack deliveries as done and drops them.
//!
//! The broker's RSS is read before the publish, once the queue is full (after [`SETTLE`]),
//! every 10 ms for [`WATCH`] after the consumer's death (the peak is the spike), and after
//! another [`SETTLE`]. The queue's length is read before and after the death (`queue.declare`
//! passive): what it gained was put back; what it lost was handed to the consumer after the
//! first reading (RabbitMQ's credit flow lets a few more go) and went with it, as no-ack
//! deliveries may. The run fails on an unconfirmed publish or a queue holding more messages
//! than were published.

use std::time::{Duration, Instant};

use crate::args::Options;
use crate::client::{Client, CHANNEL};
use crate::error::Result;
use crate::procfs::{memory_kib, settled_rss, SETTLE};
use crate::report;

use super::memory::fill_queue;
use super::runner::{clean_up, run_id};

/// How long the RSS is followed after the consumer's death.
const WATCH: Duration = Duration::from_secs(5);
/// How often it is read meanwhile.
const SAMPLE: Duration = Duration::from_millis(10);

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let queue = format!("warren-bench.{}.requeue", run_id());
    let mut setup = Client::connect(&o.url, "warren-bench requeue setup").await?;
    setup.open_channel(CHANNEL).await?;
    let result = stall_and_kill(o, &mut setup, &queue).await;
    clean_up(setup, std::slice::from_ref(&queue)).await;
    result
}

async fn stall_and_kill(o: &Options, setup: &mut Client, queue: &str) -> Result<(String, bool)> {
    // Not auto-delete: it must outlive its consumer.
    setup.declare_queue(CHANNEL, queue, false).await?;
    let mut stalled = Client::connect(&o.url, "warren-bench requeue stalled consumer").await?;
    stalled.open_channel(CHANNEL).await?;
    stalled.consume(CHANNEL, queue, "stalled", true).await?;
    // From here on, nothing is read from its socket.

    let before = settled_rss(o.broker_pid, SETTLE).await;
    let filled = fill_queue(o, queue, "warren-bench requeue publisher").await?;
    let publish_s = filled.publish_s;
    let published = filled.published.count;
    let confirmed = filled.published.confirmed.as_ref().map_or(0, |c| c.len());
    let full = settled_rss(o.broker_pid, SETTLE).await;
    let waiting = setup.queue_length(CHANNEL, queue).await?;

    // The consumer dies: its socket dropped with unread data (a reset, no connection.close).
    let killed = Instant::now();
    drop(stalled);
    let mut peak = full.unwrap_or(0);
    let mut peak_at = Duration::ZERO;
    let mut timeline = Vec::new();
    while killed.elapsed() < WATCH {
        if let Some((rss, _)) = memory_kib(o.broker_pid) {
            if rss > peak {
                peak = rss;
                peak_at = killed.elapsed();
            }
            timeline.push(rss);
        }
        tokio::time::sleep(SAMPLE).await;
    }
    let after = settled_rss(o.broker_pid, SETTLE).await;
    let requeued_len = setup.queue_length(CHANNEL, queue).await?;

    let mut failures = Vec::new();
    if published < o.max_messages {
        failures.push(format!(
            "{published} of {} messages published within {} s",
            o.max_messages,
            o.duration.as_secs_f64()
        ));
    }
    if confirmed < published {
        failures.push(format!("{} unconfirmed", published - confirmed));
    }
    if u64::from(requeued_len) > published {
        failures.push(format!(
            "the queue holds {requeued_len} messages, more than the {published} published"
        ));
    }
    let ok = failures.is_empty();

    let bytes = confirmed as f64 * o.size as f64;
    let per_byte = |from: Option<u64>, to: Option<u64>| -> Option<f64> {
        let (from, to) = (from?, to?);
        (bytes > 0.0).then(|| (to as f64 - from as f64) * 1024.0 / bytes)
    };
    // Every 100 ms of the watch, in MiB.
    let step = (Duration::from_millis(100).as_nanos() / SAMPLE.as_nanos()) as usize;
    let timeline: Vec<String> = timeline
        .iter()
        .step_by(step.max(1))
        .map(|kib| format!("{:.1}", *kib as f64 / 1024.0))
        .collect();

    let mut params = report::message_params(o);
    params.str("queue", queue);
    let mut j = report::header(o);
    j.object("params", params)
        .int("published", published)
        .int("confirmed", confirmed)
        .num("publish_s", publish_s, 3)
        .int("waiting_before_death", u64::from(waiting))
        .int("waiting_after_death", u64::from(requeued_len))
        .int("requeued", u64::from(requeued_len.saturating_sub(waiting)))
        .int(
            "gone_with_the_consumer",
            u64::from(waiting.saturating_sub(requeued_len)),
        )
        .opt_int("rss_before_kib", before)
        .opt_int("rss_full_kib", full)
        .int("rss_peak_after_death_kib", peak)
        .num("peak_after_death_ms", peak_at.as_secs_f64() * 1000.0, 0)
        .opt_int("rss_after_kib", after)
        .opt_num("rss_per_body_byte", per_byte(before, full), 3)
        .opt_num(
            "spike_mib",
            full.map(|full| (peak as f64 - full as f64) / 1024.0),
            1,
        )
        .opt_num(
            "after_minus_full_mib",
            full.zip(after)
                .map(|(full, after)| (after as f64 - full as f64) / 1024.0),
            1,
        )
        .raw("rss_timeline_mib", &format!("[{}]", timeline.join(",")))
        .opt_int("broker_pid", o.broker_pid.map(u64::from));
    j.bool("ok", ok).strings("failures", &failures);
    Ok((j.finish(), ok))
}
