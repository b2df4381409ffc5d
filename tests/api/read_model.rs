//! The read model (`tenant/store/read_model.rs`): hot reads answered from memory, never older than allowed.
//!
//! Each test runs the binary as processes of their own (the [`Service`] helper) on one database, so that
//! "another replica" is really another process with its own memory, and so that the read-model counters in
//! `/metrics` move only with this test's requests: hits and misses are asserted exactly. The state read is
//! `partner.mirroring.get_state`, the hottest callback; it alternates between ENABLED and DISABLED so that a
//! stale answer cannot pass for a fresh one.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    PARTNER_STATE_OK, PARTNER_TENANT, Service, TestDatabase, TestResponse, assert_success, enable_partner,
    get_partner_state, http_client, into_test_response, reset_partner,
};

/// A service process with its data directory and a development token it accepts.
struct Replica {
    service: Service,
    token: String,
    _data_dir: tempfile::TempDir,
}

impl Replica {
    async fn start(database: &TestDatabase, extra_env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let service = Service::start(&database.url, data_dir.path(), extra_env);
        service.wait_until_ready().await;
        let token = service.dev_token(data_dir.path());
        Self { service, token, _data_dir: data_dir }
    }

    async fn callback(&self, body: &Value) -> TestResponse {
        let response = http_client()
            .post(format!("http://127.0.0.1:{}/callback", self.service.http_port))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("sent");
        into_test_response(response).await
    }

    /// `partner.mirroring.get_state` of the test partner, as this process answers it.
    async fn partner_state(&self) -> String {
        let request = get_partner_state(PARTNER_TENANT);
        let response = self.callback(&request).await;
        let payload = assert_success(&response, &request, PARTNER_STATE_OK).expect("payload");
        payload["state"].as_str().expect("a state").to_owned()
    }

    async fn enable(&self, round: usize) {
        let response = self.callback(&enable_partner(PARTNER_TENANT, &format!("Partner {round}"), None)).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }

    async fn reset(&self) {
        assert_eq!(self.callback(&reset_partner(PARTNER_TENANT)).await.status, 200);
    }

    /// Reads the partner's state until an answer comes from memory, so that what follows does not race the
    /// first refresh of the background loop (which drops whatever was kept before it); returns the lookups
    /// counted so far.
    async fn warm_up(&self) -> (u64, u64) {
        for _ in 0..50 {
            self.partner_state().await;
            let lookups = self.tenant_lookups().await;
            if lookups.0 > 0 {
                return lookups;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no read was ever answered from memory");
    }

    /// `cyberapp_read_model_lookups_total` of the tenant lookups, as (hits, misses).
    async fn tenant_lookups(&self) -> (u64, u64) {
        let url = format!("http://127.0.0.1:{}/metrics", self.service.http_port);
        let text = http_client().get(url).send().await.expect("sent").text().await.expect("text");
        let sample = |outcome: &str| {
            let series = format!(r#"cyberapp_read_model_lookups_total{{table="tenants",outcome="{outcome}"}} "#);
            text.lines()
                .find_map(|line| line.strip_prefix(&series))
                .map_or(0, |value| value.trim().parse().expect("a whole number"))
        };
        (sample("hit"), sample("miss"))
    }
}

const ROUNDS: usize = 20;
/// Reads of each state on the other process.
const READS: u64 = 3;

#[tokio::test]
async fn a_write_answered_by_one_process_is_read_by_another_at_once() {
    let database = TestDatabase::create().await;
    let a = Replica::start(&database, &[]).await;
    let b = Replica::start(&database, &[]).await;
    let before = b.warm_up().await;

    for round in 0..ROUNDS {
        a.enable(round).await;
        // No waiting: B's first read after A's answer already sees it, and so do the next ones, which B
        // answers from memory.
        for read in 1..=READS {
            assert_eq!(b.partner_state().await, "ENABLED", "round {round}, read {read}");
        }
        a.reset().await;
        for read in 1..=READS {
            assert_eq!(b.partner_state().await, "DISABLED", "round {round}, read {read}");
        }
    }
    // Every first read found its kept answer dropped by A's event and went to the database; every later read
    // was answered from memory. A's event is applied once, whether B first reads it before or after the
    // sequencer numbers it: applied again once numbered, it would drop the answer the first read kept.
    let after = b.tenant_lookups().await;
    let (hits, misses) = (after.0 - before.0, after.1 - before.1);
    assert_eq!(misses, 2 * ROUNDS as u64, "one miss per write ({hits} hits)");
    assert_eq!(hits, 2 * (READS - 1) * ROUNDS as u64, "every later read is a hit ({misses} misses)");
}

#[tokio::test]
async fn with_a_staleness_bound_a_process_still_reads_its_own_writes_at_once() {
    let database = TestDatabase::create().await;
    // A minute of allowed staleness, and no refresh by the background loop within the test: only the rule
    // that a refresh must follow this process's own last commit can make the reads below right.
    let a =
        Replica::start(&database, &[("READ_MODEL_MAX_STALENESS_MS", "60000"), ("EVENT_POLL_INTERVAL_MS", "600000")])
            .await;
    // An answer loaded before the model's first refresh (the sequencer's, at start-up) is not kept: on a busy
    // machine that refresh can come after round 0's first reads, and round 0 would count two misses.
    let before = a.warm_up().await;
    for round in 0..ROUNDS {
        a.enable(round).await;
        assert_eq!(a.partner_state().await, "ENABLED", "round {round}");
        assert_eq!(a.partner_state().await, "ENABLED", "round {round}");
        a.reset().await;
        assert_eq!(a.partner_state().await, "DISABLED", "round {round}");
        assert_eq!(a.partner_state().await, "DISABLED", "round {round}");
    }
    // The first read of each pair misses (the write's event dropped the kept answer) and the second is a hit:
    // the sequencer's own refresh, once it has numbered the event, must not apply it again.
    let after = a.tenant_lookups().await;
    let (hits, misses) = (after.0 - before.0, after.1 - before.1);
    assert_eq!((hits, misses), (2 * ROUNDS as u64, 2 * ROUNDS as u64), "(hits, misses)");
}

#[tokio::test]
async fn with_a_staleness_bound_another_process_sees_a_write_once_the_bound_has_passed() {
    const BOUND_MS: u64 = 400;
    let database = TestDatabase::create().await;
    let a = Replica::start(&database, &[]).await;
    // B's background loop does not refresh within the test, so only the bound makes B refresh.
    let bound = BOUND_MS.to_string();
    let b = Replica::start(&database, &[("READ_MODEL_MAX_STALENESS_MS", &bound), ("EVENT_POLL_INTERVAL_MS", "600000")])
        .await;
    assert_eq!(b.partner_state().await, "DISABLED");
    for round in 0..3 {
        a.enable(round).await;
        // Whatever B kept is older than the bound by the time it reads.
        tokio::time::sleep(Duration::from_millis(BOUND_MS + 50)).await;
        assert_eq!(b.partner_state().await, "ENABLED", "round {round}");
        a.reset().await;
        tokio::time::sleep(Duration::from_millis(BOUND_MS + 50)).await;
        assert_eq!(b.partner_state().await, "DISABLED", "round {round}");
    }
}

#[tokio::test]
async fn read_model_entries_zero_sends_every_read_to_the_database() {
    let database = TestDatabase::create().await;
    let a = Replica::start(&database, &[("READ_MODEL_ENTRIES", "0")]).await;
    a.enable(0).await;
    for _ in 0..5 {
        assert_eq!(a.partner_state().await, "ENABLED");
    }
    assert_eq!(a.tenant_lookups().await, (0, 0), "nothing is looked up in a read model that keeps nothing");
}
