//! `POST /callback`: the whole path of one ACGW callback.
//!
//! bounded body → verify the JWT → parse the envelope → authorize the endpoint → recognise the callback →
//! call the TenantService → render the success envelope. Verification comes before anything else reads the
//! body; every failure becomes the contract's error body (see `error`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::time::Instant;
use tracing::Instrument;

use super::GatewayState;
use super::callbacks::dispatch;
use super::credentials::check_cyberapp_extra;
use super::cti::StandardCallback;
use super::envelope::{Envelope, SuccessResponse, readable_request_id};
use super::error::{GatewayError, RETRY_AFTER};
use super::idempotency::CallbackKey;
use crate::metrics::METRICS;

pub async fn handle(State(state): State<GatewayState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    // Named once the envelope is recognised; refusals before that count as `unknown`.
    let mut callback = "unknown";
    let response = answer(&state, &headers, body, &mut callback).await;
    METRICS.callback_answered(callback, response.status().as_u16(), started.elapsed());
    response
}

async fn answer(state: &GatewayState, headers: &HeaderMap, body: Body, callback: &mut &'static str) -> Response {
    // Shed load before reading anything: the Acronis gateway retries a 429.
    let Ok(_slot) = state.callback_slots.clone().try_acquire_owned() else {
        return GatewayError::TooManyRequests {
            message: "The service is busy; please retry shortly.".into(),
            retry_after_secs: RETRY_AFTER.as_secs(),
        }
        .into_response();
    };
    let body = match tokio::time::timeout(state.request_timeout, read_body(body, headers, state.max_body_bytes)).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return error.into_response(),
        Err(_) => return GatewayError::BadRequest("The request body did not arrive in time.".into()).into_response(),
    };
    let span = tracing::info_span!(
        "callback",
        request_id = tracing::field::Empty,
        callback = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
    );
    let outcome =
        tokio::time::timeout(state.request_timeout, process(state, headers, &body, callback).instrument(span.clone()))
            .await
            .unwrap_or_else(|_| {
                // Dropping the work rolls back any transaction it had open; a retry is safe (idempotent).
                Err(GatewayError::Unavailable("The request did not complete in time; please retry.".into()))
            });
    let _entered = span.enter();
    match outcome {
        Ok(success) => {
            tracing::info!(status = 200, "callback answered");
            Json(success).into_response()
        }
        Err(error) => {
            let status = error.status().as_u16();
            if status >= 500 {
                tracing::warn!(status, reason = %error, "callback failed");
            } else {
                tracing::info!(status, reason = %error, "callback refused");
            }
            error.for_request(readable_request_id(&body)).into_response()
        }
    }
}

async fn process(
    state: &GatewayState,
    headers: &HeaderMap,
    body: &[u8],
    name: &mut &'static str,
) -> Result<SuccessResponse, GatewayError> {
    let caller = state.verifier.verify(headers).await?;
    let envelope = Envelope::parse(body)?;
    let span = tracing::Span::current();
    span.record("request_id", envelope.request_id.as_str());
    span.record("tenant_id", envelope.context.tenant_id.as_str());
    state.verifier.authorize_endpoint(&caller, &envelope.context.endpoint_id)?;

    let Some(callback) = StandardCallback::from_callback_id(&envelope.context.callback_id) else {
        tracing::warn!(callback_id = %envelope.context.callback_id, "unknown callback id");
        return Err(GatewayError::UnsupportedCallback(
            "This callback is not supported by this handler (unknown context.callback_id).".into(),
        ));
    };
    span.record("callback", callback.name());
    *name = callback.name();

    check_cyberapp_extra(headers)?;
    let key = CallbackKey::new(&envelope.request_id, body);
    let reply = dispatch(callback, &envelope, headers, state.tenants.clone(), &key).await?;
    Ok(SuccessResponse {
        response_type: callback.response_type(),
        request_id: envelope.request_id,
        response_id: reply.response_id.unwrap_or(key.response_id),
        payload: reply.payload,
    })
}

/// Reads the whole body, refusing with 413 as soon as it is known to exceed `limit` bytes.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::PayloadTooLarge { limit })
        }
        Err(error) => Err(GatewayError::BadRequest(format!("The request body could not be read: {error}."))),
    }
}
