//! `POST /callback`: the whole path of one ACGW callback.
//!
//! verify the JWT (and that it is scoped to an endpoint we serve) → take a callback slot → read the bounded
//! body at a minimum rate → parse the envelope → authorize its endpoint → recognise the callback → call the
//! TenantService → render the success envelope; or, for a routed custom callback, hand it to `custom`. The token is checked before a slot is taken or the body is
//! read; every failure becomes the contract's error body (see `error`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::time::{Duration, Instant};
use tracing::Instrument;

use std::sync::Arc;

use super::GatewayState;
use super::auth::VerifiedCaller;
use super::callbacks::dispatch;
use super::credentials::check_cyberapp_extra;
use super::cti::StandardCallback;
use super::custom::{self, CustomCall, routes::Route};
use super::envelope::{Envelope, SuccessResponse, readable_request_id};
use super::error::{GatewayError, RETRY_AFTER};
use super::idempotency::new_response_id;
use crate::metrics::METRICS;
use crate::trace_context::TraceContext;

pub async fn handle(State(state): State<Arc<GatewayState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    // One span for the whole callback, verification included; its fields are filled in as they become known.
    // With OpenTelemetry on it is the trace's server span, continuing the sender's `traceparent`.
    let span = tracing::info_span!(
        "callback",
        otel.kind = "server",
        request_id = tracing::field::Empty,
        callback = tracing::field::Empty,
        callback_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let trace = TraceContext::continue_request(&span, &headers);
    let (callback, response) = answer(&state, &headers, body, &trace, &span).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    span.record("outcome", outcome(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    METRICS.callback_answered(callback.unwrap_or("unknown"), status, started.elapsed());
    response
}

/// The `outcome` attribute of a callback's span: answered (2xx), refused (4xx) or failed (5xx).
fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "answered",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// The response, and the callback's name once the envelope was recognised (refusals before that count as
/// `unknown` in the metrics).
async fn answer(
    state: &GatewayState,
    headers: &HeaderMap,
    body: Body,
    trace: &TraceContext,
    span: &tracing::Span,
) -> (Option<&'static str>, Response) {
    // The token first, before a slot is taken or a byte of the body is read: a connection without a valid
    // token can neither crowd out the Acronis gateway nor make us wait for its body. These checks are cheap
    // (header shape, issuer, kid, then the verdict cache or one RSA verification).
    let caller = match state.verifier.verify(headers).await.and_then(|caller| {
        state.verifier.authorize_token(&caller)?;
        Ok(caller)
    }) {
        Ok(caller) => caller,
        Err(error) => return (None, early_refusal(error, headers, body).await),
    };
    // A replica that is shutting down starts nothing new: the Acronis gateway retries a 503 (on another
    // replica), and the drain only waits for the callbacks already in flight.
    if state.draining.is_cancelled() {
        let going = GatewayError::Unavailable("The service is shutting down; please retry.".into());
        return (None, early_refusal(going, headers, body).await);
    }
    // Shed load before reading the body: the Acronis gateway retries a 429.
    let Ok(_slot) = state.callback_slots.clone().try_acquire_owned() else {
        let busy = GatewayError::TooManyRequests {
            message: "The service is busy; please retry shortly.".into(),
            retry_after_secs: RETRY_AFTER.as_secs(),
        };
        return (None, early_refusal(busy, headers, body).await);
    };
    let body = match read_body(body, headers, state.max_body_bytes, state.request_timeout).await {
        Ok(body) => body,
        Err(error) => return (None, refusal(error, None)),
    };
    let (envelope, callback) = match recognise(state, &body, &caller) {
        Ok(recognised) => recognised,
        Err(error) => return (None, refusal(error, Some(&body))),
    };
    // Names and ids only: never the token, the credentials or the payload.
    span.record("request_id", envelope.request_id.as_str());
    span.record("callback", callback.name());
    span.record("tenant_id", envelope.context.tenant_id.as_str());
    if let Recognised::Custom(_) = &callback {
        span.record("callback_id", envelope.context.callback_id.as_str());
    }
    let work = async {
        match &callback {
            Recognised::Standard(standard) => {
                process(state, headers, &body, envelope, *standard).await.map(|success| Json(success).into_response())
            }
            Recognised::Custom(route) => {
                let call = CustomCall { headers, body: &body, envelope: &envelope, route, trace };
                // Boxed, so that the standard callbacks' futures are not sized by the forward (see `dispatch`).
                Box::pin(custom::forward(state, &call)).await
            }
        }
    };
    let outcome = tokio::time::timeout(state.request_timeout, work).await.unwrap_or_else(|_| {
        // Dropping the work rolls back any transaction it had open; a retry is safe (idempotent).
        Err(GatewayError::Unavailable("The request did not complete in time; please retry.".into()))
    });
    let response = match outcome {
        Ok(response) => {
            tracing::info!(status = response.status().as_u16(), "callback answered");
            response
        }
        Err(error) => refusal(error, Some(&body)),
    };
    (Some(callback.name()), response)
}

/// What a callback id names: one of the standard callbacks, or a custom one with the route it takes.
enum Recognised {
    Standard(StandardCallback),
    Custom(Arc<Route>),
}

impl Recognised {
    /// The metrics' and logs' name: the standard callback's, or `custom` (the route is its own label).
    fn name(&self) -> &'static str {
        match self {
            Self::Standard(callback) => callback.name(),
            Self::Custom(_) => "custom",
        }
    }
}

/// How long a refusal made before the body was read waits for a body already on its way, only to echo its
/// `request_id`: far too short for a slow client to hold anything.
const ECHO_WAIT: Duration = Duration::from_millis(100);
/// The largest body read only to echo its `request_id` (real callbacks are a few KiB): a refused request
/// gets no more of our memory and parsing than that.
const ECHO_MAX_BYTES: usize = 64 * 1024;

/// A refusal made before the body was read: echoes the body's `request_id` when the whole body arrives within
/// [`ECHO_WAIT`] and [`ECHO_MAX_BYTES`] (as a well-behaved client's does), and otherwise answers without it
/// rather than wait. A client that asked to be invited to send its body (`Expect: 100-continue`) is not.
async fn early_refusal(error: GatewayError, headers: &HeaderMap, body: Body) -> Response {
    if headers.contains_key(header::EXPECT) {
        return refusal(error, None);
    }
    let arrived = tokio::time::timeout(ECHO_WAIT, Limited::new(body, ECHO_MAX_BYTES).collect()).await;
    match arrived {
        Ok(Ok(collected)) => refusal(error, Some(&collected.to_bytes())),
        _ => refusal(error, None),
    }
}

/// Logs a refusal (a warning for our own failures) and renders it, echoing the request id when the body was
/// read and has one.
fn refusal(error: GatewayError, body: Option<&[u8]>) -> Response {
    let status = error.status().as_u16();
    if status >= 500 {
        tracing::warn!(status, reason = %error, "callback failed");
    } else {
        tracing::info!(status, reason = %error, "callback refused");
    }
    error.for_request(body.and_then(readable_request_id)).into_response()
}

/// The envelope, checked against the token's endpoint, and the callback it names: a standard one, or a
/// custom one that CUSTOM_CALLBACK_ROUTES routes (any other id is 404).
fn recognise(
    state: &GatewayState,
    body: &[u8],
    caller: &VerifiedCaller,
) -> Result<(Envelope, Recognised), GatewayError> {
    let envelope = Envelope::parse(body)?;
    state.verifier.authorize_endpoint(caller, &envelope.context.endpoint_id)?;
    let callback_id = envelope.context.callback_id.as_str();
    if let Some(callback) = StandardCallback::from_callback_id(callback_id) {
        return Ok((envelope, Recognised::Standard(callback)));
    }
    if let Some(route) = state.custom_callbacks.route(callback_id) {
        return Ok((envelope, Recognised::Custom(route)));
    }
    tracing::warn!(callback_id, "unknown callback id");
    METRICS.custom_callback_answered("none", "unrouted", 404);
    Err(GatewayError::UnsupportedCallback(
        "This callback is not supported by this handler (unknown context.callback_id).".into(),
    ))
}

async fn process(
    state: &GatewayState,
    headers: &HeaderMap,
    body: &[u8],
    envelope: Envelope,
    callback: StandardCallback,
) -> Result<SuccessResponse, GatewayError> {
    check_cyberapp_extra(headers)?;
    let reply = dispatch(callback, &envelope, headers, state.tenants.clone(), body, &state.held_answers).await?;
    Ok(SuccessResponse {
        response_type: callback.response_type(),
        request_id: envelope.request_id,
        response_id: reply.response_id.unwrap_or_else(new_response_id),
        payload: reply.payload,
    })
}

/// Time every body gets before the minimum rate applies (a small callback arrives in one packet).
const BODY_GRACE: Duration = Duration::from_secs(2);
/// The slowest a body may arrive after [`BODY_GRACE`]: a client that trickles it is cut off rather than
/// holding a callback slot for the whole request timeout.
const MIN_BODY_BYTES_PER_SEC: u64 = 32 * 1024;

/// Reads the whole body, refusing with 413 as soon as it is known to exceed `limit` bytes, and with 400 when
/// it arrives slower than [`MIN_BODY_BYTES_PER_SEC`] (after [`BODY_GRACE`]) or not within `timeout`.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize, timeout: Duration) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    let started = tokio::time::Instant::now();
    let too_slow = || GatewayError::BadRequest("The request body did not arrive in time.".into());
    let mut body = Limited::new(body, limit);
    let mut collected = BytesMut::new();
    loop {
        // The next bytes are due by the time the minimum rate says the ones received so far should have taken.
        let received = u64::try_from(collected.len()).unwrap_or(u64::MAX);
        let by_rate = BODY_GRACE + Duration::from_millis(received.saturating_mul(1000) / MIN_BODY_BYTES_PER_SEC);
        let deadline = started + by_rate.min(timeout);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(frame)) => frame,
        };
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    collected.extend_from_slice(&data);
                }
            }
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            Err(error) => {
                return Err(GatewayError::BadRequest(format!("The request body could not be read: {error}.")));
            }
        }
    }
}
