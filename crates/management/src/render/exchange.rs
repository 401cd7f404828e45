//! Exchanges (`/api/exchanges`) and bindings (`/api/bindings`).

use serde_json::{json, Value};
use warren_broker::model::snapshot::{BindingSnapshot, DestinationName, ExchangeSnapshot};

use super::arguments;
use crate::stats::{exchange_message_stats, Key, Rates};

/// RabbitMQ's name for the default exchange in paths and lists.
pub const DEFAULT_EXCHANGE: &str = "amq.default";

pub fn exchange(vhost: &str, exchange: &ExchangeSnapshot, rates: &Rates) -> Value {
    let mut object = json!({
        "name": exchange.name.to_string(),
        "vhost": vhost,
        "type": exchange.kind.name(),
        "durable": exchange.durable,
        "auto_delete": exchange.auto_delete,
        "internal": exchange.internal,
        "arguments": arguments(&exchange.arguments),
        "user_who_performed_action": exchange.declared_by.to_string(),
    });
    if exchange.publish_in + exchange.publish_out > 0 {
        let key = Key::Exchange(vhost.to_string(), exchange.name.to_string());
        let counters = exchange_message_stats(exchange.publish_in, exchange.publish_out);
        object["message_stats"] = rates.message_stats(&key, &counters);
    }
    object
}

pub fn binding(vhost: &str, binding: &BindingSnapshot) -> Value {
    let (destination, kind) = match &binding.destination {
        DestinationName::Queue(q) => (q.to_string(), "queue"),
        DestinationName::Exchange(x) => (x.to_string(), "exchange"),
    };
    let routing_key = binding.routing_key.to_string();
    let arguments = arguments(&binding.arguments);
    json!({
        "source": binding.source.to_string(),
        "vhost": vhost,
        "destination": destination,
        "destination_type": kind,
        "properties_key": properties_key(&routing_key, &arguments),
        "routing_key": routing_key,
        "arguments": arguments,
    })
}

/// The default exchange's binding to every queue, which RabbitMQ lists though no one made it.
pub fn default_binding(vhost: &str, queue: &str) -> Value {
    json!({
        "source": "",
        "vhost": vhost,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": queue,
        "arguments": {},
        "properties_key": properties_key(queue, &json!({})),
    })
}

/// How RabbitMQ names a binding in a path: the routing key, percent-encoded, or `~` for an
/// empty one; with arguments, then `~` and a hash of them (RabbitMQ hashes the Erlang terms,
/// Warren the JSON text: either way, the key is read from the list, not computed by clients).
pub fn properties_key(routing_key: &str, arguments: &Value) -> String {
    let key = if routing_key.is_empty() {
        "~".to_string()
    } else {
        percent_encode(routing_key)
    };
    match arguments.as_object() {
        Some(map) if !map.is_empty() => {
            format!("{key}~{:08x}", fnv1a(arguments.to_string().as_bytes()))
        }
        _ => key,
    }
}

/// FNV-1a, 32 bits: stable and short.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// RFC 3986 unreserved characters stay, everything else is `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
