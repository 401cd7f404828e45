//! The scenarios. The message scenarios (`throughput`, `latency`, `fanout`, `bindings`,
//! `selftest`) each build a [`runner::Plan`] (queues, bindings, routing keys, consumers) that
//! [`runner::run_plan`] executes and verifies; `churn` has its own loop.

pub mod bindings;
pub mod churn;
pub mod consumer;
pub mod fanout;
pub mod publisher;
pub mod runner;
pub mod selftest;
pub mod throughput;

use crate::args::{Options, Scenario};
use crate::error::{Error, Result};

/// Runs one scenario: its JSON line, and whether every check passed.
pub async fn run(o: &Options) -> Result<(String, bool)> {
    match o.scenario {
        Scenario::Throughput | Scenario::Latency => throughput::run(o).await,
        Scenario::Fanout => fanout::run(o).await,
        Scenario::Bindings => bindings::run(o).await,
        Scenario::Churn => churn::run(o).await,
        Scenario::Selftest => selftest::run(o).await,
        Scenario::Sink => Err(Error::usage("sink is not a load scenario")),
    }
}
