//! users_handler: an example vendor service that answers the custom callbacks of an imaginary CyberApp
//! `vendor.app` (a users table per tenant), for the cyberapp-tenants gateway to route to.
//!
//! The gateway verifies each custom callback and resolves its tenant, then calls a service like this one over
//! gRPC (`cyberapp.tenants.v1.CustomCallbackHandler`, proto/cyberapp/tenants/v1/custom_callback.proto). Copy it
//! as the start of your own: `callback_name.rs` matches callback ids, `callbacks.rs` holds one function per
//! callback, `store.rs` stands in for your database, `paging.rs` is ACGW cursor paging, `answer.rs` builds
//! answers, `auth.rs` checks the gateway's bearer token, `service.rs` is the tonic glue and the log line.
//! `fault.rs` is test-only.
//!
//! This file is the command line and the server. Once the port is bound it prints exactly one line to stdout,
//! `listening on <addr>` with the real port (so `--listen 127.0.0.1:0` works for tests that spawn it), and logs
//! only to stderr.

mod answer;
mod auth;
mod callback_name;
mod callbacks;
mod fault;
mod paging;
mod service;
mod store;

use std::io::{IsTerminal as _, Write};
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use cyberapp_tenants::pb::custom_callback_handler_server::CustomCallbackHandlerServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::auth::BearerAuth;
use crate::service::UsersHandler;

/// Serves the custom callbacks of the example CyberApp `vendor.app` over gRPC.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (the `listening on` line on stdout says which).
    #[arg(long, env = "USERS_HANDLER_ADDR", default_value = "127.0.0.1:50061")]
    listen: SocketAddr,
    /// Require `authorization: Bearer <token>` on every call (the gateway's CUSTOM_CALLBACK_AUTH_TOKEN).
    #[arg(long, env = "CUSTOM_CALLBACK_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// Serve the test-only `vendor.app.fault` callback, whose payload chooses the answer. Never in production.
    #[arg(long, env = "USERS_HANDLER_FAULT_INJECTION", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    fault_injection: bool,
}

/// What a server is started with; the tests build it without a command line.
#[derive(Clone, Default)]
struct Options {
    auth_token: Option<String>,
    fault_injection: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let listener = TcpListener::bind(cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    if cli.auth_token.is_none() {
        tracing::warn!("no CUSTOM_CALLBACK_AUTH_TOKEN: every caller that reaches {addr} is trusted (development only)");
    }
    if cli.fault_injection {
        tracing::warn!(
            "FAULT INJECTION IS ON: vendor.app.fault answers whatever its payload asks for. For tests only; never \
             run this in production"
        );
    }
    announce(&mut std::io::stdout().lock(), addr).context("cannot write to stdout")?;

    let options = Options { auth_token: cli.auth_token, fault_injection: cli.fault_injection };
    serve(listener, options, shutdown_signal()).await.context("the gRPC server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// The one stdout line a test (or a script) waits for, flushed at once: stdout is a pipe then, and a pipe is
/// block-buffered.
fn announce(out: &mut impl Write, addr: SocketAddr) -> std::io::Result<()> {
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Serves the handler on `listener` until `shutdown` completes, then lets calls in progress finish.
async fn serve(
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let handler = UsersHandler::new(options.fault_injection);
    let auth = BearerAuth::new(options.auth_token.as_deref());
    Server::builder()
        .add_service(CustomCallbackHandlerServer::with_interceptor(handler, auth))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await
}

/// Ctrl-C, or SIGTERM as sent by `kill`, Kubernetes and test harnesses.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still stops the server.
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// The handler over a real socket, called through the generated client, as the gateway calls it.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tonic::Code;
    use tonic::transport::Channel;

    use super::*;
    use cyberapp_tenants::pb;
    use cyberapp_tenants::pb::custom_callback_handler_client::CustomCallbackHandlerClient;

    const PARTNER: &str = "999d63d2-831e-40b9-aaab-16f919a483d0";
    const CUSTOMER: &str = "2f3b8f7e-5a4c-4d1e-9b6a-0c1d2e3f4a5b";
    const TOKEN: &str = "example-token";

    /// A running handler on a free port and a client connected to it.
    struct TestHandler {
        addr: SocketAddr,
        client: CustomCallbackHandlerClient<Channel>,
        token: Option<&'static str>,
    }

    impl TestHandler {
        async fn start(options: Options) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
            let addr = listener.local_addr().expect("bound");
            let token = options.auth_token.as_ref().map(|_| TOKEN);
            tokio::spawn(serve(listener, options, std::future::pending()));
            let client = CustomCallbackHandlerClient::connect(format!("http://{addr}")).await.expect("connected");
            Self { addr, client, token }
        }

        async fn plain() -> Self {
            Self::start(Options::default()).await
        }

        async fn with_faults() -> Self {
            Self::start(Options { fault_injection: true, ..Options::default() }).await
        }

        /// Calls `request` with the configured token (if any) and `traceparent`.
        async fn call(
            &self,
            request: pb::HandleCustomCallbackRequest,
        ) -> Result<pb::HandleCustomCallbackResponse, tonic::Status> {
            let mut request = tonic::Request::new(request);
            if let Some(token) = self.token {
                request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ASCII"));
            }
            self.client.clone().handle_custom_callback(request).await.map(tonic::Response::into_inner)
        }

        /// Calls and expects an answer; returns its status, short response name and parsed payload.
        async fn answer(&self, request: pb::HandleCustomCallbackRequest) -> (u32, String, Value) {
            let answer = self.call(request).await.expect("an answer");
            let name = answer
                .response_type
                .strip_prefix("cti.a.p.acgw.response.v1.0~vendor.app.")
                .and_then(|rest| rest.strip_suffix(".v1.0"))
                .expect("a vendor.app response type")
                .to_owned();
            let payload = answer.payload_json.map_or(Value::Null, |text| serde_json::from_str(&text).expect("JSON"));
            (answer.http_status, name, payload)
        }

        async fn refusal(&self, request: pb::HandleCustomCallbackRequest) -> (Code, String) {
            let status = self.call(request).await.expect_err("a refusal");
            (status.code(), status.message().to_owned())
        }

        async fn create(&self, tenant: &pb::Tenant, login: &str, admin: bool) -> u64 {
            let payload = json!({ "login": login, "email": format!("{login}@example.com"), "admin": admin });
            let (_, _, user) = self.answer(callback("user_create", tenant, &payload)).await;
            user["id"].as_u64().expect("an id")
        }
    }

    fn tenant(vendor_tenant_id: &str, acronis_tenant_id: &str, kind: pb::TenantKind) -> pb::Tenant {
        pb::Tenant {
            vendor_tenant_id: vendor_tenant_id.to_owned(),
            acronis_tenant_id: Some(acronis_tenant_id.to_owned()),
            kind: kind.into(),
            enablement_method: pb::EnablementMethod::Mirrored.into(),
            state: pb::EnablementState::Enabled.into(),
            name: Some(format!("{vendor_tenant_id} Ltd")),
            ..pb::Tenant::default()
        }
    }

    fn partner() -> pb::Tenant {
        tenant("p-1", PARTNER, pb::TenantKind::Partner)
    }

    fn customer() -> pb::Tenant {
        pb::Tenant {
            partner_acronis_tenant_id: Some(PARTNER.to_owned()),
            ..tenant("c-1", CUSTOMER, pb::TenantKind::Customer)
        }
    }

    /// A request for `vendor.app.<code>` (at some minor version, as real ids are) from `tenant`.
    fn callback(code: &str, tenant: &pb::Tenant, payload: &Value) -> pb::HandleCustomCallbackRequest {
        pb::HandleCustomCallbackRequest {
            callback_id: format!("cti.a.p.acgw.callback.v1.0~vendor.app.{code}.v1.7"),
            request_type: format!("cti.a.p.acgw.request.v1.0~vendor.app.{code}.v1.7"),
            request_id: uuid::Uuid::new_v4().to_string(),
            created_at: "0001-01-01T00:00:00Z".to_owned(),
            endpoint_id: "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0".to_owned(),
            acronis_tenant_id: tenant.acronis_tenant_id.clone().unwrap_or_default(),
            payload_json: payload.to_string(),
            tenant: Some(tenant.clone()),
            route: "cti.a.p.acgw.callback.v1.0~vendor.app.*".to_owned(),
            ..pb::HandleCustomCallbackRequest::default()
        }
    }

    fn users_read(tenant: &pb::Tenant, paging: Option<Value>) -> pb::HandleCustomCallbackRequest {
        pb::HandleCustomCallbackRequest {
            paging_json: paging.map(|paging| paging.to_string()),
            ..callback("users_read", tenant, &json!({}))
        }
    }

    fn fault(payload: &Value) -> pb::HandleCustomCallbackRequest {
        callback("fault", &partner(), payload)
    }

    #[test]
    fn the_announcement_is_one_flushed_line_with_the_real_address() {
        let mut out = Vec::new();
        announce(&mut out, "127.0.0.1:50061".parse().expect("an address")).expect("written");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), "listening on 127.0.0.1:50061\n");
    }

    #[tokio::test]
    async fn users_read_pages_through_the_tenants_users_in_id_order() {
        let handler = TestHandler::plain().await;
        for login in ["ann", "bob", "cid"] {
            handler.create(&partner(), login, false).await;
        }
        handler.create(&customer(), "someone_else", false).await;

        let answer = handler.call(users_read(&partner(), Some(json!({ "limit": 2 })))).await.expect("a page");
        let payload: Value = serde_json::from_str(answer.payload_json.as_deref().expect("a payload")).expect("JSON");
        let logins: Vec<&str> =
            payload["items"].as_array().expect("items").iter().filter_map(|u| u["login"].as_str()).collect();
        assert_eq!((answer.http_status, logins), (200, vec!["ann", "bob"]));
        assert_eq!(answer.response_type, "cti.a.p.acgw.response.v1.0~vendor.app.users_read_ok.v1.0");
        let paging: Value = serde_json::from_str(answer.paging_json.as_deref().expect("more follow")).expect("JSON");

        let last = handler.call(users_read(&partner(), Some(json!({ "limit": 2, "after": paging["after"] })))).await;
        let last = last.expect("the last page");
        let payload: Value = serde_json::from_str(last.payload_json.as_deref().expect("a payload")).expect("JSON");
        assert_eq!(payload["items"], json!([{ "id": 3, "login": "cid", "email": "cid@example.com", "admin": false }]));
        assert_eq!(last.paging_json, None, "no cursor after the last page");
    }

    #[tokio::test]
    async fn users_read_without_paging_answers_every_user_and_invalid_paging_is_invalid_argument() {
        let handler = TestHandler::plain().await;
        handler.create(&partner(), "ann", true).await;
        let (status, name, payload) = handler.answer(users_read(&partner(), None)).await;
        assert_eq!((status, name.as_str(), payload["items"].as_array().map(Vec::len)), (200, "users_read_ok", Some(1)));

        let (code, message) =
            handler.refusal(users_read(&partner(), Some(json!({ "limit": 5, "after": "forged" })))).await;
        assert_eq!(
            (code, message.as_str()),
            (Code::InvalidArgument, "The paging cursor is not valid; reload the list.")
        );
    }

    #[tokio::test]
    async fn user_create_answers_the_new_user_and_a_taken_login_is_a_409_answer() {
        let handler = TestHandler::plain().await;
        let payload = json!({ "login": "ann", "email": "ann@example.com", "admin": true });
        let (status, name, user) = handler.answer(callback("user_create", &partner(), &payload)).await;
        assert_eq!((status, name.as_str()), (200, "user_create_ok"));
        assert_eq!(user, json!({ "id": 1, "login": "ann", "email": "ann@example.com", "admin": true }));

        let again = json!({ "login": "ANN", "email": "other@example.com" });
        let (status, name, payload) = handler.answer(callback("user_create", &partner(), &again)).await;
        assert_eq!((status, name.as_str(), payload), (409, "user_create_conflict", json!({ "login": "ANN" })));

        // The same login in another tenant is another user, with the next id.
        let (_, _, other) = handler.answer(callback("user_create", &customer(), &payload_of("ann"))).await;
        assert_eq!(other["id"], 2);
    }

    fn payload_of(login: &str) -> Value {
        json!({ "login": login, "email": format!("{login}@example.com") })
    }

    #[tokio::test]
    async fn user_create_with_an_invalid_payload_is_invalid_argument_and_creates_nothing() {
        let handler = TestHandler::plain().await;
        for payload in [
            json!({}),
            json!({ "email": "ann@example.com" }),
            json!({ "login": "ann" }),
            json!({ "login": "ann", "email": "ann.example.com" }),
            json!({ "login": 7, "email": "ann@example.com" }),
            json!({ "login": "ann", "email": "ann@example.com", "admin": "yes" }),
            json!([]),
        ] {
            let (code, message) = handler.refusal(callback("user_create", &partner(), &payload)).await;
            assert_eq!(code, Code::InvalidArgument, "{payload}");
            assert!(message.ends_with('.'), "a sentence: {message}");
        }
        let (_, _, payload) = handler.answer(users_read(&partner(), None)).await;
        assert_eq!(payload["items"], json!([]));
    }

    #[tokio::test]
    async fn user_delete_removes_only_a_user_of_the_same_tenant() {
        let handler = TestHandler::plain().await;
        let id = handler.create(&partner(), "ann", false).await;

        let (code, message) = handler.refusal(callback("user_delete", &customer(), &json!({ "id": id }))).await;
        assert_eq!((code, message), (Code::NotFound, format!("No user with id {id} in this account.")));

        let answer = handler.call(callback("user_delete", &partner(), &json!({ "id": id }))).await.expect("deleted");
        assert_eq!((answer.http_status, answer.payload_json), (200, None));
        assert_eq!(answer.response_type, "cti.a.p.acgw.response.v1.0~vendor.app.user_delete_ok.v1.0");
        let (code, _) = handler.refusal(callback("user_delete", &partner(), &json!({ "id": id }))).await;
        assert_eq!(code, Code::NotFound);
    }

    #[tokio::test]
    async fn a_customer_may_not_reset_an_administrators_password_but_its_partner_may() {
        let handler = TestHandler::plain().await;
        let admin = handler.create(&customer(), "root", true).await;
        let user = handler.create(&customer(), "ann", false).await;

        let (code, message) =
            handler.refusal(callback("user_reset_password", &customer(), &json!({ "id": admin }))).await;
        assert_eq!(
            (code, message.as_str()),
            (Code::PermissionDenied, "Only the partner can reset the password of an administrator.")
        );

        let (status, name, payload) =
            handler.answer(callback("user_reset_password", &customer(), &json!({ "id": user.to_string() }))).await;
        assert_eq!((status, name.as_str(), &payload["id"]), (200, "user_reset_password_ok", &json!(user)));
        assert_eq!(payload["temporary_password"].as_str().map(str::len), Some(16));

        let partner_admin = handler.create(&partner(), "root", true).await;
        let (status, _, _) =
            handler.answer(callback("user_reset_password", &partner(), &json!({ "id": partner_admin }))).await;
        assert_eq!(status, 200);
        let (code, _) = handler.refusal(callback("user_reset_password", &partner(), &json!({ "id": 999 }))).await;
        assert_eq!(code, Code::NotFound);
    }

    #[tokio::test]
    async fn a_tenant_that_is_missing_or_disabled_has_no_users_here() {
        let handler = TestHandler::plain().await;
        let disabled = pb::Tenant { state: pb::EnablementState::Disabled.into(), ..partner() };
        let missing = pb::HandleCustomCallbackRequest { tenant: None, ..users_read(&partner(), None) };
        for request in [users_read(&disabled, None), missing] {
            let (code, message) = handler.refusal(request).await;
            assert_eq!(
                (code, message.as_str()),
                (Code::PermissionDenied, "This account has not enabled the CyberApp.")
            );
        }
    }

    #[tokio::test]
    async fn tenant_info_echoes_the_request_the_resolved_tenants_and_the_traceparent() {
        let handler = TestHandler::plain().await;
        let request = pb::HandleCustomCallbackRequest {
            acronis_tenant_id: CUSTOMER.to_owned(),
            datacenter_url: Some("https://eu8.acronis.cloud".to_owned()),
            extra_json: Some(r#"{"lang":"en"}"#.to_owned()),
            identity: Some("svc".to_owned()),
            partner: Some(partner()),
            ..callback("tenant_info", &customer(), &json!({ "form": "users" }))
        };
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut call = tonic::Request::new(request.clone());
        call.metadata_mut().insert(service::TRACEPARENT, traceparent.parse().expect("ASCII"));
        let answer = handler.client.clone().handle_custom_callback(call).await.expect("an answer").into_inner();
        assert_eq!(answer.response_type, "cti.a.p.acgw.response.v1.0~vendor.app.tenant_info_ok.v1.0");
        let payload: Value = serde_json::from_str(answer.payload_json.as_deref().expect("a payload")).expect("JSON");
        assert_eq!(
            payload,
            json!({
                "route": "cti.a.p.acgw.callback.v1.0~vendor.app.*",
                "callback_id": request.callback_id,
                "request_type": request.request_type,
                "request_id": request.request_id,
                "created_at": "0001-01-01T00:00:00Z",
                "endpoint_id": "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0",
                "datacenter_url": "https://eu8.acronis.cloud",
                "acronis_tenant_id": CUSTOMER,
                "payload": { "form": "users" },
                "extra": { "lang": "en" },
                "paging": null,
                "identity": "svc",
                "identity_organization_id": null,
                "tenant": {
                    "vendor_tenant_id": "c-1", "acronis_tenant_id": CUSTOMER, "kind": "customer", "method": "mirrored",
                    "state": "enabled", "partner_acronis_tenant_id": PARTNER, "name": "c-1 Ltd", "datacenter_url": null,
                },
                "partner": {
                    "vendor_tenant_id": "p-1", "acronis_tenant_id": PARTNER, "kind": "partner", "method": "mirrored",
                    "state": "enabled", "partner_acronis_tenant_id": null, "name": "p-1 Ltd", "datacenter_url": null,
                },
                "traceparent": traceparent,
            })
        );
    }

    #[tokio::test]
    async fn a_callback_this_handler_does_not_implement_is_not_found() {
        let handler = TestHandler::plain().await;
        let mut request = callback("users_read", &partner(), &json!({}));
        for id in [
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_write.v1.0",
            "cti.a.p.acgw.callback.v1.0~other.app.users_read.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.fault.v1.0",
        ] {
            id.clone_into(&mut request.callback_id);
            let (code, message) = handler.refusal(request.clone()).await;
            assert_eq!((code, message), (Code::NotFound, format!("This handler does not implement {id}.")));
        }
    }

    #[tokio::test]
    async fn with_a_token_configured_only_calls_that_present_it_are_answered() {
        let handler = TestHandler::start(Options { auth_token: Some(TOKEN.to_owned()), ..Options::default() }).await;
        assert!(handler.call(users_read(&partner(), None)).await.is_ok());

        let mut client =
            CustomCallbackHandlerClient::connect(format!("http://{}", handler.addr)).await.expect("connected");
        for authorization in [None, Some("Bearer wrong"), Some("example-token")] {
            let mut request = tonic::Request::new(users_read(&partner(), None));
            if let Some(value) = authorization {
                request.metadata_mut().insert("authorization", value.parse().expect("ASCII"));
            }
            let status = client.handle_custom_callback(request).await.expect_err("refused");
            assert_eq!(status.code(), Code::Unauthenticated, "{authorization:?}");
        }
    }

    #[tokio::test]
    async fn the_fault_callback_returns_the_status_it_is_asked_for() {
        let handler = TestHandler::with_faults().await;
        let cases = [
            ("invalid_argument", Code::InvalidArgument),
            ("permission_denied", Code::PermissionDenied),
            ("not_found", Code::NotFound),
            ("unavailable", Code::Unavailable),
            ("deadline_exceeded", Code::DeadlineExceeded),
            ("internal", Code::Internal),
            ("unknown", Code::Unknown),
            ("already_exists", Code::AlreadyExists),
            ("failed_precondition", Code::FailedPrecondition),
            ("resource_exhausted", Code::ResourceExhausted),
            ("unauthenticated", Code::Unauthenticated),
        ];
        for (name, code) in cases {
            let refusal = handler.refusal(fault(&json!({ "grpc_code": name, "message": "Told to fail." }))).await;
            assert_eq!(refusal, (code, "Told to fail.".to_owned()), "{name}");
        }
    }

    #[tokio::test]
    async fn the_fault_callback_returns_exactly_the_answer_it_is_given() {
        let handler = TestHandler::with_faults().await;
        let raw = json!({ "answer": { "response_type": "not a cti", "http_status": 700, "payload_json": "{not json", "paging_json": "[]" } });
        let answer = handler.call(fault(&raw)).await.expect("an answer");
        assert_eq!(
            answer,
            pb::HandleCustomCallbackResponse {
                response_type: "not a cti".to_owned(),
                http_status: 700,
                payload_json: Some("{not json".to_owned()),
                paging_json: Some("[]".to_owned()),
            }
        );
        let empty = handler.call(fault(&json!({ "answer": {} }))).await.expect("an answer");
        assert_eq!(empty, pb::HandleCustomCallbackResponse::default());
    }

    #[tokio::test]
    async fn the_fault_callback_counts_its_calls_and_the_calls_of_each_request_id() {
        let handler = TestHandler::with_faults().await;
        let (_, name, payload) = handler.answer(fault(&json!({}))).await;
        assert_eq!((name.as_str(), payload), ("fault_ok", json!({ "calls": 1 })));
        let (_, _, payload) = handler.answer(fault(&json!({}))).await;
        assert_eq!(payload, json!({ "calls": 2 }));

        let read = users_read(&partner(), None);
        handler.call(read.clone()).await.expect("answered");
        handler.call(read.clone()).await.expect("answered");
        for (request_id, calls) in [(read.request_id.as_str(), 2), ("never-seen", 0)] {
            let (_, name, payload) = handler.answer(fault(&json!({ "count_request_id": request_id }))).await;
            assert_eq!((name.as_str(), payload), ("fault_ok", json!({ "request_id": request_id, "calls": calls })));
        }
    }

    #[tokio::test]
    async fn a_fault_that_sleeps_past_the_callers_deadline_is_cut_off_at_the_deadline() {
        let handler = TestHandler::with_faults().await;
        let mut request = tonic::Request::new(fault(&json!({ "sleep_ms": 5_000 })));
        request.set_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let status = handler.client.clone().handle_custom_callback(request).await.expect_err("timed out");
        // tonic's server enforces the caller's grpc-timeout and answers CANCELLED ("Timeout expired").
        assert!(matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "cut off at the deadline, not after the sleep");

        let (status, _, _) = handler.answer(fault(&json!({ "sleep_ms": 10 }))).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn an_unknown_fault_field_or_code_is_invalid_argument() {
        let handler = TestHandler::with_faults().await;
        for payload in [json!({ "grpc_code": "teapot" }), json!({ "sleep": 5 })] {
            let (code, _) = handler.refusal(fault(&payload)).await;
            assert_eq!(code, Code::InvalidArgument, "{payload}");
        }
    }
}
