//! Errors as RabbitMQ's management API answers them: a status and `{"error", "reason"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use warren_broker::AmqpError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub reason: String,
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

    /// 400 `bad_request` with RabbitMQ's reason (e.g. `not_json`).
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason: reason.into(),
        }
    }

    /// 401 with a reason other than a failed login: the user lacks a tag or access to a vhost
    /// (RabbitMQ answers these with 401 too, not 403).
    pub fn not_authorised(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "not_authorised",
            reason: reason.into(),
        }
    }

    /// What the model refused, as RabbitMQ's management turns a channel or connection error
    /// into an answer: 404 for NOT_FOUND, 400 for the rest, the AMQP text as the reason.
    pub fn from_amqp(error: AmqpError) -> Self {
        if error.code == warren_wire::reply_code::NOT_FOUND {
            return ApiError::not_found();
        }
        ApiError::bad_request(error.reply_text().to_string())
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
