//! `churn`: `--connections` loops that each, until the duration ends, open a connection (TCP,
//! handshake, vhost), open `--channels` channels, close them, and close the connection.
//! `--max-messages` caps the number of connections opened. Reports connections and channels
//! per second and the time of one whole cycle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::args::Options;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::latency::Histogram;
use crate::procfs::Meter;
use crate::report::{self, Json};

pub async fn run(o: &Options) -> Result<(String, bool)> {
    // One connection first, so that a wrong URL is an error, not a failed run.
    Client::connect(&o.url, "warren-bench churn probe")
        .await?
        .close()
        .await?;
    let meter = Meter::start(o.broker_pid);
    let start = Instant::now();
    let deadline = start + o.duration;
    let started = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..o.connections)
        .map(|_| {
            let started = Arc::clone(&started);
            let (url, channels, cap) = (o.url.clone(), o.channels as u16, o.max_messages);
            tokio::spawn(async move {
                let mut cycles = Histogram::default();
                let mut done = 0u64;
                while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < cap {
                    let began = Instant::now();
                    let mut client = Client::connect(&url, "warren-bench churn").await?;
                    for channel in 1..=channels {
                        client.open_channel(channel).await?;
                    }
                    for channel in 1..=channels {
                        client.close_channel(channel).await?;
                    }
                    client.close().await?;
                    cycles.record(began.elapsed().as_nanos() as u64);
                    done += 1;
                }
                Ok::<_, Error>((done, cycles))
            })
        })
        .collect();
    let mut connections = 0;
    let mut cycles = Histogram::default();
    let mut failures = Vec::new();
    for worker in workers {
        match worker.await {
            Ok(Ok((done, h))) => {
                connections += done;
                cycles.merge(&h);
            }
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("a task failed: {e}")),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let usage = meter.stop();
    let channels = connections * o.channels as u64;
    if connections == 0 {
        failures.push("no connection completed".to_owned());
    }
    let ok = failures.is_empty();

    let mut params = Json::default();
    params
        .int("connections", o.connections as u64)
        .int("channels_per_connection", o.channels as u64)
        .num("duration_s", o.duration.as_secs_f64(), 3)
        .int("max_connections", o.max_messages);
    let mut j = report::header(o);
    j.object("params", params)
        .num("elapsed_s", elapsed, 3)
        .int("connections_opened", connections)
        .int("channels_opened", channels)
        .num("connections_per_s", connections as f64 / elapsed, 1)
        .num("channels_per_s", channels as f64 / elapsed, 1);
    let mut cycle = Json::default();
    cycle
        .num("p50", cycles.quantile(0.5) as f64 / 1e3, 1)
        .num("p99", cycles.quantile(0.99) as f64 / 1e3, 1)
        .num("max", cycles.max() as f64 / 1e3, 1);
    j.object("cycle_us", cycle);
    report::usage(&mut j, &usage, connections, "connection");
    j.bool("ok", ok).strings("failures", &failures);
    Ok((j.finish(), ok))
}
