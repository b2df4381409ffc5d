//! A partner with 10,000 customers: every read works whole and paged (by cursor and by offset, to the last
//! page), costs a fixed number of statements that use indexes, and a reset reaches every mapping.
//! How long those reads take is measured by `cyberapp-bench large-partner` (bench/README.md).

use std::sync::{Arc, Mutex};

use chrono::Utc;
use cyberapp_tenants::db::entity::organization::{self, OrganizationKind};
use cyberapp_tenants::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use cyberapp_tenants::tenant::TenantStore;
use cyberapp_tenants::tenant::model::AcronisTenantId;
use cyberapp_tenants::tenant::paging::{PageInfo, PageRequest};
use sea_orm::{ActiveValue::Set, ConnectionTrait as _, DbBackend, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{PARTNER_TENANT, TestApp, envelope, reset_partner};

const CUSTOMERS: usize = 10_000;
const MAPPED: usize = 2_000;

/// Seeds a mirrored partner whose organization holds `CUSTOMERS` customers (every tenth under a nested
/// reseller), the first `MAPPED` of them mapped. Bulk inserts, so the test spends its time on the reads.
async fn seed_large_partner(app: &TestApp) {
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let partner = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner").vendor_tenant_id;
    let now = Utc::now();
    let organization = |id: String, kind, parent: &str| organization::ActiveModel {
        id: Set(id.clone()),
        name: Set(format!("{id} name")),
        kind: Set(kind),
        parent_id: Set(Some(parent.to_owned())),
        created_at: Set(now),
        updated_at: Set(now),
    };
    organization::Entity::insert(organization("reseller".into(), OrganizationKind::Partner, &partner))
        .exec_without_returning(&app.db)
        .await
        .expect("reseller");
    let customers: Vec<organization::ActiveModel> = (0..CUSTOMERS)
        .map(|i| {
            let parent = if i % 10 == 0 { "reseller" } else { partner.as_str() };
            organization(customer_id(i), OrganizationKind::Customer, parent)
        })
        .collect();
    for chunk in customers.chunks(1000) {
        organization::Entity::insert_many(chunk.to_vec()).exec_without_returning(&app.db).await.expect("customers");
    }
    let mappings: Vec<tenant::ActiveModel> = (0..MAPPED)
        .map(|i| tenant::ActiveModel {
            vendor_tenant_id: Set(customer_id(i)),
            acronis_tenant_id: Set(Some(uuid::Uuid::new_v4().to_string())),
            kind: Set(TenantKind::Customer),
            enablement_method: Set(EnablementMethod::Mapped),
            state: Set(EnablementState::Enabled),
            partner_acronis_tenant_id: Set(Some(PARTNER_TENANT.to_owned())),
            name: Set(Some(customer_id(i))),
            settings_json: Set(None),
            datacenter_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in mappings.chunks(1000) {
        tenant::Entity::insert_many(chunk.to_vec()).exec_without_returning(&app.db).await.expect("mappings");
    }
}

fn customer_id(i: usize) -> String {
    format!("customer-{i:05}")
}

fn read(callback: &str, paging: Option<Value>) -> Value {
    let mut request = envelope(callback, PARTNER_TENANT, Some(json!({})));
    if let Some(paging) = paging {
        request["paging"] = paging;
    }
    request
}

async fn items(app: &TestApp, request: &Value) -> (Vec<Value>, Value) {
    let response = app.callback(request).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let payload = &response.body["payload"];
    (payload["items"].as_array().expect("items").clone(), payload["paging"].clone())
}

#[tokio::test]
async fn a_partner_with_ten_thousand_customers_is_served_whole_paged_and_reset() {
    let app = TestApp::spawn().await;
    seed_large_partner(&app).await;

    let (topology, _) = items(&app, &read("topology.read", None)).await;
    assert_eq!(topology.len(), CUSTOMERS);
    let (mapping, _) = items(&app, &read("tenant_mapping.read", None)).await;
    assert_eq!(mapping.len(), CUSTOMERS);
    assert_eq!(mapping.iter().filter(|item| item.get("acronis_tenant_id").is_some()).count(), MAPPED);

    let mut walked = Vec::new();
    let mut paging = json!({ "limit": 1000 });
    loop {
        let (page, info) = items(&app, &read("tenant_mapping.read", Some(paging.clone()))).await;
        walked.extend(page.into_iter().map(|item| item["vendor_tenant_id"].as_str().expect("id").to_owned()));
        match info["after"].as_str() {
            Some(after) => paging = json!({ "limit": 1000, "after": after }),
            None => break,
        }
    }
    let expected: Vec<String> = (0..CUSTOMERS).map(customer_id).collect();
    assert_eq!(walked, expected, "every customer exactly once, in order");

    // The offset form, near the end: a page cut short by the end, the last full page, and one past the end.
    for (callback, id) in [("topology.read", "id"), ("tenant_mapping.read", "vendor_tenant_id")] {
        for (offset, first, count) in [(9_950, 9_950, 50), (9_900, 9_900, 100), (10_000, 0, 0)] {
            let (page, info) = items(&app, &read(callback, Some(json!({ "limit": 100, "offset": offset })))).await;
            let ids: Vec<&str> = page.iter().map(|item| item[id].as_str().expect("id")).collect();
            let expected: Vec<String> = (first..first + count).map(customer_id).collect();
            assert_eq!(ids, expected, "{callback} at offset {offset}");
            assert_eq!(info, json!({ "offset": offset, "limit": 100, "total_count": CUSTOMERS }), "{callback}");
        }
    }

    let reset = app.callback(&reset_partner(PARTNER_TENANT)).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let remaining = tenant::Entity::find()
        .all(&app.db)
        .await
        .expect("tenants")
        .into_iter()
        .filter(|row| row.kind == TenantKind::Customer && row.acronis_tenant_id.is_some())
        .count();
    assert_eq!(remaining, 0, "every customer mapping removed");
}

/// Enabled mirrored customers of the partner, as `customer.mirroring.set_state` would have created them (bulk
/// inserts). Their vendor ids name no organization, so the mapping reads do not list them.
async fn seed_mirrored_customers(app: &TestApp, count: usize) {
    let now = Utc::now();
    let customers: Vec<tenant::ActiveModel> = (0..count)
        .map(|i| tenant::ActiveModel {
            vendor_tenant_id: Set(format!("mirrored-{i:05}")),
            acronis_tenant_id: Set(Some(uuid::Uuid::new_v4().to_string())),
            kind: Set(TenantKind::Customer),
            enablement_method: Set(EnablementMethod::Mirrored),
            state: Set(EnablementState::Enabled),
            partner_acronis_tenant_id: Set(Some(PARTNER_TENANT.to_owned())),
            name: Set(Some(format!("Mirrored {i}"))),
            settings_json: Set(None),
            datacenter_url: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in customers.chunks(1000) {
        tenant::Entity::insert_many(chunk.to_vec()).exec_without_returning(&app.db).await.expect("mirrored");
    }
}

/// A `TenantStore` over the app's database whose connection records every statement it runs, through
/// SeaORM's own per-statement callback (the store the service runs is built the same way, from one
/// connection: the service's read handlers each call exactly one store method).
async fn recording_store(app: &TestApp) -> (TenantStore, Arc<Mutex<Vec<Statement>>>) {
    let statements = Arc::new(Mutex::new(Vec::new()));
    let mut db = cyberapp_tenants::db::connect(&app.database_url).await.expect("connect");
    let recorded = Arc::clone(&statements);
    db.set_metric_callback(move |info| recorded.lock().expect("lock").push(info.statement.clone()));
    (TenantStore::new(db), statements)
}

/// The statements recorded since the last call.
fn take(statements: &Mutex<Vec<Statement>>) -> Vec<Statement> {
    std::mem::take(&mut *statements.lock().expect("lock"))
}

/// SQLite's plan for `statement`: the `detail` of each step.
async fn sqlite_plan(app: &TestApp, statement: &Statement) -> Vec<String> {
    let explain = Statement { sql: format!("EXPLAIN QUERY PLAN {}", statement.sql), ..statement.clone() };
    app.db
        .query_all_raw(explain)
        .await
        .expect("plan")
        .iter()
        .map(|row| row.try_get::<String>("", "detail").expect("detail"))
        .collect()
}

/// A step that reads a whole table (or a whole index of it) instead of looking rows up by an index. The
/// common table expressions (`walk`, aliased `w`, and `customers`) and the parts of the union (`unmapped`,
/// `mapped`) are the query's own intermediate results, which are read whole by design, and so is the walk's
/// first row (`SCAN CONSTANT ROW`).
fn full_scan(detail: &str) -> bool {
    let Some(scanned) = detail.strip_prefix("SCAN ") else { return false };
    let name = scanned.split_whitespace().next().unwrap_or_default();
    !["walk", "w", "customers", "unmapped", "mapped", "CONSTANT"].contains(&name)
}

#[tokio::test]
async fn each_read_of_a_ten_thousand_customer_partner_is_a_fixed_number_of_indexed_statements() {
    let app = TestApp::spawn().await;
    seed_large_partner(&app).await;
    seed_mirrored_customers(&app, CUSTOMERS).await;
    let (store, statements) = recording_store(&app).await;
    let partner = AcronisTenantId::parse(PARTNER_TENANT, "partner").expect("uuid");
    let page = |offset: Option<u64>, after: Option<&str>| PageRequest::new(100, offset, after, None).expect("page");

    // `topology.read` and `tenant_mapping.read` (one store read for both), unpaged: the enabled partner's
    // record, then one statement for every customer.
    let all = store.customer_organizations(partner, None).await.expect("read");
    assert_eq!((all.customers.len(), &all.info), (CUSTOMERS, &None));
    let unpaged = take(&statements);
    assert_eq!(unpaged.len(), 2, "the partner, then the list: {unpaged:#?}");

    // The offset form near the end: the partner, the page, and the total count.
    let near_end = store.customer_organizations(partner, Some(&page(Some(9_950), None))).await.expect("read");
    assert_eq!(
        near_end.customers.iter().map(|row| row.id.clone()).collect::<Vec<_>>(),
        (9_950..CUSTOMERS).map(customer_id).collect::<Vec<_>>()
    );
    assert_eq!(near_end.info, Some(PageInfo::Offset { offset: 9_950, limit: 100, total_count: CUSTOMERS as u64 }));
    let offset = take(&statements);
    assert_eq!(offset.len(), 3, "the partner, the page, the count: {offset:#?}");

    // The cursor form in the middle: the partner and the page.
    let cursor = cyberapp_tenants::tenant::paging::encode_cursor(&customer_id(4_999));
    let middle = store.customer_organizations(partner, Some(&page(None, Some(&cursor)))).await.expect("read");
    assert_eq!(middle.customers.first().map(|row| row.id.clone()), Some(customer_id(5_000)));
    let by_cursor = take(&statements);
    assert_eq!(by_cursor.len(), 2, "the partner, the page: {by_cursor:#?}");

    // `customer.mirroring.get_state`: one statement.
    let mirrored = store.enabled_mirrored_customers(partner).await.expect("read");
    assert_eq!(mirrored.len(), CUSTOMERS);
    let get_state = take(&statements);
    assert_eq!(get_state.len(), 1, "{get_state:#?}");

    // On SQLite, every one of them looks its rows up by index: no step reads a whole table. (PostgreSQL's
    // planner may rightly prefer a sequential scan of a freshly loaded table it has no statistics for, so its
    // plans prove nothing either way; there the statement counts above are the check.)
    if app.db.get_database_backend() == DbBackend::Sqlite {
        for statement in unpaged.iter().chain(&offset).chain(&by_cursor).chain(&get_state) {
            let plan = sqlite_plan(&app, statement).await;
            assert!(plan.iter().any(|detail| detail.starts_with("SEARCH ")), "no index lookup in {plan:#?}");
            assert!(!plan.iter().any(|detail| full_scan(detail)), "a full scan in {plan:#?}\nfor {}", statement.sql);
        }
    }
}
