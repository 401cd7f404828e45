//! The API's paths, as RabbitMQ's management plugin has them, and what every handler shares:
//! the request body as JSON, and one snapshot of the broker with its rates.

mod admin;
mod bindings;
mod connections;
mod exchanges;
mod health;
mod queues;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use warren_broker::model::snapshot::Snapshot;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::stats::Rates;
use crate::Context;

/// The largest request body (RabbitMQ's `management.http.max_body_size` default, 20 MB):
/// larger ones are refused with 413 before they are read whole.
pub const MAX_BODY_SIZE: usize = 20_000_000;

pub fn api(context: Arc<Context>) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(connections::routes())
        .merge(exchanges::routes())
        .merge(queues::routes())
        .merge(bindings::routes())
        .merge(admin::routes())
        .merge(empty_lists())
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_SIZE))
        .with_state(context)
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

/// A request body that must be JSON (empty counts as `{}`): RabbitMQ's 400 `not_json`
/// otherwise, 413 when it is too large.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        error: "bad_request",
                        reason: format!("request body larger than {MAX_BODY_SIZE} bytes"),
                    }
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Default::default())));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(JsonBody(value)),
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
        .route("/api/global-parameters", list())
        .route("/api/extensions", list())
        .route("/api/feature-flags", list())
        .route("/api/vhost-limits", list())
        .route("/api/user-limits", list())
}
