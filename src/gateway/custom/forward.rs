//! The path of one custom callback, after the pipeline has verified the token and parsed the envelope:
//! read the form headers → resolve the calling tenant (the TenantService refuses one not enabled here) →
//! for an exactly-once route, claim the `request_id` (or replay its recorded answer) → call the vendor's
//! handler under the route's deadline → check its answer → record it → render it with the handler's status.
//! Nothing reaches the handler before every check has passed.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::response::Response;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use uuid::Uuid;

use super::CustomCallbacks;
use super::answer::{CustomAnswer, handler_error};
use super::routes::Route;
use crate::gateway::GatewayState;
use crate::gateway::credentials::{CYBERAPP_AUTH, cyberapp_auth, cyberapp_extra};
use crate::gateway::envelope::Envelope;
use crate::gateway::error::GatewayError;
use crate::gateway::idempotency::CallbackKey;
use crate::grpc::TenantClient;
use crate::metrics::{METRICS, RouteLabels};
use crate::pb;
use crate::trace_context::{TRACEPARENT, TraceContext};

/// How much longer than its handler's deadline an exactly-once claim holds before a retry may take it over.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// One verified custom callback, as the pipeline hands it over.
#[derive(Debug, Clone, Copy)]
pub struct CustomCall<'a> {
    pub headers: &'a HeaderMap,
    /// The body as received (its digest keys the exactly-once ledger).
    pub body: &'a [u8],
    pub envelope: &'a Envelope,
    pub route: &'a Route,
    pub trace: &'a TraceContext,
}

/// Answers a custom callback, and counts it by route and outcome.
pub async fn forward(state: &GatewayState, call: &CustomCall<'_>) -> Result<Response, GatewayError> {
    let route = call.route;
    let (outcome, result) = answer(state, call).await;
    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.status().as_u16(),
    };
    METRICS.custom_callback_answered(&route.pattern, outcome, status);
    result
}

type Outcome = (&'static str, Result<Response, GatewayError>);

async fn answer(state: &GatewayState, call: &CustomCall<'_>) -> Outcome {
    let CustomCall { headers, body, envelope, route, trace } = *call;
    let checked = async {
        let extra_json = cyberapp_extra(headers)?;
        let resolved = resolve_tenant(state.tenants.clone(), headers, envelope, route).await?;
        Ok::<_, GatewayError>((extra_json, resolved))
    };
    let (extra_json, resolved) = match checked.await {
        Ok(checked) => checked,
        Err(error) => return ("refused", Err(error)),
    };
    // Only an exactly-once route needs the body's digest (the ledger's key); a refresh does not pay for it.
    let (ledger, response_id) = if route.exactly_once {
        let key = CallbackKey::new(&envelope.request_id, body);
        match begin(state.tenants.clone(), &key, route).await {
            Ok(Begun::Claimed) => {
                let response_id = key.response_id.clone();
                (Some(Ledger { tenants: state.tenants.clone(), key }), response_id)
            }
            Ok(Begun::Replay { response_id, answer }) => {
                return ("replayed", Ok(answer.render(&envelope.request_id, &response_id)));
            }
            Err(error) => return ("refused", Err(error)),
        }
    } else {
        (None, Uuid::new_v4().to_string())
    };
    let request = handler_request(envelope, route, extra_json, resolved);
    let answered = match call_handler(&state.custom_callbacks, route, request, trace).await {
        Err(status) => Err(("handler_error", handler_error(&route.pattern, &status))),
        Ok(answer) => CustomAnswer::from_handler(answer).map_err(|invalid| {
            tracing::error!(route = %route.pattern, %invalid, "custom-callback handler answered an invalid envelope");
            ("invalid_answer", GatewayError::Internal)
        }),
    };
    match answered {
        Ok(answer) => {
            if let Some(ledger) = ledger {
                ledger.record(&answer).await;
            }
            ("answered", Ok(answer.render(&envelope.request_id, &response_id)))
        }
        Err((outcome, error)) => {
            if let Some(ledger) = ledger {
                ledger.release().await;
            }
            (outcome, Err(error))
        }
    }
}

/// Who is asking: the TenantService verifies the credentials when the request carries them, and refuses
/// (403) a tenant not enabled here unless the route is for explicit partners.
struct Caller {
    records: pb::ResolveCallbackTenantResponse,
    /// The verified identity of the request's credentials, if it carried any.
    identity: Option<String>,
}

async fn resolve_tenant(
    mut tenants: TenantClient,
    headers: &HeaderMap,
    envelope: &Envelope,
    route: &Route,
) -> Result<Caller, GatewayError> {
    let credentials =
        headers.contains_key(CYBERAPP_AUTH).then(|| cyberapp_auth(headers, &envelope.context.tenant_id)).transpose()?;
    let identity = credentials.as_ref().map(|credentials| credentials.identity.clone());
    let request = pb::ResolveCallbackTenantRequest {
        acronis_tenant_id: envelope.context.tenant_id.clone(),
        credentials,
        require_enabled: !route.explicit_partner,
    };
    let records = tenants.resolve_callback_tenant(request).await?.into_inner();
    Ok(Caller { records, identity })
}

enum Begun {
    Claimed,
    Replay { response_id: String, answer: CustomAnswer },
}

/// Claims the request in the exactly-once ledger, or finds its recorded answer.
async fn begin(mut tenants: TenantClient, key: &CallbackKey, route: &Route) -> Result<Begun, GatewayError> {
    let lease = route.deadline + LEASE_MARGIN;
    let request = pb::BeginCustomCallbackRequest {
        request_id: key.request_id().to_owned(),
        request_hash: key.request_hash().to_owned(),
        response_id: key.response_id.clone(),
        lease_seconds: u32::try_from(lease.as_secs() + 1).unwrap_or(u32::MAX),
    };
    let begun = tenants.begin_custom_callback(request).await?.into_inner();
    let Some(recorded) = begun.recorded_answer_json else { return Ok(Begun::Claimed) };
    let answer = serde_json::from_str(&recorded).map_err(|error| {
        tracing::error!(%error, "a recorded custom-callback answer cannot be read");
        GatewayError::Internal
    })?;
    Ok(Begun::Replay { response_id: begun.response_id, answer })
}

/// A claimed request of an exactly-once route: its answer must be recorded, or the claim released.
struct Ledger {
    tenants: TenantClient,
    key: CallbackKey,
}

impl Ledger {
    /// Records `answer` for replays. When that fails the answer is still given (the handler's work is done;
    /// refusing it would only make the Acronis gateway retry into a claim that holds until its lease ends).
    async fn record(self, answer: &CustomAnswer) {
        let answer_json = match serde_json::to_string(answer) {
            Ok(json) => json,
            Err(error) => return tracing::error!(%error, "cannot serialise a custom-callback answer"),
        };
        self.finish(Some(answer_json)).await;
    }

    /// Releases the claim, so that a retry calls the handler again.
    async fn release(self) {
        self.finish(None).await;
    }

    async fn finish(mut self, answer_json: Option<String>) {
        let request = pb::FinishCustomCallbackRequest {
            request_id: self.key.request_id().to_owned(),
            response_id: self.key.response_id.clone(),
            answer_json,
        };
        if let Err(status) = self.tenants.finish_custom_callback(request).await {
            tracing::warn!(code = ?status.code(), "could not finish an exactly-once custom callback");
        }
    }
}

fn handler_request(
    envelope: &Envelope,
    route: &Route,
    extra_json: Option<String>,
    caller: Caller,
) -> pb::HandleCustomCallbackRequest {
    pb::HandleCustomCallbackRequest {
        callback_id: envelope.context.callback_id.clone(),
        request_type: envelope.request_type.clone(),
        request_id: envelope.request_id.clone(),
        created_at: envelope.created_at.clone().unwrap_or_default(),
        endpoint_id: envelope.context.endpoint_id.clone(),
        datacenter_url: envelope.datacenter_url(),
        acronis_tenant_id: envelope.context.tenant_id.to_ascii_lowercase(),
        payload_json: envelope.payload_json(),
        extra_json,
        paging_json: envelope.paging().map(ToString::to_string),
        tenant: caller.records.tenant,
        partner: caller.records.partner,
        identity: caller.identity,
        identity_organization_id: caller.records.identity_organization_id,
        route: route.pattern.clone(),
    }
}

/// Calls the route's handler under its deadline, sent as `grpc-timeout` and enforced here too (a handler
/// that ignores it is cut off), with the callback's trace as `traceparent` (see `crate::trace_context`).
async fn call_handler(
    callbacks: &CustomCallbacks,
    route: &Route,
    message: pb::HandleCustomCallbackRequest,
    trace: &TraceContext,
) -> Result<pb::HandleCustomCallbackResponse, Status> {
    let mut client = callbacks.client(route).ok_or_else(|| Status::internal("no client for this route"))?;
    let mut request = tonic::Request::new(message);
    request.set_timeout(route.deadline);
    // Without OpenTelemetry, the fallback trace's; with it, the channel injects the call's own client span.
    if let Some(Ok(value)) = trace.child_traceparent().map(MetadataValue::try_from) {
        request.metadata_mut().insert(TRACEPARENT, value);
    }
    let started = Instant::now();
    let result = tokio::time::timeout(route.deadline, client.handle_custom_callback(request)).await;
    METRICS
        .custom_handler_duration
        .get_or_create(&RouteLabels { route: route.pattern.clone() })
        .observe(started.elapsed().as_secs_f64());
    let missed = || Status::deadline_exceeded("the handler did not answer within the route's deadline");
    match result {
        Ok(Ok(answered)) => Ok(answered.into_inner()),
        // tonic servers enforce the `grpc-timeout` they receive and answer CANCELLED ("Timeout expired"),
        // which can arrive just before our own timer fires: it is the same missed deadline. (The margin
        // allows for the header's rounding; a CANCELLED well before the deadline is the handler's own.)
        Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= route.deadline.mul_f64(0.9) => {
            Err(missed())
        }
        Ok(Err(status)) => Err(status),
        Err(_) => Err(missed()),
    }
}
