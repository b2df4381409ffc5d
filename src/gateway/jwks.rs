//! Signing keys of one trusted issuer, fetched from its JWKS endpoint and cached.
//!
//! Keys are refreshed when older than [`MAX_KEY_AGE`] and when a token names an unknown `kid` (Acronis rotates
//! keys). Every fetch after the first is throttled to one per `refetch_interval`, and concurrent misses share
//! one fetch, so a flood of tokens with random `kid`s cannot turn us into a load generator against the IdP.
//! When a refresh fails, the keys already held keep working for up to [`MAX_STALE_AGE`]: a short IdP outage
//! must not stop verified traffic, but a key the IdP may have revoked is not trusted forever.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use tokio::sync::Mutex;

use crate::metrics::{METRICS, Metrics};

/// Keys are refetched at least this often (the contract asks for at least hourly).
pub const MAX_KEY_AGE: Duration = Duration::from_hours(1);
/// Keys that could not be refreshed for this long are no longer trusted (Acronis rotates keys daily).
pub const MAX_STALE_AGE: Duration = Duration::from_hours(24);
/// A JWKS document larger than this is refused; real ones are a few KiB.
const MAX_JWKS_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of looking a `kid` up.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    Found(Arc<DecodingKey>),
    /// The issuer's current key set has no such key.
    Unknown,
    /// No key set could be fetched yet; the token cannot be checked at all.
    Unavailable,
}

#[derive(Debug)]
enum KeySource {
    /// Fetched over HTTP(S) from the issuer's JWKS URL.
    Remote { url: String, http: reqwest::Client },
    /// Held in memory (the development key); never refetched.
    Fixed,
}

#[derive(Default)]
struct KeySnapshot {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

pub struct IssuerKeys {
    source: KeySource,
    snapshot: RwLock<KeySnapshot>,
    /// When the last fetch was started; the lock also makes concurrent refreshes wait for one fetch.
    last_fetch: Mutex<Option<Instant>>,
    refetch_interval: Duration,
    /// How far the unit tests have moved this cache's clock forward, to reach its hour and day limits at
    /// once. Not compiled outside them.
    #[cfg(test)]
    skew: std::sync::Mutex<Duration>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys").field("source", &self.source).finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// Keys fetched from `<issuer>/api/idp/v1/keys`; unscheduled refetches at most once per
    /// `refetch_interval` (never less than a second).
    pub fn remote(issuer: &str, http: reqwest::Client, refetch_interval: Duration) -> Self {
        Self {
            source: KeySource::Remote { url: format!("{issuer}/api/idp/v1/keys"), http },
            snapshot: RwLock::default(),
            last_fetch: Mutex::new(None),
            refetch_interval: refetch_interval.max(Duration::from_secs(1)),
            #[cfg(test)]
            skew: std::sync::Mutex::default(),
        }
    }

    /// A fixed key set (development mode).
    pub fn fixed(keys: HashMap<String, DecodingKey>) -> Self {
        let keys = keys.into_iter().map(|(kid, key)| (kid, Arc::new(key))).collect();
        Self {
            source: KeySource::Fixed,
            snapshot: RwLock::new(KeySnapshot { keys, fetched_at: None }),
            last_fetch: Mutex::new(None),
            refetch_interval: Duration::MAX,
            #[cfg(test)]
            skew: std::sync::Mutex::default(),
        }
    }

    pub async fn key(&self, kid: &str) -> KeyLookup {
        let (found, fresh) = self.cached(kid);
        if let Some(key) = found.clone()
            && fresh
        {
            return KeyLookup::Found(key);
        }
        self.refresh().await;
        if self.expired() {
            return KeyLookup::Unavailable;
        }
        match self.cached(kid) {
            (Some(key), _) => KeyLookup::Found(key),
            (None, _) => KeyLookup::Unknown,
        }
    }

    /// The cached key for `kid`, and whether the key set is fresh enough to trust without a refresh.
    fn cached(&self, kid: &str) -> (Option<Arc<DecodingKey>>, bool) {
        let snapshot = self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = match (&self.source, snapshot.fetched_at) {
            (KeySource::Fixed, _) => true,
            (KeySource::Remote { .. }, Some(at)) => self.since(at) < MAX_KEY_AGE,
            (KeySource::Remote { .. }, None) => false,
        };
        (snapshot.keys.get(kid).cloned(), fresh)
    }

    /// No usable key set: never fetched, or not refreshed for longer than [`MAX_STALE_AGE`].
    fn expired(&self) -> bool {
        let snapshot = self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&self.source, snapshot.fetched_at) {
            (KeySource::Fixed, _) => false,
            (KeySource::Remote { .. }, None) => true,
            (KeySource::Remote { .. }, Some(at)) => self.since(at) > MAX_STALE_AGE,
        }
    }

    /// The current instant on this cache's clock (moved forward by the unit tests only).
    #[cfg_attr(not(test), expect(clippy::unused_self, reason = "only the unit tests' clock is kept in self"))]
    fn now(&self) -> Instant {
        #[cfg(not(test))]
        let skew = Duration::ZERO;
        #[cfg(test)]
        let skew = *self.skew.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Instant::now() + skew
    }

    fn since(&self, at: Instant) -> Duration {
        self.now().saturating_duration_since(at)
    }

    async fn refresh(&self) {
        let KeySource::Remote { url, http } = &self.source else { return };
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.is_some_and(|at| self.since(at) < self.refetch_interval) {
            // Throttled, or another task refreshed while this one waited for the lock.
            return;
        }
        *last_fetch = Some(self.now());
        let fetched = fetch(http, url).await;
        let outcome = if fetched.is_ok() { "success" } else { "failure" };
        Metrics::outcome(&METRICS.jwks_fetches, outcome);
        match fetched {
            Ok(keys) => {
                tracing::info!(jwks_url = %url, keys = keys.len(), "fetched issuer signing keys");
                let mut snapshot = self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                *snapshot = KeySnapshot { keys, fetched_at: Some(self.now()) };
            }
            Err(error) => tracing::warn!(jwks_url = %url, %error, "could not fetch issuer signing keys"),
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    let response = http.get(url).timeout(FETCH_TIMEOUT).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    if response.content_length().is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
        return Err("key set too large".into());
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > MAX_JWKS_BYTES {
        return Err("key set too large".into());
    }
    let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in set.keys.iter().filter(|jwk| is_rs256_signing_key(jwk)) {
        let Some(kid) = &jwk.common.key_id else { continue };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid.clone(), Arc::new(key));
            }
            Err(error) => tracing::warn!(%kid, %error, "skipping an unusable key in the issuer's key set"),
        }
    }
    Ok(keys)
}

/// Only RSA keys with an id, published for signatures (or with no stated use) and for RS256 (or with no
/// stated algorithm), may verify our tokens; encryption keys and keys for other algorithms are skipped.
fn is_rs256_signing_key(jwk: &Jwk) -> bool {
    matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
        && jwk.common.key_id.is_some()
        && matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature))
        && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
}

#[cfg(test)]
mod tests {
    //! The cache's hour and day limits, reached by moving its clock forward, against a key-set server on a
    //! loopback port whose answers each test changes.

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    use serde_json::{Value, json};

    use super::*;

    /// The IdP's side: the JWKS it publishes, whether it is failing, and how often it was asked.
    #[derive(Default)]
    struct Published {
        keys: std::sync::Mutex<Vec<Value>>,
        failing: AtomicBool,
        fetches: AtomicUsize,
    }

    impl Published {
        fn publish(&self, keys: Vec<Value>) {
            *self.keys.lock().expect("lock") = keys;
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    /// Serves `published` at `<issuer>/api/idp/v1/keys`; a failing IdP answers 503.
    async fn idp(published: Arc<Published>) -> String {
        use axum::response::IntoResponse as _;
        let router = axum::Router::new().route(
            "/api/idp/v1/keys",
            axum::routing::get(move || {
                let published = Arc::clone(&published);
                async move {
                    published.fetches.fetch_add(1, Ordering::SeqCst);
                    if published.failing.load(Ordering::SeqCst) {
                        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = published.keys.lock().expect("lock").clone();
                    axum::Json(json!({ "keys": keys })).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        issuer
    }

    /// A cache of `issuer`'s keys with the shortest refetch interval (1 s).
    fn cache(issuer: &str) -> IssuerKeys {
        crate::tls::install_crypto_provider();
        IssuerKeys::remote(issuer, reqwest::Client::new(), Duration::ZERO)
    }

    impl IssuerKeys {
        /// Moves this cache's clock forward by `by`.
        fn advance(&self, by: Duration) {
            *self.skew.lock().expect("lock") += by;
        }
    }

    /// The public half of the test IdP's primary key as a JWK under `kid`, with `edit` applied.
    fn jwk(kid: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(include_str!("../../tests/fixtures/keys/idp-primary.pem"))
            .expect("fixture key");
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        edit(&mut jwk);
        jwk
    }

    fn found(lookup: &KeyLookup) -> bool {
        matches!(lookup, KeyLookup::Found(_))
    }

    #[tokio::test]
    async fn keys_are_refetched_once_they_are_an_hour_old() {
        let published = Arc::new(Published::default());
        published.publish(vec![jwk("old", |_| {})]);
        let keys = cache(&idp(Arc::clone(&published)).await);
        assert!(found(&keys.key("old").await));
        assert_eq!(published.fetches(), 1);

        // The issuer rotates; while the cached set is younger than its lifetime (and than the contract's hour),
        // it is used without asking.
        published.publish(vec![jwk("new", |_| {})]);
        let fresh = MAX_KEY_AGE.min(Duration::from_hours(1)).saturating_sub(Duration::from_secs(1));
        keys.advance(fresh);
        assert!(found(&keys.key("old").await), "still fresh");
        assert_eq!(published.fetches(), 1, "no fetch before the lifetime ends");

        // The contract's bound, whatever the constant says: an hour after the fetch, the set is fetched again.
        keys.advance((Duration::from_hours(1) + Duration::from_secs(1)).saturating_sub(fresh));
        assert!(matches!(keys.key("old").await, KeyLookup::Unknown), "the rotated-away key is gone");
        assert_eq!(published.fetches(), 2, "refetched once the set was an hour old");
        assert!(found(&keys.key("new").await));
        assert_eq!(published.fetches(), 2, "the new set is fresh again");
    }

    #[tokio::test]
    async fn held_keys_keep_working_while_the_idp_fails_and_are_dropped_after_a_day() {
        let published = Arc::new(Published::default());
        published.publish(vec![jwk("held", |_| {})]);
        let keys = cache(&idp(Arc::clone(&published)).await);
        assert!(found(&keys.key("held").await));

        // Past the lifetime, the refresh fails: the key held is still used, hour after hour.
        published.failing.store(true, Ordering::SeqCst);
        for hour in 1..24 {
            keys.advance(Duration::from_hours(1));
            assert!(found(&keys.key("held").await), "hour {hour}: a failed refresh keeps the key held");
            assert_eq!(published.fetches(), 1 + hour, "hour {hour}: each stale lookup tried a refresh");
        }
        assert!(matches!(keys.key("unknown").await, KeyLookup::Unknown), "an unknown kid is still just unknown");

        // A day without a successful refresh (the documented cut-off): the held keys are no longer trusted.
        keys.advance(Duration::from_hours(1) + Duration::from_secs(1));
        assert!(matches!(keys.key("held").await, KeyLookup::Unavailable), "dropped after the cut-off");

        // Once the IdP answers again (after the refetch throttle), its keys are trusted again.
        published.failing.store(false, Ordering::SeqCst);
        keys.advance(Duration::from_secs(2));
        assert!(found(&keys.key("held").await), "trusted again after a successful fetch");
    }

    #[tokio::test]
    async fn a_refresh_that_fails_in_any_way_keeps_the_keys_held() {
        for failure in ["an error status", "a document that is not a key set", "a key set over the size limit"] {
            let published = Arc::new(Published::default());
            published.publish(vec![jwk("held", |_| {})]);
            let keys = cache(&idp(Arc::clone(&published)).await);
            assert!(found(&keys.key("held").await));
            match failure {
                "an error status" => published.failing.store(true, Ordering::SeqCst),
                // The served document is `{"keys": [<this>]}`, which does not parse as a JWKS.
                "a document that is not a key set" => published.publish(vec![json!("garbage")]),
                _ => published.publish((0..MAX_JWKS_BYTES / 256).map(|n| jwk(&format!("k{n}"), |_| {})).collect()),
            }
            keys.advance(MAX_KEY_AGE + Duration::from_secs(1));
            assert!(found(&keys.key("held").await), "{failure}: the key held is kept");
            assert_eq!(published.fetches(), 2, "{failure}: the refresh was tried");
        }
    }

    #[tokio::test]
    async fn only_rs256_signing_keys_are_taken_from_the_key_set() {
        let published = Arc::new(Published::default());
        published.publish(vec![
            jwk("sig-rs256", |_| {}),
            jwk("unstated", |jwk| {
                let jwk = jwk.as_object_mut().expect("object");
                jwk.remove("use");
                jwk.remove("alg");
            }),
            jwk("enc", |jwk| jwk["use"] = json!("enc")),
            jwk("rs384", |jwk| jwk["alg"] = json!("RS384")),
            jwk("ps256", |jwk| jwk["alg"] = json!("PS256")),
            json!({ "kty": "oct", "kid": "hmac", "alg": "HS256", "use": "sig", "k": URL_SAFE_NO_PAD.encode(b"secret") }),
        ]);
        let keys = cache(&idp(Arc::clone(&published)).await);
        assert!(found(&keys.key("sig-rs256").await));
        assert!(found(&keys.key("unstated").await), "no stated use or algorithm is allowed");
        for refused in ["enc", "rs384", "ps256", "hmac"] {
            assert!(matches!(keys.key(refused).await, KeyLookup::Unknown), "{refused} was taken");
        }
    }
}
