//! Vhosts, users and permissions (`/api/vhosts`, `/api/users`, `/api/permissions`).

use serde_json::{json, Map, Value};
use warren_broker::model::connections::Traffic;
use warren_broker::model::snapshot::VHostSnapshot;

use crate::stats::{all_message_stats, traffic_counters, Key, Rates};

pub use warren_broker::definitions::{
    grant_json as permission, topic_grant_json as topic_permission, user_json as user,
};

pub fn vhost(vhost: &VHostSnapshot, traffic: &Traffic, rates: &Rates) -> Value {
    let name = vhost.name.to_string();
    let (ready, unacked) = vhost.queues.iter().fold((0, 0), |(r, u), q| {
        (r + q.counts.ready.messages, u + q.counts.unacked.messages)
    });
    let mut object = Map::new();
    let metadata = &vhost.metadata;
    object.insert("name".into(), name.clone().into());
    object.insert("description".into(), metadata.description.clone().into());
    object.insert("tags".into(), json!(metadata.tags));
    object.insert(
        "metadata".into(),
        json!({"description": metadata.description, "tags": metadata.tags}),
    );
    object.insert("default_queue_type".into(), "undefined".into());
    object.insert("tracing".into(), false.into());
    object.insert(
        "cluster_state".into(),
        json!({ warren_broker::NODE_NAME: "running" }),
    );
    let key = Key::VHost(name);
    let totals = [
        ("messages", ready + unacked),
        ("messages_ready", ready),
        ("messages_unacknowledged", unacked),
    ];
    rates.insert(&mut object, &key, &totals);
    rates.insert(&mut object, &key, &traffic_counters(traffic));
    let stats = all_message_stats(&vhost.message_stats);
    object.insert("message_stats".into(), rates.message_stats(&key, &stats));
    Value::Object(object)
}
