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
            (KeySource::Remote { .. }, Some(at)) => at.elapsed() < MAX_KEY_AGE,
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
            (KeySource::Remote { .. }, Some(at)) => at.elapsed() > MAX_STALE_AGE,
        }
    }

    async fn refresh(&self) {
        let KeySource::Remote { url, http } = &self.source else { return };
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            // Throttled, or another task refreshed while this one waited for the lock.
            return;
        }
        *last_fetch = Some(Instant::now());
        let fetched = fetch(http, url).await;
        let outcome = if fetched.is_ok() { "success" } else { "failure" };
        Metrics::outcome(&METRICS.jwks_fetches, outcome);
        match fetched {
            Ok(keys) => {
                tracing::info!(jwks_url = %url, keys = keys.len(), "fetched issuer signing keys");
                let mut snapshot = self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                *snapshot = KeySnapshot { keys, fetched_at: Some(Instant::now()) };
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
