//! A short-lived memory of *successful* credential checks, so that the several callbacks a partner's UI
//! fires in a row with the same credentials pay for Argon2 once.
//!
//! Entries are keyed by an HMAC (with a per-process random key) of identity and canonical secrets, so the
//! plain secret is never kept. An entry also remembers the stored hash it was checked against and is only
//! honoured while the directory still holds that very hash: a `SetCredentials` or `DeleteOrganization`
//! takes effect at once on every replica, because every check reads the stored hash anyway. Failures are
//! never remembered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac as _};
use rand_core::{OsRng, RngCore as _};
use sha2::Sha256;

/// Upper bound on remembered checks; beyond it, the oldest half is dropped.
const MAX_ENTRIES: usize = 10_000;

pub type Fingerprint = [u8; 32];

struct Entry {
    identity: String,
    stored_hash: String,
    organization_id: String,
    expires_at: Instant,
}

pub struct VerifiedCache {
    key: [u8; 32],
    ttl: Duration,
    entries: Mutex<HashMap<Fingerprint, Entry>>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl VerifiedCache {
    /// A cache whose entries live `ttl`; a zero `ttl` disables it.
    pub fn new(ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self { key, ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The keyed hash identifying one identity + secrets pair.
    pub fn fingerprint(&self, identity: &str, canonical_secrets: &str) -> Fingerprint {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return [0; 32] };
        // Length-prefixed so that no identity/secrets split can collide with another.
        mac.update(&(identity.len() as u64).to_be_bytes());
        mac.update(identity.as_bytes());
        mac.update(canonical_secrets.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The organization of a remembered successful check, if it is fresh and `stored_hash` is still the
    /// directory's hash for the identity.
    pub fn lookup(&self, fingerprint: &Fingerprint, stored_hash: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(fingerprint)?;
        (entry.expires_at > Instant::now() && entry.stored_hash == stored_hash).then(|| entry.organization_id.clone())
    }

    pub fn remember(&self, fingerprint: Fingerprint, identity: &str, stored_hash: &str, organization_id: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.expires_at > now);
        }
        if entries.len() >= MAX_ENTRIES {
            let mut by_age: Vec<(Instant, Fingerprint)> = entries.iter().map(|(k, e)| (e.expires_at, *k)).collect();
            by_age.sort_unstable();
            for (_, key) in by_age.into_iter().take(MAX_ENTRIES / 2) {
                entries.remove(&key);
            }
        }
        entries.insert(
            fingerprint,
            Entry {
                identity: identity.to_owned(),
                stored_hash: stored_hash.to_owned(),
                organization_id: organization_id.to_owned(),
                expires_at: now + self.ttl,
            },
        );
    }

    /// Drops every entry of `identity` (its credentials changed or its organization was deleted).
    pub fn forget(&self, identity: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.retain(|_, entry| entry.identity != identity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_check_holds_only_while_the_stored_hash_is_unchanged() {
        let cache = VerifiedCache::new(Duration::from_mins(1));
        let key = cache.fingerprint("admin@acme", r#"{"password":"a"}"#);
        cache.remember(key, "admin@acme", "hash-1", "acme");
        assert_eq!(cache.lookup(&key, "hash-1").as_deref(), Some("acme"));
        assert_eq!(cache.lookup(&key, "hash-2"), None);
        assert_eq!(cache.lookup(&cache.fingerprint("admin@acme", r#"{"password":"b"}"#), "hash-1"), None);
        cache.forget("admin@acme");
        assert_eq!(cache.lookup(&key, "hash-1"), None);
    }

    #[test]
    fn a_zero_ttl_disables_the_cache() {
        let cache = VerifiedCache::new(Duration::ZERO);
        let key = cache.fingerprint("a", "{}");
        cache.remember(key, "a", "h", "o");
        assert_eq!(cache.lookup(&key, "h"), None);
    }

    #[test]
    fn identity_and_secrets_cannot_be_shifted_into_each_other() {
        let cache = VerifiedCache::new(Duration::from_mins(1));
        assert_ne!(cache.fingerprint("ab", "c"), cache.fingerprint("a", "bc"));
    }
}
