//! `fanout`: one routing key matched by `--queues` queues, one consumer each (spread over
//! `--consumer-connections` connections). Every message is delivered once per queue; order is
//! checked per queue.

use crate::args::Options;
use crate::error::Result;
use crate::report;

use super::runner::run_plan;
use super::throughput::single_key_plan;

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let plan = single_key_plan(o, o.queues, 1)?;
    let outcome = run_plan(o, plan).await?;
    let mut params = report::message_params(o);
    params
        .int("queues", o.queues as u64)
        .int("consumer_connections", o.consumer_connections as u64)
        .str("exchange", &o.exchange)
        .str("exchange_type", o.exchange_kind.name())
        .str("routing_key", &o.routing_key)
        .str("binding_key", &o.binding_key);
    Ok(report::message_run(o, params, &outcome))
}
