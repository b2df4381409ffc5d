//! What a test sends and expects on `/callback`: the tenants and endpoint it speaks for, the request envelope,
//! one builder per standard callback (protocol §9–§10, in the order of the protocol's table), every response
//! type, the `X-CyberApp-Auth` header and the checks of the contract's success shape.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::TestResponse;

/// The endpoint the test CyberApp is registered under; valid tokens are scoped to it.
pub const ENDPOINT_ID: &str = "cti.a.p.acgw.endpoint.v1.1~yury_partner1_864.mirroring_test.endpoint.v1.1";
/// The Acronis tenant of the partner most tests act for.
pub const PARTNER_TENANT: &str = "999d63d2-831e-40b9-aaab-16f919a483d0";
/// Another partner's Acronis tenant.
pub const OTHER_TENANT: &str = "9ae2aada-2342-4fc0-8d92-007b597a7d9c";
/// Acronis tenants of customers.
pub const C1: &str = "18a55fe8-7275-478c-a54e-af2ed53b6a20";
pub const C2: &str = "5a19bda3-c964-4e92-87ad-55c21df1285c";
pub const C3: &str = "0b0e6f5e-60a8-4a4b-9c3c-2a1f5b7f6d11";

/// `enablement.read`.
pub const ENABLEMENT_READ_OK: &str = "cti.a.p.acgw.response.v1.0~a.p.enablement.read.ok.v1.0";
/// `enablement.write`, `enablement.reset` and `tenant_mapping.write`.
pub const NO_CONTENT: &str = "cti.a.p.acgw.response.v1.0~a.p.success_no_content.v1.0";
pub const TOPOLOGY_OK: &str = "cti.a.p.acgw.response.v1.0~a.p.topology.read.ok.v1.0";
pub const MAPPING_READ_OK: &str = "cti.a.p.acgw.response.v1.0~a.p.tenant_mapping.read.ok.v1.0";
pub const PARTNER_STATE_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.get_state.ok.v1.0";
pub const PARTNER_ENABLE_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.enable.ok.v1.0";
pub const PARTNER_RESET_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.reset.ok.v1.0";
pub const CUSTOMER_STATE_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.customer.mirroring.get_state.ok.v1.0";
pub const CUSTOMER_SET_OK: &str = "cti.a.p.acgw.response.v1.1~a.p.customer.mirroring.set_state.ok.v1.0";

/// A request envelope for `callback` (the entity part, e.g. `partner.mirroring.enable`) from `tenant_id`.
pub fn envelope(callback: &str, tenant_id: &str, payload: Option<Value>) -> Value {
    let (callback_base, request_base) = if callback.contains("mirroring") {
        ("cti.a.p.acgw.callback.v2.0", "cti.a.p.acgw.request.v1.1")
    } else {
        ("cti.a.p.acgw.callback.v1.0", "cti.a.p.acgw.request.v1.0")
    };
    let mut body = json!({
        "type": format!("{request_base}~a.p.{callback}.v1.0"),
        "request_id": uuid::Uuid::new_v4().to_string(),
        "created_at": "0001-01-01T00:00:00Z",
        "context": {
            "callback_id": format!("{callback_base}~a.p.{callback}.v1.0"),
            "endpoint_id": ENDPOINT_ID,
            "tenant_id": tenant_id,
            "datacenter_url": "https://eu8.acronis.cloud",
        },
    });
    if let Some(payload) = payload {
        body["payload"] = payload;
    }
    body
}

/// `enablement.read` from `tenant_id` (send it with `X-CyberApp-Auth`).
pub fn enablement_read(tenant_id: &str) -> Value {
    envelope("enablement.read", tenant_id, None)
}

/// `enablement.write` from `tenant_id`, mapping `vendor_tenant_id` to `acronis_tenant_id`.
pub fn enablement_write(tenant_id: &str, vendor_tenant_id: &str, acronis_tenant_id: &str) -> Value {
    let payload = json!({ "vendor_tenant_id": vendor_tenant_id, "acronis_tenant_id": acronis_tenant_id });
    envelope("enablement.write", tenant_id, Some(payload))
}

/// `enablement.reset` from `tenant_id`.
pub fn enablement_reset(tenant_id: &str) -> Value {
    envelope("enablement.reset", tenant_id, None)
}

/// `topology.read` of `tenant_id`'s customers, unpaged.
pub fn topology_read(tenant_id: &str) -> Value {
    envelope("topology.read", tenant_id, Some(json!({})))
}

/// `tenant_mapping.read` of `tenant_id`'s customers, unpaged.
pub fn tenant_mapping_read(tenant_id: &str) -> Value {
    envelope("tenant_mapping.read", tenant_id, None)
}

/// `tenant_mapping.write` from `partner` with `modified` as its `modified[]`.
pub fn tenant_mapping_write(partner: &str, modified: Value) -> Value {
    let mut request = envelope("tenant_mapping.write", partner, Some(json!({})));
    request["payload"]["modified"] = modified;
    request
}

/// `partner.mirroring.get_state` from `tenant_id`.
pub fn get_partner_state(tenant_id: &str) -> Value {
    envelope("partner.mirroring.get_state", tenant_id, None)
}

/// `partner.mirroring.enable` of `tenant_id` by itself, named `name`.
pub fn enable_partner(tenant_id: &str, name: &str, settings: Option<Value>) -> Value {
    let mut payload = json!({ "acronis_tenant_id": tenant_id, "acronis_tenant_name": name });
    if let Some(settings) = settings {
        payload["settings"] = settings;
    }
    envelope("partner.mirroring.enable", tenant_id, Some(payload))
}

/// `partner.mirroring.reset` from `tenant_id`.
pub fn reset_partner(tenant_id: &str) -> Value {
    envelope("partner.mirroring.reset", tenant_id, None)
}

/// `customer.mirroring.get_state` from `partner`.
pub fn get_customer_state(partner: &str) -> Value {
    envelope("customer.mirroring.get_state", partner, None)
}

/// `customer.mirroring.set_state` from `partner` with its `enabled[]` and `disabled[]`.
pub fn set_customer_state(partner: &str, enabled: Value, disabled: Value) -> Value {
    let payload = json!({ "partner_tenant_id": partner, "partner_tenant_name": "Partner" });
    let mut request = envelope("customer.mirroring.set_state", partner, Some(payload));
    request["payload"]["enabled"] = enabled;
    request["payload"]["disabled"] = disabled;
    request
}

/// Loads a protocol example body from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

/// Asserts the contract's success shape for `response_type`, echoing `request`'s id; returns the payload.
pub fn assert_success(response: &TestResponse, request: &Value, response_type: &str) -> Option<Value> {
    assert_eq!(response.status, 200, "unexpected status; body: {}", response.body);
    assert!(response.headers["content-type"].to_str().expect("ascii").starts_with("application/json"));
    let object = response.body.as_object().expect("object body");
    assert_eq!(object["type"], response_type);
    assert_eq!(object["request_id"], request["request_id"]);
    let response_id = object["response_id"].as_str().expect("response_id");
    assert!(uuid::Uuid::try_parse(response_id).is_ok());
    assert_ne!(response_id, request["request_id"].as_str().expect("request_id"));
    for key in object.keys() {
        assert!(["type", "request_id", "response_id", "payload"].contains(&key.as_str()), "unexpected key {key}");
    }
    assert_no_nulls(&response.body);
    object.get("payload").cloned()
}

/// Optional keys are left out, never sent as `null`.
fn assert_no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("null in response"),
        Value::Array(items) => items.iter().for_each(assert_no_nulls),
        Value::Object(map) => map.values().for_each(assert_no_nulls),
        _ => {}
    }
}

/// The `X-CyberApp-Auth` header for `identity` and a secrets object (base64 of `identity:secrets`).
pub fn cyberapp_auth(identity: &str, secrets: &Value) -> (&'static str, String) {
    use base64::Engine as _;
    ("x-cyberapp-auth", base64::engine::general_purpose::STANDARD.encode(format!("{identity}:{secrets}")))
}

/// The `X-CyberApp-Auth` header for `identity` with `{"password": password}`.
pub fn password_auth(identity: &str, password: &str) -> (&'static str, String) {
    cyberapp_auth(identity, &json!({ "password": password }))
}
