//! A bounded cache of verdicts on tokens, keyed by the SHA-256 of the whole token.
//!
//! The Acronis gateway reuses one token for many callbacks (tokens live an hour), and an RS256 check costs
//! far more than the rest of a callback. A verdict is reused only while it still holds: an accepted token
//! is checked against `exp`/`nbf` (with the same leeway) on every use, and every verdict is tied to the exact
//! key that produced it, so a key the issuer has rotated away ends its tokens at once. A token refused for
//! its signature is remembered too (for [`REFUSAL_TTL`], apart from the acceptances so that a flood of
//! forgeries cannot push genuine verdicts out), so replaying a forged token costs a hash, not an RSA
//! operation. Nothing else is cached: a refusal for any other reason is decided afresh.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::DecodingKey;
use sha2::{Digest as _, Sha256};

/// Acceptances kept at most; beyond it, expired ones are dropped, and if that is not enough, all of them.
/// Only tokens the issuer signed are accepted (any CyberApp's: the endpoint is checked after), so nobody
/// can fill this faster than Acronis hands out tokens.
const MAX_ACCEPTED: usize = 8192;
/// Refusals kept at most, apart from the acceptances: anyone can mint tokens with bad signatures, and a
/// flood of them must never push out the verdicts on genuine tokens.
const MAX_REFUSED: usize = 4096;
/// How long a refusal is remembered: long enough to make replaying a forged token cheap, short enough that
/// nothing is kept for ever.
pub const REFUSAL_TTL: Duration = Duration::from_mins(10);

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
    accepted: RwLock<HashMap<TokenDigest, Arc<Verdict>>>,
    /// Bad-signature verdicts, with when they were reached.
    refused: RwLock<HashMap<TokenDigest, (Arc<Verdict>, Instant)>>,
}

impl TokenCache {
    pub fn get(&self, digest: &TokenDigest) -> Option<Arc<Verdict>> {
        if let Some(verdict) = read(&self.accepted).get(digest) {
            return Some(Arc::clone(verdict));
        }
        let refused = read(&self.refused);
        let (verdict, at) = refused.get(digest)?;
        (at.elapsed() < REFUSAL_TTL).then(|| Arc::clone(verdict))
    }

    pub fn insert(&self, digest: TokenDigest, verdict: Verdict, leeway: Duration) {
        if matches!(verdict.outcome, Outcome::BadSignature) {
            let mut refused = write(&self.refused);
            if refused.len() >= MAX_REFUSED {
                refused.retain(|_, (_, at)| at.elapsed() < REFUSAL_TTL);
                if refused.len() >= MAX_REFUSED {
                    refused.clear();
                }
            }
            refused.insert(digest, (Arc::new(verdict), Instant::now()));
            return;
        }
        let mut accepted = write(&self.accepted);
        if accepted.len() >= MAX_ACCEPTED {
            accepted.retain(|_, verdict| verdict.outcome.time_check(leeway) != TimeCheck::Expired);
            if accepted.len() >= MAX_ACCEPTED {
                accepted.clear();
            }
        }
        accepted.insert(digest, Arc::new(verdict));
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
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

    fn verdict(key: &Arc<DecodingKey>, outcome: Outcome) -> Verdict {
        Verdict { issuer: "i".into(), kid: "k".into(), key: Arc::clone(key), outcome }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::default();
        let key = Arc::new(DecodingKey::from_secret(b"unused"));
        for n in 0..(MAX_ACCEPTED + 10) {
            cache.insert(digest(&format!("a{n}")), verdict(&key, accepted(now() + 60, None)), Duration::ZERO);
            cache.insert(digest(&format!("r{n}")), verdict(&key, Outcome::BadSignature), Duration::ZERO);
        }
        assert!(read(&cache.accepted).len() <= MAX_ACCEPTED);
        assert!(read(&cache.refused).len() <= MAX_REFUSED);
    }

    #[test]
    fn a_flood_of_forged_tokens_never_pushes_out_a_genuine_verdict() {
        let cache = TokenCache::default();
        let key = Arc::new(DecodingKey::from_secret(b"unused"));
        cache.insert(digest("genuine"), verdict(&key, accepted(now() + 600, None)), Duration::ZERO);
        for n in 0..(3 * MAX_REFUSED) {
            cache.insert(digest(&format!("forged{n}")), verdict(&key, Outcome::BadSignature), Duration::ZERO);
        }
        assert!(cache.get(&digest("genuine")).is_some());
    }

    #[test]
    fn a_refusal_is_forgotten_after_its_time() {
        let cache = TokenCache::default();
        let key = Arc::new(DecodingKey::from_secret(b"unused"));
        cache.insert(digest("forged"), verdict(&key, Outcome::BadSignature), Duration::ZERO);
        assert!(cache.get(&digest("forged")).is_some());
        // Age the entry instead of waiting ten minutes.
        let aged = Instant::now().checked_sub(REFUSAL_TTL + Duration::from_secs(1)).expect("clock");
        write(&cache.refused).values_mut().for_each(|(_, at)| *at = aged);
        assert!(cache.get(&digest("forged")).is_none());
    }
}
