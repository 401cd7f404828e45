//! `/api/queues`: list, declare, delete, purge, get, and a queue's bindings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use warren_broker::definitions::table_from_json;
use warren_broker::model::queue::Footprint;
use warren_broker::model::snapshot::QueueSnapshot;
use warren_broker::model::vhost::QueueSpec;
use warren_wire::ShortStr;

use super::{require_keys, JsonBody, Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::queue::QueueRow;
use crate::render::{self, exchange, ConnectionIndex};
use crate::Context;

pub fn routes() -> Routes {
    Router::new()
        .route("/api/queues", get(list))
        .route("/api/queues/{vhost}", get(list_in))
        .route(
            "/api/queues/{vhost}/{name}",
            get(one).put(declare).delete(remove),
        )
        .route("/api/queues/{vhost}/{name}/contents", delete(purge))
        .route("/api/queues/{vhost}/{name}/get", post(get_messages))
        .route("/api/queues/{vhost}/{name}/bindings", get(bindings))
}

/// The queues of the vhosts the viewer sees (or of `only`), as the list answers them: rows
/// serialized straight into the answer.
fn listed(
    context: &Context,
    viewer: &Viewer,
    only: Option<&str>,
    query: &ListQuery,
) -> ApiResult<Response> {
    let view = View::take(context);
    let vhosts: Vec<(String, _)> = view
        .snapshot
        .vhosts
        .iter()
        .map(|vhost| (vhost.name.to_string(), vhost))
        .filter(|(name, _)| only.map_or(true, |o| o == name) && viewer.sees_objects_in(name))
        .collect();
    let rows = vhosts
        .iter()
        .flat_map(|(name, vhost)| vhost.queues.iter().map(move |q| (name, q)))
        .map(|(name, queue)| QueueRow::new(name, queue, &view.rates))
        .collect();
    let columns = query.columns();
    query.answer_rows(rows, &columns)
}

/// One queue (`name`) of `only`, or every queue the viewer sees, as JSON with the details of
/// `GET /api/queues/{vhost}/{name}`.
fn queues(
    context: &Context,
    viewer: &Viewer,
    only: Option<&str>,
    name: Option<&str>,
) -> Vec<Value> {
    let view = View::take(context);
    let connections = ConnectionIndex::of(&view.snapshot);
    let mut items = Vec::new();
    for vhost in &view.snapshot.vhosts {
        let vhost_name = vhost.name.to_string();
        if only.is_some_and(|o| o != vhost_name) || !viewer.sees_objects_in(&vhost_name) {
            continue;
        }
        let chosen = vhost
            .queues
            .iter()
            .filter(|q| name.map_or(true, |n| q.name.as_bytes() == n.as_bytes()));
        for queue in chosen {
            let detailed = name.is_some();
            items.push(render::queue::queue(
                &vhost_name,
                queue,
                &view.rates,
                &connections,
                detailed,
            ));
        }
    }
    items
}

async fn list(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    listed(&context, &viewer, None, &query)
}

async fn list_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    viewer.vhost(&vhost)?;
    listed(&context, &viewer, Some(&vhost), &query)
}

async fn one(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    let item = queues(&context, &viewer, Some(&vhost), Some(&name)).pop();
    Ok(query.one(item.ok_or_else(ApiError::not_found)?))
}

pub(super) fn short(text: &str, what: &str) -> ApiResult<ShortStr> {
    ShortStr::try_from(text.to_string())
        .map_err(|_| ApiError::bad_request(format!("{what}: longer than 255 bytes")))
}

/// A boolean field of a body: absent (false), `true`/`false`, or the strings
/// `"true"`/`"false"` (which rabbitmqadmin sends), as RabbitMQ takes both; anything else
/// (`null` too) is RabbitMQ's 400 `["not_boolean", value]`. RabbitMQ reads a body's flags in
/// the order of their names, so callers read them alphabetically: the first wrong one is named.
pub(super) fn flag(body: &Value, name: &str) -> ApiResult<bool> {
    match body.get(name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(ApiError::bad_request_term("not_boolean", other.clone())),
    }
}

/// The `arguments` of a request body as a field table.
pub(super) fn arguments_of(body: &Value) -> ApiResult<warren_wire::FieldTable> {
    match body.get("arguments") {
        None | Some(Value::Null) => Ok(warren_wire::FieldTable::new()),
        Some(Value::Object(map)) => {
            table_from_json(map.clone(), "arguments").map_err(ApiError::bad_request)
        }
        Some(_) => Err(ApiError::bad_request("arguments must be an object")),
    }
}

/// 201 when the queue is new, 204 when it was there already (and equivalent).
async fn declare(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let actor = viewer.actor(&vhost)?;
    let spec = QueueSpec {
        name: short(&name, "the queue name")?,
        server_named: false,
        // the flags in alphabetical order, as RabbitMQ reads them (see `flag`)
        auto_delete: flag(&body, "auto_delete")?,
        durable: flag(&body, "durable")?,
        exclusive: false,
        arguments: arguments_of(&body)?,
    };
    let (_, created) = actor.declare_queue(spec)?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

#[derive(Debug, Default, Deserialize)]
struct DeleteQuery {
    #[serde(rename = "if-empty")]
    if_empty: Option<String>,
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
    let name = short(&name, "the queue name")?;
    actor
        .vhost
        .queue(name.as_bytes())
        .map_err(|_| ApiError::not_found())?;
    let if_empty = query.if_empty.as_deref() == Some("true");
    let if_unused = query.if_unused.as_deref() == Some("true");
    actor.delete_queue(&name, if_unused, if_empty)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn purge(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    viewer.vhost(&vhost)?;
    let actor = viewer.actor(&vhost)?;
    let name = short(&name, "the queue name")?;
    actor
        .vhost
        .queue(name.as_bytes())
        .map_err(|_| ApiError::not_found())?;
    actor.purge_queue(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../get`: up to `count` messages, then acknowledged, requeued or rejected as
/// `ackmode` says, shown as `encoding` says.
async fn get_messages(
    viewer: Viewer,
    Path((vhost, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    require_keys(&body, &["count", "ackmode", "encoding"])?;
    let (requeue, acknowledge) = match body["ackmode"].as_str() {
        Some("ack_requeue_true") | Some("reject_requeue_true") => (true, true),
        Some("ack_requeue_false") => (false, true),
        Some("reject_requeue_false") => (false, false),
        _ => return Err(ApiError::bad_request("Unknown ackmode")),
    };
    let base64_always = match body["encoding"].as_str() {
        Some("auto") => false,
        Some("base64") => true,
        _ => {
            return Err(ApiError::bad_request(
                "Unsupported encoding. Please use auto or base64.",
            ))
        }
    };
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(1);
    let truncate = body
        .get("truncate")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok());
    let actor = viewer.actor(&vhost)?;
    // A missing queue is 404 with the whole AMQP text, as RabbitMQ answers this one.
    let queue = actor
        .readable_queue(&short(&name, "the queue name")?)
        .map_err(|e| match e.code {
            warren_wire::reply_code::NOT_FOUND => {
                ApiError::not_found_because(e.reply_text().to_string())
            }
            _ => ApiError::from_amqp(e),
        })?;
    let mut got = Vec::new();
    let mut taken = Vec::new();
    for _ in 0..count {
        let Some((queued, left)) = queue.get(false) else {
            break;
        };
        let message = &queued.message;
        let properties = message.properties();
        let envelope = (
            &*String::from_utf8_lossy(message.exchange()),
            &*String::from_utf8_lossy(message.routing_key()),
            queued.redelivered(),
            left,
        );
        got.push(render::message::got(
            message.body(),
            &properties,
            envelope,
            base64_always,
            truncate,
        ));
        taken.push(queued);
    }
    match (requeue, acknowledge) {
        (true, _) => queue.requeue(taken, true),
        (false, true) => queue.settled(Footprint::of(taken.iter().map(|m| &*m.message))),
        (false, false) => queue.reject(taken),
    }
    Ok(Json(Value::Array(got)))
}

async fn bindings(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    let view = View::take(&context);
    let snapshot = view
        .snapshot
        .vhosts
        .iter()
        .find(|v| v.name.as_bytes() == vhost.as_bytes())
        .ok_or_else(ApiError::not_found)?;
    let exists = snapshot
        .queues
        .iter()
        .any(|q: &QueueSnapshot| q.name.as_bytes() == name.as_bytes());
    if !exists {
        return Err(ApiError::not_found());
    }
    let mut items = vec![exchange::default_binding(&vhost, &name)];
    items.extend(
        snapshot
            .bindings
            .iter()
            .filter(|b| {
                matches!(&b.destination, warren_broker::model::snapshot::DestinationName::Queue(q)
                 if q.as_bytes() == name.as_bytes())
            })
            .map(|b| exchange::binding(&vhost, b)),
    );
    Ok(Json(Value::Array(items)))
}
