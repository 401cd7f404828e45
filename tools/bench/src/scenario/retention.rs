//! `retention`: what a message that nobody consumes costs on a bus whose other messages are
//! consumed at once, the Wazo pattern of a few events going to a queue nobody reads (a
//! disconnected client's durable queue, an audit queue) among many that live consumers take.
//! A broker that keeps such a message inside the buffer it was read into, with already
//! delivered messages around it, pays for the whole buffer; a backlog (`backlog`) does not
//! show it, as it fills its buffers with messages that all stay.
//!
//! One publisher sends `--max-messages` messages (with confirms) to a topic exchange. Message
//! `seq` is published with key `seq % --retain-every`: key 0 is bound to a queue without
//! consumer, the others to a queue with one consumer. After the drain the runner reads the
//! broker's RSS (see `runner.rs`): its growth over the retained messages is their cost. The
//! retained queue must hold exactly the confirmed messages routed to it, and the consumed one
//! must deliver the others, once each and in order.

use warren_wire::FieldTable;

use crate::args::{ExchangeKind, Options};
use crate::error::{Error, Result};
use crate::report;

use super::runner::{run_id, run_plan, KeyPlan, Plan, QueuePlan};

/// The retained messages' routing key and the binding that takes them.
const RETAINED_KEY: &str = "audit.calls.call.created";
const RETAINED_BINDING: &str = "audit.#";

pub fn plan(o: &Options) -> Result<Plan> {
    if o.exchange_kind != ExchangeKind::Topic {
        return Err(Error::usage("retention needs a topic exchange"));
    }
    if super::throughput::routes(o.exchange_kind, RETAINED_BINDING, &o.routing_key) {
        return Err(Error::usage(format!(
            "--routing-key '{}' would also go to the retained queue ({RETAINED_BINDING})",
            o.routing_key
        )));
    }
    let id = run_id();
    let queue = |name: &str, binding: &str, consumers| QueuePlan {
        name: format!("warren-bench.{id}.{name}"),
        bindings: vec![(binding.to_owned(), FieldTable::new())],
        consumers,
    };
    let key = |routing_key: &str, queue| KeyPlan {
        routing_key: routing_key.to_owned(),
        queues: vec![queue],
    };
    let mut keys = vec![key(RETAINED_KEY, 1)];
    keys.extend((1..o.retain_every).map(|_| key(&o.routing_key, 0)));
    Ok(Plan {
        exchange: o.exchange.clone(),
        exchange_kind: "topic",
        queues: vec![
            queue("consumed", &o.binding_key, 1),
            queue("retained", RETAINED_BINDING, 0),
        ],
        keys,
        consumer_connections: 1,
        patterns: None,
        measure_memory: true,
    })
}

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let outcome = run_plan(o, plan(o)?).await?;
    let mut params = report::message_params(o);
    params
        .int("retain_every", o.retain_every)
        .str("exchange", &o.exchange)
        .str("routing_key", &o.routing_key)
        .str("binding_key", &o.binding_key)
        .str("retained_key", RETAINED_KEY);
    Ok(report::message_run(o, params, &outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Scenario;

    #[test]
    fn one_key_in_r_goes_to_the_retained_queue() {
        let mut o = Options::defaults(Scenario::Retention).expect("defaults");
        o.exchange = "x".into();
        o.binding_key = "calls.#".into();
        o.retain_every = 4;
        let planned = plan(&o).expect("plan");
        let consumers: Vec<usize> = planned.queues.iter().map(|q| q.consumers).collect();
        assert_eq!(consumers, [1, 0]);
        let routes: Vec<&[usize]> = planned.keys.iter().map(|k| &k.queues[..]).collect();
        assert_eq!(routes, [&[1][..], &[0], &[0], &[0]]);
        o.routing_key = "audit.x".into();
        assert!(
            plan(&o).is_err(),
            "a consumed key the retained binding matches"
        );
    }
}
