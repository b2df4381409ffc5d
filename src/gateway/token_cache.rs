//! A bounded cache of verdicts on tokens, keyed by the SHA-256 of the whole token.
//!
//! The Acronis gateway reuses one token for many callbacks (tokens live an hour), and an RS256 check costs
//! far more than the rest of a callback. A verdict is reused only while it still holds: an accepted token
//! is checked against `exp`/`nbf` (with the same leeway) on every use, and every verdict is tied to the exact
//! key that produced it, so a key the issuer has rotated away ends its tokens at once. A token refused for
//! its signature is remembered too, so replaying a forged token costs a hash, not an RSA operation. Nothing
//! else is cached: a refusal for any other reason is decided afresh.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::DecodingKey;
use sha2::{Digest as _, Sha256};

/// Verdicts kept at most; beyond it, expired ones are dropped, and if that is not enough, all of them.
const MAX_ENTRIES: usize = 8192;

pub type TokenDigest = [u8; 32];

pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What was decided about one token, and with which key.
#[derive(Debug)]
pub struct Verdict {
    pub issuer: String,
    pub kid: String,
    pub key: Arc<DecodingKey>,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// The signature and claims checked out; `exp`/`nbf` must still be checked at each use.
    Accepted { roles: Arc<[String]>, exp: u64, nbf: Option<u64> },
    /// The signature does not match the key.
    BadSignature,
}

/// Why a remembered acceptance no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeCheck {
    Valid,
    Expired,
    NotYetValid,
}

impl Outcome {
    /// The same rule as the full check (jsonwebtoken's): valid while `exp >= now - leeway` and
    /// `nbf <= now + leeway`.
    pub fn time_check(&self, leeway: Duration) -> TimeCheck {
        let Self::Accepted { exp, nbf, .. } = self else { return TimeCheck::Valid };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let leeway = leeway.as_secs();
        if *exp < now.saturating_sub(leeway) {
            TimeCheck::Expired
        } else if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            TimeCheck::NotYetValid
        } else {
            TimeCheck::Valid
        }
    }
}

#[derive(Debug, Default)]
pub struct TokenCache {
    verdicts: RwLock<HashMap<TokenDigest, Arc<Verdict>>>,
}

impl TokenCache {
    pub fn get(&self, digest: &TokenDigest) -> Option<Arc<Verdict>> {
        self.verdicts.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(digest).cloned()
    }

    pub fn insert(&self, digest: TokenDigest, verdict: Verdict, leeway: Duration) {
        let mut verdicts = self.verdicts.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if verdicts.len() >= MAX_ENTRIES {
            verdicts.retain(|_, verdict| verdict.outcome.time_check(leeway) != TimeCheck::Expired);
            if verdicts.len() >= MAX_ENTRIES {
                verdicts.clear();
            }
        }
        verdicts.insert(digest, Arc::new(verdict));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
    }

    fn accepted(exp: u64, nbf: Option<u64>) -> Outcome {
        Outcome::Accepted { roles: Arc::from(Vec::new()), exp, nbf }
    }

    #[test]
    fn a_remembered_acceptance_honours_exp_and_nbf_with_the_leeway() {
        let leeway = Duration::from_mins(1);
        assert_eq!(accepted(now() + 10, None).time_check(leeway), TimeCheck::Valid);
        assert_eq!(accepted(now() - 30, None).time_check(leeway), TimeCheck::Valid, "inside the leeway");
        assert_eq!(accepted(now() - 61, None).time_check(leeway), TimeCheck::Expired);
        assert_eq!(accepted(now() + 600, Some(now() + 120)).time_check(leeway), TimeCheck::NotYetValid);
        assert_eq!(accepted(now() + 600, Some(now() + 30)).time_check(leeway), TimeCheck::Valid);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::default();
        let key = Arc::new(DecodingKey::from_secret(b"unused"));
        for n in 0..(MAX_ENTRIES + 10) {
            let verdict =
                Verdict { issuer: "i".into(), kid: "k".into(), key: Arc::clone(&key), outcome: Outcome::BadSignature };
            cache.insert(digest(&n.to_string()), verdict, Duration::ZERO);
        }
        assert!(cache.verdicts.read().expect("lock").len() <= MAX_ENTRIES);
    }
}
