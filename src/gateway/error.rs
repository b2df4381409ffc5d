//! `GatewayError` and the one place it becomes an HTTP response: the contract's error body
//! `{"request_id"?, "response_id", "err_message"}` with the contract's status.
//!
//! `err_message` is one plain sentence a partner admin can act on. Internal detail is logged, never sent.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::grpc::metadata::{AUTH_REFUSED_METADATA, RETRY_AFTER_METADATA};

/// How long the Acronis gateway should wait before retrying a 429 or 503.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// 400: the body is not a valid callback envelope or payload.
    #[error("{0}")]
    BadRequest(String),
    /// 401: the request could not be authenticated.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed (wrong endpoint, or refused by the tenant rules).
    #[error("{0}")]
    Forbidden(String),
    /// 404: a callback this handler does not implement.
    #[error("{0}")]
    UnsupportedCallback(String),
    /// 409: refused because it conflicts with what was already done.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the configured limit.
    #[error("The request body is larger than {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    /// 429: shed under load or throttled; the Acronis gateway retries after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// 503: a dependency (the tenant database, the Acronis key server) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of ours. The detail was logged where it happened.
    #[error("An internal error occurred; please retry later or contact the vendor's support.")]
    Internal,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedCallback(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Attaches the request id to echo, turning the error into a renderable response.
    pub fn for_request(self, request_id: Option<String>) -> ErrorResponse {
        ErrorResponse { error: self, request_id }
    }
}

/// Maps a TenantService status to the contract's HTTP outcome. The service writes its refusal messages for
/// partner admins, so they pass through; anything unexpected becomes a generic 500.
impl From<Status> for GatewayError {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Self::BadRequest(message),
            Code::Unauthenticated | Code::PermissionDenied if status.metadata().contains_key(AUTH_REFUSED_METADATA) => {
                tracing::error!(
                    "the TenantService refused this gateway's GRPC_AUTH_TOKEN; give both the same (full, not \
                     read-only) token"
                );
                Self::Internal
            }
            Code::Unauthenticated => Self::Unauthorized(message),
            // NotFound reaches the gateway only for something a callback names that does not exist on our
            // side (e.g. an unknown vendor tenant): a refusal by the rules, not a missing route.
            Code::PermissionDenied | Code::FailedPrecondition | Code::NotFound => Self::Forbidden(message),
            Code::AlreadyExists => Self::Conflict(message),
            Code::ResourceExhausted => Self::TooManyRequests {
                retry_after_secs: status
                    .metadata()
                    .get(RETRY_AFTER_METADATA)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(RETRY_AFTER.as_secs()),
                message,
            },
            // Aborted is a transaction that lost a race: retrying is the right answer.
            Code::Unavailable | Code::DeadlineExceeded | Code::Aborted => {
                Self::Unavailable("The vendor service is temporarily unavailable; please retry shortly.".into())
            }
            code => {
                tracing::error!(?code, grpc_message = %message, "TenantService call failed");
                Self::Internal
            }
        }
    }
}

/// A `GatewayError` together with the `request_id` to echo (when the body was readable).
#[derive(Debug)]
pub struct ErrorResponse {
    error: GatewayError,
    request_id: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    response_id: Uuid,
    err_message: String,
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let body = ErrorBody {
            request_id: self.request_id.as_deref(),
            response_id: Uuid::new_v4(),
            err_message: self.error.to_string(),
        };
        let retry_after = match &self.error {
            GatewayError::TooManyRequests { retry_after_secs, .. } => Some(*retry_after_secs),
            GatewayError::Unavailable(_) => Some(RETRY_AFTER.as_secs()),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.for_request(None).into_response()
    }
}
