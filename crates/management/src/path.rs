//! Request paths as RabbitMQ's web server (Cowboy) reads them, before routing: one trailing
//! slash is dropped (`/api/overview/` is `/api/overview`, but `/api/overview//` names nothing),
//! and an empty segment is an empty name. The router matches no empty segment, so where the
//! API names an exchange, an empty one is spelled `amq.default`, the alias of the default
//! exchange (whose name is empty) that the handlers already take: `/api/exchanges/%2F//` is
//! the default exchange, and so is the source of `/api/bindings/%2F/e//q/{queue}`. An empty
//! name anywhere else is no object's, and the router answers 404 for it as RabbitMQ does.

use axum::http::uri::{PathAndQuery, Uri};
use axum::http::Request;

use crate::render::exchange::DEFAULT_EXCHANGE;

/// `request` with its path read as RabbitMQ reads it.
pub fn as_rabbitmq<B>(mut request: Request<B>) -> Request<B> {
    if let Some(uri) = rewritten(request.uri()) {
        *request.uri_mut() = uri;
    }
    request
}

/// The URI with the path [`rabbitmq_path`] makes of it, if that is another.
fn rewritten(uri: &Uri) -> Option<Uri> {
    let path = rabbitmq_path(uri.path())?;
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

/// The path to route, if it is not `path` itself.
fn rabbitmq_path(path: &str) -> Option<String> {
    let trimmed = match path.strip_suffix('/') {
        Some(rest) if !rest.is_empty() => rest,
        _ => path,
    };
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    // segments[0] is the empty one before the leading slash
    let exchange_at = match segments.get(1..5) {
        Some(["api", "exchanges", _, _]) => Some(4),
        Some(["api", "bindings", _, "e"]) => Some(5),
        _ => None,
    };
    if let Some(at) = exchange_at {
        if segments.get(at) == Some(&"") {
            segments[at] = DEFAULT_EXCHANGE;
        }
    }
    let routed = segments.join("/");
    (routed != path).then_some(routed)
}

#[cfg(test)]
mod tests {
    use super::rabbitmq_path;

    fn routed(path: &str) -> String {
        rabbitmq_path(path).unwrap_or_else(|| path.to_string())
    }

    #[test]
    fn one_trailing_slash_is_dropped() {
        assert_eq!(routed("/api/overview/"), "/api/overview");
        assert_eq!(routed("/api/overview//"), "/api/overview/");
        assert_eq!(routed("/api/exchanges/%2F/"), "/api/exchanges/%2F");
        assert_eq!(routed("/"), "/");
        assert_eq!(rabbitmq_path("/api/overview"), None);
    }

    #[test]
    fn an_empty_exchange_name_is_the_default_exchange() {
        assert_eq!(
            routed("/api/exchanges/%2F//"),
            "/api/exchanges/%2F/amq.default"
        );
        assert_eq!(
            routed("/api/exchanges/%2F//bindings/source"),
            "/api/exchanges/%2F/amq.default/bindings/source"
        );
        assert_eq!(
            routed("/api/bindings/%2F/e//q/q1"),
            "/api/bindings/%2F/e/amq.default/q/q1"
        );
    }

    #[test]
    fn other_empty_names_stay_empty() {
        assert_eq!(routed("/api/queues/%2F//"), "/api/queues/%2F/");
        assert_eq!(routed("/api/exchanges//"), "/api/exchanges/");
        assert_eq!(
            routed("/api/bindings/%2F/e/x/e/"),
            "/api/bindings/%2F/e/x/e"
        );
    }
}
