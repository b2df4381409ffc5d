//! Who may call this handler: with a token configured, only callers presenting `authorization: Bearer
//! <token>` (the gateway sends CUSTOM_CALLBACK_AUTH_TOKEN so). Everything else is UNAUTHENTICATED before the
//! request is decoded.
//!
//! The gateway has already verified the Acronis JWT; this check keeps anyone else on the network from
//! calling the handler directly with a made-up tenant. Tokens are compared as SHA-256 digests in constant
//! time, so neither the token's content nor its length shows in how long a refusal takes, and the token is
//! never logged (this type's `Debug` leaves it out).

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The interceptor in front of the service. Without a token every call passes: fine on loopback in
/// development, never in production (main.rs warns).
#[derive(Clone)]
pub struct BearerAuth {
    expected: Option<[u8; 32]>,
}

impl std::fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").field("required", &self.expected.is_some()).finish()
    }
}

impl BearerAuth {
    pub fn new(token: Option<&str>) -> Self {
        Self { expected: token.map(digest) }
    }

    fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(expected) = self.expected else { return true };
        let Some((scheme, presented)) = authorization.and_then(|value| value.split_once(' ')) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && bool::from(digest(presented.trim()).ct_eq(&expected))
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let authorization = request.metadata().get("authorization").and_then(|value| value.to_str().ok());
        if self.allows(authorization) {
            return Ok(request);
        }
        // This is the call's one log line; the request is not decoded yet, so it has no request id or tenant.
        tracing::warn!(outcome = "UNAUTHENTICATED", "refused a call without the expected bearer token");
        Err(Status::unauthenticated("A valid authorization: Bearer <token> is required."))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_configured_every_call_passes() {
        let auth = BearerAuth::new(None);
        assert!(auth.allows(None));
        assert!(auth.allows(Some("Bearer anything")));
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let auth = BearerAuth::new(Some("s3cret"));
        assert!(auth.allows(Some("Bearer s3cret")));
        assert!(auth.allows(Some("bearer s3cret")));
        for refused in [None, Some(""), Some("s3cret"), Some("Bearer"), Some("Bearer s3cre"), Some("Basic s3cret")] {
            assert!(!auth.allows(refused), "{refused:?}");
        }
    }

    #[test]
    fn debug_does_not_show_the_token() {
        assert!(!format!("{:?}", BearerAuth::new(Some("s3cret"))).contains("s3cret"));
    }
}
