//! The public axum gateway: speaks the ACGW JSON protocol and nothing else.
//!
//! It verifies each callback, turns it into a TenantService RPC through the generated gRPC client (or, for a
//! custom callback, a call to the vendor service CUSTOM_CALLBACK_ROUTES names) and renders the answer. It holds
//! no tenant state and never imports `db` or `tenant::store`: the list renderings it keeps (`held_answers`) go
//! out only when the TenantService confirms them unchanged.

pub mod auth;
mod callback;
mod callbacks;
mod convert;
pub mod credentials;
pub mod cti;
pub mod custom;
pub mod devmode;
pub mod envelope;
pub mod error;
mod health;
mod held_answers;
mod idempotency;
pub mod jwks;
pub mod jwt_crypto;
pub mod payloads;
mod token_cache;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::grpc::{HealthClient, TenantClient};
use auth::RequestVerifier;

/// Everything a gateway request handler needs. The router shares it behind an `Arc`: axum clones a route's
/// state several times per request, and a clone of this struct would copy both boxed gRPC clients (two
/// allocations each time).
#[derive(Debug, Clone)]
pub struct GatewayState {
    pub tenants: TenantClient,
    pub health: HealthClient,
    pub verifier: Arc<RequestVerifier>,
    pub max_body_bytes: usize,
    /// How long one callback may take before it is answered 503.
    pub request_timeout: std::time::Duration,
    /// Slots for callbacks in progress; when none is free, a callback is shed with 429.
    pub callback_slots: Arc<tokio::sync::Semaphore>,
    /// Where custom callbacks go (CUSTOM_CALLBACK_ROUTES), with a pooled client per vendor service.
    pub custom_callbacks: Arc<custom::CustomCallbacks>,
    /// The rendered customer lists, reused while the TenantService says they are unchanged.
    pub held_answers: Arc<held_answers::HeldAnswers>,
    /// The development key set served at `/dev/api/idp/v1/keys`, in development mode only.
    pub dev_jwks: Option<Arc<Value>>,
    /// Cancelled when shutdown begins: from then on new callbacks are answered 503 (the ones in flight
    /// finish) and `/readyz` 503.
    pub draining: CancellationToken,
}

/// What the probes need: the TenantService's health, and whether this process is shutting down. Shared
/// behind an `Arc` for the reason [`GatewayState`] is.
#[derive(Debug, Clone)]
pub struct Probes {
    pub health: HealthClient,
    pub draining: CancellationToken,
}

/// The probes and metrics (`/healthz`, `/readyz`, `/metrics`): the whole HTTP surface of a process that runs
/// no gateway (it still answers the kubelet and Prometheus on HTTP_ADDR), and part of a gateway's.
pub fn probe_router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(crate::metrics::handler))
        .with_state(Arc::new(probes))
}

pub fn router(state: GatewayState) -> Router {
    let mut router = Router::new().route("/callback", post(callback::handle));
    if let Some(jwks) = state.dev_jwks.clone() {
        router = router.route("/dev/api/idp/v1/keys", get(move || async move { axum::Json((*jwks).clone()) }));
    }
    let probes = probe_router(Probes { health: state.health.clone(), draining: state.draining.clone() });
    router.with_state(Arc::new(state)).merge(probes)
}
