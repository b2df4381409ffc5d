//! A vendor handler's answer as the ACGW envelope: checked ([`CustomAnswer::from_handler`]), kept in the
//! exactly-once ledger as JSON, and rendered with the handler's HTTP status. Also the one mapping of a
//! handler's gRPC error to the contract's error responses ([`handler_error`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tonic::{Code, Status};

use crate::gateway::cti::parse_cti;
use crate::gateway::error::GatewayError;
use crate::pb;

/// The longest handler message shown to a partner admin as `err_message`.
const MAX_HANDLER_MESSAGE_CHARS: usize = 300;
/// The longest `response_type` accepted (CTIs are short; this bounds what we store and echo).
const MAX_RESPONSE_TYPE_LEN: usize = 512;

/// A handler's answer, checked: a CTI response type, a status in 200–599 and JSON payload and paging.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomAnswer {
    pub status: u16,
    pub response_type: String,
    pub payload: Option<Box<RawValue>>,
    pub paging: Option<Box<RawValue>>,
}

/// Why a handler's answer is not a valid envelope (logged; the caller gets 500).
#[derive(Debug, thiserror::Error)]
pub enum InvalidAnswer {
    #[error("response_type {0:?} is not a CTI")]
    ResponseType(String),
    #[error("http_status {0} is outside 200-599")]
    Status(u32),
    #[error("{0} is not JSON text")]
    Json(&'static str),
}

impl CustomAnswer {
    pub fn from_handler(answer: pb::HandleCustomCallbackResponse) -> Result<Self, InvalidAnswer> {
        let response_type = answer.response_type;
        if response_type.len() > MAX_RESPONSE_TYPE_LEN || parse_cti(&response_type).is_none() {
            return Err(InvalidAnswer::ResponseType(response_type.chars().take(80).collect()));
        }
        let Ok(status @ 200..=599) = u16::try_from(answer.http_status) else {
            return Err(InvalidAnswer::Status(answer.http_status));
        };
        let json = |text: Option<String>, field| {
            text.map(|text| RawValue::from_string(text).map_err(|_| InvalidAnswer::Json(field))).transpose()
        };
        Ok(Self {
            status,
            response_type,
            payload: json(answer.payload_json, "payload_json")?,
            paging: json(answer.paging_json, "paging_json")?,
        })
    }

    /// The envelope `{type, request_id, response_id[, payload][, paging]}` with the handler's status.
    pub fn render(&self, request_id: &str, response_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Envelope {
            response_type: &self.response_type,
            request_id,
            response_id,
            payload: self.payload.as_deref(),
            paging: self.paging.as_deref(),
        };
        (status, Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    response_type: &'a str,
    request_id: &'a str,
    response_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paging: Option<&'a RawValue>,
}

/// A handler's gRPC error as the contract's response: its message reaches the partner admin for the
/// refusals (400, 403, 404); a dependency failure is 503 (the Acronis gateway retries); anything else is a
/// fault, 500 with the detail only in our log.
pub fn handler_error(route: &str, status: &Status) -> GatewayError {
    let shown = || {
        let message: String = status.message().trim().chars().take(MAX_HANDLER_MESSAGE_CHARS).collect();
        if message.is_empty() { "The vendor service refused this request.".to_owned() } else { message }
    };
    match status.code() {
        Code::InvalidArgument => GatewayError::BadRequest(shown()),
        Code::PermissionDenied => GatewayError::Forbidden(shown()),
        Code::NotFound => GatewayError::UnsupportedCallback(shown()),
        Code::Unavailable | Code::DeadlineExceeded => {
            tracing::warn!(route, code = ?status.code(), grpc_message = %status.message(), "custom-callback handler unavailable");
            GatewayError::Unavailable("The vendor service is temporarily unavailable; please retry shortly.".into())
        }
        code => {
            tracing::error!(route, ?code, grpc_message = %status.message(), "custom-callback handler failed");
            GatewayError::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(response_type: &str, http_status: u32, payload: Option<&str>) -> pb::HandleCustomCallbackResponse {
        pb::HandleCustomCallbackResponse {
            response_type: response_type.into(),
            http_status,
            payload_json: payload.map(str::to_owned),
            paging_json: None,
        }
    }

    const OK: &str = "cti.a.p.acgw.response.v1.0~vendor.app.users_read_ok.v1.0";

    #[test]
    fn a_valid_answer_keeps_its_status_type_and_exact_payload() {
        let checked = CustomAnswer::from_handler(answer(OK, 409, Some(r#"{"b":1, "a":[2]}"#))).expect("valid");
        assert_eq!((checked.status, checked.response_type.as_str()), (409, OK));
        assert_eq!(checked.payload.as_deref().map(RawValue::get), Some(r#"{"b":1, "a":[2]}"#));
    }

    #[test]
    fn answers_that_are_not_an_envelope_are_refused() {
        assert!(matches!(
            CustomAnswer::from_handler(answer("users_read_ok", 200, None)),
            Err(InvalidAnswer::ResponseType(_))
        ));
        assert!(matches!(CustomAnswer::from_handler(answer("", 200, None)), Err(InvalidAnswer::ResponseType(_))));
        for status in [0, 199, 600, 70_000] {
            assert!(matches!(CustomAnswer::from_handler(answer(OK, status, None)), Err(InvalidAnswer::Status(_))));
        }
        assert!(matches!(CustomAnswer::from_handler(answer(OK, 200, Some("not json"))), Err(InvalidAnswer::Json(_))));
    }

    #[test]
    fn handler_errors_map_to_the_contract() {
        let cases = [
            (Code::InvalidArgument, 400),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 503),
            (Code::Internal, 500),
            (Code::Unknown, 500),
            (Code::AlreadyExists, 500),
            (Code::Unauthenticated, 500),
        ];
        for (code, http) in cases {
            assert_eq!(handler_error("r", &Status::new(code, "m")).status().as_u16(), http, "{code:?}");
        }
        let secret = handler_error("r", &Status::internal("db password=hunter2"));
        assert!(!secret.to_string().contains("hunter2"));
    }
}
