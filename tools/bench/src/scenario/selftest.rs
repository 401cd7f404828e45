//! `selftest`: the `throughput` run against the trivial sink, started in this process on a
//! free loopback port. The sink does next to nothing per message (decode, re-encode as a
//! delivery, one write per batch), so the rate measured is the load tool's ceiling, shared
//! with the sink's own work on the same cores. For the tool alone, run `warren-bench sink` in
//! another process and point `throughput --broker-pid` at it.

use crate::args::Options;
use crate::error::Result;
use crate::sink;
use crate::url::AmqpUrl;

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let sink = sink::start(0).await?;
    let mut o = o.clone();
    o.url = AmqpUrl::parse(&sink.url())?;
    let result = super::throughput::run(&o).await;
    sink.stop();
    result
}
