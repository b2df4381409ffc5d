//! The `callback_input` fuzz target's harness: `POST /callback` driven end to end in-process, the real
//! router over a SQLite database, with the input deciding whether a valid (development-key) token, an
//! `X-CyberApp-Auth` and an `X-CyberApp-Extra` header are sent, and supplying their values and the body.
//!
//! Input layout: one flag byte (1: a valid token, else the first part as `Authorization`; 2: the first part
//! as `X-CyberApp-Auth`; 4: the second part as `X-CyberApp-Extra`), then up to three parts separated by NUL
//! bytes: first, second, body (with no NUL, the first part is also the body).
//!
//! The fuzz target (`fuzz_targets/callback_input.rs`) requires a documented status for every input; the seed
//! corpus test (`tests/seed_corpus.rs`) runs the same harness on stable as a normal test.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use clap::Parser as _;
use cyberapp_tenants::app::App;
use cyberapp_tenants::config::{Cli, Command};
use cyberapp_tenants::gateway::devmode::{self, DevSigningKey};
use tower::ServiceExt as _;

/// Every status the contract documents for `POST /callback` (500 is not among them).
pub const DOCUMENTED: [u16; 9] = [200, 400, 401, 403, 404, 409, 413, 429, 503];
/// The endpoint development mode serves when `ACGW_ENDPOINT_IDS` is not set.
pub const ENDPOINT: &str = "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0";

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let database = format!("sqlite://{}?mode=rwc", dir.path().join("fuzz.db").display());
        let data_dir = dir.path().to_string_lossy().into_owned();
        let cli = Cli::parse_from([
            "cyberapp-tenants",
            "serve",
            "--database-url",
            &database,
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--acgw-dev-mode",
            "--data-dir",
            &data_dir,
            "--acgw-trusted-issuers",
            "https://acronis.cloud",
        ]);
        let Command::Serve(args) = cli.command else { unreachable!("serve") };
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let app = runtime.block_on(App::build(&args)).expect("app");
        let key = DevSigningKey::load_or_create(dir.path()).expect("key");
        let token = key.sign(&devmode::issuer(app.http_addr()), ENDPOINT, 86_400).expect("token");
        let router = app.router();
        // The app's servers are not started: the router is driven directly.
        Harness { runtime, router, token, _dir: dir }
    })
}

/// Sends `data` as described above and returns the status of the answer, or `None` for an input that is no
/// request (empty, or header values the HTTP layer itself would refuse, which never reach the service).
pub fn callback_input(data: &[u8]) -> Option<u16> {
    let harness = harness();
    let (&flags, rest) = data.split_first()?;
    // Up to two header values, separated from the body by NUL bytes.
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (first, second, body) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next());
    let body = body.unwrap_or(first);
    let mut request = Request::post("/callback").header("content-type", "application/json");
    if flags & 1 == 1 {
        request = request.header("authorization", format!("Bearer {}", harness.token));
    } else if let Ok(value) = std::str::from_utf8(first) {
        request = request.header("authorization", value);
    }
    if flags & 2 == 2 {
        request = request.header("x-cyberapp-auth", first);
    }
    if flags & 4 == 4 {
        request = request.header("x-cyberapp-extra", second);
    }
    // Header values the HTTP layer itself would refuse never reach the service.
    let request = request.body(Body::from(body.to_vec())).ok()?;
    let response = harness.runtime.block_on(harness.router.clone().oneshot(request)).expect("infallible");
    Some(response.status().as_u16())
}
