//! The API's paths, as RabbitMQ's management plugin has them, and what every handler shares:
//! the request body as JSON, and one snapshot of the broker with its rates.

mod admin;
mod bindings;
mod connections;
mod exchanges;
mod health;
mod queues;
mod warren;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use warren_broker::model::snapshot::Snapshot;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::stats::Rates;
use crate::Context;

/// The largest request body RabbitMQ 3.10 takes (its web server reads bodies in chunks of
/// 8,000,000 bytes and checks the limit before each further chunk): a larger one is refused
/// with RabbitMQ's 400 before it is read whole.
pub const MAX_BODY_SIZE: usize = 8_000_000;

pub fn api(context: Arc<Context>) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(connections::routes())
        .merge(exchanges::routes())
        .merge(queues::routes())
        .merge(bindings::routes())
        .merge(admin::routes())
        .merge(crate::page::routes())
        .merge(warren::routes())
        .merge(empty_lists())
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_SIZE))
        .with_state(context)
}

/// RabbitMQ's answers about methods: `OPTIONS` is 200 with `Allow`, and a wrong method is 405
/// with `Allow` written as its web server writes it (`HEAD, GET, PUT, DELETE, OPTIONS`). The
/// methods a path has are the router's: an `OPTIONS` asks it with a method no path has.
/// Outside the router (which writes `Allow` last).
pub async fn methods_as_rabbitmq(request: Request, next: Next) -> Response {
    let options = request.method() == Method::OPTIONS;
    let request = if options {
        let (mut parts, _) = request.into_parts();
        parts.method = Method::PATCH;
        Request::from_parts(parts, axum::body::Body::empty())
    } else {
        request
    };
    let mut response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let given = response
        .headers()
        .get(header::ALLOW)
        .and_then(|allow| allow.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let methods = ["HEAD", "GET", "PUT", "POST", "DELETE"]
        .into_iter()
        .filter(|method| given.split(',').any(|m| m.trim() == *method))
        .chain(["OPTIONS"])
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(allow) = HeaderValue::from_str(&methods) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    if options {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// What the lists are read from: the broker now, with rates against the last sample.
pub struct View {
    pub snapshot: Snapshot,
    pub rates: Rates,
}

impl View {
    pub fn take(context: &Context) -> Self {
        let snapshot = context.broker.snapshot();
        let rates = context.samples.rates_at(snapshot.taken_at);
        View { snapshot, rates }
    }
}

/// A request body that must be a JSON object (empty counts as `{}`): RabbitMQ's 400s
/// otherwise (`not_json`, a doubly encoded body, one over [`MAX_BODY_SIZE`]).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::bad_request("Exceeded HTTP request body size limit")
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Default::default())));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(JsonBody(value)),
            Ok(Value::String(_)) => Err(ApiError::bad_request(
                "invalid payload: the request body JSON-decoded to a string. Is the input \
                 doubly-JSON-encoded?",
            )),
            Ok(_) | Err(_) => Err(ApiError::bad_request("not_json")),
        }
    }
}

/// The routes of one kind of object, before the shared state is given.
pub(crate) type Routes = Router<Arc<Context>>;

/// The `[]` RabbitMQ answers for what a node without policies or parameters has none of.
async fn empty_list(_: Viewer) -> axum::Json<Value> {
    axum::Json(Value::Array(Vec::new()))
}

/// Feature flags: none on Warren, and an administrator's to list, as in RabbitMQ.
async fn feature_flags(viewer: Viewer) -> Result<axum::Json<Value>, ApiError> {
    viewer.require_administrator()?;
    Ok(axum::Json(Value::Array(Vec::new())))
}

/// RabbitMQ's one global parameter: the cluster's permanent id (Warren's is its node name).
async fn global_parameters(_: Viewer) -> axum::Json<Value> {
    let id = format!("rabbitmq-cluster-id-warren-{}", warren_broker::NODE_NAME);
    axum::Json(serde_json::json!([{"name": "internal_cluster_id", "value": id}]))
}

/// Paths whose answer is always an empty list on Warren: policies, parameters, extensions,
/// feature flags.
fn empty_lists() -> Routes {
    let list = || get(empty_list);
    Router::new()
        .route("/api/policies", list())
        .route("/api/policies/{vhost}", list())
        .route("/api/operator-policies", list())
        .route("/api/operator-policies/{vhost}", list())
        .route("/api/parameters", list())
        .route("/api/parameters/{component}", list())
        .route("/api/parameters/{component}/{vhost}", list())
        .route("/api/global-parameters", get(global_parameters))
        .route("/api/extensions", list())
        .route("/api/feature-flags", get(feature_flags))
        .route("/api/vhost-limits", list())
        .route("/api/user-limits", list())
}

/// The keys a body must have, in RabbitMQ's order, or its 400 naming the missing ones as the
/// Erlang term it prints (`[{key_missing,count}]`).
pub(crate) fn require_keys(body: &Value, keys: &[&str]) -> Result<(), ApiError> {
    let missing: Vec<String> = keys
        .iter()
        .filter(|key| body.get(**key).is_none())
        .map(|key| format!("{{key_missing,{key}}}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!("[{}]", missing.join(","))))
}
