//! One publishing connection: copies pre-encoded publishes into its output buffer in batches,
//! stamps each body, writes whole batches, and reads confirms (and errors) on the same task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::sleep_until;
use warren_wire::{Frame, Method};

use crate::accounting::{Confirms, Published};
use crate::client::{closed_error, write_some, Client, PublishTemplate};
use crate::error::{Error, Result};
use crate::payload::Stamp;

/// The most bytes one batch encodes, whatever `--batch` says: big messages go out a few at a
/// time, and the last batch cannot hold a publisher long past its deadline.
const MAX_BATCH_BYTES: usize = 128 * 1024;

pub struct PublisherSpec {
    pub id: u32,
    /// The run's clock: send stamps are nanoseconds since this instant.
    pub start: Instant,
    pub deadline: Instant,
    pub max_messages: u64,
    /// This publisher's share of `--rate`, in msg/s.
    pub rate: Option<f64>,
    pub confirm_window: Option<u64>,
    pub batch: u64,
    pub drain_timeout: Duration,
    /// Message `seq` is published with `templates[seq % len]`.
    pub templates: Arc<Vec<PublishTemplate>>,
}

pub struct PublisherOutcome {
    /// Still open: closing it now could drop publishes the broker has not read from the
    /// socket yet (a broker applying flow control reads late); the runner closes it after
    /// the drain.
    pub client: Option<Client>,
    pub published: Published,
    pub nacked: u64,
    /// When the last message was written, since the run's start.
    pub publish_time: Duration,
}

pub async fn run(mut client: Client, spec: PublisherSpec) -> Result<PublisherOutcome> {
    let mut confirms = spec.confirm_window.map(|_| Confirms::default());
    let mut seq: u64 = 0;
    let mut publish_end: Option<Instant> = None;
    // When nothing is being written: why, and so until when to sleep.
    let mut waiting = Fill::Filled;
    // When the broker last took some of our output (or the current batch was encoded).
    let mut last_write = Instant::now();
    loop {
        let now = Instant::now();
        if publish_end.is_none() && client.out.is_empty() {
            if now >= spec.deadline || seq >= spec.max_messages {
                publish_end = Some(now);
            } else {
                waiting = fill_batch(&mut client, &spec, &confirms, &mut seq, now);
                // The broker's time to read this batch counts from now.
                last_write = now;
            }
        }
        let wake = match publish_end {
            Some(end) => {
                let settled = confirms.as_ref().map_or(seq, Confirms::settled);
                if settled >= seq || now >= end + spec.drain_timeout {
                    break;
                }
                end + spec.drain_timeout
            }
            // The last batch is still being written after the deadline: fine while the broker
            // reads (slowly, maybe: several MB may wait in the socket buffers), an error once
            // it has read nothing for the drain timeout.
            None if now >= spec.deadline => {
                let limit = last_write + spec.drain_timeout;
                if now >= limit {
                    return Err(Error::protocol(format!(
                        "publisher {}: the broker read none of our publishes for {:.1} s",
                        spec.id,
                        spec.drain_timeout.as_secs_f64()
                    )));
                }
                limit
            }
            None => match waiting {
                Fill::RateLimited(due) => due.min(spec.deadline),
                Fill::Filled | Fill::WindowFull => spec.deadline,
            },
        };
        tokio::select! {
            biased;
            read = client.reader.fill() => {
                read?;
                while let Some(frame) = client.reader.next_frame()? {
                    handle_frame(frame, &mut confirms, seq)?;
                }
            }
            written = write_some(&mut client.writer, &mut client.out), if !client.out.is_empty() => {
                written?;
                last_write = Instant::now();
            }
            _ = sleep_until(wake.into()) => {}
        }
    }
    let publish_time = publish_end
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(spec.start);
    let (confirmed, nacked) = match confirms {
        Some(c) => (Some(c.confirmed), c.nacked),
        None => (None, 0),
    };
    Ok(PublisherOutcome {
        client: Some(client),
        published: Published {
            count: seq,
            confirmed,
        },
        nacked,
        publish_time,
    })
}

/// What [`fill_batch`] did.
#[derive(Clone, Copy)]
enum Fill {
    /// Encoded a batch (being written), or nothing is left to publish.
    Filled,
    /// The rate allows the next message at that instant.
    RateLimited(Instant),
    /// The confirm window is full: a confirm will wake us.
    WindowFull,
}

/// Encodes as many messages as the batch size, the message budget, the rate and the confirm
/// window allow; all get the same send stamp (they leave in one write).
fn fill_batch(
    client: &mut Client,
    spec: &PublisherSpec,
    confirms: &Option<Confirms>,
    seq: &mut u64,
    now: Instant,
) -> Fill {
    let frame_len = spec.templates.first().map_or(1, |t| t.frames.len());
    let mut n = spec
        .batch
        .min((MAX_BATCH_BYTES / frame_len).max(1) as u64)
        .min(spec.max_messages - *seq);
    if let Some(rate) = spec.rate {
        let due = (rate * now.saturating_duration_since(spec.start).as_secs_f64()) as u64 + 1;
        n = n.min(due.saturating_sub(*seq));
        if n == 0 {
            return Fill::RateLimited(next_due(spec, *seq).unwrap_or(now));
        }
    }
    if let (Some(window), Some(c)) = (spec.confirm_window, confirms) {
        n = n.min(window.saturating_sub(*seq - c.settled()));
        if n == 0 {
            return Fill::WindowFull;
        }
    }
    let sent_ns = now.saturating_duration_since(spec.start).as_nanos() as u64;
    let templates = &spec.templates;
    let count = templates.len() as u64;
    for _ in 0..n {
        let stamp = Stamp {
            publisher: spec.id,
            seq: *seq,
            sent_ns,
        };
        templates[(*seq % count) as usize].push_stamped(&mut client.out, stamp);
        *seq += 1;
    }
    Fill::Filled
}

/// When the rate allows the next message, if a rate is set.
fn next_due(spec: &PublisherSpec, seq: u64) -> Option<Instant> {
    let rate = spec.rate?;
    Some(spec.start + Duration::from_secs_f64(seq as f64 / rate))
}

/// Confirms settle; `channel.close`/`connection.close` end the run with an error.
fn handle_frame(frame: Frame, confirms: &mut Option<Confirms>, published: u64) -> Result<()> {
    let Frame::Method { method, .. } = frame else {
        return Ok(());
    };
    if let Some(error) = closed_error(&method) {
        return Err(error);
    }
    match (method, confirms.as_mut()) {
        (Method::BasicAck(ack), Some(c)) => {
            c.settle(ack.delivery_tag, ack.multiple, false, published)
        }
        (Method::BasicNack(nack), Some(c)) => {
            c.settle(nack.delivery_tag, nack.multiple, true, published)
        }
        (Method::BasicAck(_) | Method::BasicNack(_), None) => {
            return Err(Error::protocol("a confirm without confirm.select"))
        }
        _ => {}
    }
    Ok(())
}
