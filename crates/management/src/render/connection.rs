//! Connections (`/api/connections`) and channels (`/api/channels`).

use serde_json::{json, Value};
use warren_broker::model::connections::ChannelDetails;
use warren_broker::model::snapshot::ConnectionSnapshot;

use super::{arguments, channel_name, epoch_millis};
use crate::stats::{all_message_stats, channel_message_stats, traffic_counters, Key, Rates};

pub fn connection(connection: &ConnectionSnapshot, rates: &Rates) -> Value {
    let properties = arguments(&connection.client_properties);
    let provided_name = properties.get("connection_name").cloned();
    let mut object = json!({
        "name": connection.name,
        "node": warren_broker::NODE_NAME,
        "type": "network",
        "protocol": "AMQP 0-9-1",
        "auth_mechanism": "PLAIN",
        "host": connection.local.ip().to_string(),
        "port": connection.local.port(),
        "peer_host": connection.peer.ip().to_string(),
        "peer_port": connection.peer.port(),
        "ssl": false,
        "peer_cert_issuer": null,
        "peer_cert_subject": null,
        "peer_cert_validity": null,
        "ssl_cipher": null,
        "ssl_hash": null,
        "ssl_key_exchange": null,
        "ssl_protocol": null,
        "user": connection.user,
        "user_who_performed_action": connection.user,
        "vhost": connection.vhost,
        "state": connection.state,
        "channels": connection.channels.len(),
        "channel_max": connection.channel_max,
        "frame_max": connection.frame_max,
        "timeout": connection.heartbeat,
        "connected_at": epoch_millis(connection.connected_at),
        "client_properties": properties,
    });
    if let Some(name) = provided_name {
        object["user_provided_name"] = name;
    }
    let key = Key::Connection(connection.id);
    let stats = all_message_stats(&connection.message_stats);
    object["message_stats"] = rates.message_stats(&key, &stats);
    if let Value::Object(fields) = &mut object {
        rates.insert(fields, &key, &traffic_counters(&connection.traffic));
        fields.insert("recv_cnt".into(), connection.traffic.recv_cnt.into());
        fields.insert("send_cnt".into(), connection.traffic.send_cnt.into());
        // Bytes handed to the socket but not yet written: the pump keeps none back.
        fields.insert("send_pend".into(), 0.into());
    }
    object
}

pub fn channel(connection: &ConnectionSnapshot, channel: &ChannelDetails, rates: &Rates) -> Value {
    let mut object = json!({
        "name": channel_name(connection, channel.number),
        "number": channel.number,
        "node": warren_broker::NODE_NAME,
        "state": "running",
        "user": connection.user,
        "user_who_performed_action": connection.user,
        "vhost": connection.vhost,
        "connection_details": {
            "name": connection.name,
            "peer_host": connection.peer.ip().to_string(),
            "peer_port": connection.peer.port(),
        },
        "confirm": channel.confirm,
        "transactional": channel.transactional,
        "prefetch_count": channel.prefetch_count,
        "global_prefetch_count": channel.global_prefetch_count,
        "consumer_count": channel.consumers,
        "messages_unacknowledged": channel.unacked,
        "messages_uncommitted": channel.messages_uncommitted,
        "acks_uncommitted": channel.acks_uncommitted,
        // Warren confirms each batch of publishes as it routes it, and keeps no quorum queues.
        "messages_unconfirmed": 0,
        "pending_raft_commands": 0,
    });
    let counters = channel_message_stats(&channel.stats);
    if !counters.is_empty() {
        let key = Key::Channel(connection.id, channel.number);
        object["message_stats"] = rates.message_stats(&key, &counters);
    }
    object
}
