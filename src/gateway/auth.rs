//! Verification of the Acronis API Callback Gateway's JWT (protocol §6, product "Verification first").
//!
//! RS256 only; the key is chosen by `kid` from the key set of a *configured* issuer (never from a URL in the
//! request); `iss` must be trusted, `exp` present and not past the leeway, `nbf` honoured; `aud` is not
//! checked (real tokens carry one the docs never ask to verify). Acronis issues genuine tokens to every
//! CyberApp, so the token must also be scoped to an endpoint this deployment serves
//! ([`RequestVerifier::authorize_token`], before the body is read), and the body's `context.endpoint_id`
//! must be one of those and one of the token's ([`RequestVerifier::authorize_endpoint`]).
//! No token ever reaches a log line or an error message.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::GatewayError;
use super::jwks::{IssuerKeys, KeyLookup};
use super::token_cache::{self, Outcome, TimeCheck, TokenCache, Verdict};

/// Tokens longer than this are refused before any parsing; real ones are about 1 KiB.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What `RequestVerifier` needs to know.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// Issuers whose keys are fetched from `<issuer>/api/idp/v1/keys`.
    pub trusted_issuers: Vec<String>,
    /// `context.endpoint_id` values served (never empty: the configuration refuses that).
    pub endpoint_allow_list: Vec<String>,
    pub clock_leeway: Duration,
    pub jwks_refetch_interval: Duration,
}

#[derive(Debug)]
pub struct RequestVerifier {
    issuers: HashMap<String, IssuerKeys>,
    endpoint_allow_list: HashSet<String>,
    clock_leeway: Duration,
    verdicts: TokenCache,
}

/// A caller whose token was verified: the endpoints its token is scoped to.
#[derive(Debug)]
pub struct VerifiedCaller {
    roles: Arc<[String]>,
}

/// A token's issuer and key id, and the issuer's key for that id.
struct SigningKey {
    issuer: String,
    kid: String,
    key: Arc<DecodingKey>,
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct AcgwClaims {
    #[serde(default)]
    scope: Vec<ScopeEntry>,
    /// Required and checked by the validation; kept to re-check a remembered token.
    exp: u64,
    nbf: Option<u64>,
}

#[derive(Deserialize)]
struct ScopeEntry {
    #[serde(default)]
    role: Option<String>,
}

fn unauthorized(reason: &str) -> GatewayError {
    GatewayError::Unauthorized(format!("The request could not be authenticated: {reason}."))
}

impl RequestVerifier {
    /// Checks the issuer URLs (`https://`, or `http://` on a loopback host) and prepares a key cache each.
    pub fn new(settings: &VerifierSettings) -> anyhow::Result<Self> {
        crate::tls::install_crypto_provider();
        if !super::jwt_crypto::install() {
            tracing::warn!("JWT signatures are checked with the slower pure-Rust RSA: jsonwebtoken was used first");
        }
        // A redirect may move the key set to another path of the issuer, never to another scheme, host or
        // port: keys fetched from anywhere else could be anyone's.
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() >= 3 || !same_origin { attempt.stop() } else { attempt.follow() }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("cyberapp-tenants/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .build()?;
        let mut issuers = HashMap::new();
        for issuer in &settings.trusted_issuers {
            let issuer = normalize_issuer(issuer)?;
            let keys = IssuerKeys::remote(&issuer, http.clone(), settings.jwks_refetch_interval);
            issuers.insert(issuer, keys);
        }
        Ok(Self {
            issuers,
            endpoint_allow_list: settings.endpoint_allow_list.iter().cloned().collect(),
            clock_leeway: settings.clock_leeway,
            verdicts: TokenCache::default(),
        })
    }

    /// Trusts `issuer` with a fixed set of keys (development mode).
    pub fn trust_fixed_issuer(&mut self, issuer: String, keys: HashMap<String, DecodingKey>) {
        self.issuers.insert(issuer, IssuerKeys::fixed(keys));
    }

    /// Verifies the `Authorization: Bearer <jwt>` header: from a remembered verdict when one still holds
    /// (see `token_cache`), else in full.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<VerifiedCaller, GatewayError> {
        let token = bearer_token(headers)?;
        let digest = token_cache::digest(token);
        if let Some(verdict) = self.verdicts.get(&digest)
            && self.still_signed_by(&verdict).await
        {
            return match (&verdict.outcome, verdict.outcome.time_check(self.clock_leeway)) {
                (Outcome::BadSignature, _) => Err(unauthorized(rejection_reason(&ErrorKind::InvalidSignature))),
                (Outcome::Accepted { roles, .. }, TimeCheck::Valid) => Ok(VerifiedCaller { roles: Arc::clone(roles) }),
                (Outcome::Accepted { .. }, TimeCheck::Expired) => {
                    Err(unauthorized(rejection_reason(&ErrorKind::ExpiredSignature)))
                }
                (Outcome::Accepted { .. }, TimeCheck::NotYetValid) => {
                    Err(unauthorized(rejection_reason(&ErrorKind::ImmatureSignature)))
                }
            };
        }
        let (caller, verdict) = self.verify_fully(token).await;
        if let Some(verdict) = verdict {
            self.verdicts.insert(digest, verdict, self.clock_leeway);
        }
        caller
    }

    /// Whether the key a verdict was reached with is still the issuer's key for that `kid`.
    async fn still_signed_by(&self, verdict: &Verdict) -> bool {
        let Some(keys) = self.issuers.get(&verdict.issuer) else { return false };
        matches!(keys.key(&verdict.kid).await, KeyLookup::Found(key) if Arc::ptr_eq(&key, &verdict.key))
    }

    /// The full check, and the verdict worth remembering (an acceptance, or a bad signature).
    async fn verify_fully(&self, token: &str) -> (Result<VerifiedCaller, GatewayError>, Option<Verdict>) {
        let SigningKey { issuer, kid, key } = match self.signing_key(token).await {
            Ok(signing) => signing,
            Err(error) => return (Err(error), None),
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.clock_leeway.as_secs();
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.validate_aud = false;
        match jsonwebtoken::decode::<AcgwClaims>(token, &key, &validation) {
            Ok(decoded) => {
                let AcgwClaims { scope, exp, nbf } = decoded.claims;
                let roles: Arc<[String]> = scope.into_iter().filter_map(|entry| entry.role).collect();
                let outcome = Outcome::Accepted { roles: Arc::clone(&roles), exp, nbf };
                (Ok(VerifiedCaller { roles }), Some(Verdict { issuer, kid, key, outcome }))
            }
            Err(error) if *error.kind() == ErrorKind::InvalidSignature => {
                let refusal = unauthorized(rejection_reason(error.kind()));
                (Err(refusal), Some(Verdict { issuer, kid, key, outcome: Outcome::BadSignature }))
            }
            Err(error) => (Err(unauthorized(rejection_reason(error.kind()))), None),
        }
    }

    /// The key that must have signed `token`: RS256 only, from the key set of its (trusted) issuer, by `kid`.
    async fn signing_key(&self, token: &str) -> Result<SigningKey, GatewayError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("the token is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthorized("the token must be signed with RS256"));
        }
        let kid = header.kid.ok_or_else(|| unauthorized("the token has no key id"))?;
        let issuer = unverified_issuer(token)?;
        // The issuer picks which configured key set to use; the signature check then proves it.
        let keys = self.issuers.get(&issuer).ok_or_else(|| unauthorized("the token's issuer is not trusted"))?;
        match keys.key(&kid).await {
            KeyLookup::Found(key) => Ok(SigningKey { issuer, kid, key }),
            KeyLookup::Unknown => Err(unauthorized("the token's signing key is unknown")),
            KeyLookup::Unavailable => Err(GatewayError::Unavailable(
                "The Acronis signing keys could not be fetched; please retry shortly.".into(),
            )),
        }
    }

    /// The token must be scoped to an endpoint this deployment serves: checked before the body is read, so
    /// another CyberApp's genuine token goes no further than its header.
    pub fn authorize_token(&self, caller: &VerifiedCaller) -> Result<(), GatewayError> {
        if caller.roles.iter().any(|role| self.endpoint_allow_list.contains(role)) {
            Ok(())
        } else {
            Err(GatewayError::Forbidden("The token was not issued for a CyberApp endpoint served here.".into()))
        }
    }

    /// The body's `context.endpoint_id` must be one this deployment serves and one the token is scoped to.
    pub fn authorize_endpoint(&self, caller: &VerifiedCaller, endpoint_id: &str) -> Result<(), GatewayError> {
        if !self.endpoint_allow_list.contains(endpoint_id) {
            return Err(GatewayError::Forbidden("This CyberApp endpoint is not served by this deployment.".into()));
        }
        if !caller.roles.iter().any(|role| role == endpoint_id) {
            return Err(GatewayError::Forbidden("The token was not issued for this CyberApp endpoint.".into()));
        }
        Ok(())
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, GatewayError> {
    let value =
        headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("the Authorization header is missing"))?;
    let value = value.to_str().map_err(|_| unauthorized("the Authorization header is not a bearer token"))?;
    let (scheme, token) =
        value.split_once(' ').ok_or_else(|| unauthorized("the Authorization header is not a bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized("the Authorization header is not a bearer token"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(unauthorized("the bearer token is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(unauthorized("the token is malformed"));
    }
    Ok(token)
}

/// Reads `iss` from the token's claims *before* the signature is checked, only to choose the key set.
fn unverified_issuer(token: &str) -> Result<String, GatewayError> {
    let claims = token.split('.').nth(1).ok_or_else(|| unauthorized("the token is malformed"))?;
    let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| unauthorized("the token is malformed"))?;
    let claims: UnverifiedIssuer =
        serde_json::from_slice(&claims).map_err(|_| unauthorized("the token is malformed"))?;
    claims.iss.ok_or_else(|| unauthorized("the token has no issuer"))
}

fn rejection_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token's issuer is not trusted",
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => "the token has no expiry",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::InvalidAlgorithm => "the token must be signed with RS256",
        _ => "the token is malformed",
    }
}

/// Accepts `https://host[:port][/path]`, and plain `http://` only for loopback hosts (tests, local set-ups).
/// A trailing slash is dropped so `iss` compares exactly.
pub fn normalize_issuer(issuer: &str) -> anyhow::Result<String> {
    let issuer = issuer.trim().trim_end_matches('/');
    let url =
        reqwest::Url::parse(issuer).map_err(|e| anyhow::anyhow!("trusted issuer {issuer:?} is not a URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => anyhow::bail!("trusted issuer {issuer:?} must use https:// (http:// is allowed only for loopback hosts)"),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        anyhow::bail!("trusted issuer {issuer:?} must not carry credentials, a query or a fragment");
    }
    Ok(issuer.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        assert_eq!(normalize_issuer("https://acronis.cloud/").expect("valid"), "https://acronis.cloud");
        assert!(normalize_issuer("http://127.0.0.1:8080/dev").is_ok());
        assert!(normalize_issuer("http://localhost:9000").is_ok());
        for bad in ["http://acronis.cloud", "ftp://localhost", "acronis.cloud", "https://u:p@acronis.cloud"] {
            assert!(normalize_issuer(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn only_bearer_tokens_are_read() {
        let mut headers = HeaderMap::new();
        assert!(bearer_token(&headers).is_err());
        for (value, ok) in
            [("Bearer abc", true), ("bearer abc", true), ("Basic abc", false), ("Bearer ", false), ("Bearer", false)]
        {
            headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
            assert_eq!(bearer_token(&headers).is_ok(), ok, "{value}");
        }
    }
}
