//! `bindings`: `--queues` queues, one per simulated Wazo user, each bound to a topic exchange
//! with `--bindings` patterns of the kind Wazo services bind per user
//! (`config.users.<uuid>.#`, `chatd.users.<uuid>.presences.*`...). Publishers cycle through
//! keys that match exactly one queue (some match two of its patterns: delivered once) and
//! keys that match nothing: every user's, or with `--active-users N` the first N users' only.
//! Every delivery's routing key is checked against its queue's patterns, and every queue must
//! get exactly the messages whose keys it binds.

use warren_router::reference::topic_matches;
use warren_wire::FieldTable;

use crate::args::{ExchangeKind, Options};
use crate::error::{Error, Result};
use crate::report;

use super::runner::{run_id, run_plan, KeyPlan, Plan, QueuePlan};

/// (pattern, a key that it matches) for user `u`, with `{u}` for the user's uuid.
const WAZO_BINDINGS: &[(&str, &str)] = &[
    (
        "config.users.{u}.#",
        "config.users.{u}.services.dnd.updated",
    ),
    (
        "chatd.users.{u}.presences.*",
        "chatd.users.{u}.presences.updated",
    ),
    (
        "auth.users.{u}.external.*.created",
        "auth.users.{u}.external.google.created",
    ),
    ("directory.{u}.favorite.*", "directory.{u}.favorite.created"),
    (
        "applications.{u}.calls.#",
        "applications.{u}.calls.1714564800.answered",
    ),
    (
        "conferences.users.{u}.participants.*",
        "conferences.users.{u}.participants.joined",
    ),
    (
        "voicemails.users.{u}.messages.#",
        "voicemails.users.{u}.messages.created",
    ),
    (
        "switchboards.{u}.calls.*.*",
        "switchboards.{u}.calls.queued.updated",
    ),
    (
        "meetings.users.{u}.#",
        "meetings.users.{u}.participants.joined",
    ),
    // Also matched by the first pattern: the queue must get such a message once.
    (
        "config.users.{u}.forwards.*.updated",
        "config.users.{u}.forwards.busy.updated",
    ),
];

/// A key of user `{u}` that none of its patterns match (`presences.*` needs one more word).
const UNMATCHED: &str = "chatd.users.{u}.presences";

fn user_uuid(i: usize) -> String {
    format!("{:08x}-7a1c-4e11-9f0e-{:012x}", 0x2f8a_6d2e_u32, i)
}

/// Binding `j` of user `u`: (pattern, matching key).
fn binding(j: usize, u: &str) -> (String, String) {
    match WAZO_BINDINGS.get(j) {
        Some((pattern, key)) => (pattern.replace("{u}", u), key.replace("{u}", u)),
        None => (
            format!("plugin{j}.users.{u}.#"),
            format!("plugin{j}.users.{u}.event"),
        ),
    }
}

/// The users whose keys are published.
fn active_users(o: &Options) -> usize {
    o.active_users
        .map_or(o.queues, |active| active.min(o.queues))
}

pub fn plan(o: &Options) -> Result<Plan> {
    if o.exchange_kind != ExchangeKind::Topic {
        return Err(Error::usage("bindings needs a topic exchange"));
    }
    let (n, k) = (o.queues, o.bindings);
    let active = active_users(o);
    let id = run_id();
    let mut queues = Vec::with_capacity(n);
    let mut patterns = Vec::with_capacity(n);
    let mut keys: Vec<KeyPlan> = Vec::with_capacity(active * (k + 1));
    for i in 0..n {
        let u = user_uuid(i);
        let bound: Vec<(String, String)> = (0..k).map(|j| binding(j, &u)).collect();
        queues.push(QueuePlan {
            name: format!("warren-bench.{id}.user{i}"),
            bindings: bound
                .iter()
                .map(|(pattern, _)| (pattern.clone(), FieldTable::new()))
                .collect(),
            consumers: 1,
        });
        patterns.push(bound.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
    }
    // Key r * active + i is user i's r-th key (r == k: the unmatched one), so consecutive
    // messages go to different queues.
    for r in 0..=k {
        for (i, queue_patterns) in patterns.iter().enumerate().take(active) {
            let u = user_uuid(i);
            let key = if r < k {
                binding(r, &u).1
            } else {
                UNMATCHED.replace("{u}", &u)
            };
            // Users' uuids differ, so only user i's own patterns can match its keys.
            let matched = queue_patterns
                .iter()
                .any(|p| topic_matches(p.as_bytes(), key.as_bytes()));
            if matched != (r < k) {
                return Err(Error::protocol(format!(
                    "bindings plan: key {key} misbuilt"
                )));
            }
            keys.push(KeyPlan {
                routing_key: key,
                queues: if matched { vec![i] } else { Vec::new() },
            });
        }
    }
    Ok(Plan {
        exchange: o.exchange.clone(),
        exchange_kind: "topic",
        queues,
        keys,
        consumer_connections: o.consumer_connections,
        patterns: Some(patterns),
        measure_memory: false,
    })
}

pub async fn run(o: &Options) -> Result<(String, bool)> {
    let outcome = run_plan(o, plan(o)?).await?;
    let mut params = report::message_params(o);
    params
        .int("queues", o.queues as u64)
        .int("bindings_per_queue", o.bindings as u64)
        .int("bindings_total", (o.queues * o.bindings) as u64)
        .int("active_users", active_users(o) as u64)
        .int("keys", (active_users(o) * (o.bindings + 1)) as u64)
        .int("consumer_connections", o.consumer_connections as u64)
        .str("exchange", &o.exchange);
    Ok(report::message_run(o, params, &outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Options, Scenario};

    /// The options of `bindings --queues <queues> --bindings <bindings>`.
    fn options(queues: usize, bindings: usize) -> Options {
        let mut o = Options::defaults(Scenario::Bindings).expect("defaults");
        o.exchange = "x".into();
        o.queues = queues;
        o.bindings = bindings;
        o
    }

    #[test]
    fn every_key_reaches_its_user_only() {
        let plan = plan(&options(5, 12)).expect("plan");
        assert_eq!(plan.queues.len(), 5);
        assert_eq!(plan.queues[0].bindings.len(), 12);
        assert_eq!(plan.keys.len(), 5 * 13);
        let routed = plan.keys.iter().filter(|k| !k.queues.is_empty()).count();
        assert_eq!(routed, 5 * 12);
        assert_eq!(plan.keys[1].queues, vec![1]);
        assert!(plan.keys[5 * 12].queues.is_empty());
    }

    #[test]
    fn only_active_users_keys_are_published() {
        let mut o = options(5, 3);
        o.active_users = Some(2);
        let plan = plan(&o).expect("plan");
        assert_eq!(plan.queues.len(), 5, "every user is bound");
        assert_eq!(plan.keys.len(), 2 * 4);
        assert!(plan.keys.iter().all(|k| k.queues.iter().all(|&q| q < 2)));
        assert_eq!(plan.keys[3].queues, vec![1]);
    }
}
