//! Unpaged reads of a partner with 100,000 customers are answered 200 in full (product spec, "Size"): the
//! gateway's in-process gRPC client must not refuse a large answer with tonic's 4 MiB decode limit.
//!
//! Each test prints the size of the answer, the wall time of the call (request sent to last byte received)
//! and the growth of the process's peak RSS during the call (the service runs in the test process, so this
//! includes the test client's copy of the body, but not its parse). The three tests never overlap (see
//! [`MEASURING`]), but memory freed by an earlier large read is reused by a later one unseen, so the memory
//! figure is the cost of the first such read only when a test runs alone in its process:
//! `cargo test --test api large_answers::an_unpaged_topology -- --nocapture` (likewise `…_tenant_mapping`,
//! `…_customer_mirroring`; add `TEST_DATABASE_URL=…` for PostgreSQL).

use std::time::{Duration, Instant};

use chrono::Utc;
use cyberapp_tenants::db::entity::organization::{self, OrganizationKind};
use cyberapp_tenants::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{
    CUSTOMER_STATE_OK, MAPPING_READ_OK, PARTNER_TENANT, TOPOLOGY_OK, TestApp, TestResponse, assert_success, envelope,
    http_client,
};
use cyberapp_tenants::pb::{GetMirroredCustomersRequest, ListCustomerOrganizationsRequest};

const CUSTOMERS: usize = 100_000;

/// Every tenth customer is mapped in the `tenant_mapping.read` test.
const MAPPED_EVERY: usize = 10;

/// Rows per bulk insert: 2,000 rows of at most 11 columns bind 22,000 parameters, below SQLite's limit
/// (32,766) and PostgreSQL's (65,535).
const ROWS_PER_INSERT: usize = 2_000;

/// Serializes the tests of this file: each holds 100,000 rows in memory and measures the process's peak RSS,
/// which a concurrent one would blur.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Customer organization `i`: a UUID-shaped id, as vendor directories use, that sorts in order of `i`.
fn customer_id(i: usize) -> String {
    format!("{i:08}-c057-4000-8000-000000000000")
}

/// A name as long as a real company's, so that the answers are as large as real ones.
fn customer_name(i: usize) -> String {
    format!("Customer {i:06} Example Industries Ltd.")
}

/// The Acronis tenant mapped customer `i` is mapped to: a UUID, unique per customer and recognisable.
fn mapped_acronis_id(i: usize) -> String {
    format!("30000000-0000-4000-8000-{i:012}")
}

/// The vendor and Acronis tenant ids of mirrored customer `i`: UUIDs, unique per customer and recognisable.
fn mirrored_ids(i: usize) -> (String, String) {
    (format!("10000000-0000-4000-8000-{i:012}"), format!("20000000-0000-4000-8000-{i:012}"))
}

/// The app under test. What these tests prove is that no message limit refuses a large answer, not how
/// fast a debug build serves it on a loaded machine (several seconds here, 1-3 s in release): the request
/// timeout is raised so that speed cannot turn the answer into a 503.
async fn spawn() -> TestApp {
    TestApp::spawn_with(|args| args.request_timeout_ms = 60_000).await
}

/// The index ranges of the bulk inserts that write `rows` rows.
fn insert_batches(rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..rows).step_by(ROWS_PER_INSERT).map(move |start| start..rows.min(start + ROWS_PER_INSERT))
}

/// Seeds a mirrored partner (method 4: its vendor tenant id is a directory organization) with `CUSTOMERS`
/// customer organizations directly under it, and maps every `mapped_every`-th (if any) by inserting the
/// records `tenant_mapping.write` would have made. Bulk inserts in one transaction: seeding is not measured.
/// Rows are built one insert at a time, so that seeding leaves little freed heap behind for the measured
/// call to reuse unseen.
async fn seed_directory_partner(app: &TestApp, mapped_every: Option<usize>) {
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let partner = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner").vendor_tenant_id;
    let now = Utc::now();
    let tx = app.db.begin().await.expect("transaction");
    for batch in insert_batches(CUSTOMERS) {
        let customers = batch.map(|i| organization::ActiveModel {
            id: Set(customer_id(i)),
            name: Set(customer_name(i)),
            kind: Set(OrganizationKind::Customer),
            parent_id: Set(Some(partner.clone())),
            created_at: Set(now),
            updated_at: Set(now),
        });
        organization::Entity::insert_many(customers).exec_without_returning(&tx).await.expect("customers");
    }
    if let Some(every) = mapped_every {
        for batch in insert_batches(CUSTOMERS.div_ceil(every)) {
            let mappings = batch.map(|k| {
                let i = k * every;
                customer_record(customer_id(i), mapped_acronis_id(i), EnablementMethod::Mapped, now)
            });
            tenant::Entity::insert_many(mappings).exec_without_returning(&tx).await.expect("mappings");
        }
    }
    tx.commit().await.expect("commit");
}

/// An enabled customer record of `PARTNER_TENANT`.
fn customer_record(
    vendor_tenant_id: String,
    acronis_tenant_id: String,
    method: EnablementMethod,
    now: chrono::DateTime<Utc>,
) -> tenant::ActiveModel {
    tenant::ActiveModel {
        name: Set(Some(format!("{vendor_tenant_id} name"))),
        vendor_tenant_id: Set(vendor_tenant_id),
        acronis_tenant_id: Set(Some(acronis_tenant_id)),
        kind: Set(TenantKind::Customer),
        enablement_method: Set(method),
        state: Set(EnablementState::Enabled),
        partner_acronis_tenant_id: Set(Some(PARTNER_TENANT.to_owned())),
        settings_json: Set(None),
        datacenter_url: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The partner's `CUSTOMERS` enabled mirrored customers ([`mirrored_ids`]), inserted in order of `i`, so
/// that their record ids follow it.
async fn seed_mirrored_customers(app: &TestApp) {
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let now = Utc::now();
    let tx = app.db.begin().await.expect("transaction");
    for batch in insert_batches(CUSTOMERS) {
        let records = batch.map(|i| {
            let (vendor, acronis) = mirrored_ids(i);
            customer_record(vendor, acronis, EnablementMethod::Mirrored, now)
        });
        tenant::Entity::insert_many(records).exec_without_returning(&tx).await.expect("mirrored customers");
    }
    tx.commit().await.expect("commit");
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`); `None` where there is no procfs.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.trim_start_matches(field).trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok()
}

/// Resets the process's peak RSS to its current RSS (Linux ≥ 4.0); false if that is not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What one call cost.
struct Measured {
    response: TestResponse,
    bytes: usize,
    elapsed: Duration,
    /// Peak RSS during the call minus RSS before it, KiB.
    peak_rss_growth_kib: Option<u64>,
}

/// Sends `request` with a valid token and measures it: wall time until the last byte of the answer arrived,
/// its size, and the peak RSS growth of the process (service and test client) meanwhile.
async fn measured_call(app: &TestApp, request: &Value) -> Measured {
    let client = http_client();
    let body = serde_json::to_vec(request).expect("json");
    let authorization = format!("Bearer {}", app.token());
    let reset = reset_peak_rss();
    let rss_before = proc_status_kib("VmRSS");
    let started = Instant::now();
    let response = client
        .post(format!("{}/callback", app.base_url))
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(body)
        .send()
        .await
        .expect("request sent");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = response.bytes().await.expect("answer received");
    let elapsed = started.elapsed();
    let peak_rss_growth_kib = match (reset, rss_before, proc_status_kib("VmHWM")) {
        (true, Some(before), Some(peak)) => Some(peak.saturating_sub(before)),
        _ => None,
    };
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Measured { response: TestResponse { status, headers, body }, bytes: bytes.len(), elapsed, peak_rss_growth_kib }
}

#[allow(clippy::cast_precision_loss, reason = "printed figures")]
fn report(label: &str, measured: &Measured) {
    let backend =
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) { "PostgreSQL" } else { "SQLite" };
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    let mib = measured.bytes as f64 / (1024.0 * 1024.0);
    let rss = measured
        .peak_rss_growth_kib
        .map_or_else(|| "unknown".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0));
    eprintln!(
        "\n{label} ({backend}, {build} build, {CUSTOMERS} customers): HTTP {}, {} bytes ({mib:.2} MiB), \
         {} ms, peak RSS growth {rss}",
        measured.response.status,
        measured.bytes,
        measured.elapsed.as_millis()
    );
}

/// The `payload.items` of a successful `response_type` answer to `request`.
fn items(measured: &Measured, request: &Value, response_type: &str) -> Vec<Value> {
    let payload = assert_success(&measured.response, request, response_type).expect("payload");
    assert!(payload.get("paging").is_none(), "no paging asked, none answered");
    match payload {
        Value::Object(mut payload) => match payload.remove("items") {
            Some(Value::Array(items)) => items,
            other => panic!("items: {other:?}"),
        },
        other => panic!("payload: {other}"),
    }
}

/// The answer the gateway got over gRPC for this read is larger than tonic's default decode limit (4 MiB): a
/// TenantService client that kept it is refused. So the read above proves that the gateway's client has no
/// such limit, rather than passing because the answer happened to be small.
async fn assert_too_large_for_a_default_tonic_client(app: &TestApp, mirrored: bool) {
    let mut client = app.grpc().await;
    let partner = PARTNER_TENANT.to_owned();
    let refused = if mirrored {
        client.get_mirrored_customers(GetMirroredCustomersRequest { partner_acronis_tenant_id: partner }).await.err()
    } else {
        let request = ListCustomerOrganizationsRequest { partner_acronis_tenant_id: partner, ..Default::default() };
        client.list_customer_organizations(request).await.err()
    };
    let status = refused.expect("a default tonic client refuses the answer");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("decoded message length too large"), "{status:?}");
}

#[tokio::test]
async fn an_unpaged_topology_read_of_a_partner_with_100000_customers_is_answered_in_full() {
    let _measuring = MEASURING.lock().await;
    let app = spawn().await;
    seed_directory_partner(&app, None).await;

    let request = envelope("topology.read", PARTNER_TENANT, Some(json!({})));
    let measured = measured_call(&app, &request).await;
    report("topology.read, unpaged", &measured);

    let items = items(&measured, &request, TOPOLOGY_OK);
    assert_eq!(items.len(), CUSTOMERS);
    assert!(items.windows(2).all(|pair| pair[0]["id"].as_str() < pair[1]["id"].as_str()), "ordered by organization id");
    for i in [0, 1, 4_242, 50_000, 99_998, CUSTOMERS - 1] {
        assert_eq!(items[i], json!({ "id": customer_id(i), "name": customer_name(i) }));
    }
    assert_too_large_for_a_default_tonic_client(&app, false).await;
}

#[tokio::test]
async fn an_unpaged_tenant_mapping_read_of_100000_customers_is_answered_in_full() {
    let _measuring = MEASURING.lock().await;
    let app = spawn().await;
    seed_directory_partner(&app, Some(MAPPED_EVERY)).await;

    let request = envelope("tenant_mapping.read", PARTNER_TENANT, None);
    let measured = measured_call(&app, &request).await;
    report("tenant_mapping.read, unpaged", &measured);

    let items = items(&measured, &request, MAPPING_READ_OK);
    assert_eq!(items.len(), CUSTOMERS);
    for (i, item) in items.iter().enumerate() {
        let expected = if i % MAPPED_EVERY == 0 {
            json!({ "vendor_tenant_id": customer_id(i), "acronis_tenant_id": mapped_acronis_id(i) })
        } else {
            json!({ "vendor_tenant_id": customer_id(i) })
        };
        assert_eq!(*item, expected, "item {i}: in order, mapped ones with their Acronis tenant");
    }
    assert_too_large_for_a_default_tonic_client(&app, false).await;
}

#[tokio::test]
async fn an_unpaged_customer_mirroring_get_state_of_100000_customers_is_answered_in_full() {
    let _measuring = MEASURING.lock().await;
    let app = spawn().await;
    seed_mirrored_customers(&app).await;

    let request = envelope("customer.mirroring.get_state", PARTNER_TENANT, None);
    let measured = measured_call(&app, &request).await;
    report("customer.mirroring.get_state", &measured);

    let payload = assert_success(&measured.response, &request, CUSTOMER_STATE_OK).expect("payload");
    let listed = payload.as_array().expect("a JSON array");
    assert_eq!(listed.len(), CUSTOMERS);
    for (i, item) in listed.iter().enumerate() {
        let (vendor, acronis) = mirrored_ids(i);
        assert_eq!(
            *item,
            json!({ "vendor_tenant_id": vendor, "acronis_tenant_id": acronis }),
            "item {i}, oldest first"
        );
    }
    assert_too_large_for_a_default_tonic_client(&app, true).await;
}
