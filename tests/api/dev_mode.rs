//! Development mode: its signing key, the key set it publishes, `dev token`, and what happens without it.

use std::process::Command;

use crate::helpers::{
    ENDPOINT_ID, PARTNER_STATE_OK, PARTNER_TENANT, TestApp, assert_success, enable_partner, get_partner_state,
};

#[tokio::test]
async fn development_mode_publishes_its_key_set_and_accepts_its_own_tokens() {
    let app = TestApp::spawn_with(|args| args.acgw.dev_mode = true).await;
    let keys = app.get("/dev/api/idp/v1/keys").await;
    assert_eq!(keys.status, 200);
    assert_eq!(keys.body["keys"][0]["alg"], "RS256");
    assert!(app.data_dir.path().join("dev-signing-key.pem").exists());

    let port: u16 = app.base_url.rsplit(':').next().expect("port").parse().expect("port");
    let token = cyberapp_tenants::gateway::devmode::token(&cyberapp_tenants::config::DevTokenArgs {
        endpoint_id: ENDPOINT_ID.into(),
        ttl: 60,
        http_addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        data_dir: app.data_dir.path().to_path_buf(),
    })
    .expect("dev token");
    let request = get_partner_state(PARTNER_TENANT);
    let response = app.callback_with_token(&request, Some(&token)).await;
    assert_success(&response, &request, PARTNER_STATE_OK);
}

#[tokio::test]
async fn without_development_mode_there_is_no_key_set_route_and_dev_tokens_are_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/dev/api/idp/v1/keys").await.status, 404);
    let key = cyberapp_tenants::gateway::devmode::DevSigningKey::load_or_create(app.data_dir.path()).expect("key");
    let token = key.sign("http://localhost:8080/dev", ENDPOINT_ID, 60).expect("token");
    let response = app.callback_with_token(&enable_partner(PARTNER_TENANT, "P", None), Some(&token)).await;
    response.assert_error(401);
}

#[tokio::test]
async fn dev_token_refuses_to_invent_a_key_the_service_does_not_know() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["dev", "token"])
        .env("DATA_DIR", data_dir.path())
        .output()
        .expect("dev token runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no development key"));
    assert!(!data_dir.path().join("dev-signing-key.pem").exists());
}
