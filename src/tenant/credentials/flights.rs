//! One credential check at a time per identity and secrets.
//!
//! A burst of callbacks carrying the same credentials that are not (or no longer) remembered would otherwise
//! all run Argon2 at once. Worse, checks in flight count against the failure limit (see `throttle`), so a
//! burst larger than the limit was refused with 429 even though every one of them held the right secret.
//! Queued here, the first check runs and the rest find its success in the cache; only a failure makes the
//! next one check again (and count, as every failure does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use super::cache::Fingerprint;

#[derive(Debug, Default)]
pub struct Flights {
    running: Mutex<HashMap<Fingerprint, Arc<tokio::sync::Mutex<()>>>>,
}

/// The turn of one check; the next check of the same fingerprint starts when it is dropped.
pub struct Turn<'a> {
    flights: &'a Flights,
    fingerprint: Fingerprint,
    queue: Arc<tokio::sync::Mutex<()>>,
    held: Option<OwnedMutexGuard<()>>,
}

impl Flights {
    /// Waits until no other check of `fingerprint` is running, and returns this check's turn.
    pub async fn turn(&self, fingerprint: Fingerprint) -> Turn<'_> {
        let queue = {
            let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(running.entry(fingerprint).or_default())
        };
        let mut turn = Turn { flights: self, fingerprint, queue, held: None };
        turn.held = Some(Arc::clone(&turn.queue).lock_owned().await);
        turn
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.held.take();
        let mut running = self.flights.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Others take their clone under this lock, so the count is exact: two are the map's and this one.
        if Arc::strong_count(&self.queue) == 2 {
            running.remove(&self.fingerprint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_of_one_fingerprint_take_turns_and_leave_nothing_behind() {
        let flights = Flights::default();
        let first = flights.turn([1; 32]).await;
        let other = flights.turn([2; 32]).await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), flights.turn([1; 32])).await;
        assert!(waiting.is_err(), "the same fingerprint waits for the running check");
        drop(first);
        drop(flights.turn([1; 32]).await);
        drop(other);
        assert!(flights.running.lock().unwrap().is_empty());
    }
}
