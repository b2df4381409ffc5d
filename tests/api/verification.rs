//! Request verification (protocol §6): every way a token can be wrong gets 401 (403 for a token issued for
//! another endpoint) and leaves the database untouched; key rotation is picked up; a flood of unknown key ids
//! cannot make us hammer the IdP.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    ENDPOINT_ID, PARTNER_TENANT, TestApp, TestKey, TestResponse, enable_partner, get_partner_state, reset_partner,
    token_for, unix_now,
};

/// Sends a state-changing callback (`reset` of an enabled partner) with `authorization` and asserts it is
/// refused with `status` and the contract's error body, and that nothing was written.
async fn assert_refused(app: &TestApp, authorization: Option<&str>, status: u16, case: &str) {
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let request = reset_partner(PARTNER_TENANT);
    let before = app.snapshot().await;
    assert!(!before.is_empty());
    let response = app.post_raw(serde_json::to_vec(&request).expect("json"), authorization).await;
    assert_eq!(response.status, status, "{case}: {}", response.body);
    response.assert_error(status);
    assert_eq!(response.body["request_id"], request["request_id"], "{case}: request_id echoed");
    assert_eq!(app.snapshot().await, before, "{case}: database changed");
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn signed(app: &TestApp, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = app.idp.claims(ENDPOINT_ID);
    edit(&mut claims);
    token_for(&claims)
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = TestApp::spawn().await;
    let response = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_refused_with_401() {
    let app = TestApp::spawn().await;
    assert_refused(&app, None, 401, "no header").await;
    assert_refused(&app, Some("Bearer "), 401, "empty bearer").await;
    assert_refused(&app, Some("Bearer"), 401, "scheme only").await;
    assert_refused(&app, Some(&format!("Basic {}", app.token())), 401, "basic scheme").await;
    assert_refused(&app, Some("Bearer not-a-jwt"), 401, "not a JWT").await;
    assert_refused(&app, Some("Bearer a.b.c"), 401, "garbage segments").await;
    let token = app.token();
    let truncated = &token[..token.len() - 20];
    assert_refused(&app, Some(&bearer(truncated)), 401, "truncated signature").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let forged = TestKey::rotated().sign(&TestKey::primary().kid, &app.idp.claims(ENDPOINT_ID));
    assert_refused(&app, Some(&bearer(&forged)), 401, "bad signature").await;
}

#[tokio::test]
async fn a_token_whose_claims_were_altered_after_signing_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let token = signed(&app, |claims| {
        claims["scope"] = json!([{ "role": "cti.a.p.acgw.endpoint.v1.0~other.app.endpoint.v1.0" }]);
    });
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&app.idp.claims(ENDPOINT_ID)).expect("json"));
    assert_refused(&app, Some(&bearer(&parts.join("."))), 401, "tampered claims").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "kid": TestKey::primary().kid }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(app.idp.claims(ENDPOINT_ID).to_string());
    assert_refused(&app, Some(&bearer(&format!("{header}.{claims}."))), 401, "alg none").await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let key = TestKey::primary();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(
        &header,
        &app.idp.claims(ENDPOINT_ID),
        &EncodingKey::from_secret(key.public_pem().as_bytes()),
    )
    .expect("sign");
    assert_refused(&app, Some(&bearer(&token)), 401, "HS256 with the public key").await;
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_refused_with_401_and_one_within_it_is_accepted() {
    let app = TestApp::spawn().await;
    let expired = signed(&app, |claims| claims["exp"] = json!(unix_now() - 120));
    assert_refused(&app, Some(&bearer(&expired)), 401, "expired beyond leeway").await;

    let within_leeway = signed(&app, |claims| claims["exp"] = json!(unix_now() - 30));
    let response =
        app.callback_with_token(&enable_partner(PARTNER_TENANT, "Partner", None), Some(&within_leeway)).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test]
async fn a_token_without_exp_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let token = signed(&app, |claims| {
        claims.as_object_mut().expect("object").remove("exp");
    });
    assert_refused(&app, Some(&bearer(&token)), 401, "no exp").await;
}

#[tokio::test]
async fn a_token_not_valid_before_a_future_time_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let token = signed(&app, |claims| claims["nbf"] = json!(unix_now() + 600));
    assert_refused(&app, Some(&bearer(&token)), 401, "nbf in the future").await;
}

#[tokio::test]
async fn a_token_from_an_untrusted_issuer_is_refused_with_401() {
    let app = TestApp::spawn().await;
    for issuer in ["https://evil.example", "http://127.0.0.1:1", ""] {
        let token = signed(&app, |claims| claims["iss"] = json!(issuer));
        assert_refused(&app, Some(&bearer(&token)), 401, issuer).await;
    }
    let no_issuer = signed(&app, |claims| {
        claims.as_object_mut().expect("object").remove("iss");
    });
    assert_refused(&app, Some(&bearer(&no_issuer)), 401, "no iss").await;
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_is_refused_with_401() {
    let app = TestApp::spawn().await;
    let token = TestKey::primary().sign("no-such-key", &app.idp.claims(ENDPOINT_ID));
    assert_refused(&app, Some(&bearer(&token)), 401, "unknown kid").await;
}

#[tokio::test]
async fn a_token_for_another_endpoint_is_refused_with_403() {
    let app = TestApp::spawn().await;
    let other = signed(&app, |claims| {
        claims["scope"] = json!([{ "role": "cti.a.p.acgw.endpoint.v1.0~other_vendor.app.endpoint.v1.0" }]);
    });
    assert_refused(&app, Some(&bearer(&other)), 403, "scope of another endpoint").await;
    let no_scope = signed(&app, |claims| {
        claims.as_object_mut().expect("object").remove("scope");
    });
    assert_refused(&app, Some(&bearer(&no_scope)), 403, "no scope").await;
}

#[tokio::test]
async fn an_endpoint_outside_the_allow_list_is_refused_with_403() {
    let app = TestApp::spawn_with(|args| {
        args.acgw.endpoint_ids = vec!["cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0".into()];
    })
    .await;
    assert_refused(&app, Some(&bearer(&app.token())), 403, "endpoint not served").await;
}

#[tokio::test]
async fn an_endpoint_on_the_allow_list_is_served() {
    let app = TestApp::spawn_with(|args| args.acgw.endpoint_ids = vec![ENDPOINT_ID.into()]).await;
    let response = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test]
async fn a_token_with_any_audience_is_accepted() {
    let app = TestApp::spawn().await;
    for audience in [json!("acronis.cloud"), json!("cloud.acronis.com"), json!(["x", "y"])] {
        let token = signed(&app, |claims| claims["aud"] = audience.clone());
        let response = app.callback_with_token(&enable_partner(PARTNER_TENANT, "Partner", None), Some(&token)).await;
        assert_eq!(response.status, 200, "aud {audience}: {}", response.body);
    }
}

#[tokio::test]
async fn a_rotated_signing_key_is_picked_up() {
    let app = TestApp::spawn_with(|args| args.acgw.jwks_refetch_interval_secs = 1).await;
    let first = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(first.status, 200);

    app.idp.publish(vec![TestKey::primary(), TestKey::rotated()]);
    let rotated = TestKey::rotated();
    let token = rotated.sign(&rotated.kid, &app.idp.claims(ENDPOINT_ID));
    let body = enable_partner(PARTNER_TENANT, "Partner", None);
    // Within the refetch interval the new kid is not fetched yet: the throttle holds even for real keys.
    let too_soon = app.callback_with_token(&body, Some(&token)).await;
    assert_eq!(too_soon.status, 401, "{}", too_soon.body);
    // Once the interval has passed, the next request with the new kid fetches the key set: poll for it (each
    // refusal before then is throttled and fetches nothing).
    let response = until_accepted(&app, &body, &token).await;

    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(app.idp.fetch_count(), 2, "one fetch at first use, one for the new kid");
}

#[tokio::test]
async fn a_token_signed_with_a_key_shorter_than_2048_bits_is_refused_even_when_the_idp_publishes_it() {
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    app.idp.publish(vec![TestKey::primary(), TestKey::weak()]);
    let before = app.snapshot().await;
    let weak = TestKey::weak();
    let token = weak.sign(&weak.kid, &app.idp.claims(ENDPOINT_ID));

    let response = app.callback_with_token(&reset_partner(PARTNER_TENANT), Some(&token)).await;

    assert_eq!(response.status, 401, "{}", response.body);
    response.assert_error(401);
    assert_eq!(app.snapshot().await, before);
    // The same claims signed with a strong key of the same key set pass.
    let strong = TestKey::primary().sign("test-key-primary", &app.idp.claims(ENDPOINT_ID));
    assert_eq!(app.callback_with_token(&reset_partner(PARTNER_TENANT), Some(&strong)).await.status, 200);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_at_most_a_handful_of_key_fetches() {
    let app = TestApp::spawn().await;
    let warm = app.callback(&enable_partner(PARTNER_TENANT, "Partner", None)).await;
    assert_eq!(warm.status, 200);

    let requests = (0..200).map(|_| {
        let token = TestKey::primary().sign(&uuid::Uuid::new_v4().to_string(), &app.idp.claims(ENDPOINT_ID));
        let body = enable_partner(PARTNER_TENANT, "Partner", None);
        let app = &app;
        async move { app.callback_with_token(&body, Some(&token)).await.status }
    });
    let statuses = futures::future::join_all(requests).await;

    assert!(statuses.iter().all(|&status| status == 401), "{statuses:?}");
    assert!(app.idp.fetch_count() <= 3, "{} JWKS fetches for 200 bogus kids", app.idp.fetch_count());
}

#[tokio::test]
async fn when_the_idp_cannot_be_reached_callbacks_get_503_and_nothing_changes() {
    let app = TestApp::spawn_with(|args| args.acgw.trusted_issuers = vec!["http://127.0.0.1:9".into()]).await;
    let token = signed(&app, |claims| claims["iss"] = json!("http://127.0.0.1:9"));
    let request = enable_partner(PARTNER_TENANT, "Partner", None);

    let response = app.callback_with_token(&request, Some(&token)).await;

    response.assert_error(503);
    assert!(response.headers.contains_key("retry-after"));
    assert!(app.snapshot().await.is_empty());
}

#[tokio::test]
async fn a_reused_token_is_refused_once_it_expires_even_though_it_was_accepted_before() {
    let app = TestApp::spawn_with(|args| args.acgw.clock_leeway_secs = 0).await;
    let token = signed(&app, |claims| claims["exp"] = json!(unix_now() + 2));
    let body = get_partner_state(PARTNER_TENANT);
    let accepted = app.callback_with_token(&body, Some(&token)).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(app.callback_with_token(&body, Some(&token)).await.status, 200, "reused within its lifetime");

    // Deliberate passage of time, not synchronisation: the token must outlive its `exp` (2 s, no leeway).
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let expired = app.callback_with_token(&body, Some(&token)).await;
    expired.assert_error(401);
    assert!(expired.err_message().contains("expired"), "{}", expired.err_message());
}

#[tokio::test]
async fn a_reused_token_stops_working_once_its_key_is_rotated_away() {
    let app = TestApp::spawn_with(|args| args.acgw.jwks_refetch_interval_secs = 1).await;
    let old_token = app.token();
    let body = get_partner_state(PARTNER_TENANT);
    assert_eq!(app.callback_with_token(&body, Some(&old_token)).await.status, 200);

    // The issuer replaces its key; a token with the new kid makes the service fetch the new set.
    app.idp.publish(vec![TestKey::rotated()]);
    let rotated = TestKey::rotated();
    let new_token = rotated.sign(&rotated.kid, &app.idp.claims(ENDPOINT_ID));
    // The new set is fetched once the 1 s refetch interval since the first fetch has passed.
    assert_eq!(until_accepted(&app, &body, &new_token).await.status, 200);

    let old = app.callback_with_token(&body, Some(&old_token)).await;
    old.assert_error(401);
}

#[tokio::test]
async fn a_forged_token_replayed_is_refused_every_time_and_a_good_one_still_passes() {
    let app = TestApp::spawn().await;
    let forged = TestKey::rotated().sign(&TestKey::primary().kid, &app.idp.claims(ENDPOINT_ID));
    let body = get_partner_state(PARTNER_TENANT);
    for _ in 0..3 {
        let refused = app.callback_with_token(&body, Some(&forged)).await;
        refused.assert_error(401);
        assert!(refused.err_message().contains("signature"), "{}", refused.err_message());
    }
    assert_eq!(app.callback(&body).await.status, 200);
}

#[tokio::test]
async fn another_cyberapps_genuine_token_naming_its_own_endpoint_is_refused_with_403_and_changes_nothing() {
    // Acronis issues genuine tokens to every CyberApp: another vendor's, scoped to its own endpoint, sent with
    // a body that names that endpoint and one of our partners.
    const EVIL: &str = "cti.a.p.acgw.endpoint.v1.0~evil.app.endpoint.v1.0";
    let app = TestApp::spawn().await;
    app.seed_mirrored_partner(PARTNER_TENANT).await;
    let before = app.snapshot().await;
    let token = signed(&app, |claims| claims["scope"] = json!([{ "role": EVIL }]));
    let mut request = reset_partner(PARTNER_TENANT);
    request["context"]["endpoint_id"] = json!(EVIL);
    let response = app.callback_with_token(&request, Some(&token)).await;
    response.assert_error(403);
    assert_eq!(app.snapshot().await, before, "nothing changed");
    let state = app.callback(&get_partner_state(PARTNER_TENANT)).await;
    assert_eq!(state.body["payload"]["state"], "ENABLED", "{}", state.body);

    // A token scoped to both endpoints may still not name the one we do not serve.
    let both = signed(&app, |claims| claims["scope"] = json!([{ "role": EVIL }, { "role": ENDPOINT_ID }]));
    app.callback_with_token(&request, Some(&both)).await.assert_error(403);
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

/// An issuer whose key-set URL redirects to `target` (a path on itself, or a whole URL elsewhere); a path
/// on itself serves the primary key.
async fn redirecting_issuer(target: impl Fn(&str) -> String + Send + Sync + 'static) -> String {
    use axum::response::{IntoResponse as _, Redirect};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let location = target(&issuer);
    let router = axum::Router::new()
        .route(
            "/api/idp/v1/keys",
            axum::routing::get(move || async move { Redirect::temporary(&location).into_response() }),
        )
        .route(
            "/moved/keys",
            axum::routing::get(|| async { axum::Json(json!({ "keys": [TestKey::primary().jwk()] })) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    issuer
}

#[tokio::test]
async fn jwks_redirects_are_followed_only_within_the_issuers_origin() {
    let within = redirecting_issuer(|issuer| format!("{issuer}/moved/keys")).await;
    let app = TestApp::spawn_with(|args| args.acgw.trusted_issuers = vec![within.clone()]).await;
    let token = signed(&app, |claims| claims["iss"] = json!(within));
    let response = app.callback_with_token(&get_partner_state(PARTNER_TENANT), Some(&token)).await;
    assert_eq!(response.status, 200, "a redirect within the issuer is followed: {}", response.body);

    // Elsewhere: another host name for the same machine, or the same host on another port, where a fake IdP
    // would answer if asked.
    for host in ["localhost", "127.0.0.1"] {
        let elsewhere = TestApp::spawn().await;
        let idp_port = elsewhere.idp.issuer.rsplit(':').next().expect("port").to_owned();
        let away = redirecting_issuer(move |_| format!("http://{host}:{idp_port}/api/idp/v1/keys")).await;
        let app = TestApp::spawn_with(|args| args.acgw.trusted_issuers = vec![away.clone()]).await;
        let token = signed(&app, |claims| claims["iss"] = json!(away));
        let response = app.callback_with_token(&get_partner_state(PARTNER_TENANT), Some(&token)).await;
        response.assert_error(503);
        assert_eq!(elsewhere.idp.fetch_count(), 0, "{host}: the key set was not fetched from another origin");
    }
}

/// Sends `body` with `token` until it is accepted (a refused attempt is answered 401), for at most 10 s.
async fn until_accepted(app: &TestApp, body: &Value, token: &str) -> TestResponse {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = app.callback_with_token(body, Some(token)).await;
        if response.status != 401 || std::time::Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
