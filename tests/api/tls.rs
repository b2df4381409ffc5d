//! HTTPS: with TLS_CERT_FILE/TLS_KEY_FILE the gateway speaks TLS 1.3 and only TLS 1.3 (protocol §2);
//! development mode refuses to start with TLS settings.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{PARTNER_TENANT, TestApp, enable_partner};

/// The content type of a TLS alert record.
const TLS_ALERT: u8 = 0x15;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

async fn tls_app() -> TestApp {
    TestApp::spawn_with(|args| {
        args.tls_cert_file = Some(fixture("cert.pem"));
        args.tls_key_file = Some(fixture("key.pem"));
    })
    .await
}

fn client(max: Option<reqwest::tls::Version>) -> reqwest::Client {
    cyberapp_tenants::tls::install_crypto_provider();
    let certificate = reqwest::Certificate::from_pem(&std::fs::read(fixture("cert.pem")).expect("cert")).expect("pem");
    let mut builder = reqwest::Client::builder().tls_certs_only([certificate]);
    if let Some(max) = max {
        builder = builder.tls_version_max(max);
    }
    builder.build().expect("client")
}

fn https_url(app: &TestApp, path: &str) -> String {
    app.base_url.replace("http://127.0.0.1", "https://localhost") + path
}

#[tokio::test]
async fn a_tls_1_3_client_is_served_over_https() {
    let app = tls_app().await;
    let response = client(None).get(https_url(&app, "/healthz")).send().await.expect("TLS 1.3 handshake");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "ALPN offers h2");

    let callback = client(None)
        .post(https_url(&app, "/callback"))
        .bearer_auth(app.token())
        .json(&enable_partner(PARTNER_TENANT, "Partner", None))
        .send()
        .await
        .expect("sent");
    assert_eq!(callback.status(), 200);
}

#[tokio::test]
async fn a_tls_1_2_client_is_refused() {
    let app = tls_app().await;
    let refused = client(Some(reqwest::tls::Version::TLS_1_2)).get(https_url(&app, "/healthz")).send().await;
    let error = format!("{:?}", refused.expect_err("a TLS 1.2 handshake must fail"));
    // Refused for the protocol version, not for anything else (the certificate is trusted by this client).
    assert!(error.contains("ProtocolVersion") || error.contains("protocol version"), "{error}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let app = tls_app().await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    // The server reads a TLS record that is not one and closes the connection; it must do so promptly (well
    // before the 5 s first-request deadline), and whatever it sent before closing is not HTTP.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(!answer.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&answer));
    assert!(answer.is_empty() || answer[0] == TLS_ALERT, "neither closed nor a TLS alert: {answer:?}");
    // And reqwest, speaking plain HTTP, gets an error rather than a response.
    let plain = crate::helpers::http_client().get(format!("{}/healthz", app.base_url)).send().await;
    assert!(plain.is_err(), "{plain:?}");
}

#[tokio::test]
async fn development_mode_refuses_to_start_with_tls_settings() {
    let database = crate::helpers::TestDatabase::create().await;
    let mut args = crate::helpers::serve_args(&database.url, "http://127.0.0.1:1");
    args.tls_cert_file = Some(fixture("cert.pem"));
    args.tls_key_file = Some(fixture("key.pem"));
    args.acgw.dev_mode = true;
    let error = cyberapp_tenants::app::App::build(&args).await.expect_err("refused");
    assert!(error.to_string().contains("development mode"), "{error}");
}

#[tokio::test]
async fn a_certificate_without_its_key_refuses_to_start() {
    let database = crate::helpers::TestDatabase::create().await;
    let mut args = crate::helpers::serve_args(&database.url, "http://127.0.0.1:1");
    args.tls_cert_file = Some(fixture("cert.pem"));
    let error = cyberapp_tenants::app::App::build(&args).await.expect_err("no key");
    assert!(error.to_string().contains("TLS_CERT_FILE and TLS_KEY_FILE go together"), "{error:#}");
    args.tls_key_file = Some(fixture("cert.pem"));
    let error = cyberapp_tenants::app::App::build(&args).await.expect_err("a certificate is not a key");
    assert!(format!("{error:#}").contains("holds no readable PEM private key"), "{error:#}");
}
