//! Who may call the gRPC port: `grpc.health.v1` is open (kubelets and load balancers probe without
//! credentials); `GRPC_AUTH_TOKEN` may call everything; `GRPC_READ_TOKEN` only the read RPCs and reflection.
//! A call with no token or another one is UNAUTHENTICATED; a read token on anything else is
//! PERMISSION_DENIED. The gateway's in-process client does not pass through this port.
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither the content nor the length of the
//! configured token shows in how long a refusal takes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::TENANT_SERVICE_NAME;
use super::metadata::AUTH_REFUSED_METADATA;
use crate::config::Secret;

/// The TenantService RPCs a read token may call: they change nothing.
const READ_METHODS: [&str; 4] = ["GetTenant", "ListPartners", "ListCustomers", "WatchEvents"];

/// The tokens the port accepts, kept only as digests.
#[derive(Clone)]
pub struct GrpcTokens {
    full: [u8; 32],
    read: Option<[u8; 32]>,
}

impl std::fmt::Debug for GrpcTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTokens").field("read", &self.read.is_some()).finish_non_exhaustive()
    }
}

impl GrpcTokens {
    pub fn new(full: &Secret, read: Option<&Secret>) -> Self {
        Self { full: digest(full.expose()), read: read.map(|token| digest(token.expose())) }
    }
}

/// What the token a call presents allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Everything,
    ReadOnly,
    Nothing,
}

/// Wraps `routes` so that they require a token (see the module doc).
pub fn require_token(routes: tonic::service::Routes, tokens: GrpcTokens) -> tonic::service::Routes {
    let guarded = routes.into_axum_router().layer(axum::middleware::from_fn_with_state(tokens, check));
    tonic::service::Routes::from(guarded)
}

async fn check(State(tokens): State<GrpcTokens>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let allowed = match access(&request, &tokens) {
        _ if is_health(path) => true,
        Access::Everything => true,
        Access::ReadOnly if is_read(path) => true,
        Access::ReadOnly => {
            return refusal(tonic::Status::permission_denied("the read-only token may call only the read RPCs"));
        }
        Access::Nothing => false,
    };
    if allowed {
        return next.run(request).await;
    }
    refusal(tonic::Status::unauthenticated("a valid authorization: Bearer <token> is required"))
}

/// A refusal, marked so that a gateway can tell its own misconfiguration apart from a partner's wrong
/// credentials (also UNAUTHENTICATED).
fn refusal(mut status: tonic::Status) -> Response {
    status.metadata_mut().insert(AUTH_REFUSED_METADATA, tonic::metadata::MetadataValue::from_static("true"));
    status.into_http::<axum::body::Body>().into_response()
}

fn is_health(path: &str) -> bool {
    service_of(path) == Some(tonic_health::pb::health_server::SERVICE_NAME)
}

fn is_read(path: &str) -> bool {
    use tonic_reflection::pb::{v1, v1alpha};
    match (service_of(path), path.rsplit('/').next()) {
        (Some(service), Some(method)) if service == TENANT_SERVICE_NAME => READ_METHODS.contains(&method),
        (Some(service), _) => {
            service == v1::server_reflection_server::SERVICE_NAME
                || service == v1alpha::server_reflection_server::SERVICE_NAME
        }
        (None, _) => false,
    }
}

/// `package.Service` of a gRPC path `/package.Service/Method`.
fn service_of(path: &str) -> Option<&str> {
    let (service, _method) = path.strip_prefix('/')?.split_once('/')?;
    Some(service)
}

fn access(request: &Request, tokens: &GrpcTokens) -> Access {
    let Some(value) = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Access::Nothing;
    };
    let Some((scheme, presented)) = value.split_once(' ') else { return Access::Nothing };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Access::Nothing;
    }
    let presented = digest(presented.trim());
    // Both comparisons always run, so the time taken does not say which token came close.
    let full = bool::from(presented.ct_eq(&tokens.full));
    let read = tokens.read.is_some_and(|read| bool::from(presented.ct_eq(&read)));
    match (full, read) {
        (true, _) => Access::Everything,
        (false, true) => Access::ReadOnly,
        (false, false) => Access::Nothing,
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_read_rpcs_and_reflection_are_reads() {
        for path in [
            "/cyberapp.tenants.v1.TenantService/GetTenant",
            "/cyberapp.tenants.v1.TenantService/WatchEvents",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(is_read(path), "{path}");
        }
        for path in [
            "/cyberapp.tenants.v1.TenantService/SetCredentials",
            "/cyberapp.tenants.v1.TenantService/GetTenantX",
            "/other.Service/GetTenant",
            "GetTenant",
            "/",
        ] {
            assert!(!is_read(path), "{path}");
        }
        assert!(is_health("/grpc.health.v1.Health/Check"));
        assert!(!is_health("/grpc.health.v1.HealthX/Check"));
    }
}
