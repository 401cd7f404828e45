//! Who is asking: HTTP basic auth against the broker's users (the same password hashes as
//! AMQP logins), and what their tags let them see and do, as RabbitMQ's management decides:
//! `administrator` everything; `monitoring` the list of every vhost, every connection and the
//! node, but a vhost's objects only where it has permissions; `policymaker` and `management`
//! only the vhosts they have permissions in. A user with none of these tags may not use the
//! API. RabbitMQ answers every refusal with 401 (not 403), each with its own reason.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use warren_broker::auth::Credentials;
use warren_broker::model::access::is_loopback;
use warren_broker::model::actor::Actor;
use warren_broker::model::users::LivePermissions;
use warren_broker::model::vhost::VHost;
use warren_wire::ShortStr;

use crate::error::{login_failed, ApiError, ApiResult};
use crate::Context;

/// The user a request is made as.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub tags: Vec<String>,
    context: Arc<Context>,
}

impl Viewer {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn is_administrator(&self) -> bool {
        self.has("administrator")
    }

    /// `monitoring`, or `administrator`: sees every vhost and the node.
    pub fn is_monitor(&self) -> bool {
        self.is_administrator() || self.has("monitoring")
    }

    pub fn require_administrator(&self) -> ApiResult<()> {
        if self.is_administrator() {
            return Ok(());
        }
        Err(ApiError::not_authorised("Not administrator user"))
    }

    pub fn require_monitor(&self) -> ApiResult<()> {
        if self.is_monitor() {
            return Ok(());
        }
        Err(ApiError::not_authorised("Not monitor user"))
    }

    /// Whether `GET /api/vhosts` lists `vhost`: monitors see all, others the vhosts they have
    /// permissions in.
    pub fn sees_vhost(&self, vhost: &str) -> bool {
        self.is_monitor() || self.has_permissions_in(vhost)
    }

    /// Whether the user sees `vhost`'s queues, exchanges, bindings and consumers, in lists and
    /// by path: administrators see all, everyone else (monitors too) only the vhosts they have
    /// permissions in (RabbitMQ's `filter_vhost` and `is_authorized_vhost`).
    pub fn sees_objects_in(&self, vhost: &str) -> bool {
        self.is_administrator() || self.has_permissions_in(vhost)
    }

    fn has_permissions_in(&self, vhost: &str) -> bool {
        self.context
            .broker
            .users()
            .permissions(&self.name, vhost)
            .is_some()
    }

    /// The vhost a path names, if it exists (404) and the user may see its objects (401).
    pub fn vhost(&self, name: &str) -> ApiResult<Arc<VHost>> {
        let vhost = self
            .context
            .broker
            .vhost(name.as_bytes())
            .ok_or_else(ApiError::not_found)?;
        self.may_see_objects_in(name)?;
        Ok(vhost)
    }

    fn may_see_objects_in(&self, vhost: &str) -> ApiResult<()> {
        if self.sees_objects_in(vhost) {
            return Ok(());
        }
        Err(ApiError::not_authorised(
            "User not authorised to access virtual host",
        ))
    }

    /// The user acting on `vhost` through the model, with their permissions there, as an AMQP
    /// connection would. Without permissions there, an administrator (who may see the vhost)
    /// is refused as the model refuses an action, `Access refused.`; anyone else is refused
    /// the vhost itself, as RabbitMQ does.
    pub fn actor(&self, name: &str) -> ApiResult<Actor> {
        let vhost = self
            .context
            .broker
            .vhost(name.as_bytes())
            .ok_or_else(|| ApiError::not_found_because("vhost_not_found"))?;
        self.may_see_objects_in(name)?;
        let permissions = LivePermissions::fetch(self.context.broker.users(), &self.name, name)
            .ok_or_else(|| ApiError::not_authorised("Access refused."))?;
        Ok(Actor {
            vhost,
            user: ShortStr::try_from(self.name.clone()).unwrap_or_default(),
            permissions,
            impersonator: self.has("impersonator"),
            // The management API has no connection: exclusive queues are never its own.
            connection: 0,
        })
    }
}

/// The tags that let a user into the management API at all.
const MANAGEMENT_TAGS: [&str; 4] = ["administrator", "monitoring", "policymaker", "management"];

impl FromRequestParts<Arc<Context>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        context: &Arc<Context>,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Err(login_failed(false));
        };
        let credentials = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
            })
            .and_then(|decoded| {
                let colon = decoded.iter().position(|&b| b == b':')?;
                Some(Credentials {
                    user: decoded[..colon].to_vec(),
                    password: decoded[colon + 1..].to_vec(),
                })
            });
        let users = context.broker.users();
        let Some(user) = credentials.and_then(|c| users.authenticate(&c)) else {
            tracing::warn!("management API: login refused (wrong user name or password)");
            return Err(login_failed(true));
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        if users.is_loopback_only(&user.name) && !peer.is_some_and(is_loopback) {
            tracing::warn!(user = %user.name, "management API: login refused from a non-loopback address");
            return Err(
                ApiError::not_authorised("User can only log in via localhost").into_response(),
            );
        }
        if !user
            .tags
            .iter()
            .any(|t| MANAGEMENT_TAGS.contains(&t.as_str()))
        {
            return Err(ApiError::not_authorised("Not management user").into_response());
        }
        Ok(Viewer {
            name: user.name,
            tags: user.tags,
            context: Arc::clone(context),
        })
    }
}
