//! The live page of the bus at `/`, for a person: HTML, CSS and JavaScript compiled into the
//! binary (nothing from a CDN), reading the same API as every other client, with
//! `GET /api/warren/live` streaming what changes (server-sent events). The stream's work is
//! done only while a page holds it open: with nobody watching, the AMQP path pays nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::render::{self, overview};
use crate::Context;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// How often the live stream sends the totals, the rates and the trace's head.
const TICK: Duration = Duration::from_secs(1);
/// How many of the trace's newest publishes each tick carries.
const TRACE_HEAD: usize = 50;

pub fn routes() -> Router<Arc<Context>> {
    Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
        )
        .route(
            "/warren/page.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    SCRIPT,
                )
            }),
        )
        .route(
            "/warren/page.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route("/api/warren/live", get(live))
}

#[derive(Deserialize)]
struct LiveQuery {
    vhost: Option<String>,
}

/// Every second: the overview (object totals, message rates) and the newest publishes of the
/// vhost's trace, as one JSON event.
async fn live(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<LiveQuery>,
) -> ApiResult<impl IntoResponse> {
    let vhost = query.vhost.unwrap_or_else(|| "/".to_string());
    viewer.vhost(&vhost)?;
    let ticks = tokio::time::interval(TICK);
    let events = stream::unfold(
        (ticks, context, vhost),
        |(mut ticks, context, vhost)| async {
            ticks.tick().await;
            let event = Event::default().data(tick(&context, &vhost).to_string());
            Some((Ok::<Event, Infallible>(event), (ticks, context, vhost)))
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn tick(context: &Context, vhost: &str) -> Value {
    let snapshot = context.broker.snapshot();
    let rates = context.samples.rates_at(snapshot.taken_at);
    let overview = overview::overview(context, &snapshot, &rates);
    let trace: Vec<Value> = context
        .broker
        .trace(vhost, None, TRACE_HEAD)
        .unwrap_or_default()
        .iter()
        .map(|traced| render::trace::publish(vhost, traced))
        .collect();
    json!({"overview": overview, "trace": trace})
}
