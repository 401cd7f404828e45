//! `/api/exchanges`: list, declare, delete, publish, and an exchange's bindings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use warren_broker::model::snapshot::{DestinationName, VHostSnapshot};
use warren_broker::model::vhost::ExchangeSpec;
use warren_router::ExchangeKind;
use warren_wire::ContentHeader;

use super::queues::{arguments_of, flag, short};
use super::{require_keys, JsonBody, Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::exchange::{self, DEFAULT_EXCHANGE};
use crate::render::message::properties_from_json;
use crate::Context;

pub fn routes() -> Routes {
    Router::new()
        .route("/api/exchanges", get(list))
        .route("/api/exchanges/{vhost}", get(list_in))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(one).put(declare).delete(remove),
        )
        .route("/api/exchanges/{vhost}/{name}/publish", post(publish))
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(as_source),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(as_destination),
        )
}

/// The exchange a path names: `amq.default` is the default exchange (whose name is empty).
pub fn exchange_name(path_name: &str) -> &str {
    if path_name == DEFAULT_EXCHANGE {
        ""
    } else {
        path_name
    }
}

fn exchanges(
    context: &Context,
    viewer: &Viewer,
    only: Option<&str>,
    name: Option<&str>,
) -> Vec<Value> {
    let view = View::take(context);
    let mut items = Vec::new();
    for vhost in &view.snapshot.vhosts {
        let vhost_name = vhost.name.to_string();
        if only.is_some_and(|o| o != vhost_name) || !viewer.sees_objects_in(&vhost_name) {
            continue;
        }
        let chosen = vhost
            .exchanges
            .iter()
            .filter(|x| name.map_or(true, |n| x.name.as_bytes() == n.as_bytes()));
        for x in chosen {
            let mut item = exchange::exchange(&vhost_name, x, &view.rates);
            if name.is_some() {
                item["incoming"] = json!([]);
                item["outgoing"] = json!([]);
            }
            items.push(item);
        }
    }
    items
}

async fn list(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(exchanges(&context, &viewer, None, None))
}

async fn list_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    query.answer(exchanges(&context, &viewer, Some(&vhost), None))
}

async fn one(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    let name = exchange_name(&name);
    let item = exchanges(&context, &viewer, Some(&vhost), Some(name)).pop();
    Ok(query.one(item.ok_or_else(ApiError::not_found)?))
}

/// 201 when the exchange is new, 204 when it was there already (and equivalent). The type
/// is `direct` unless given, as in RabbitMQ.
async fn declare(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let actor = viewer.actor(&vhost)?;
    let kind_name = body.get("type").and_then(Value::as_str).unwrap_or("direct");
    let kind = ExchangeKind::from_name(kind_name.as_bytes())
        .ok_or_else(|| ApiError::bad_request(format!("unknown exchange type '{kind_name}'")))?;
    let name = exchange_name(&name);
    let existed = actor.vhost.exchange(name.as_bytes()).is_ok();
    let spec = ExchangeSpec {
        name: short(name, "the exchange name")?,
        kind,
        // the flags in alphabetical order, as RabbitMQ reads them (see `flag`)
        auto_delete: flag(&body, "auto_delete")?,
        durable: flag(&body, "durable")?,
        internal: flag(&body, "internal")?,
        arguments: arguments_of(&body)?,
    };
    actor.declare_exchange(spec, false)?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

#[derive(Debug, Default, Deserialize)]
struct DeleteQuery {
    #[serde(rename = "if-unused")]
    if_unused: Option<String>,
}

async fn remove(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    viewer.vhost(&vhost)?;
    let actor = viewer.actor(&vhost)?;
    let name = exchange_name(&name);
    if !name.is_empty() && !name.starts_with("amq.") {
        actor
            .vhost
            .exchange(name.as_bytes())
            .map_err(|_| ApiError::not_found())?;
    }
    actor.delete_exchange(name.as_bytes(), query.if_unused.as_deref() == Some("true"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../publish`: `{"routed": true}` when the message reached a queue.
async fn publish(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_keys(
        &body,
        &["routing_key", "properties", "payload", "payload_encoding"],
    )?;
    let actor = viewer.actor(&vhost)?;
    let routing_key = short(
        body["routing_key"].as_str().unwrap_or_default(),
        "routing_key",
    )?;
    let payload = body["payload"].as_str().unwrap_or_default();
    let payload = match body["payload_encoding"].as_str() {
        Some("string") => Bytes::from(payload.to_string()),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map(Bytes::from)
            .map_err(|_| ApiError::bad_request("payload is not valid base64"))?,
        other => {
            // RabbitMQ's reason is the Erlang term `{unsupported_encoding, Name}`.
            let name = other.map_or_else(|| body["payload_encoding"].to_string(), String::from);
            return Err(ApiError {
                reason: json!(["unsupported_encoding", name]),
                ..ApiError::bad_request("")
            });
        }
    };
    let properties = properties_from_json(&body["properties"]).map_err(ApiError::bad_request)?;
    let header = ContentHeader::new(60, payload.len() as u64, properties);
    let exchange = short(exchange_name(&name), "the exchange name")?;
    // A missing exchange is 400 with the AMQP code and text, as RabbitMQ answers this one.
    let routed = actor
        .publish(&exchange, &routing_key, &header, payload)
        .map_err(|e| match e.code {
            warren_wire::reply_code::NOT_FOUND => {
                ApiError::bad_request(format!("{} {}", e.code, e.reply_text()))
            }
            _ => ApiError::from_amqp(e),
        })?;
    Ok(Json(json!({ "routed": routed })))
}

/// The bindings of one vhost whose source (or destination) is the exchange a path names.
fn bindings_of(
    context: &Context,
    viewer: &Viewer,
    (vhost, name): (&str, &str),
    as_source: bool,
) -> ApiResult<Json<Value>> {
    viewer.vhost(vhost)?;
    let view = View::take(context);
    let snapshot: &VHostSnapshot = view
        .snapshot
        .vhosts
        .iter()
        .find(|v| v.name.as_bytes() == vhost.as_bytes())
        .ok_or_else(ApiError::not_found)?;
    let name = exchange_name(name);
    if !snapshot
        .exchanges
        .iter()
        .any(|x| x.name.as_bytes() == name.as_bytes())
    {
        return Err(ApiError::not_found());
    }
    let items: Vec<Value> = snapshot
        .bindings
        .iter()
        .filter(|b| {
            if as_source {
                b.source.as_bytes() == name.as_bytes()
            } else {
                matches!(&b.destination, DestinationName::Exchange(x) if x.as_bytes() == name.as_bytes())
            }
        })
        .map(|b| exchange::binding(vhost, b))
        .collect();
    Ok(Json(Value::Array(items)))
}

async fn as_source(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    bindings_of(&context, &viewer, (&vhost, &name), true)
}

async fn as_destination(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    bindings_of(&context, &viewer, (&vhost, &name), false)
}
