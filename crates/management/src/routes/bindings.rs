//! `/api/bindings`: list, bind, and a binding by its properties key.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use warren_broker::model::snapshot::VHostSnapshot;

use super::exchanges::exchange_name;
use super::queues::{arguments_of, short};
use super::{JsonBody, Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::exchange;
use crate::Context;

pub fn routes() -> Routes {
    let between = "/api/bindings/{vhost}/e/{source}/{kind}/{destination}";
    Router::new()
        .route("/api/bindings", get(list))
        .route("/api/bindings/{vhost}", get(list_in))
        .route(between, get(list_between).post(bind))
        .route(&format!("{between}/{{key}}"), get(one).delete(unbind))
}

/// Every binding of a vhost, the default exchange's to each queue first, as RabbitMQ lists.
fn of_vhost(vhost: &VHostSnapshot) -> Vec<Value> {
    let name = vhost.name.to_string();
    let defaults = vhost
        .queues
        .iter()
        .map(|q| exchange::default_binding(&name, &q.name.to_string()));
    let made = vhost.bindings.iter().map(|b| exchange::binding(&name, b));
    defaults.chain(made).collect()
}

fn bindings(context: &Context, viewer: &Viewer, only: Option<&str>) -> Vec<Value> {
    let view = View::take(context);
    view.snapshot
        .vhosts
        .iter()
        .filter(|v| only.map_or(true, |o| v.name.as_bytes() == o.as_bytes()))
        .filter(|v| viewer.sees_objects_in(&v.name.to_string()))
        .flat_map(of_vhost)
        .collect()
}

async fn list(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    query: axum::extract::Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(bindings(&context, &viewer, None))
}

async fn list_in(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    query: axum::extract::Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.vhost(&vhost)?;
    query.answer(bindings(&context, &viewer, Some(&vhost)))
}

/// The path's `/e/{source}/{q|e}/{destination}`.
struct Between {
    vhost: String,
    source: String,
    to_queue: bool,
    destination: String,
}

impl Between {
    fn parse(vhost: String, source: String, kind: &str, destination: String) -> ApiResult<Self> {
        let to_queue = match kind {
            "q" => true,
            "e" => false,
            _ => return Err(ApiError::not_found()),
        };
        Ok(Between {
            vhost,
            source: exchange_name(&source).to_string(),
            to_queue,
            destination,
        })
    }

    /// The bindings from the source to the destination. As in RabbitMQ, a vhost, source or
    /// destination that does not exist lists none (200 `[]`, not 404), and the default exchange
    /// lists its implicit binding to the queue the path names, whether or not it exists; a
    /// vhost the user may not see is 401.
    fn listed(&self, context: &Context, viewer: &Viewer) -> ApiResult<Vec<Value>> {
        if !viewer.sees_vhost(&self.vhost) {
            return Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ));
        }
        if self.source.is_empty() {
            let implicit = self
                .to_queue
                .then(|| exchange::default_binding(&self.vhost, &self.destination));
            return Ok(implicit.into_iter().collect());
        }
        let view = View::take(context);
        let Some(vhost) = view
            .snapshot
            .vhosts
            .iter()
            .find(|v| v.name.as_bytes() == self.vhost.as_bytes())
        else {
            return Ok(Vec::new());
        };
        let destination = self.destination.as_bytes();
        Ok(of_vhost(vhost)
            .into_iter()
            .filter(|b| {
                b["source"].as_str() == Some(self.source.as_str())
                    && b["destination"].as_str().map(str::as_bytes) == Some(destination)
                    && b["destination_type"] == if self.to_queue { "queue" } else { "exchange" }
            })
            .collect())
    }
}

async fn list_between(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let between = Between::parse(vhost, source, &kind, destination)?;
    Ok(Json(Value::Array(between.listed(&context, &viewer)?)))
}

/// 201 with the new binding's path in `Location`.
async fn bind(
    viewer: Viewer,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let between = Between::parse(vhost, source, &kind, destination)?;
    let actor = viewer.actor(&between.vhost)?;
    let routing_key = body
        .get("routing_key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = short(routing_key, "routing_key")?;
    let arguments = arguments_of(&body)?;
    let destination = short(&between.destination, "the destination")?;
    let source = between.source.as_bytes();
    if between.to_queue {
        actor.vhost.queue(destination.as_bytes())?;
        actor.bind_queue(source, &destination, &key, &arguments)?;
    } else {
        actor.vhost.exchange(destination.as_bytes())?;
        actor.bind_exchange(source, &destination, &key, &arguments)?;
    }
    let properties_key =
        exchange::properties_key(routing_key, &crate::render::arguments(&arguments));
    // Relative to the path posted to, the key quoted once more, as RabbitMQ writes it.
    let location = format!(
        "{}/{}",
        exchange::percent_encode(&between.destination),
        exchange::percent_encode(&properties_key)
    );
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// The binding whose properties key the path ends with.
fn find(
    context: &Context,
    viewer: &Viewer,
    (vhost, source, kind, destination, key): (String, String, String, String, String),
) -> ApiResult<(Between, Value)> {
    let between = Between::parse(vhost, source, &kind, destination)?;
    let found = between
        .listed(context, viewer)?
        .into_iter()
        // The key as listed, or quoted once more (as `Location` gives it).
        .find(|b| {
            let listed = b["properties_key"].as_str();
            listed == Some(key.as_str()) || listed == Some(&exchange::percent_encode(&key))
        })
        .ok_or_else(ApiError::not_found)?;
    Ok((between, found))
}

async fn one(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(path): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, binding) = find(&context, &viewer, path)?;
    Ok(Json(binding))
}

async fn unbind(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(path): Path<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let (between, binding) = find(&context, &viewer, path)?;
    let actor = viewer.actor(&between.vhost)?;
    let key = short(
        binding["routing_key"].as_str().unwrap_or_default(),
        "routing_key",
    )?;
    let arguments = arguments_of(&binding)?;
    let destination = short(&between.destination, "the destination")?;
    let source = between.source.as_bytes();
    if between.to_queue {
        actor.unbind_queue(source, &destination, &key, &arguments)?;
    } else {
        actor.unbind_exchange(source, &destination, &key, &arguments)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
