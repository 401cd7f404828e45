//! Errors as RabbitMQ's management API answers them: a status and `{"error", "reason"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use warren_broker::AmqpError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    /// Mostly text; RabbitMQ answers a few errors with an Erlang term shown as JSON (a list).
    pub reason: Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 404 `Object Not Found`: an unknown vhost, queue, exchange, user, binding or path.
    pub fn not_found() -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "Object Not Found",
            reason: "Not Found".into(),
        }
    }

    /// 404 `not_found` with a reason: a vhost to create something in, a queue to get from.
    pub fn not_found_because(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            reason: Value::String(reason.into()),
        }
    }

    /// 400 `bad_request` with RabbitMQ's reason (e.g. `not_json`).
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason: Value::String(reason.into()),
        }
    }

    /// 400 `bad_request` whose reason is the Erlang tuple RabbitMQ shows as a JSON list:
    /// `["no_such_user", name]`, `["not_boolean", value]`.
    pub fn bad_request_term(atom: &str, value: Value) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason: Value::Array(vec![atom.into(), value]),
        }
    }

    /// 408 `timeout`: a test control's wait ended before what it waited for happened.
    pub fn timeout(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            error: "timeout",
            reason: Value::String(reason.into()),
        }
    }

    /// 401 with a reason other than a failed login: the user lacks a tag or access to a vhost
    /// (RabbitMQ answers these with 401 too, not 403).
    pub fn not_authorised(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "not_authorised",
            reason: Value::String(reason.into()),
        }
    }

    /// What the model refused, as RabbitMQ's management answers it: a failed precondition is
    /// 400 with the explanation alone (`inequivalent arg 'durable' for queue ...`), a refused
    /// access 401 `Access refused.`, a missing object 404 `not_found` with the explanation,
    /// anything else 400 with the whole AMQP text.
    pub fn from_amqp(error: AmqpError) -> Self {
        use warren_wire::reply_code::{ACCESS_REFUSED, NOT_FOUND, PRECONDITION_FAILED};
        match error.code {
            PRECONDITION_FAILED => ApiError::bad_request(error.explanation),
            ACCESS_REFUSED => ApiError::not_authorised("Access refused."),
            NOT_FOUND => ApiError::not_found_because(error.explanation),
            _ => ApiError::bad_request(error.reply_text().to_string()),
        }
    }
}

impl From<AmqpError> for ApiError {
    fn from(error: AmqpError) -> Self {
        ApiError::from_amqp(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "reason": self.reason }));
        (self.status, body).into_response()
    }
}

/// 401 for a failed login, with the challenge that makes browsers and HTTP clients ask.
pub fn login_failed(with_body: bool) -> Response {
    let mut response = if with_body {
        let body = Json(json!({ "error": "not_authorized", "reason": "Login failed" }));
        (StatusCode::UNAUTHORIZED, body).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
    );
    response
}
