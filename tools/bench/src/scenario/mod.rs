//! The scenarios. The message scenarios (`throughput`, `latency`, `fanout`, `bindings`,
//! `selftest`) each build a [`runner::Plan`] (queues, bindings, routing keys, consumers) that
//! [`runner::run_plan`] executes and verifies; `churn`, `soak` (with a chaos loop), the memory
//! measurements (`idle-connections`, `backlog`, `requeue`) and `startup` have their own; `retention` is a
//! plan that measures memory.

pub mod bindings;
pub mod churn;
pub mod consumer;
pub mod fanout;
pub mod memory;
pub mod publisher;
pub mod requeue;
pub mod retention;
pub mod runner;
pub mod selftest;
pub mod soak;
pub mod startup;
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
        Scenario::Soak => soak::run(o).await,
        Scenario::IdleConnections => memory::idle_connections(o).await,
        Scenario::Backlog => memory::backlog(o).await,
        Scenario::Retention => retention::run(o).await,
        Scenario::Requeue => requeue::run(o).await,
        Scenario::Startup => startup::run(o).await,
        Scenario::Sink => Err(Error::usage("sink is not a load scenario")),
    }
}
