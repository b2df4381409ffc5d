//! Hostile input, generated: arbitrary bytes, arbitrary JSON (also inside otherwise plausible envelopes
//! for every callback) and arbitrary header values go through the real HTTP stack. Each case names the
//! statuses the contract documents for it, and the answer must be one of those, in the error shape: an
//! input that cannot be a valid callback gets its 4xx, never a 200, a 500 or a status that only another
//! situation explains.
//!
//! The cases are sent one at a time to an app of their own whose database is up, so overload (429) and an
//! unavailable database (503) cannot be the cause of any answer: neither is accepted anywhere here.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{ENDPOINT_ID, PARTNER_TENANT, TestApp, TestResponse, envelope};

/// A body that is not JSON, not an envelope, or an envelope field missing or of the wrong type.
const BAD_REQUEST: &[u16] = &[400];
/// `Authorization` missing or malformed, `X-CyberApp-Auth` undecodable or naming no identity.
const UNAUTHORIZED: &[u16] = &[401];
/// A well-formed envelope whose payload or paging is arbitrary: it may be valid (200), invalid for its
/// callback (400) or refused by the rules for a partner that is not enabled (403).
const PLAUSIBLE: &[u16] = &[200, 400, 403];
/// The same for the `enablement.*` callbacks, which are sent here without credentials or with ones naming no
/// identity: invalid (400) or, once the payload is acceptable, refused for the credentials (401); never 200.
const PLAUSIBLE_WITHOUT_CREDENTIALS: &[u16] = &[400, 401];

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

/// Arbitrary JSON that is not a string.
fn arbitrary_non_string() -> impl Strategy<Value = Value> {
    arbitrary_json().prop_filter("not a string", |value| !value.is_string())
}

/// The statuses documented for a plausible envelope of `callback` sent without credentials.
fn plausible(callback: &str) -> &'static [u16] {
    if callback.starts_with("enablement.") { PLAUSIBLE_WITHOUT_CREDENTIALS } else { PLAUSIBLE }
}

/// A plausible envelope for a random callback whose payload or paging is arbitrary JSON: it may be valid.
fn plausible_envelope() -> impl Strategy<Value = (Value, &'static [u16])> {
    (prop::sample::select(&CALLBACKS[..]), arbitrary_json(), any::<bool>(), arbitrary_json()).prop_map(
        |(callback, payload, with_paging, paging)| {
            let mut body = envelope(callback, PARTNER_TENANT, Some(payload));
            if with_paging {
                body["paging"] = paging;
            }
            (body, plausible(callback))
        },
    )
}

/// An envelope for a random callback (with an arbitrary payload) that cannot be valid: a required field
/// of the wrong type, a `context.tenant_id` that is not a UUID (400), or an endpoint this deployment does not
/// serve (403).
fn invalid_envelope() -> impl Strategy<Value = (Value, &'static [u16])> {
    let fault = prop_oneof![
        (prop::sample::select(&["type", "request_id", "context"][..]), arbitrary_non_string())
            .prop_map(|(key, value)| (vec![key], value, BAD_REQUEST)),
        (prop::sample::select(&["callback_id", "endpoint_id", "tenant_id"][..]), arbitrary_non_string())
            .prop_map(|(key, value)| (vec!["context", key], value, BAD_REQUEST)),
        ".{0,40}".prop_filter("not a UUID", |text| uuid::Uuid::try_parse(text).is_err()).prop_map(|text| (
            vec!["context", "tenant_id"],
            Value::from(text),
            BAD_REQUEST
        )),
        "[ -~]{1,80}".prop_filter("not the endpoint", |text| text != ENDPOINT_ID).prop_map(|text| (
            vec!["context", "endpoint_id"],
            Value::from(text),
            &[403][..]
        )),
    ];
    (prop::sample::select(&CALLBACKS[..]), arbitrary_json(), fault).prop_map(
        |(callback, payload, (path, value, expected))| {
            let mut body = envelope(callback, PARTNER_TENANT, Some(payload));
            match path[..] {
                [key] => body[key] = value,
                [outer, key] => body[outer][key] = value,
                _ => unreachable!("one or two keys"),
            }
            (body, expected)
        },
    )
}

/// Arbitrary JSON that is not an envelope: not an object with `type`, `request_id` and `context` (the
/// generated keys are at most 18 letters long, so they almost never spell those; the filter makes sure).
fn non_envelope_json() -> impl Strategy<Value = Value> {
    arbitrary_json().prop_filter("not an envelope", |value| {
        !(value.get("type").is_some() && value.get("request_id").is_some() && value.get("context").is_some())
    })
}

fn assert_answer(response: &TestResponse, expected: &[u16]) -> Result<(), TestCaseError> {
    prop_assert!(
        expected.contains(&response.status),
        "status {}, expected one of {expected:?}: {}",
        response.status,
        response.body
    );
    if response.status != 200 {
        prop_assert!(response.body["err_message"].is_string(), "no err_message: {}", response.body);
        prop_assert!(response.body["response_id"].is_string());
    }
    Ok(())
}

/// Runs `cases` of `strategy` against one app, each through `send`, which answers with the response and the
/// statuses documented for that input.
fn check<S: Strategy>(cases: u32, strategy: S, send: impl for<'a> Fn(&'a TestApp, S::Value) -> Sending<'a>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let app = runtime.block_on(TestApp::spawn());
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&strategy, |input| {
        let (response, expected) = runtime.block_on(send(&app, input));
        assert_answer(&response, expected)
    });
    drop(app);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    outcome.expect("every input gets its documented answer");
}

type Sending<'a> = std::pin::Pin<Box<dyn Future<Output = (TestResponse, &'static [u16])> + Send + 'a>>;

#[test]
fn arbitrary_bytes_with_a_valid_token_are_bad_requests() {
    // At most 2 KiB of random bytes: never a callback envelope, never over the body limit.
    check(96, prop::collection::vec(any::<u8>(), 0..2048), |app, bytes| {
        let token = app.token();
        Box::pin(async move { (app.post_raw(bytes, Some(&format!("Bearer {token}"))).await, BAD_REQUEST) })
    });
}

#[test]
fn arbitrary_json_that_is_no_envelope_is_a_bad_request() {
    check(96, non_envelope_json(), |app, body| Box::pin(async move { (app.callback(&body).await, BAD_REQUEST) }));
}

#[test]
fn envelopes_with_an_invalid_field_are_refused_with_their_4xx() {
    check(128, invalid_envelope(), |app, (body, expected)| {
        Box::pin(async move { (app.callback(&body).await, expected) })
    });
}

#[test]
fn envelopes_with_arbitrary_payloads_get_a_documented_answer() {
    check(128, plausible_envelope(), |app, (body, expected)| {
        Box::pin(async move { (app.callback(&body).await, expected) })
    });
}

/// Whether `X-CyberApp-Extra: value` is acceptable: blank, or base64 (padded or not) of JSON text; any other
/// value is a bad request.
fn extra_is_valid(value: &str) -> bool {
    use base64::Engine as _;
    use base64::alphabet::STANDARD;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let base64 = GeneralPurpose::new(
        &STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let value = value.trim_ascii();
    value.is_empty() || base64.decode(value).is_ok_and(|decoded| serde_json::from_slice::<Value>(&decoded).is_ok())
}

#[test]
fn arbitrary_header_values_get_their_documented_answer() {
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
            // An arbitrary Authorization value is never a token this app trusts.
            let first = app
                .post_with_headers(serde_json::to_vec(&body).expect("json"), &[("authorization", authorization)])
                .await;
            if first.status != 401 {
                return (first, UNAUTHORIZED);
            }
            // A valid token with arbitrary enablement headers: a malformed X-CyberApp-Extra is a bad request;
            // otherwise the arbitrary X-CyberApp-Auth names no identity in the (empty) directory.
            let expected = if extra_is_valid(&extra) { plausible(callback) } else { BAD_REQUEST };
            let headers =
                [("authorization", format!("Bearer {token}")), ("x-cyberapp-auth", auth), ("x-cyberapp-extra", extra)];
            (app.post_with_headers(serde_json::to_vec(&body).expect("json"), &headers).await, expected)
        })
    });
}
