//! The node: overview, whoami, nodes, cluster name, and the health checks.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use warren_broker::model::vhost::QueueSpec;
use warren_broker::NODE_NAME;
use warren_wire::{BasicProperties, ContentHeader, FieldTable, ShortStr};

use super::{Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::overview;
use crate::Context;

pub fn routes() -> Routes {
    Router::new()
        .route("/api/overview", get(get_overview))
        .route("/api/whoami", get(whoami))
        .route("/api/cluster-name", get(cluster_name))
        .route("/api/nodes", get(nodes))
        .route("/api/nodes/{node}", get(node))
        .route("/api/aliveness-test/{vhost}", get(aliveness_test))
        .route("/api/healthchecks/node", get(ok))
        .route("/api/healthchecks/node/{node}", get(ok))
        .route("/api/health/checks/alarms", get(alarms))
        .route("/api/health/checks/local-alarms", get(alarms))
        .route("/api/health/checks/virtual-hosts", get(ok))
        .route(
            "/api/health/checks/port-listener/{port}",
            get(port_listener),
        )
}

async fn get_overview(_: Viewer, State(context): State<Arc<Context>>) -> Json<Value> {
    let view = View::take(&context);
    Json(overview::overview(&context, &view.snapshot, &view.rates))
}

async fn whoami(viewer: Viewer) -> Json<Value> {
    Json(json!({"name": viewer.name, "tags": viewer.tags}))
}

async fn cluster_name(_: Viewer) -> Json<Value> {
    Json(json!({ "name": NODE_NAME }))
}

async fn nodes(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    query: axum::extract::Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.require_monitor()?;
    let view = View::take(&context);
    query.answer(vec![overview::node(&context, &view.snapshot, &view.rates)])
}

async fn node(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.require_monitor()?;
    if name != NODE_NAME {
        return Err(ApiError::not_found());
    }
    let view = View::take(&context);
    Ok(Json(overview::node(&context, &view.snapshot, &view.rates)))
}

async fn ok(_: Viewer) -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// RabbitMQ's aliveness test: declares the queue `aliveness-test` in the vhost, publishes a
/// message to it through the default exchange and gets it back.
async fn aliveness_test(viewer: Viewer, Path(vhost): Path<String>) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    let actor = viewer.actor(&vhost)?;
    let name = ShortStr::from_static("aliveness-test");
    let spec = QueueSpec {
        name: name.clone(),
        server_named: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    actor.declare_queue(spec)?;
    let body = Bytes::from_static(b"test_message");
    let header = ContentHeader::new(60, body.len() as u64, BasicProperties::default());
    actor.publish(&ShortStr::default(), &name, &header, body)?;
    let queue = actor.readable_queue(&name)?;
    match queue.get(true) {
        Some(_) => Ok(Json(json!({"status": "ok"}))),
        None => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "failed",
            reason: "the test message did not come back".into(),
        }),
    }
}

async fn alarms(_: Viewer, State(context): State<Arc<Context>>) -> Response {
    if !*context.broker.memory_alarm().borrow() {
        return Json(json!({"status": "ok"})).into_response();
    }
    let body = json!({
        "status": "failed",
        "reason": "resource alarm(s) in effect in the cluster",
        "alarms": [{"node": NODE_NAME, "resource": "memory"}],
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn port_listener(
    _: Viewer,
    State(context): State<Arc<Context>>,
    Path(port): Path<String>,
) -> ApiResult<Response> {
    let port: u16 = port
        .parse()
        .map_err(|_| ApiError::bad_request("Invalid port"))?;
    let listeners = &context.listeners;
    let ports: Vec<u16> = listeners
        .amqp
        .iter()
        .chain(&listeners.amqps)
        .chain(&listeners.management)
        .chain(&listeners.prometheus)
        .map(|a| a.port())
        .collect();
    if ports.contains(&port) {
        return Ok(Json(json!({"status": "ok", "port": port})).into_response());
    }
    let body = json!({"status": "failed", "reason": "No active listener", "missing": port,
                      "ports": ports});
    Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
}
