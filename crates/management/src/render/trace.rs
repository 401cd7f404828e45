//! The routing trace (`GET /api/warren/trace/{vhost}`, and the live page's stream) as JSON.

use serde_json::{json, Value};
use warren_broker::controls::TracedPublish;

use super::{exchange, message};

/// One publish of the trace: the message (its properties, the start of its body) and the route
/// to each queue it reached, each hop a binding as `GET /api/bindings` shows it.
pub fn publish(vhost: &str, traced: &TracedPublish) -> Value {
    let publish = &traced.publish;
    let (payload, encoding) = message::payload(&publish.body, false, None);
    let published_at = publish
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let routes: Vec<Value> = traced
        .routes
        .iter()
        .map(|route| {
            let via = route.via.as_ref().map(|hops| {
                hops.iter()
                    .map(|hop| {
                        let mut binding = exchange::binding(vhost, &hop.binding);
                        binding["alternate_exchange"] = hop.alternate.into();
                        binding
                    })
                    .collect::<Vec<_>>()
            });
            json!({"queue": route.queue.to_string(), "via": via})
        })
        .collect();
    json!({
        "published_at": published_at,
        "exchange": String::from_utf8_lossy(&publish.exchange),
        "routing_key": String::from_utf8_lossy(&publish.routing_key),
        // Null: larger than the trace keeps.
        "properties": publish.properties.as_ref().map(message::properties_to_json),
        "payload": payload,
        "payload_encoding": encoding,
        "payload_bytes": publish.body_len,
        "truncated": publish.body_len > publish.body.len() as u64,
        "unroutable": routes.is_empty(),
        "routed_to": routes,
    })
}
