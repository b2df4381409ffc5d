//! Throttling of repeated credential failures per identity: after `limit` failures within `window`, the
//! identity is refused (429) until the window ends, without spending Argon2 on it. Unknown identities are
//! throttled exactly like known ones, so the throttle reveals nothing either.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on tracked identities; expired ones are pruned first, new ones are not tracked beyond it
/// (the bounded Argon2 pool still limits what an attacker with endless identities can make us do).
const MAX_TRACKED: usize = 100_000;

struct Failures {
    count: u32,
    window_start: Instant,
}

#[derive(Debug)]
pub struct FailureThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Failures>>,
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

    /// `Err(retry_after)` while `identity` is locked out.
    pub fn check(&self, identity: &str) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(identity) {
            Some(entry) if entry.count >= self.limit => {
                let ends = entry.window_start + self.window;
                let now = Instant::now();
                if ends > now { Err(ends - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, identity: &str) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED && !failures.contains_key(identity) {
            failures.retain(|_, entry| now.duration_since(entry.window_start) < self.window);
            if failures.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = failures.entry(identity.to_owned()).or_insert(Failures { count: 0, window_start: now });
        if now.duration_since(entry.window_start) >= self.window {
            *entry = Failures { count: 0, window_start: now };
        }
        entry.count += 1;
    }

    pub fn record_success(&self, identity: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(identity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_locked_after_the_limit_and_only_that_identity() {
        let throttle = FailureThrottle::new(3, Duration::from_mins(1));
        for _ in 0..2 {
            throttle.record_failure("victim");
        }
        assert!(throttle.check("victim").is_ok());
        throttle.record_failure("victim");
        let retry_after = throttle.check("victim").expect_err("locked");
        assert!(retry_after <= Duration::from_mins(1) && retry_after > Duration::from_secs(50));
        assert!(throttle.check("someone-else").is_ok());
    }

    #[test]
    fn a_success_clears_the_count_and_the_lock_ends_with_its_window() {
        let throttle = FailureThrottle::new(2, Duration::from_millis(50));
        throttle.record_failure("a");
        throttle.record_success("a");
        throttle.record_failure("a");
        assert!(throttle.check("a").is_ok());
        throttle.record_failure("a");
        assert!(throttle.check("a").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(throttle.check("a").is_ok());
    }
}
