//! Messages as the management API shows and takes them: `properties` as JSON, the payload as
//! text or base64 (`POST .../get`, `POST .../publish`).

use base64::Engine;
use serde_json::{json, Map, Value};
use warren_broker::definitions::table_from_json;
use warren_wire::{BasicProperties, ShortStr};

use super::arguments;

/// The properties a message has, under RabbitMQ's names (`type` for the spec's `type`).
pub fn properties_to_json(p: &BasicProperties) -> Value {
    let mut object = Map::new();
    let mut text = |name: &str, value: &Option<ShortStr>| {
        if let Some(value) = value {
            object.insert(name.to_string(), value.to_string().into());
        }
    };
    text("content_type", &p.content_type);
    text("content_encoding", &p.content_encoding);
    text("correlation_id", &p.correlation_id);
    text("reply_to", &p.reply_to);
    text("expiration", &p.expiration);
    text("message_id", &p.message_id);
    text("type", &p.kind);
    text("user_id", &p.user_id);
    text("app_id", &p.app_id);
    text("cluster_id", &p.cluster_id);
    if let Some(headers) = &p.headers {
        object.insert("headers".into(), arguments(headers));
    }
    if let Some(mode) = p.delivery_mode {
        object.insert("delivery_mode".into(), mode.into());
    }
    if let Some(priority) = p.priority {
        object.insert("priority".into(), priority.into());
    }
    if let Some(timestamp) = p.timestamp {
        object.insert("timestamp".into(), timestamp.into());
    }
    // RabbitMQ's JSON encoder writes no properties as an empty list (Erlang's `[]`).
    if object.is_empty() {
        return Value::Array(Vec::new());
    }
    Value::Object(object)
}

/// Properties from the JSON of a publish; the error says which one is wrong.
pub fn properties_from_json(json: &Value) -> Result<BasicProperties, String> {
    let empty = Map::new();
    let object = match json {
        Value::Object(object) => object,
        Value::Null => &empty,
        _ => return Err("properties must be an object".into()),
    };
    let text = |name: &str| -> Result<Option<ShortStr>, String> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => ShortStr::try_from(s.clone())
                .map(Some)
                .map_err(|_| format!("{name}: longer than 255 bytes")),
            Some(_) => Err(format!("{name} must be a string")),
        }
    };
    let octet = |name: &str| -> Result<Option<u8>, String> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("{name} must be a number from 0 to 255")),
        }
    };
    let headers = match object.get("headers") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(table_from_json(map.clone(), "headers")?),
        Some(_) => return Err("headers must be an object".into()),
    };
    Ok(BasicProperties {
        content_type: text("content_type")?,
        content_encoding: text("content_encoding")?,
        headers,
        delivery_mode: octet("delivery_mode")?,
        priority: octet("priority")?,
        correlation_id: text("correlation_id")?,
        reply_to: text("reply_to")?,
        expiration: text("expiration")?,
        message_id: text("message_id")?,
        timestamp: object.get("timestamp").and_then(Value::as_u64),
        kind: text("type")?,
        user_id: text("user_id")?,
        app_id: text("app_id")?,
        cluster_id: text("cluster_id")?,
    })
}

/// How `POST .../get` shows a payload: `auto` gives text when it is UTF-8 and base64
/// otherwise, `base64` always base64; `truncate` cuts it (in bytes) first.
pub fn payload(body: &[u8], base64_always: bool, truncate: Option<usize>) -> (Value, &'static str) {
    let body = &body[..truncate.map_or(body.len(), |n| n.min(body.len()))];
    match std::str::from_utf8(body) {
        Ok(text) if !base64_always => (text.into(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into(),
            "base64",
        ),
    }
}

/// A message got by `POST .../get`.
pub fn got(
    body: &[u8],
    properties: &BasicProperties,
    envelope: (&str, &str, bool, u32),
    base64_always: bool,
    truncate: Option<usize>,
) -> Value {
    let (exchange, routing_key, redelivered, message_count) = envelope;
    let (payload, encoding) = payload(body, base64_always, truncate);
    json!({
        "payload_bytes": body.len(),
        "redelivered": redelivered,
        "exchange": exchange,
        "routing_key": routing_key,
        "message_count": message_count,
        "properties": properties_to_json(properties),
        "payload": payload,
        "payload_encoding": encoding,
    })
}
