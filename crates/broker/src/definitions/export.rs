//! The broker's state as a definitions file, as `rabbitmqctl export_definitions` and the
//! management API's `GET /api/definitions` write it: what [`super::parse`] reads back.

use serde_json::{json, Value};

use super::tables::table_to_json;
use crate::model::snapshot::{DestinationName, VHostSnapshot};
use crate::{Broker, Grant, TopicGrant};

/// Everything (`vhost` None), or one vhost's exchanges, queues and bindings without the vhost
/// names in them (RabbitMQ's per-vhost export); None if that vhost does not exist.
/// Exclusive queues, the default exchange, `amq.*` exchanges and the default exchange's
/// bindings are left out, as RabbitMQ leaves them.
pub fn export(broker: &Broker, vhost: Option<&str>) -> Option<Value> {
    let snapshot = broker.snapshot();
    let vhosts: Vec<&VHostSnapshot> = snapshot
        .vhosts
        .iter()
        .filter(|v| vhost.map_or(true, |name| v.name.as_bytes() == name.as_bytes()))
        .collect();
    if vhost.is_some() && vhosts.is_empty() {
        return None;
    }
    let with_vhost = |mut object: Value, name: &str| {
        if vhost.is_none() {
            object["vhost"] = Value::String(name.to_string());
        }
        object
    };
    let (mut queues, mut exchanges, mut bindings) = (Vec::new(), Vec::new(), Vec::new());
    for v in &vhosts {
        let name = v.name.to_string();
        for q in v.queues.iter().filter(|q| q.exclusive_owner.is_none()) {
            let queue = json!({"name": q.name.to_string(), "durable": q.durable,
                "auto_delete": q.auto_delete, "arguments": table_to_json(&q.arguments)});
            queues.push(with_vhost(queue, &name));
        }
        for x in v
            .exchanges
            .iter()
            .filter(|x| !is_builtin(x.name.as_bytes()))
        {
            let exchange = json!({"name": x.name.to_string(), "type": x.kind.name(),
                "durable": x.durable, "auto_delete": x.auto_delete, "internal": x.internal,
                "arguments": table_to_json(&x.arguments)});
            exchanges.push(with_vhost(exchange, &name));
        }
        for b in v.bindings.iter().filter(|b| !b.source.is_empty()) {
            let (destination, kind) = match &b.destination {
                DestinationName::Queue(q) => (q, "queue"),
                DestinationName::Exchange(x) => (x, "exchange"),
            };
            let binding = json!({"source": b.source.to_string(),
                "destination": destination.to_string(), "destination_type": kind,
                "routing_key": b.routing_key.to_string(),
                "arguments": table_to_json(&b.arguments)});
            bindings.push(with_vhost(binding, &name));
        }
    }
    let mut definitions = json!({
        "rabbit_version": crate::RABBITMQ_VERSION,
        "parameters": [], "policies": [],
        "queues": queues, "exchanges": exchanges, "bindings": bindings,
    });
    if vhost.is_none() {
        let users = broker.users();
        let users_json: Vec<Value> = users.list().iter().map(user_json).collect();
        let vhost_names: Vec<Value> = vhosts
            .iter()
            .map(|v| json!({"name": v.name.to_string()}))
            .collect();
        let permissions: Vec<Value> = users.grants().iter().map(grant_json).collect();
        let topic_permissions: Vec<Value> =
            users.topic_grants().iter().map(topic_grant_json).collect();
        let all = definitions.as_object_mut().expect("built as an object");
        all.insert("rabbitmq_version".into(), crate::RABBITMQ_VERSION.into());
        all.insert("product_name".into(), "Warren".into());
        all.insert("product_version".into(), env!("CARGO_PKG_VERSION").into());
        all.insert("users".into(), users_json.into());
        all.insert("vhosts".into(), vhost_names.into());
        all.insert("permissions".into(), permissions.into());
        all.insert("topic_permissions".into(), topic_permissions.into());
        all.insert("global_parameters".into(), json!([]));
    }
    Some(definitions)
}

/// A user as definitions files and the management API show one (the hash, never a password).
pub fn user_json(user: &crate::User) -> Value {
    let (hash, algorithm) = match &user.password {
        Some(hash) => (hash.to_base64(), hash.algorithm().name()),
        None => (String::new(), crate::auth::HashingAlgorithm::DEFAULT_NAME),
    };
    json!({"name": user.name, "password_hash": hash, "hashing_algorithm": algorithm,
           "tags": user.tags, "limits": {}})
}

/// A user's permissions in a vhost, as definitions files and the management API show them.
pub fn grant_json(grant: &Grant) -> Value {
    json!({"user": grant.user, "vhost": grant.vhost, "configure": grant.configure,
           "write": grant.write, "read": grant.read})
}

/// A user's topic permissions on an exchange, likewise.
pub fn topic_grant_json(grant: &TopicGrant) -> Value {
    json!({"user": grant.user, "vhost": grant.vhost, "exchange": grant.exchange,
           "write": grant.write, "read": grant.read})
}

/// The default exchange and `amq.*`: every vhost has them, so exports leave them out.
fn is_builtin(name: &[u8]) -> bool {
    name.is_empty() || name.starts_with(b"amq.")
}
