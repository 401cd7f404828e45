//! One publishing connection: copies pre-encoded publishes into its output buffer in batches,
//! stamps each body, writes whole batches, and reads confirms (and errors) on the same task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::sleep_until;
use warren_wire::{Frame, Method};

use crate::accounting::{Confirms, Published};
use crate::client::{closed_error, write_some, Client, PublishTemplate};
use crate::error::{Error, Result};
use crate::payload::{self, Stamp, PREFIX_LEN};

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
    pub published: Published,
    pub nacked: u64,
    /// When the last message was written, since the run's start.
    pub publish_time: Duration,
}

pub async fn run(mut client: Client, spec: PublisherSpec) -> Result<PublisherOutcome> {
    let mut confirms = spec.confirm_window.map(|_| Confirms::default());
    let mut seq: u64 = 0;
    let mut publish_end: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if publish_end.is_none() && client.out.is_empty() {
            if now >= spec.deadline || seq >= spec.max_messages {
                publish_end = Some(now);
            } else {
                fill_batch(&mut client, &spec, &confirms, &mut seq, now);
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
            None => next_due(&spec, seq).map_or(spec.deadline, |due| due.min(spec.deadline)),
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
            }
            _ = sleep_until(wake.into()) => {}
        }
    }
    let publish_time = publish_end
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(spec.start);
    let _ = client.close().await;
    let (confirmed, nacked) = match confirms {
        Some(c) => (Some(c.confirmed), c.nacked),
        None => (None, 0),
    };
    Ok(PublisherOutcome {
        published: Published {
            count: seq,
            confirmed,
        },
        nacked,
        publish_time,
    })
}

/// Encodes as many messages as the batch size, the message budget, the rate and the confirm
/// window allow; all get the same send stamp (they leave in one write).
fn fill_batch(
    client: &mut Client,
    spec: &PublisherSpec,
    confirms: &Option<Confirms>,
    seq: &mut u64,
    now: Instant,
) {
    let mut n = spec.batch.min(spec.max_messages - *seq);
    if let Some(rate) = spec.rate {
        let due = (rate * now.saturating_duration_since(spec.start).as_secs_f64()) as u64 + 1;
        n = n.min(due.saturating_sub(*seq));
    }
    if let (Some(window), Some(c)) = (spec.confirm_window, confirms) {
        n = n.min(window.saturating_sub(*seq - c.settled()));
    }
    if n == 0 {
        return;
    }
    let sent_ns = now.saturating_duration_since(spec.start).as_nanos() as u64;
    let templates = &spec.templates;
    let count = templates.len() as u64;
    for _ in 0..n {
        let template = &templates[(*seq % count) as usize];
        let at = client.out.len() + template.body_offset;
        client.out.extend_from_slice(&template.frames);
        let stamp = Stamp {
            publisher: spec.id,
            seq: *seq,
            sent_ns,
        };
        payload::stamp(&mut client.out[at..at + PREFIX_LEN], stamp);
        *seq += 1;
    }
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
