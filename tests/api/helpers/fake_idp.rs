//! A fake Acronis IdP: serves a JWKS at `/api/idp/v1/keys` on a loopback port (or fails to, on demand),
//! counts the fetches, and signs tokens shaped like the Acronis gateway's with test-only keys from
//! `tests/fixtures/keys/`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

/// A signing key of the fake IdP.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub pem: &'static str,
}

impl TestKey {
    pub fn primary() -> Self {
        Self { kid: "test-key-primary".into(), pem: include_str!("../../fixtures/keys/idp-primary.pem") }
    }

    pub fn rotated() -> Self {
        Self { kid: "test-key-rotated".into(), pem: include_str!("../../fixtures/keys/idp-rotated.pem") }
    }

    /// A 1024-bit key: too short to trust.
    pub fn weak() -> Self {
        Self { kid: "test-key-weak-1024".into(), pem: include_str!("../../fixtures/keys/idp-weak-1024.pem") }
    }

    fn private(&self) -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs1_pem(self.pem).expect("fixture key")
    }

    pub fn jwk(&self) -> Value {
        let public = self.private().to_public_key();
        json!({
            "use": "sig",
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        })
    }

    /// The public key in PEM form (for the "HS256 keyed with the public key" attack).
    pub fn public_pem(&self) -> String {
        use rsa::pkcs8::EncodePublicKey as _;
        self.private().to_public_key().to_public_key_pem(rsa::pkcs8::LineEnding::LF).expect("pem")
    }

    /// Signs `claims` with RS256 under `kid` (which may differ from this key's own, to forge a signature).
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        // As the binary does first thing: jsonwebtoken's first use fixes its crypto for the whole process.
        cyberapp_tenants::gateway::jwt_crypto::install();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_rsa_pem(self.pem.as_bytes()).expect("fixture key");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }
}

struct IdpState {
    /// The published JWKs, as JSON so that a test can publish one with any `use`, `alg` or shape.
    keys: RwLock<Vec<Value>>,
    /// When set, every fetch is answered 503 (an IdP outage).
    failing: AtomicBool,
    fetches: AtomicUsize,
}

pub struct FakeIdp {
    pub issuer: String,
    state: Arc<IdpState>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeIdp {
    /// Starts an IdP that publishes the primary key.
    pub async fn start() -> Self {
        let state = Arc::new(IdpState {
            keys: RwLock::new(vec![TestKey::primary().jwk()]),
            failing: AtomicBool::new(false),
            fetches: AtomicUsize::new(0),
        });
        let served = state.clone();
        let router = Router::new().route(
            "/api/idp/v1/keys",
            get(move || {
                let state = served.clone();
                async move {
                    state.fetches.fetch_add(1, Ordering::SeqCst);
                    if state.failing.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = state.keys.read().expect("lock").clone();
                    axum::Json(json!({ "keys": keys })).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind idp");
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let serving = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("idp server");
        });
        Self { issuer, state, server: serving }
    }

    /// Replaces the published key set (key rotation).
    pub fn publish(&self, keys: Vec<TestKey>) {
        self.publish_jwks(keys.into_iter().map(|key| key.jwk()).collect());
    }

    /// Publishes exactly these JWKs (e.g. a key marked `"use": "enc"`, or for another `alg`).
    pub fn publish_jwks(&self, jwks: Vec<Value>) {
        *self.state.keys.write().expect("lock") = jwks;
    }

    /// Makes every key-set fetch fail with 503 (`true`), or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// How many times the key set was fetched.
    pub fn fetch_count(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Claims as the Acronis gateway sends them, valid for an hour, scoped to `endpoint_id`.
    pub fn claims(&self, endpoint_id: &str) -> Value {
        let now = unix_now();
        json!({
            "aud": "acronis.cloud",
            "exp": now + 3600,
            "iat": now,
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": "0d780ce3-adcc-5bce-9904-3be60cbd1b9d",
            "scope": [{ "role": endpoint_id }],
            "ver": 2,
            "sub_type": "platform-acgw",
        })
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()).expect("time")
}
