//! Hostile input, generated: arbitrary bytes, arbitrary JSON (also inside otherwise plausible envelopes
//! for every callback) and arbitrary header values go through the real HTTP stack. Each must be answered
//! with one of the documented statuses and the error shape: never a panic, never a 500.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{PARTNER_TENANT, TestApp, TestResponse, envelope};

/// Every status the contract documents for `POST /callback` (500 is not among the expected ones).
const DOCUMENTED: [u16; 9] = [200, 400, 401, 403, 404, 409, 413, 429, 503];

const CALLBACKS: [&str; 11] = [
    "enablement.read",
    "enablement.write",
    "enablement.reset",
    "topology.read",
    "tenant_mapping.read",
    "tenant_mapping.write",
    "partner.mirroring.get_state",
    "partner.mirroring.enable",
    "partner.mirroring.reset",
    "customer.mirroring.get_state",
    "customer.mirroring.set_state",
];

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        Just(Value::from(PARTNER_TENANT)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,18}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A plausible envelope for a random callback whose payload, paging or one field is arbitrary JSON.
fn mutated_envelope() -> impl Strategy<Value = Value> {
    (prop::sample::select(&CALLBACKS[..]), arbitrary_json(), 0..5usize, arbitrary_json()).prop_map(
        |(callback, payload, field, replacement)| {
            let mut body = envelope(callback, PARTNER_TENANT, Some(payload));
            match field {
                0 => body["paging"] = replacement,
                1 => body["context"]["tenant_id"] = replacement,
                2 => body["request_id"] = replacement,
                3 => body["context"]["endpoint_id"] = replacement,
                _ => {}
            }
            body
        },
    )
}

fn assert_documented(response: &TestResponse) -> Result<(), TestCaseError> {
    prop_assert!(DOCUMENTED.contains(&response.status), "undocumented status {}: {}", response.status, response.body);
    if response.status != 200 {
        prop_assert!(response.body["err_message"].is_string(), "no err_message: {}", response.body);
        prop_assert!(response.body["response_id"].is_string());
    }
    Ok(())
}

/// Runs `cases` of `strategy` against one app, each through `send`.
fn check<S: Strategy>(cases: u32, strategy: S, send: impl for<'a> Fn(&'a TestApp, S::Value) -> Sending<'a>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let app = runtime.block_on(TestApp::spawn());
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&strategy, |input| {
        let response = runtime.block_on(send(&app, input));
        assert_documented(&response)
    });
    drop(app);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    outcome.expect("every input gets a documented answer");
}

type Sending<'a> = std::pin::Pin<Box<dyn Future<Output = TestResponse> + Send + 'a>>;

#[test]
fn arbitrary_bytes_with_a_valid_token_get_a_documented_answer() {
    check(96, prop::collection::vec(any::<u8>(), 0..2048), |app, bytes| {
        let token = app.token();
        Box::pin(async move { app.post_raw(bytes, Some(&format!("Bearer {token}"))).await })
    });
}

#[test]
fn arbitrary_json_and_mutated_envelopes_get_a_documented_answer() {
    check(192, prop_oneof![arbitrary_json(), mutated_envelope()], |app, body| {
        Box::pin(async move { app.callback(&body).await })
    });
}

#[test]
fn arbitrary_header_values_get_a_documented_answer() {
    let header = prop_oneof![
        "[ -~]{0,300}",
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|bytes| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }),
    ];
    check(160, (header.clone(), header.clone(), header, prop::sample::select(&CALLBACKS[..])), |app, values| {
        let (authorization, auth, extra, callback) = values;
        let token = app.token();
        Box::pin(async move {
            let body = envelope(callback, PARTNER_TENANT, Some(json!({})));
            // Once with the arbitrary Authorization, once with a valid token and arbitrary enablement headers.
            let first = app
                .post_with_headers(serde_json::to_vec(&body).expect("json"), &[("authorization", authorization)])
                .await;
            if !DOCUMENTED.contains(&first.status) {
                return first;
            }
            let headers =
                [("authorization", format!("Bearer {token}")), ("x-cyberapp-auth", auth), ("x-cyberapp-extra", extra)];
            app.post_with_headers(serde_json::to_vec(&body).expect("json"), &headers).await
        })
    });
}
