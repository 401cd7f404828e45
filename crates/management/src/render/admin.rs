//! Vhosts, users and permissions (`/api/vhosts`, `/api/users`, `/api/permissions`).

use serde_json::{json, Map, Value};
use warren_broker::model::connections::Traffic;
use warren_broker::model::snapshot::{Snapshot, VHostSnapshot};

use super::connection::traffic_counters;

use crate::stats::{all_message_stats, Key, Rates};

pub use warren_broker::definitions::{
    grant_json as permission, topic_grant_json as topic_permission, user_json as user,
};

/// What the open connections of a vhost carried.
pub fn vhost_traffic(snapshot: &Snapshot, vhost: &str) -> Traffic {
    let mut total = Traffic::default();
    for connection in snapshot.connections.iter().filter(|c| c.vhost == vhost) {
        let t = &connection.traffic;
        total.recv_oct += t.recv_oct;
        total.recv_cnt += t.recv_cnt;
        total.send_oct += t.send_oct;
        total.send_cnt += t.send_cnt;
    }
    total
}

pub fn vhost(vhost: &VHostSnapshot, traffic: &Traffic, rates: &Rates) -> Value {
    let name = vhost.name.to_string();
    let (ready, unacked) = vhost.queues.iter().fold((0, 0), |(r, u), q| {
        (r + q.counts.ready, u + q.counts.unacked)
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
