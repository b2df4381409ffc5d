//! Checking the credentials of a mapped enablement (`X-CyberApp-Auth`) against the vendor directory.
//!
//! * Argon2 runs on blocking threads, at most `max_concurrent_hashes` at a time; a caller that cannot get a
//!   slot within [`HASHING_WAIT`] is shed with RESOURCE_EXHAUSTED (429), so a flood of logins can neither
//!   block the async executor nor queue without bound.
//! * An unknown identity is checked against a dummy hash, so it costs (and takes) what a wrong secret does.
//! * Successful checks are remembered briefly ([`cache`]); repeated failures sent from one Acronis tenant
//!   lock that tenant out of the identity for a while, never the identity's owner out of its own
//!   ([`throttle`]).
//! * Checks of the same identity and secrets take turns ([`flights`]), so a burst of them costs one Argon2.

mod cache;
mod flights;
pub mod hashing;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use self::cache::VerifiedCache;
use self::flights::Flights;
use self::throttle::FailureThrottle;
use super::error::TenantError;
use super::model::Identity;
use super::store::TenantStore;
use crate::db::entity::{credential, organization};
use crate::metrics::{METRICS, Metrics};

/// How long a check may wait for a free Argon2 slot before it is shed.
const HASHING_WAIT: Duration = Duration::from_secs(3);

/// Tuning of credential checks.
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    /// How long a successful check is remembered; zero disables the cache.
    pub cache_ttl: Duration,
    /// Failures within `lockout` after which an identity is refused; zero disables throttling.
    pub failure_limit: u32,
    pub lockout: Duration,
    /// Argon2 computations running at once; zero means one per CPU.
    pub max_concurrent_hashes: usize,
}

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_mins(1),
            failure_limit: 5,
            lockout: Duration::from_mins(1),
            max_concurrent_hashes: 0,
        }
    }
}

#[derive(Debug)]
pub struct CredentialVerifier {
    cache: VerifiedCache,
    flights: Flights,
    throttle: FailureThrottle,
    hashing_slots: Arc<Semaphore>,
    dummy_hash: String,
}

fn invalid_credentials() -> TenantError {
    TenantError::Unauthenticated("The credentials are not valid for any account of this service.".into())
}

impl CredentialVerifier {
    pub fn new(settings: &CredentialSettings) -> Self {
        let slots = match settings.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        };
        Self {
            cache: VerifiedCache::new(settings.cache_ttl),
            flights: Flights::default(),
            throttle: FailureThrottle::new(settings.failure_limit, settings.lockout),
            hashing_slots: Arc::new(Semaphore::new(slots)),
            dummy_hash: hashing::dummy_hash(),
        }
    }

    /// Returns the organization `identity` belongs to when `secrets_json` matches its stored hash. Failures
    /// are throttled per identity and `from_tenant`, the Acronis tenant the credentials came from.
    pub async fn verify(
        &self,
        store: &TenantStore,
        identity: &Identity,
        secrets_json: &str,
        from_tenant: &str,
    ) -> Result<organization::Model, TenantError> {
        let canonical = hashing::canonical_secrets(secrets_json)
            .ok_or_else(|| TenantError::Unauthenticated("The credential secrets must be a JSON object.".into()))?;
        let stored = store.credential_with_organization(identity).await?;
        let identity = identity.as_str();
        let fingerprint = self.cache.fingerprint(identity, &canonical);
        // A remembered success can only hold the right secret, so it needs no throttle slot: a burst of
        // callbacks with good credentials is never shed once one of them was checked.
        if let Some(organization) = self.remembered(&fingerprint, stored.as_ref()) {
            return Ok(organization);
        }
        let _turn = self.flights.turn(fingerprint).await;
        // The check this one waited for may have succeeded.
        if let Some(organization) = self.remembered(&fingerprint, stored.as_ref()) {
            return Ok(organization);
        }
        Metrics::outcome(&METRICS.credential_cache, "miss");
        let attempt = self.throttle.begin(throttle::key(identity, from_tenant)).map_err(|retry_after| {
            TenantError::Throttled {
                reason: "Too many failed attempts with these credentials; please wait before trying again.",
                retry_after,
            }
        })?;
        let against = stored.as_ref().map_or_else(|| self.dummy_hash.clone(), |(s, _)| s.secret_hash.clone());
        let matches = self.run_hashing(move || hashing::verify(&canonical, &against)).await?;
        match stored {
            Some((credential, organization)) if matches => {
                attempt.succeeded();
                self.cache.remember(fingerprint, identity, &credential.secret_hash, &organization.id);
                Ok(organization)
            }
            _ => {
                attempt.failed();
                Err(invalid_credentials())
            }
        }
    }

    /// The organization of a remembered successful check of these credentials against `stored`.
    fn remembered(
        &self,
        fingerprint: &cache::Fingerprint,
        stored: Option<&(credential::Model, organization::Model)>,
    ) -> Option<organization::Model> {
        let (credential, organization) = stored?;
        let remembered = self.cache.lookup(fingerprint, &credential.secret_hash)?;
        (remembered == organization.id).then(|| {
            Metrics::outcome(&METRICS.credential_cache, "hit");
            organization.clone()
        })
    }

    /// Hashes a secrets object for storage; `InvalidArgument` when it is not a JSON object.
    pub async fn hash(&self, secrets_json: &str) -> Result<String, TenantError> {
        let canonical = hashing::canonical_secrets(secrets_json)
            .ok_or_else(|| TenantError::InvalidArgument("secrets must be a JSON object".into()))?;
        self.run_hashing(move || hashing::hash(&canonical))
            .await?
            .map_err(|error| TenantError::Fault(format!("hashing failed: {error}")))
    }

    /// Forgets remembered checks of `identity` on this replica (other replicas stop honouring theirs at once,
    /// see [`cache`]).
    pub fn forget(&self, identity: &str) {
        self.cache.forget(identity);
    }

    async fn run_hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, TenantError> {
        let busy = || TenantError::Throttled {
            reason: "The service is busy checking credentials; please retry shortly.",
            retry_after: Duration::from_secs(1),
        };
        let permit = tokio::time::timeout(HASHING_WAIT, self.hashing_slots.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|error| TenantError::Fault(format!("credential check did not complete: {error}")))
    }
}
