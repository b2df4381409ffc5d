//! OpenTelemetry: the binary, started with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an in-test OTLP receiver,
//! exports a callback as one trace (the sender's, when it sent a `traceparent`) whose spans link up from the
//! gateway through the gRPC call to the store, in one process and across two (`SERVICE_ROLE`); a custom
//! callback's vendor handler receives the trace's `traceparent`; a vendor service's `traceparent` on a
//! TenantService call is continued; without the endpoint nothing is exported; an OTLP protocol the binary
//! cannot speak is refused at start.

use cyberapp_tenants::pb::tenant_service_client::TenantServiceClient;
use cyberapp_tenants::pb::{GetTenantRequest, get_tenant_request::Id};

use crate::helpers::{
    CLIENT, ENDPOINT_ID, OtlpReceiver, PARTNER_TENANT, ReceivedSpan, SERVER, Service, TestDatabase, TraceparentHandler,
    enable_partner, http_client,
};

/// The sender's trace: what the Acronis gateway (or a proxy in front of us) would send.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENDER_SPAN_ID: &str = "00f067aa0ba902b7";

fn traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// Exports quickly, so a test waits a fraction of a second for its spans.
fn otel_env(receiver: &OtlpReceiver) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_SERVICE_NAME", "tenants-under-test".to_owned()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)], more: &'a [(&'static str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(name, value)| (*name, value.as_str())).chain(more.iter().copied()).collect()
}

async fn post_callback(service: &Service, token: &str, traceparent: Option<&str>) -> reqwest::Response {
    post(service, token, &enable_partner(PARTNER_TENANT, "Traced", None), traceparent).await
}

async fn post(
    service: &Service,
    token: &str,
    body: &serde_json::Value,
    traceparent: Option<&str>,
) -> reqwest::Response {
    let mut request =
        http_client().post(format!("http://127.0.0.1:{}/callback", service.http_port)).bearer_auth(token).json(body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.expect("sent")
}

/// Whether the callback's span and its store write in `trace_id` have both arrived (they come in different
/// batches: the store write ends first, and a split deployment's two processes export on their own).
fn has_callback_and_write(spans: &[ReceivedSpan], trace_id: &str) -> bool {
    let arrived = |name: &str| spans.iter().any(|span| span.trace_id == trace_id && span.name == name);
    arrived("callback") && arrived("store.write")
}

/// The one span named `name` in `spans`.
fn only<'s>(spans: &'s [ReceivedSpan], name: &str) -> &'s ReceivedSpan {
    let found: Vec<_> = spans.iter().filter(|span| span.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} span expected: {spans:#?}");
    found[0]
}

/// The spans of one `partner.mirroring.enable` callback: callback → gRPC client → gRPC server → store write,
/// each the child of the one before, all in `trace_id`; returns them in that order.
fn assert_callback_chain(spans: &[ReceivedSpan], trace_id: &str) -> [ReceivedSpan; 4] {
    let in_trace: Vec<_> = spans.iter().filter(|span| span.trace_id == trace_id).cloned().collect();
    let callback = only(&in_trace, "callback");
    let rpc = "cyberapp.tenants.v1.TenantService/EnableMirroredPartner";
    let calls: Vec<_> = in_trace.iter().filter(|span| span.name == rpc).cloned().collect();
    let client = calls.iter().find(|span| span.kind == CLIENT).expect("a gRPC client span");
    let server = calls.iter().find(|span| span.kind == SERVER).expect("a gRPC server span");
    assert_eq!(calls.len(), 2, "one client and one server span: {calls:#?}");
    let write = only(&in_trace, "store.write");

    assert_eq!(client.parent_span_id, callback.span_id, "the gRPC client span is the callback's child");
    assert_eq!(server.parent_span_id, client.span_id, "the server span continues the client's traceparent");
    assert_eq!(write.parent_span_id, server.span_id, "the store write is the server span's child");

    assert_eq!(callback.kind, SERVER);
    assert_eq!(callback.attribute("callback"), Some("partner.mirroring.enable"));
    assert_eq!(callback.attribute("tenant_id"), Some(PARTNER_TENANT));
    assert_eq!(callback.attribute("http.response.status_code"), Some("200"));
    assert_eq!(callback.attribute("outcome"), Some("answered"));
    assert_eq!(callback.attribute("trace_id"), Some(trace_id), "the log's trace id is the exported trace's");
    assert_eq!(server.attribute("rpc.method"), Some("EnableMirroredPartner"));
    assert_eq!(write.attribute("idempotent"), Some("true"));
    [callback.clone(), client.clone(), server.clone(), write.clone()]
}

/// No attribute of any span carries the token (or any part of a JWT).
fn assert_no_secrets(spans: &[ReceivedSpan], token: &str) {
    for span in spans {
        for (key, value) in &span.attributes {
            assert!(!value.contains(token) && !value.contains("eyJ"), "{}.{key} carries a token: {value}", span.name);
        }
    }
}

// Multi-threaded: the receiver must keep answering while the test thread waits for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_one_trace_from_the_senders_traceparent_through_grpc_to_the_store() {
    let receiver = OtlpReceiver::start().await;
    let env = otel_env(&receiver);
    let (_database, data_dir, mut service) = Service::start_fresh(&env_refs(&env, &[])).await;
    let token = service.dev_token(data_dir.path());

    let response = post_callback(&service, &token, Some(&traceparent(TRACE_ID, SENDER_SPAN_ID))).await;
    assert_eq!(response.status(), 200);
    let spans = receiver.wait_for(|spans| has_callback_and_write(spans, TRACE_ID)).await;
    let [callback, ..] = assert_callback_chain(&spans, TRACE_ID);
    assert_eq!(callback.parent_span_id, SENDER_SPAN_ID, "the callback continues the sender's trace");
    assert_eq!(callback.service, "tenants-under-test", "OTEL_SERVICE_NAME names the service");
    // Readiness probes (health checks over the same channel) are never traced.
    assert!(spans.iter().all(|span| !span.name.starts_with("grpc.health")), "{spans:#?}");

    // Without a traceparent a callback starts a trace of its own, and it links up the same way.
    let response = post_callback(&service, &token, None).await;
    assert_eq!(response.status(), 200);
    let other_trace = |spans: &[ReceivedSpan]| {
        spans
            .iter()
            .find(|span| span.name == "store.write" && span.trace_id != TRACE_ID)
            .map(|span| span.trace_id.clone())
    };
    let spans =
        receiver.wait_for(|spans| other_trace(spans).is_some_and(|trace| has_callback_and_write(spans, &trace))).await;
    let second_trace = other_trace(&spans).expect("a second trace");
    let [callback, ..] = assert_callback_chain(&spans, &second_trace);
    assert!(callback.parent_span_id.is_empty(), "a root span: {callback:?}");
    assert_no_secrets(&spans, &token);

    // The batch still buffered at SIGTERM is flushed before the process exits.
    let before = receiver.spans().len();
    let response = post_callback(&service, &token, Some(&traceparent(TRACE_ID, "1111111111111111"))).await;
    assert_eq!(response.status(), 200);
    assert!(service.terminate().success());
    assert!(receiver.spans().len() > before, "the last spans were flushed at shutdown");
    assert!(service.log().contains("exporting traces over OTLP/gRPC"));
}

#[tokio::test]
async fn a_custom_callback_is_one_trace_through_the_gateway_to_the_vendors_handler() {
    let receiver = OtlpReceiver::start().await;
    let handler = TraceparentHandler::start().await;
    let routes = format!("cti.a.p.acgw.callback.v1.0~vendor.app.*={};explicit-partner", handler.url());
    let env = otel_env(&receiver);
    let (_database, data_dir, service) =
        Service::start_fresh(&env_refs(&env, &[("CUSTOM_CALLBACK_ROUTES", &routes)])).await;
    let token = service.dev_token(data_dir.path());
    let body = serde_json::json!({
        "type": "cti.a.p.acgw.request.v1.0~vendor.app.traced.v1.0",
        "request_id": uuid::Uuid::new_v4().to_string(),
        "created_at": "2026-11-30T10:00:00Z",
        "context": {
            "callback_id": "cti.a.p.acgw.callback.v1.0~vendor.app.traced.v1.0",
            "endpoint_id": ENDPOINT_ID,
            "tenant_id": PARTNER_TENANT,
            "datacenter_url": "https://eu8.acronis.cloud",
        },
        "payload": {},
    });

    let response = post(&service, &token, &body, Some(&traceparent(TRACE_ID, SENDER_SPAN_ID))).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let rpc = "cyberapp.tenants.v1.CustomCallbackHandler/HandleCustomCallback";
    let spans = receiver
        .wait_for(|spans| {
            let arrived = |name: &str| spans.iter().any(|span| span.trace_id == TRACE_ID && span.name == name);
            arrived("callback") && arrived(rpc)
        })
        .await;
    let callback = only(&spans, "callback");
    assert_eq!(callback.parent_span_id, SENDER_SPAN_ID);
    assert_eq!(callback.attribute("callback"), Some("custom"));
    assert_eq!(callback.attribute("callback_id"), Some("cti.a.p.acgw.callback.v1.0~vendor.app.traced.v1.0"));
    let client = only(&spans, rpc);
    assert_eq!((client.kind, client.parent_span_id.as_str()), (CLIENT, callback.span_id.as_str()));
    // The handler was called with the client span's context: a handler that continues it joins the trace.
    assert_eq!(handler.traceparents(), [Some(traceparent(TRACE_ID, &client.span_id))]);
}

#[tokio::test]
async fn a_vendor_services_traceparent_on_a_tenant_service_call_is_continued() {
    let receiver = OtlpReceiver::start().await;
    let env = otel_env(&receiver);
    let (_database, _data_dir, service) = Service::start_fresh(&env_refs(&env, &[])).await;

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", service.grpc_port))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let vendor_span = "b7ad6b7169203331";
    let mut request = tonic::Request::new(GetTenantRequest { id: Some(Id::AcronisTenantId(PARTNER_TENANT.into())) });
    request.metadata_mut().insert("traceparent", traceparent(trace_id, vendor_span).parse().expect("ascii"));
    let status = TenantServiceClient::new(channel).get_tenant(request).await.expect_err("not enabled yet");
    assert_eq!(status.code(), tonic::Code::NotFound);

    let spans = receiver
        .wait_for(|spans| {
            let arrived = |name: &str| spans.iter().any(|span| span.trace_id == trace_id && span.name == name);
            arrived("store.read") && arrived("cyberapp.tenants.v1.TenantService/GetTenant")
        })
        .await;
    let in_trace: Vec<_> = spans.iter().filter(|span| span.trace_id == trace_id).cloned().collect();
    let server = only(&in_trace, "cyberapp.tenants.v1.TenantService/GetTenant");
    assert_eq!(server.parent_span_id, vendor_span, "the server span continues the vendor's trace");
    assert_eq!(server.attribute("rpc.grpc.status_code"), Some("5"));
    assert_eq!(server.status, 2, "NOT_FOUND marks the span as an error");
    let read = in_trace.iter().find(|span| span.name == "store.read").expect("a store read");
    assert_eq!(read.parent_span_id, server.span_id);
    assert_eq!(read.attribute("db.operation.name"), Some("tenant_by_acronis_id"));
}

#[tokio::test]
async fn a_split_deployments_callback_is_one_trace_across_both_processes() {
    const TOKEN: &str = "split-trace-token";
    let receiver = OtlpReceiver::start().await;
    let database = TestDatabase::create().await;
    let (tenants_dir, gateway_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let tenants_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_SERVICE_NAME", "tenant-service".to_owned()),
    ];
    let tenants = Service::start(
        &database.url,
        tenants_dir.path(),
        &env_refs(&tenants_env, &[("SERVICE_ROLE", "tenant-service"), ("GRPC_AUTH_TOKEN", TOKEN)]),
    );
    tenants.wait_until_ready().await;
    let gateway_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_SERVICE_NAME", "gateway".to_owned()),
        ("TENANT_SERVICE_URL", format!("http://127.0.0.1:{}", tenants.grpc_port)),
    ];
    let unused_database = format!("sqlite://{}/gateway.db?mode=rwc", gateway_dir.path().display());
    let gateway = Service::start(
        &unused_database,
        gateway_dir.path(),
        &env_refs(&gateway_env, &[("SERVICE_ROLE", "gateway"), ("GRPC_AUTH_TOKEN", TOKEN)]),
    );
    gateway.wait_until_ready().await;
    let token = gateway.dev_token(gateway_dir.path());

    let response = post_callback(&gateway, &token, Some(&traceparent(TRACE_ID, SENDER_SPAN_ID))).await;
    assert_eq!(response.status(), 200);
    let spans = receiver.wait_for(|spans| has_callback_and_write(spans, TRACE_ID)).await;
    let [callback, client, server, write] = assert_callback_chain(&spans, TRACE_ID);
    assert_eq!((callback.service.as_str(), client.service.as_str()), ("gateway", "gateway"));
    assert_eq!((server.service.as_str(), write.service.as_str()), ("tenant-service", "tenant-service"));
    assert_no_secrets(&spans, TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_otlp_endpoint_nothing_is_exported() {
    let receiver = OtlpReceiver::start().await;
    // The endpoint blank (as an unset Helm value renders), and set but switched off by OTEL_SDK_DISABLED.
    let endpoint = receiver.endpoint();
    for env in [
        vec![("OTEL_EXPORTER_OTLP_ENDPOINT", ""), ("OTEL_BSP_SCHEDULE_DELAY", "100")],
        vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_SDK_DISABLED", "true")],
    ] {
        let (_database, data_dir, mut service) = Service::start_fresh(&env).await;
        let token = service.dev_token(data_dir.path());
        let response = post_callback(&service, &token, Some(&traceparent(TRACE_ID, SENDER_SPAN_ID))).await;
        assert_eq!(response.status(), 200);
        assert!(service.terminate().success());
        let log = service.log();
        assert!(!log.contains("exporting traces"), "{env:?}: {log}");
        // The fallback still logs the sender's trace id on the callback's lines.
        assert!(log.contains(TRACE_ID), "{env:?}: {log}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.exports(), 0, "{:#?}", receiver.spans());
}

#[tokio::test]
async fn an_otlp_protocol_this_binary_cannot_speak_is_refused_at_start() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("dir");
    let mut service = Service::start(
        &database.url,
        data_dir.path(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
    );
    assert!(!service.wait_for_exit().success());
    let log = service.log();
    assert!(log.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && log.contains("grpc"), "{log}");
}
