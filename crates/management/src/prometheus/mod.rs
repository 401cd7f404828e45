//! Prometheus metrics with RabbitMQ's names, types and labels (its `rabbitmq_prometheus`
//! plugin), so that RabbitMQ's Grafana dashboards show Warren unchanged: `/metrics` aggregates
//! over the node, `/metrics/per-object` has one series per queue (labels `vhost` and `queue`)
//! and per channel (label `channel`). Written in the text exposition format, from one snapshot
//! per scrape.

mod exposition;
mod global;
mod node;
mod objects;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::Context;
use exposition::Exposition;

const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4";

pub fn routes(context: Arc<Context>) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .with_state(context)
}

async fn aggregated(State(context): State<Arc<Context>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], render(&context, false))
}

async fn per_object(State(context): State<Arc<Context>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], render(&context, true))
}

fn render(context: &Context, per_object: bool) -> String {
    let snapshot = context.broker.snapshot();
    let mut out = Exposition::with_capacity(16384);
    node::identity(&mut out);
    objects::totals(&mut out, &snapshot, context.broker.churn());
    global::counters(&mut out, &snapshot);
    objects::queues(&mut out, &snapshot, per_object);
    objects::channels(&mut out, &snapshot, per_object);
    node::process(&mut out, context, snapshot.connections.len());
    out.into_text()
}
