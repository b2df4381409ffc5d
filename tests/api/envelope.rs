//! Bad envelopes and bodies: each gets its documented status and an `err_message`, never a 5xx, and nothing
//! in the database changes.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{
    PARTNER_TENANT, TestApp, TestResponse, enable_partner, envelope, tenant_mapping_read, tenant_mapping_write,
};

async fn send_raw(app: &TestApp, body: &[u8]) -> TestResponse {
    app.post_raw(body.to_vec(), Some(&format!("Bearer {}", app.token()))).await
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_with_400() {
    let app = TestApp::spawn().await;
    for body in [&b"not json"[..], b"", b"{\"type\":", b"\xff\xfe"] {
        let response = send_raw(&app, body).await;
        response.assert_error(400);
        assert!(response.body.get("request_id").is_none(), "nothing readable to echo");
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn json_that_is_not_an_object_is_refused_with_400() {
    let app = TestApp::spawn().await;
    for body in ["[]", "\"callback\"", "42", "null", "true"] {
        send_raw(&app, body.as_bytes()).await.assert_error(400);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_missing_envelope_field_is_refused_with_400_echoing_the_request_id() {
    let app = TestApp::spawn().await;
    let paths: [&[&str]; 6] = [
        &["type"],
        &["request_id"],
        &["context"],
        &["context", "callback_id"],
        &["context", "endpoint_id"],
        &["context", "tenant_id"],
    ];
    for path in paths {
        let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
        remove(&mut request, path);
        let response = send_raw(&app, &serde_json::to_vec(&request).expect("json")).await;
        response.assert_error(400);
        assert!(response.err_message().contains(path[path.len() - 1]), "{path:?}: {}", response.err_message());
        if path != ["request_id"] {
            assert_eq!(response.body["request_id"], request["request_id"], "{path:?}");
        }
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn an_envelope_field_of_the_wrong_type_is_refused_with_400() {
    let app = TestApp::spawn().await;
    let cases: [(&[&str], Value); 9] = [
        (&["type"], json!(7)),
        (&["request_id"], json!({ "id": 1 })),
        (&["request_id"], json!("")),
        (&["context"], json!("tenant")),
        (&["context", "callback_id"], json!(["x"])),
        (&["context", "endpoint_id"], json!({ "role": "x" })),
        (&["request_id"], json!("abc\u{0}def")),
        (&["context", "tenant_id"], json!("not-a-uuid")),
        (&["context", "datacenter_url"], json!(8080)),
    ];
    for (path, value) in cases {
        let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
        set(&mut request, path, value.clone());
        let response = send_raw(&app, &serde_json::to_vec(&request).expect("json")).await;
        assert_eq!(response.status, 400, "{path:?} = {value}: {}", response.body);
        response.assert_error(400);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn objects_written_as_arrays_are_refused_with_400() {
    // serde reads a struct from an array by field order as readily as from an object: these would otherwise
    // enable the partner, or page its customers, from a shape the protocol never sends.
    const CUSTOMER: &str = "5b1c3e2a-0000-4000-8000-00000000c001";
    const VENDOR_CUSTOMER: &str = "vendor-customer-1";
    let app = TestApp::spawn().await;
    let request = enable_partner(PARTNER_TENANT, "Partner", None);
    // Each array holds the object's fields in the order the gateway declares them, so that only its shape
    // is wrong.
    let fields = |value: &Value, keys: &[&str]| Value::Array(keys.iter().map(|key| value[key].clone()).collect());
    let context = fields(&request["context"], &["callback_id", "endpoint_id", "tenant_id", "datacenter_url"]);
    let mut as_arrays = vec![(
        "the envelope",
        json!([request["type"], request["request_id"], request["created_at"], request["context"], request["payload"]]),
    )];
    let mut changed = request.clone();
    changed["context"] = context;
    as_arrays.push(("context", changed));
    let mut changed = request.clone();
    changed["payload"] = fields(&request["payload"], &["acronis_tenant_id", "acronis_tenant_name"]);
    as_arrays.push(("payload", changed));
    let mut paged = tenant_mapping_read(PARTNER_TENANT);
    paged["paging"] = json!([5]);
    as_arrays.push(("paging", paged));
    as_arrays
        .push(("an item of modified[]", tenant_mapping_write(PARTNER_TENANT, json!([[VENDOR_CUSTOMER, CUSTOMER]]))));
    let mut mirrored = envelope("customer.mirroring.set_state", PARTNER_TENANT, None);
    mirrored["payload"] = json!({ "partner_tenant_id": PARTNER_TENANT, "enabled": [[CUSTOMER, "Customer"]] });
    as_arrays.push(("an item of enabled[]", mirrored.clone()));
    mirrored["payload"] = json!({ "partner_tenant_id": PARTNER_TENANT, "disabled": [[CUSTOMER]] });
    as_arrays.push(("an item of disabled[]", mirrored));
    for (what, body) in as_arrays {
        let response = send_raw(&app, &serde_json::to_vec(&body).expect("json")).await;
        assert_eq!(response.status, 400, "{what} as an array: {}", response.body);
        response.assert_error(400);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_key_given_twice_in_context_is_refused_with_400() {
    // Which of two values a parser keeps is where parsers disagree: a body naming two tenants is refused
    // rather than acted on for either.
    let app = TestApp::spawn().await;
    let request = serde_json::to_string(&enable_partner(PARTNER_TENANT, "Partner", None)).expect("json");
    let twice =
        request.replacen("\"context\":{", "\"context\":{\"tenant_id\":\"999d63d2-831e-40b9-aaab-16f919a483d0\",", 1);
    assert_ne!(twice, request, "the test must change the body");
    let response = send_raw(&app, twice.as_bytes()).await;
    response.assert_error(400);
    assert!(response.body.to_string().contains("duplicate field"), "{}", response.body);
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn an_unknown_callback_id_is_refused_with_404() {
    let app = TestApp::spawn().await;
    for callback_id in [
        "cti.a.p.acgw.callback.v1.0~vendor.app.read_users.v1.0",
        "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.explode.v1.0",
        "cti.a.p.acgw.callback.v3.0~a.p.partner.mirroring.enable.v1.0",
        "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.enable.v2.0",
        "not a cti",
    ] {
        let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
        request["context"]["callback_id"] = json!(callback_id);
        let response = send_raw(&app, &serde_json::to_vec(&request).expect("json")).await;
        assert_eq!(response.status, 404, "{callback_id}: {}", response.body);
        response.assert_error(404);
        assert_eq!(response.body["request_id"], request["request_id"]);
    }
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(|args| args.max_body_bytes = 4096).await;
    let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
    request["payload"]["padding"] = json!("x".repeat(5000));

    let response = send_raw(&app, &serde_json::to_vec(&request).expect("json")).await;

    response.assert_error(413);
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(|args| args.max_body_bytes = 4096).await;
    // No Content-Length: the limit must hold while the body streams in.
    let mut stream = tokio::net::TcpStream::connect(app.base_url.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST /callback HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.token()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    for _ in 0..10 {
        // A peer that stops reading once it has refused may reset the connection; that is fine here.
        if stream.write_all(format!("3e8\r\n{}\r\n", " ".repeat(1000)).as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("err_message"), "{response}");
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_processed() {
    let app = TestApp::spawn_with(|args| args.max_body_bytes = 4096).await;
    let mut request = enable_partner(PARTNER_TENANT, "Partner", None);
    let size = serde_json::to_vec(&request).expect("json").len();
    request["payload"]["padding"] = json!("x".repeat(4096 - size - 20));
    let response = app.callback(&request).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

fn remove(value: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().expect("path");
    let parent = parents.iter().fold(value, |value, key| &mut value[*key]);
    parent.as_object_mut().expect("object").remove(*last);
}

fn set(value: &mut Value, path: &[&str], new: Value) {
    let target = path.iter().fold(value, |value, key| &mut value[*key]);
    *target = new;
}
