//! `GRPC_AUTH_TOKEN`: when set, every call on the gRPC port except `grpc.health.v1` must carry
//! `authorization: Bearer <token>`, or it is answered UNAUTHENTICATED. The comparison takes the same time
//! whatever the token sent. The gateway's in-process client does not pass through this port.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::config::Secret;
use crate::grpc::AUTH_REFUSED_METADATA;

/// Health checks stay open: load balancers and kubelets probe without credentials.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// Wraps `routes` so that they require `token` (see the module doc).
pub fn require_token(routes: tonic::service::Routes, token: Secret) -> tonic::service::Routes {
    let guarded = routes.into_axum_router().layer(axum::middleware::from_fn_with_state(token, check));
    tonic::service::Routes::from(guarded)
}

async fn check(State(token): State<Secret>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(OPEN_PREFIX) || presents(&request, &token) {
        return next.run(request).await;
    }
    let mut status = tonic::Status::unauthenticated("a valid authorization: Bearer <token> is required");
    status.metadata_mut().insert(AUTH_REFUSED_METADATA, tonic::metadata::MetadataValue::from_static("true"));
    status.into_http::<axum::body::Body>().into_response()
}

fn presents(request: &Request, token: &Secret) -> bool {
    let Some(value) = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, presented)) = value.split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("bearer") && bool::from(presented.trim().as_bytes().ct_eq(token.expose().as_bytes()))
}
