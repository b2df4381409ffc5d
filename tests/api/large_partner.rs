//! A partner with 10,000 customers: every read works whole and paged, and a reset reaches every mapping.
//! How long those reads take is measured by `cyberapp-bench large-partner` (bench/README.md).

use chrono::Utc;
use cyberapp_tenants::db::entity::organization::{self, OrganizationKind};
use cyberapp_tenants::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use sea_orm::{ActiveValue::Set, EntityTrait};
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
