//! Throttling of repeated credential failures per identity *and* the Acronis tenant they come from: after
//! `limit` failures within `window`, that pair is refused (429) until the window ends, without spending
//! Argon2 on it. Keyed by the pair, wrong guesses sent from one tenant never lock the identity's owner out
//! of enabling from its own. Unknown identities are throttled exactly like known ones, so the throttle
//! reveals nothing either.
//!
//! Attempts still being checked count against the limit too ([`FailureThrottle::begin`] reserves one), so a
//! burst of parallel guesses cannot all pass the check before the first failure is recorded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whose failures are counted together: an identity, and the Acronis tenant it was presented from.
pub type ThrottleKey = (String, String);

/// The key of `identity` presented from `from_tenant` (case-folded: a tenant id is a UUID).
pub fn key(identity: &str, from_tenant: &str) -> ThrottleKey {
    (identity.to_owned(), from_tenant.trim().to_ascii_lowercase())
}

/// Upper bound on tracked keys; expired ones are pruned first, new ones are not tracked beyond it
/// (the bounded Argon2 pool still limits what an attacker with endless identities can make us do).
const MAX_TRACKED: usize = 100_000;

struct Failures {
    count: u32,
    in_flight: u32,
    window_start: Instant,
}

#[derive(Debug)]
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<ThrottleKey, Failures>>,
}

impl std::fmt::Debug for Failures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failures").field("count", &self.count).finish_non_exhaustive()
    }
}

impl FailureThrottle {
    /// `limit == 0` disables throttling.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window, failures: Mutex::new(HashMap::new()) }
    }

    /// Reserves an attempt for `key`, or `Err(retry_after)` while failures and attempts in flight together
    /// reach the limit. The returned guard must be settled with `failed` or `succeeded`; dropped unsettled
    /// (the check could not be made), it just releases the reservation.
    pub fn begin(&self, key: ThrottleKey) -> Result<Attempt<'_>, Duration> {
        if self.limit == 0 {
            return Ok(Attempt { throttle: self, key, settled: true });
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
            failures.retain(|_, entry| entry.in_flight > 0 || now.duration_since(entry.window_start) < self.window);
            if failures.len() >= MAX_TRACKED {
                // Untracked: still bounded by the Argon2 pool.
                return Ok(Attempt { throttle: self, key, settled: true });
            }
        }
        let entry = failures.entry(key.clone()).or_insert(Failures { count: 0, in_flight: 0, window_start: now });
        if now.duration_since(entry.window_start) >= self.window {
            entry.count = 0;
            entry.window_start = now;
        }
        if entry.count + entry.in_flight >= self.limit {
            let remaining = (entry.window_start + self.window).saturating_duration_since(now);
            // Locked by attempts still in flight rather than by failures: retry soon.
            return Err(if entry.count >= self.limit { remaining } else { Duration::from_secs(1) });
        }
        entry.in_flight += 1;
        Ok(Attempt { throttle: self, key, settled: false })
    }

    fn settle(&self, key: &ThrottleKey, failed: bool) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entry) = failures.get_mut(key) else { return };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if failed {
            entry.count += 1;
        } else if entry.in_flight == 0 && entry.count == 0 {
            failures.remove(key);
        }
    }

    fn clear(&self, key: &ThrottleKey) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = failures.get_mut(key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            entry.count = 0;
        }
    }
}

/// One reserved attempt of a key.
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a FailureThrottle,
    key: ThrottleKey,
    settled: bool,
}

impl Attempt<'_> {
    pub fn failed(mut self) {
        self.settled = true;
        self.throttle.settle(&self.key, true);
    }

    /// A success clears the failures of its key.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle.clear(&self.key);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(&self.key, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "999d63d2-831e-40b9-aaab-16f919a483d0";

    fn begin<'a>(throttle: &'a FailureThrottle, identity: &str) -> Result<Attempt<'a>, Duration> {
        throttle.begin(key(identity, TENANT))
    }

    fn fail(throttle: &FailureThrottle, identity: &str) {
        begin(throttle, identity).expect("not locked").failed();
    }

    #[test]
    fn an_identity_is_locked_after_the_limit_and_only_that_identity() {
        let throttle = FailureThrottle::new(3, Duration::from_mins(1));
        fail(&throttle, "victim");
        fail(&throttle, "victim");
        drop(begin(&throttle, "victim").expect("one more try"));
        fail(&throttle, "victim");
        let retry_after = begin(&throttle, "victim").expect_err("locked");
        assert!(retry_after <= Duration::from_mins(1) && retry_after > Duration::from_secs(50));
        assert!(begin(&throttle, "someone-else").is_ok());
    }

    #[test]
    fn failures_from_one_tenant_never_lock_the_same_identity_out_of_another() {
        let throttle = FailureThrottle::new(3, Duration::from_mins(1));
        for _ in 0..3 {
            throttle.begin(key("admin@acme", "9AE2AADA-2342-4fc0-8d92-007b597a7d9c")).expect("free").failed();
        }
        assert!(throttle.begin(key("admin@acme", "9ae2aada-2342-4fc0-8d92-007b597a7d9c")).is_err(), "case-folded");
        assert!(throttle.begin(key("admin@acme", TENANT)).is_ok(), "the owner's own tenant stays open");
    }

    #[test]
    fn attempts_in_flight_count_so_a_parallel_burst_cannot_pass_the_limit() {
        let throttle = FailureThrottle::new(3, Duration::from_mins(1));
        let burst: Vec<_> = (0..10).filter_map(|_| begin(&throttle, "victim").ok()).collect();
        assert_eq!(burst.len(), 3, "only as many attempts as the limit allows at once");
        burst.into_iter().for_each(Attempt::failed);
        assert!(begin(&throttle, "victim").is_err());
    }

    #[test]
    fn a_success_clears_the_count_and_the_lock_ends_with_its_window() {
        let throttle = FailureThrottle::new(2, Duration::from_millis(50));
        fail(&throttle, "a");
        begin(&throttle, "a").expect("free").succeeded();
        fail(&throttle, "a");
        assert!(begin(&throttle, "a").is_ok());
        fail(&throttle, "a");
        assert!(begin(&throttle, "a").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(begin(&throttle, "a").is_ok());
    }
}
