//! Vhosts, users, permissions and definitions: what an administrator changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use warren_broker::auth::{HashingAlgorithm, PasswordHash, User};
use warren_broker::model::vhost::VHostMetadata;
use warren_broker::{definitions, Grant, TopicGrant};

use super::{require_keys, JsonBody, Routes, View};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::listing::ListQuery;
use crate::render::admin;
use crate::Context;

pub fn routes() -> Routes {
    Router::new()
        .route("/api/vhosts", get(vhosts))
        .route(
            "/api/vhosts/{name}",
            get(vhost).put(add_vhost).delete(delete_vhost),
        )
        .route("/api/vhosts/{name}/permissions", get(vhost_permissions))
        .route(
            "/api/vhosts/{name}/topic-permissions",
            get(vhost_topic_permissions),
        )
        .route("/api/users", get(users))
        .route(
            "/api/users/without-permissions",
            get(users_without_permissions),
        )
        .route("/api/users/bulk-delete", post(bulk_delete))
        .route(
            "/api/users/{name}",
            get(user).put(put_user).delete(delete_user),
        )
        .route("/api/users/{name}/permissions", get(user_permissions))
        .route(
            "/api/users/{name}/topic-permissions",
            get(user_topic_permissions),
        )
        .route("/api/permissions", get(permissions))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(permission).put(set_permission).delete(clear_permission),
        )
        .route("/api/topic-permissions", get(topic_permissions))
        .route(
            "/api/topic-permissions/{vhost}/{user}",
            get(topic_permission)
                .put(set_topic_permission)
                .delete(clear_topic_permission),
        )
        .route("/api/definitions", get(export).post(import))
        .route(
            "/api/definitions/{vhost}",
            get(export_vhost).post(import_vhost),
        )
}

fn created_or_changed(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
}

fn deleted_or_missing(deleted: bool) -> ApiResult<StatusCode> {
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

fn vhost_list(context: &Context, viewer: &Viewer) -> Vec<Value> {
    let view = View::take(context);
    view.snapshot
        .vhosts
        .iter()
        .filter(|v| viewer.sees_vhost(&v.name.to_string()))
        .map(|v| {
            let traffic = crate::stats::vhost_traffic(&view.snapshot, &v.name.to_string());
            admin::vhost(v, &traffic, &view.rates)
        })
        .collect()
}

async fn vhosts(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    query.answer(vhost_list(&context, &viewer))
}

async fn vhost(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    // An administrator's, as in RabbitMQ: not even a user with permissions there may read it.
    viewer.require_administrator()?;
    viewer.vhost(&name)?;
    vhost_list(&context, &viewer)
        .into_iter()
        .find(|v| v["name"].as_str() == Some(name.as_str()))
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn add_vhost(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
    JsonBody(settings): JsonBody,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    if name.len() > 255 {
        return Err(ApiError::bad_request(
            "the vhost name is longer than 255 bytes",
        ));
    }
    let description = match settings.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(ApiError::bad_request("description must be a string")),
    };
    let metadata = VHostMetadata {
        description,
        tags: tags(&settings)?,
    };
    let created = context.broker.add_vhost(&name);
    // What the body leaves out is reset, as RabbitMQ resets it.
    if let Some(vhost) = context.broker.vhost(name.as_bytes()) {
        vhost.set_metadata(metadata);
    }
    if created {
        grant_creator(&context, &viewer, &name)?;
    }
    Ok(created_or_changed(created))
}

/// As RabbitMQ: whoever creates a vhost (a PUT, a definitions import) may use it.
fn grant_creator(context: &Context, viewer: &Viewer, vhost: &str) -> ApiResult<()> {
    let grant = Grant::full(viewer.name.clone(), vhost.to_string());
    let users = context.broker.users();
    users
        .set_permissions(grant)
        .map_err(ApiError::bad_request)?;
    Ok(())
}

async fn delete_vhost(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    deleted_or_missing(context.broker.delete_vhost(&name))
}

/// The grants that pass `keep`, as JSON; administrators only.
fn grants(
    context: &Context,
    viewer: &Viewer,
    keep: impl Fn(&Grant) -> bool,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    let users = context.broker.users();
    Ok(Json(
        users
            .grants()
            .iter()
            .filter(|g| keep(g))
            .map(admin::permission)
            .collect(),
    ))
}

fn topic_grants(
    context: &Context,
    viewer: &Viewer,
    keep: impl Fn(&TopicGrant) -> bool,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    let users = context.broker.users();
    Ok(Json(
        users
            .topic_grants()
            .iter()
            .filter(|g| keep(g))
            .map(admin::topic_permission)
            .collect(),
    ))
}

async fn vhost_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    // An administrator's, as in RabbitMQ: not even a user with permissions there may read it.
    viewer.require_administrator()?;
    viewer.vhost(&name)?;
    grants(&context, &viewer, |g| g.vhost == name)
}

async fn vhost_topic_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    // An administrator's, as in RabbitMQ: not even a user with permissions there may read it.
    viewer.require_administrator()?;
    viewer.vhost(&name)?;
    topic_grants(&context, &viewer, |g| g.vhost == name)
}

async fn users(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    query.answer(
        context
            .broker
            .users()
            .list()
            .iter()
            .map(admin::user)
            .collect(),
    )
}

async fn users_without_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    let users = context.broker.users();
    let grants = users.grants();
    let without = users
        .list()
        .into_iter()
        .filter(|u| !grants.iter().any(|g| g.user == u.name));
    Ok(Json(without.map(|u| admin::user(&u)).collect()))
}

async fn user(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    let user = context
        .broker
        .users()
        .user(&name)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(admin::user(&user)))
}

/// The `tags` of a user body: a list, or one comma-separated string (both as RabbitMQ).
fn tags(body: &Value) -> ApiResult<Vec<String>> {
    match body.get("tags") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("tags must be strings")),
        Some(_) => Err(ApiError::bad_request("tags must be a list or a string")),
    }
}

async fn put_user(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    require_keys(&body, &["tags"]).map_err(|_| ApiError::bad_request("tags_not_present"))?;
    let algorithm_name = body
        .get("hashing_algorithm")
        .and_then(Value::as_str)
        .unwrap_or(HashingAlgorithm::DEFAULT_NAME);
    let algorithm = HashingAlgorithm::from_name(algorithm_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "hashing_algorithm '{algorithm_name}' is not supported"
        ))
    })?;
    let password = match (
        body.get("password").and_then(Value::as_str),
        body.get("password_hash").and_then(Value::as_str),
    ) {
        (Some(password), _) => Some(PasswordHash::new(algorithm, password)),
        (None, Some(hash)) if !hash.is_empty() => {
            Some(PasswordHash::from_base64(algorithm, hash).map_err(ApiError::bad_request)?)
        }
        // No password (or an empty hash): the user cannot log in with one, as in RabbitMQ.
        (None, _) => None,
    };
    let user = User {
        name,
        password,
        tags: tags(&body)?,
    };
    Ok(created_or_changed(context.broker.users().put_user(user)))
}

async fn delete_user(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    deleted_or_missing(context.broker.delete_user(&name))
}

async fn bulk_delete(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    let names = body
        .get("users")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("[{key_missing,users}]"))?;
    // One by one, as RabbitMQ: the first name that is not a user (also one named twice, or
    // not a string) stops the deletion there, and the users before it stay deleted.
    for name in names {
        if !name.as_str().is_some_and(|n| context.broker.delete_user(n)) {
            return Err(ApiError::bad_request_term("no_such_user", name.clone()));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn user_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    context
        .broker
        .users()
        .user(&name)
        .ok_or_else(ApiError::not_found)?;
    grants(&context, &viewer, |g| g.user == name)
}

async fn user_topic_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    context
        .broker
        .users()
        .user(&name)
        .ok_or_else(ApiError::not_found)?;
    topic_grants(&context, &viewer, |g| g.user == name)
}

async fn permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
) -> ApiResult<Json<Value>> {
    grants(&context, &viewer, |_| true)
}

async fn permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let Json(found) = grants(&context, &viewer, |g| g.vhost == vhost && g.user == user)?;
    found
        .as_array()
        .and_then(|list| list.first().cloned())
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// The user and vhost a permission names must both exist (RabbitMQ's reason otherwise).
fn check_user_and_vhost(context: &Context, vhost: &str, user: &str) -> ApiResult<()> {
    let exists = context.broker.vhost(vhost.as_bytes()).is_some()
        && context.broker.users().user(user).is_some();
    if exists {
        Ok(())
    } else {
        Err(ApiError::bad_request("vhost_or_user_not_found"))
    }
}

/// The string fields a body must have (RabbitMQ's `key_missing` list otherwise).
fn required<'a>(body: &'a Value, keys: &[&'static str]) -> ApiResult<Vec<&'a str>> {
    require_keys(body, keys)?;
    keys.iter()
        .map(|key| body[*key].as_str())
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::bad_request(format!("{} must be strings", keys.join(", "))))
}

async fn set_permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    let fields = required(&body, &["configure", "write", "read"])?;
    check_user_and_vhost(&context, &vhost, &user)?;
    let grant = Grant {
        user,
        vhost,
        configure: fields[0].into(),
        write: fields[1].into(),
        read: fields[2].into(),
    };
    let created = context
        .broker
        .users()
        .set_permissions(grant)
        .map_err(ApiError::bad_request)?;
    Ok(created_or_changed(created))
}

async fn clear_permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    deleted_or_missing(context.broker.users().clear_permissions(&user, &vhost))
}

async fn topic_permissions(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
) -> ApiResult<Json<Value>> {
    topic_grants(&context, &viewer, |_| true)
}

async fn topic_permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let Json(found) = topic_grants(&context, &viewer, |g| g.vhost == vhost && g.user == user)?;
    if found.as_array().is_some_and(Vec::is_empty) {
        return Err(ApiError::not_found());
    }
    Ok(Json(found))
}

async fn set_topic_permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    let fields = required(&body, &["exchange", "write", "read"])?;
    check_user_and_vhost(&context, &vhost, &user)?;
    let grant = TopicGrant {
        user,
        vhost,
        exchange: fields[0].into(),
        write: fields[1].into(),
        read: fields[2].into(),
    };
    let created = context
        .broker
        .users()
        .set_topic_permissions(grant)
        .map_err(ApiError::bad_request)?;
    Ok(created_or_changed(created))
}

async fn clear_topic_permission(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    let users = context.broker.users();
    deleted_or_missing(users.clear_topic_permissions(&user, &vhost, None))
}

async fn export(viewer: Viewer, State(context): State<Arc<Context>>) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    definitions::export(&context.broker, None)
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn export_vhost(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    viewer.require_administrator()?;
    definitions::export(&context.broker, Some(&vhost))
        .map(Json)
        .ok_or_else(|| ApiError::bad_request("vhost_not_found"))
}

/// `POST /api/definitions/{vhost}`: one vhost's exchanges, queues and bindings, written
/// without vhost names (as `GET` exports them).
async fn import_vhost(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    Path(vhost): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let mut body: Value = serde_json::from_slice(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::bad_request("failed_to_parse_json"))?;
    viewer.require_administrator()?;
    context
        .broker
        .vhost(vhost.as_bytes())
        .ok_or_else(ApiError::not_found)?;
    let Value::Object(sections) = &mut body else {
        unreachable!("JsonBody holds an object")
    };
    sections.retain(|name, _| ["queues", "exchanges", "bindings"].contains(&name.as_str()));
    for objects in sections.values_mut().filter_map(Value::as_array_mut) {
        for object in objects.iter_mut().filter_map(Value::as_object_mut) {
            object.insert("vhost".into(), vhost.clone().into());
        }
    }
    import_definitions(&viewer, &context, body)
}

async fn import(
    viewer: Viewer,
    State(context): State<Arc<Context>>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let body: Value = serde_json::from_slice(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::bad_request("failed_to_parse_json"))?;
    import_definitions(&viewer, &context, body)
}

fn import_definitions(viewer: &Viewer, context: &Context, body: Value) -> ApiResult<StatusCode> {
    viewer.require_administrator()?;
    let before: Vec<_> = context
        .broker
        .vhosts()
        .iter()
        .map(|v| v.name.clone())
        .collect();
    let warnings =
        definitions::import(&context.broker, &body.to_string()).map_err(ApiError::bad_request)?;
    for warning in warnings {
        tracing::warn!("importing definitions: {warning}");
    }
    for vhost in context.broker.vhosts() {
        if !before.contains(&vhost.name) {
            grant_creator(context, viewer, &vhost.name.to_string())?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
