//! `/api/warren/`: the test controls no RabbitMQ has (`warren_broker::controls`), served to
//! the same users as the rest of the API: waits, peek, the routing trace, reset. Waits answer 200 with what they waited for, or 408
//! `{"error":"timeout"}`; a timeout over the cap is cut to it, and the answer says so.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use warren_broker::controls::{self, BindingWanted, ControlError, MAX_WAIT};
use warren_broker::definitions::table_from_json;

use super::Routes;
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::render::{self, exchange, message};
use crate::Context;

/// How long a wait waits when the request does not say.
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// How many messages a peek shows when the request does not say.
const DEFAULT_PEEK: usize = 100;
/// How many publishes a trace shows when the request does not say.
const DEFAULT_TRACE_LIMIT: usize = 100;
/// How much of each body a peek shows when the request does not say (`truncate=` bytes).
const DEFAULT_PEEK_TRUNCATE: usize = 64 * 1024;

pub fn routes() -> Routes {
    Router::new()
        .route(
            "/api/warren/wait/binding/{vhost}/{exchange}/{queue}",
            get(wait_binding),
        )
        // wait/consumer and wait/messages (any other word is 404)
        .route("/api/warren/wait/{what}/{vhost}/{queue}", get(wait_queue))
        .route("/api/warren/peek/{vhost}/{queue}", get(peek))
        .route("/api/warren/trace/{vhost}", get(trace))
        .route("/api/warren/reset/{vhost}", post(reset))
        .route("/api/warren/baseline/{vhost}", post(baseline))
}

type Params = Query<HashMap<String, String>>;

async fn wait_binding(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, exchange, queue)): Path<(String, String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    viewer.vhost(&vhost)?;
    let timeout = Timeout::of(&params)?;
    let arguments = match params.get("arguments") {
        None => Default::default(),
        Some(text) => arguments(text)?,
    };
    let wanted = BindingWanted {
        exchange,
        queue,
        routing_key: params.get("routing_key").cloned(),
        arguments,
    };
    let found = context
        .broker
        .wait_for_binding(&vhost, &wanted, timeout.asked)
        .await;
    timeout.answer(found.map(|binding| exchange::binding(&vhost, &binding)))
}

/// `wait/consumer` (a consumer on the queue) or `wait/messages` (`count` ready messages).
async fn wait_queue(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((what, vhost, queue)): Path<(String, String, String)>,
    Query(params): Params,
) -> ApiResult<Response> {
    viewer.vhost(&vhost)?;
    let timeout = Timeout::of(&params)?;
    let broker = &context.broker;
    let (field, found) = match what.as_str() {
        "consumer" => {
            let found = broker.wait_for_consumer(&vhost, &queue, timeout.asked);
            ("consumers", found.await)
        }
        "messages" => {
            let count = number(&params, "count", 1u32)?;
            let found = broker.wait_for_messages(&vhost, &queue, count, timeout.asked);
            ("messages", found.await)
        }
        _ => return Err(ApiError::not_found()),
    };
    timeout.answer(found.map(|n| json!({"vhost": vhost, "queue": queue, field: n})))
}

/// The first ready messages, as `POST .../get` shows them, plus `truncated` when the payload
/// shown is shorter than `payload_bytes`. Reading them takes the read permission, as a get does;
/// another connection's exclusive queue may be looked into.
async fn peek(
    viewer: Viewer,
    Path((vhost, queue)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult<Json<Value>> {
    let count = number(&params, "count", DEFAULT_PEEK)?;
    let truncate = number(&params, "truncate", DEFAULT_PEEK_TRUNCATE)?;
    let base64_always = match params.get("encoding").map(String::as_str) {
        None | Some("auto") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Unsupported encoding. Please use auto or base64.",
            ))
        }
    };
    let actor = viewer.actor(&vhost)?;
    let name = warren_wire::ShortStr::try_from(queue.clone())
        .map_err(|_| ApiError::bad_request("the queue name is longer than 255 bytes"))?;
    let queue = actor.peekable_queue(&name).map_err(|e| match e.code {
        warren_wire::reply_code::NOT_FOUND => {
            ApiError::not_found_because(e.reply_text().to_string())
        }
        _ => ApiError::from_amqp(e),
    })?;
    let peeked = queue.peek(count.min(controls::MAX_PEEK));
    let total = peeked.len();
    let shown = peeked
        .iter()
        .enumerate()
        .map(|(at, queued)| {
            let m = &queued.message;
            let envelope = (
                &*String::from_utf8_lossy(m.exchange()),
                &*String::from_utf8_lossy(m.routing_key()),
                queued.redelivered(),
                u32::try_from(total - at - 1).unwrap_or(u32::MAX),
            );
            let mut got = message::got(
                m.body(),
                &m.properties(),
                envelope,
                base64_always,
                Some(truncate),
            );
            got["truncated"] = (m.body().len() > truncate).into();
            got
        })
        .collect();
    Ok(Json(Value::Array(shown)))
}

/// The vhost's last publishes, newest first (`exchange=` only those to it, `limit=` how many):
/// each with its properties, the start of its body, and the route to each queue it reached.
async fn trace(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(params): Params,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    let limit = number(&params, "limit", DEFAULT_TRACE_LIMIT)?;
    let exchange = params.get("exchange").map(|name| match name.as_str() {
        "amq.default" => "",
        name => name,
    });
    let traced = context
        .broker
        .trace(&vhost, exchange, limit)
        .map_err(|e| ApiError::not_found_because(e.to_string()))?;
    let shown = traced
        .iter()
        .map(|t| render::trace::publish(&vhost, t))
        .collect();
    Ok(Json(Value::Array(shown)))
}

/// The vhost back to its start state; what was done, counted. Taken by users with permissions
/// in the vhost (as their AMQP connections could have deleted it all one by one).
async fn reset(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.actor(&vhost)?;
    let done = context
        .broker
        .reset(&vhost)
        .map_err(|e| ApiError::not_found_because(e.to_string()))?;
    Ok(Json(json!({
        "vhost": vhost,
        "queues_deleted": done.queues_deleted,
        "exchanges_deleted": done.exchanges_deleted,
        "bindings_deleted": done.bindings_deleted,
        "consumers_cancelled": done.consumers_cancelled,
        "messages_dropped": done.messages_dropped,
        "recreated": done.recreated,
    })))
}

/// What the vhost holds now becomes what a reset brings it back to: 204.
async fn baseline(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    viewer.actor(&vhost)?;
    context
        .broker
        .set_baseline(&vhost)
        .map_err(|e| ApiError::not_found_because(e.to_string()))?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A wait's `timeout_ms`, and whether it was cut to [`MAX_WAIT`].
struct Timeout {
    asked: Duration,
    capped: bool,
}

impl Timeout {
    fn of(params: &HashMap<String, String>) -> ApiResult<Self> {
        let asked = Duration::from_millis(number(params, "timeout_ms", DEFAULT_TIMEOUT_MS)?);
        Ok(Timeout {
            asked,
            capped: controls::capped(asked) < asked,
        })
    }

    /// 200 with what was found, or 408 with why not; with `x-warren-timeout-capped` (the
    /// timeout used, in ms) when the one asked was cut.
    fn answer(&self, found: Result<Value, ControlError>) -> ApiResult<Response> {
        let mut response = match found {
            Ok(value) => Json(value).into_response(),
            Err(error @ ControlError::Timeout { .. }) => {
                let error = error.to_string();
                let reason = if self.capped {
                    format!(
                        "{error} (timeout_ms={} was capped to {})",
                        self.asked.as_millis(),
                        MAX_WAIT.as_millis()
                    )
                } else {
                    error
                };
                ApiError::timeout(reason).into_response()
            }
            Err(other) => return Err(ApiError::not_found_because(other.to_string())),
        };
        if self.capped {
            response.headers_mut().insert(
                HeaderName::from_static("x-warren-timeout-capped"),
                HeaderValue::from(MAX_WAIT.as_millis() as u64),
            );
        }
        Ok(response)
    }
}

/// A whole number from the query, or its default; a 400 that names it otherwise.
fn number<T: FromStr>(params: &HashMap<String, String>, name: &str, default: T) -> ApiResult<T> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!("{name} must be a whole number, not '{text}'"))
        }),
    }
}

/// A headers binding's `arguments=`: a JSON object, as the API's bindings take it.
fn arguments(text: &str) -> ApiResult<warren_wire::FieldTable> {
    let object: Map<String, Value> = serde_json::from_str(text).map_err(|_| {
        ApiError::bad_request(format!("arguments must be a JSON object, not '{text}'"))
    })?;
    table_from_json(object, "arguments").map_err(ApiError::bad_request)
}
