//! `throughput` and `latency`: P publishers → one exchange → one queue → C consumers. The same
//! run answers both; `latency` only defaults to a fixed rate (10 000 msg/s) so that the
//! percentiles measure the broker's path rather than a queue that builds up.

use warren_router::reference::topic_matches;
use warren_wire::{FieldTable, FieldValue};

use bytes::Bytes;

use crate::args::{ExchangeKind, Options};
use crate::error::{Error, Result};
use crate::report;

use super::runner::{run_id, run_plan, KeyPlan, Plan, QueuePlan};

/// The binding arguments: for a headers exchange, match the `name` header every message has.
pub fn binding_arguments(kind: ExchangeKind) -> FieldTable {
    let mut arguments = FieldTable::new();
    if kind == ExchangeKind::Headers {
        arguments.insert("x-match", FieldValue::LongStr(Bytes::from_static(b"all")));
        arguments.insert(
            "name",
            FieldValue::LongStr(Bytes::from_static(b"call_created")),
        );
    }
    arguments
}

/// Whether a message with `routing_key` reaches a queue bound with `binding_key`.
pub fn routes(kind: ExchangeKind, binding_key: &str, routing_key: &str) -> bool {
    match kind {
        ExchangeKind::Topic => topic_matches(binding_key.as_bytes(), routing_key.as_bytes()),
        ExchangeKind::Direct => binding_key == routing_key,
        ExchangeKind::Fanout | ExchangeKind::Headers => true,
    }
}

/// `queues` queues bound with the binding key, `consumers` consumers each, one routing key.
pub fn single_key_plan(o: &Options, queues: usize, consumers: usize) -> Result<Plan> {
    if !routes(o.exchange_kind, &o.binding_key, &o.routing_key) {
        return Err(Error::usage(format!(
            "routing key '{}' does not match binding key '{}' on a {} exchange",
            o.routing_key,
            o.binding_key,
            o.exchange_kind.name()
        )));
    }
    let id = run_id();
    Ok(Plan {
        exchange: o.exchange.clone(),
        exchange_kind: o.exchange_kind.name(),
        queues: (0..queues)
            .map(|q| QueuePlan {
                name: format!("warren-bench.{id}.q{q}"),
                bindings: vec![(o.binding_key.clone(), binding_arguments(o.exchange_kind))],
                consumers,
            })
            .collect(),
        keys: vec![KeyPlan {
            routing_key: o.routing_key.clone(),
            queues: (0..queues).collect(),
        }],
        consumer_connections: if queues == 1 {
            consumers
        } else {
            o.consumer_connections
        },
        patterns: None,
        measure_memory: false,
    })
}

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let plan = single_key_plan(o, 1, o.consumers)?;
    let outcome = run_plan(o, plan).await?;
    let mut params = report::message_params(o);
    params
        .int("consumers", o.consumers as u64)
        .str("exchange", &o.exchange)
        .str("exchange_type", o.exchange_kind.name())
        .str("routing_key", &o.routing_key)
        .str("binding_key", &o.binding_key);
    Ok(report::message_run(o, params, &outcome))
}
