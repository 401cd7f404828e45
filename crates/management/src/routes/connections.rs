//! `/api/connections`, `/api/channels`, `/api/consumers`: who is connected, and closing a
//! connection (`DELETE` with RabbitMQ's `X-Reason`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use warren_broker::model::snapshot::{ConnectionSnapshot, Snapshot};

use super::{Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::{self, channel_name, ConnectionIndex};
use crate::Context;

/// What RabbitMQ says to a connection closed through the API without an `X-Reason`.
const DEFAULT_REASON: &str = "Closed via management plugin";

pub fn routes() -> Routes {
    Router::new()
        .route("/api/connections", get(connections))
        .route("/api/vhosts/{vhost}/connections", get(connections_in))
        .route("/api/connections/{name}", get(connection).delete(close))
        .route("/api/connections/{name}/channels", get(channels_of))
        .route("/api/channels", get(channels))
        .route("/api/vhosts/{vhost}/channels", get(channels_in))
        .route("/api/channels/{name}", get(channel))
        .route("/api/consumers", get(consumers))
        .route("/api/consumers/{vhost}", get(consumers_in))
}

/// Monitors see every connection; other users their own.
fn visible<'a>(
    snapshot: &'a Snapshot,
    viewer: &'a Viewer,
    vhost: Option<&'a str>,
) -> impl Iterator<Item = &'a ConnectionSnapshot> {
    snapshot.connections.iter().filter(move |c| {
        (viewer.is_monitor() || c.user == viewer.name) && vhost.map_or(true, |v| c.vhost == v)
    })
}

fn connection_list(context: &Context, viewer: &Viewer, vhost: Option<&str>) -> Vec<Value> {
    let view = View::take(context);
    visible(&view.snapshot, viewer, vhost)
        .map(|c| render::connection::connection(c, &view.rates))
        .collect()
}

fn channel_list(
    context: &Context,
    viewer: &Viewer,
    vhost: Option<&str>,
    of: Option<&str>,
) -> Vec<Value> {
    let view = View::take(context);
    let rates = &view.rates;
    visible(&view.snapshot, viewer, vhost)
        .filter(|c| of.map_or(true, |name| c.name == name))
        .flat_map(|c| {
            c.channels
                .iter()
                .map(move |ch| render::connection::channel(c, ch, rates))
        })
        .collect()
}

async fn connections(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(connection_list(&context, &viewer, None))
}

async fn connections_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    query.answer(connection_list(&context, &viewer, Some(&vhost)))
}

async fn connection(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    connection_list(&context, &viewer, None)
        .into_iter()
        .find(|c| c["name"].as_str() == Some(name.as_str()))
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// Closes the connection with 320 CONNECTION_FORCED and the `X-Reason` header's text.
async fn close(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let entry = context
        .broker
        .connections()
        .find(&name)
        .ok_or_else(ApiError::not_found)?;
    if !viewer.is_administrator() && entry.details().user != viewer.name {
        return Err(ApiError::not_found());
    }
    let reason = headers
        .get("x-reason")
        .and_then(|value| value.to_str().ok())
        .unwrap_or(DEFAULT_REASON);
    tracing::info!(connection = %name, %reason, user = %viewer.name, "closing a connection through the management API");
    entry.close(reason);
    Ok(StatusCode::NO_CONTENT)
}

async fn channels_of(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    context
        .broker
        .connections()
        .find(&name)
        .ok_or_else(ApiError::not_found)?;
    query.answer(channel_list(&context, &viewer, None, Some(&name)))
}

async fn channels(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(channel_list(&context, &viewer, None, None))
}

async fn channels_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    query.answer(channel_list(&context, &viewer, Some(&vhost), None))
}

async fn channel(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = View::take(&context);
    let (connection, details) = visible(&view.snapshot, &viewer, None)
        .flat_map(|c| c.channels.iter().map(move |ch| (c, ch)))
        .find(|(c, ch)| channel_name(c, ch.number) == name)
        .ok_or_else(ApiError::not_found)?;
    let mut channel = render::connection::channel(connection, details, &view.rates);
    let index = ConnectionIndex::of(&view.snapshot);
    let mut consumers = Vec::new();
    for vhost in &view.snapshot.vhosts {
        let vhost_name = vhost.name.to_string();
        for queue in &vhost.queues {
            let own = queue
                .consumers
                .iter()
                .filter(|c| c.connection == connection.id && c.channel == details.number);
            consumers.extend(own.map(|c| render::queue::consumer(&vhost_name, queue, c, &index)));
        }
    }
    channel["consumer_details"] = Value::Array(consumers);
    // RabbitMQ's per-exchange and per-queue flows of the channel, kept only in its
    // `detailed` rates mode: empty in `basic`, which is what it runs by default too.
    channel["publishes"] = Value::Array(Vec::new());
    channel["deliveries"] = Value::Array(Vec::new());
    Ok(Json(channel))
}

fn consumer_list(context: &Context, viewer: &Viewer, only: Option<&str>) -> Vec<Value> {
    let view = View::take(context);
    let connections = ConnectionIndex::of(&view.snapshot);
    let mut items = Vec::new();
    for vhost in &view.snapshot.vhosts {
        let name = vhost.name.to_string();
        if only.is_some_and(|o| o != name) || !viewer.sees_objects_in(&name) {
            continue;
        }
        for queue in &vhost.queues {
            for consumer in &queue.consumers {
                items.push(render::queue::consumer(
                    &name,
                    queue,
                    consumer,
                    &connections,
                ));
            }
        }
    }
    items
}

async fn consumers(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(consumer_list(&context, &viewer, None))
}

async fn consumers_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    // RabbitMQ: a vhost that does not exist is 404, one the user has no permissions in lists
    // what the user may see there (nothing), not 401.
    context
        .broker
        .vhost(vhost.as_bytes())
        .ok_or_else(ApiError::not_found)?;
    query.answer(consumer_list(&context, &viewer, Some(&vhost)))
}
