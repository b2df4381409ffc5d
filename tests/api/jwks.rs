//! The issuer's key set as the gateway uses it, end to end: only keys published for RS256 signatures verify
//! a token, and the keys already held keep verifying while the IdP is down. (The hour and day limits of the
//! key cache are unit tests in `src/gateway/jwks.rs`, which can move the cache's clock; the redirect policy
//! is in `verification.rs`.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ENDPOINT_ID, PARTNER_TENANT, TestApp, TestKey, get_partner_state, reset_partner};

/// The rotated test key as the IdP publishes it, with `edit` applied.
fn rotated_jwk(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut jwk = TestKey::rotated().jwk();
    edit(jwk.as_object_mut().expect("object"));
    jwk
}

fn set(jwk: &mut serde_json::Map<String, Value>, name: &str, value: &str) {
    jwk.insert(name.to_owned(), json!(value));
}

#[tokio::test]
async fn a_token_signed_with_a_key_published_for_encryption_or_another_algorithm_is_refused_with_401() {
    let cases: [(&str, Value, u16); 5] = [
        ("use enc", rotated_jwk(|jwk| set(jwk, "use", "enc")), 401),
        ("alg RS384", rotated_jwk(|jwk| set(jwk, "alg", "RS384")), 401),
        ("alg PS256", rotated_jwk(|jwk| set(jwk, "alg", "PS256")), 401),
        // The controls: the same key published for RS256 signatures, or with no stated use or algorithm.
        ("use sig, alg RS256", rotated_jwk(|_| {}), 200),
        (
            "no use, no alg",
            rotated_jwk(|jwk| {
                jwk.remove("use");
                jwk.remove("alg");
            }),
            200,
        ),
    ];
    for (case, jwk, status) in cases {
        // An app of its own each time: the key set is fetched once, at the first callback.
        let app = TestApp::spawn().await;
        app.seed_mirrored_partner(PARTNER_TENANT).await;
        app.idp.publish_jwks(vec![TestKey::primary().jwk(), jwk]);
        let before = app.snapshot().await;
        let rotated = TestKey::rotated();
        let token = rotated.sign(&rotated.kid, &app.idp.claims(ENDPOINT_ID));

        let response = app.callback_with_token(&reset_partner(PARTNER_TENANT), Some(&token)).await;

        assert_eq!(response.status, status, "{case}: {}", response.body);
        if status == 401 {
            response.assert_error(401);
            assert_eq!(app.snapshot().await, before, "{case}: nothing changed");
            // The key set was fetched and holds the primary key: the refusal is about this key alone.
            assert_eq!(app.callback(&get_partner_state(PARTNER_TENANT)).await.status, 200, "{case}");
        }
    }
}

#[tokio::test]
async fn tokens_signed_with_a_held_key_still_verify_while_the_idp_is_down() {
    let app = TestApp::spawn_with(|args| args.acgw.jwks_refetch_interval_secs = 1).await;
    let body = get_partner_state(PARTNER_TENANT);
    let earlier = app.token();
    assert_eq!(app.callback_with_token(&body, Some(&earlier)).await.status, 200);
    assert_eq!(app.idp.fetch_count(), 1);

    // The IdP goes down; a token with a new kid makes the service try a refresh, which fails. Tried until the
    // refetch throttle lets one through.
    app.idp.set_failing(true);
    let unknown = TestKey::primary().sign("a-new-key", &app.idp.claims(ENDPOINT_ID));
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.idp.fetch_count() < 2 {
        assert!(Instant::now() < deadline, "no refresh was tried");
        assert_eq!(app.callback_with_token(&body, Some(&unknown)).await.status, 401);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A token the service has never seen (its own jti), signed with the key held, is verified in full: 200.
    let fresh = app.token();
    let response = app.callback_with_token(&body, Some(&fresh)).await;
    assert_eq!(response.status, 200, "a failed refresh dropped the keys held: {}", response.body);
    // And the token accepted before the outage still is.
    assert_eq!(app.callback_with_token(&body, Some(&earlier)).await.status, 200);
}
