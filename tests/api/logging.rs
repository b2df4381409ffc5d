//! The log at debug level holds no secret: no token, signing key, password, credentials header or hash.

use std::process::Command;

use crate::helpers::{
    PARTNER_TENANT, Service, TestDatabase, enable_partner, enablement_read, http_client, password_auth,
};

#[tokio::test]
async fn no_log_line_contains_a_token_even_at_debug_level() {
    let (_database, data_dir, mut service) = Service::start_fresh(&[]).await;
    let token = service.dev_token(data_dir.path());
    let url = format!("http://127.0.0.1:{}/callback", service.http_port);
    let client = http_client();
    let accepted = client.post(&url).bearer_auth(&token).json(&enable_partner(PARTNER_TENANT, "P", None)).send();
    assert_eq!(accepted.await.expect("sent").status(), 200);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let refused = client.post(&url).bearer_auth(&forged).json(&enable_partner(PARTNER_TENANT, "P", None)).send();
    assert_eq!(refused.await.expect("sent").status(), 401);
    assert_eq!(service.terminate().code(), Some(0));

    let log = service.log();
    assert!(log.contains("callback answered"), "the log was captured: {log}");
    let signature = token.rsplit('.').next().expect("signature");
    for secret in [token.as_str(), forged.as_str(), signature] {
        assert!(!log.contains(secret), "a token reached the log");
    }
    let key = std::fs::read_to_string(data_dir.path().join("dev-signing-key.pem")).expect("key");
    let key_body = key.lines().nth(1).expect("key line");
    assert!(!log.contains(key_body), "the signing key reached the log");
}

#[tokio::test]
async fn no_log_line_contains_a_password_or_the_raw_credentials_header() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let directory = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/directory.json");
    let imported = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["directory", "import"])
        .arg(&directory)
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "debug")
        .output()
        .expect("import runs");
    assert!(imported.status.success());
    let mut service = Service::start(&database.url, data_dir.path(), &[]);
    service.wait_until_ready().await;
    let token = service.dev_token(data_dir.path());
    let url = format!("http://127.0.0.1:{}/callback", service.http_port);
    let request = enablement_read(PARTNER_TENANT);
    let (right, wrong) = (password_auth("admin@acme", "s3cret"), password_auth("admin@acme", "wr0ng-guess"));
    for (header, expected) in [(&right, 200), (&wrong, 401)] {
        let response = http_client().post(&url).bearer_auth(&token).header(header.0, &header.1).json(&request).send();
        assert_eq!(response.await.expect("sent").status(), expected);
    }
    assert_eq!(service.terminate().code(), Some(0));

    let log = service.log() + &String::from_utf8_lossy(&imported.stderr) + &String::from_utf8_lossy(&imported.stdout);
    assert!(log.contains("callback refused"), "the log was captured: {log}");
    for secret in ["s3cret", "wr0ng-guess", "r3seller", right.1.as_str(), wrong.1.as_str(), token.as_str(), "$argon2"] {
        assert!(!log.contains(secret), "{secret:?} reached the log");
    }
}
