//! `CUSTOM`: refresh-like custom callbacks routed through the gateway to a trivial vendor handler.
//!
//! The bench itself is the vendor service: [`Handler`] is a real tonic server of
//! `cyberapp.tenants.v1.CustomCallbackHandler` (code generated from `../proto` by build.rs) that answers every
//! call at once with the same small payload. It runs on a runtime of its own (one worker thread), as a separate
//! vendor process would, and listens on the address the service's `CUSTOM_CALLBACK_ROUTES` names (`run.sh`
//! picks a free port and passes it to both; the service connects to the handler lazily, on the first custom
//! callback).
//!
//! A run has two phases at the same concurrency: first the bench calls the handler **directly** over gRPC,
//! through one shared channel configured like the gateway's (the vendor service's own time as the gateway
//! sees it); then it sends the custom callbacks **end to end** through the service (JWT check, tenant
//! resolution, the gRPC call, the envelope). The difference of the two p50s is the routing overhead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use tonic::transport::{Channel, Endpoint};

use crate::run::LatencyMs;
use crate::workload::{DATACENTER_URL, MIRRORED_PARTNER_TENANT};

#[allow(clippy::all, clippy::pedantic, unused_qualifications, missing_docs)]
pub mod pb {
    tonic::include_proto!("cyberapp.tenants.v1");
}

use pb::custom_callback_handler_client::CustomCallbackHandlerClient;
use pb::custom_callback_handler_server::{CustomCallbackHandler, CustomCallbackHandlerServer};

/// The custom callback a form's refresh sends (a v1.0 id, as in the Vendor Portal's samples).
pub const CALLBACK_ID: &str = "cti.a.p.acgw.callback.v1.0~vendor.bench.dashboard_refresh.v1.0";
pub const REQUEST_TYPE: &str = "cti.a.p.acgw.request.v1.0~vendor.bench.dashboard_refresh.v1.0";
/// What the handler answers, with 200.
pub const RESPONSE_TYPE: &str = "cti.a.p.acgw.response.v1.0~vendor.bench.dashboard_refresh_ok.v1.0";
/// The CUSTOM_CALLBACK_ROUTES pattern `run.sh` routes to the handler (a prefix, as custom ids change version).
pub const ROUTE_PATTERN: &str = "cti.a.p.acgw.callback.v1.0~vendor.bench.*";
/// The handler's fixed answer: what a small dashboard form shows.
pub const ANSWER_PAYLOAD: &str = r#"{"status":"ok","protected":12,"warnings":1,"last_backup":"2026-01-01T00:00:00Z","items":[{"id":"a","value":1}]}"#;
/// The timeout the direct calls carry (`grpc-timeout`), the gateway's default route deadline.
const DEADLINE: Duration = Duration::from_secs(5);
/// Longest latency the histogram holds (µs).
const MAX_LATENCY_US: u64 = 120_000_000;

/// The request payload of a refresh: the form's filter, as a request mapping would fill it.
pub fn request_payload() -> Value {
    json!({ "form": "dashboard", "filter": { "status": "active" }, "page": 1 })
}

/// The trivial vendor handler; it counts its calls.
#[derive(Debug, Default, Clone)]
pub struct Handler {
    calls: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl CustomCallbackHandler for Handler {
    async fn handle_custom_callback(
        &self,
        _request: tonic::Request<pb::HandleCustomCallbackRequest>,
    ) -> Result<tonic::Response<pb::HandleCustomCallbackResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(pb::HandleCustomCallbackResponse {
            response_type: RESPONSE_TYPE.to_owned(),
            http_status: 200,
            payload_json: Some(ANSWER_PAYLOAD.to_owned()),
            paging_json: None,
        }))
    }
}

/// A running handler: its own runtime on a thread of its own, stopped when dropped.
pub struct RunningHandler {
    pub addr: SocketAddr,
    calls: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningHandler {
    /// Binds `addr` (port 0 picks one) and serves the handler on a one-thread runtime.
    pub fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("custom-handler")
            .enable_all()
            .build()?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("cannot listen on {addr} for the custom-callback handler"))?;
        let addr = listener.local_addr()?;
        let handler = Handler::default();
        let calls = handler.calls.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let incoming =
            runtime.block_on(async { tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)) });
        let thread = std::thread::Builder::new().name("custom-handler".into()).spawn(move || {
            let served = runtime.block_on(
                tonic::transport::Server::builder()
                    .add_service(CustomCallbackHandlerServer::new(handler))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    }),
            );
            if let Err(error) = served {
                eprintln!("cyberapp-bench: the custom-callback handler stopped: {error}");
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        Ok(Self { addr, calls, stop: Some(stop), thread: Some(thread) })
    }

    /// Calls answered so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Drop for RunningHandler {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A channel to the handler configured as the gateway's `vendor_channel` is (lazy, TCP_NODELAY, HTTP/2
/// keep-alive): one HTTP/2 connection that every call shares.
fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// A request as the gateway builds it for a refresh of the mirrored partner: the envelope's fields, the
/// payload as JSON text, and the resolved tenant record.
fn handler_request() -> pb::HandleCustomCallbackRequest {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let timestamp = prost_types::Timestamp { seconds: i64::try_from(now.as_secs()).unwrap_or(0), nanos: 0 };
    pb::HandleCustomCallbackRequest {
        callback_id: CALLBACK_ID.to_owned(),
        request_type: REQUEST_TYPE.to_owned(),
        request_id: "5f0c3b8e-6f6a-4c1e-9d7e-2a4b6c8d0e1f".to_owned(),
        created_at: "0001-01-01T00:00:00Z".to_owned(),
        endpoint_id: "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0".to_owned(),
        datacenter_url: Some(DATACENTER_URL.to_owned()),
        acronis_tenant_id: MIRRORED_PARTNER_TENANT.to_owned(),
        payload_json: request_payload().to_string(),
        extra_json: None,
        paging_json: None,
        tenant: Some(pb::Tenant {
            vendor_tenant_id: "2f6d0a52-3c1b-4e7a-8f90-1a2b3c4d5e6f".to_owned(),
            acronis_tenant_id: Some(MIRRORED_PARTNER_TENANT.to_owned()),
            kind: pb::TenantKind::Partner.into(),
            enablement_method: pb::EnablementMethod::Mirrored.into(),
            state: pb::EnablementState::Enabled.into(),
            partner_acronis_tenant_id: None,
            name: Some("bench mirrored partner".to_owned()),
            settings_json: None,
            datacenter_url: Some(DATACENTER_URL.to_owned()),
            created_at: Some(timestamp),
            updated_at: Some(timestamp),
        }),
        partner: None,
        identity: None,
        identity_organization_id: None,
        route: ROUTE_PATTERN.to_owned(),
    }
}

/// The direct calls' figures.
#[derive(Debug, Serialize)]
pub struct DirectReport {
    pub concurrency: usize,
    pub duration_secs: f64,
    pub requests: u64,
    pub rps: f64,
    pub latency_ms: LatencyMs,
    pub errors: u64,
}

/// What `CUSTOM` adds to a run's report.
#[derive(Debug, Serialize)]
pub struct CustomReport {
    /// The handler called directly over gRPC at the same concurrency, before the end-to-end run.
    pub direct: DirectReport,
    /// End-to-end p50 minus direct p50 (ms).
    pub overhead_p50_ms: f64,
    /// End-to-end p99 minus direct p99 (ms).
    pub overhead_p99_ms: f64,
    /// Calls the handler answered during the end-to-end run (warm-up included), and the callbacks the bench
    /// sent then: equal when every callback reached the handler exactly once.
    pub handler_calls: u64,
    pub callbacks_sent: u64,
}

/// Calls the handler at `addr` directly: `concurrency` closed-loop tasks sharing one channel, for `warmup`
/// (not counted) and then `duration`.
pub async fn direct(
    addr: SocketAddr,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<DirectReport> {
    let client = CustomCallbackHandlerClient::new(channel(addr)?);
    let message = handler_request();
    // A checked first call, as the preflight of the end-to-end run.
    let answer = call(&mut client.clone(), &message).await.context("the direct call to the handler failed")?;
    anyhow::ensure!(
        answer.response_type == RESPONSE_TYPE && answer.http_status == 200,
        "the handler answered {answer:?}"
    );
    let start = Instant::now();
    let measure_start = start + warmup;
    let end = measure_start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let mut client = client.clone();
            let message = message.clone();
            tokio::spawn(async move {
                let mut histogram =
                    Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| unreachable!());
                let (mut errors, mut last_done) = (0, None);
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let outcome = call(&mut client, &message).await;
                    let done = Instant::now();
                    if started >= measure_start {
                        match outcome {
                            Ok(_) => {
                                let micros =
                                    u64::try_from(done.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                                histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
                            }
                            Err(_) => errors += 1,
                        }
                        last_done = Some(done);
                    }
                }
                (histogram, errors, last_done)
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    let (mut errors, mut last_done) = (0, None);
    for task in tasks {
        let (h, e, done) = task.await?;
        histogram.add(&h)?;
        errors += e;
        last_done = last_done.max(done);
    }
    let elapsed = last_done.map_or(end, |done: Instant| done.max(end)).duration_since(measure_start).as_secs_f64();
    let requests = histogram.len() + errors;
    Ok(DirectReport {
        concurrency,
        duration_secs: (elapsed * 1000.0).round() / 1000.0,
        requests,
        rps: (requests as f64 / elapsed * 10.0).round() / 10.0,
        latency_ms: LatencyMs::of(&histogram),
        errors,
    })
}

async fn call(
    client: &mut CustomCallbackHandlerClient<Channel>,
    message: &pb::HandleCustomCallbackRequest,
) -> Result<pb::HandleCustomCallbackResponse, tonic::Status> {
    let mut request = tonic::Request::new(message.clone());
    request.set_timeout(DEADLINE);
    // The gateway sends the callback's trace as `traceparent`; so do we, for the same bytes on the wire.
    request.metadata_mut().insert(
        "traceparent",
        tonic::metadata::MetadataValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    client.handle_custom_callback(request).await.map(tonic::Response::into_inner)
}

impl DirectReport {
    pub fn human(&self) -> String {
        format!(
            "CUSTOM direct gRPC HandleCustomCallback c={}: {:.1} req/s, {} requests in {:.2}s; latency ms p50 {:.2} \
             p90 {:.2} p99 {:.2} max {:.2}; errors {}",
            self.concurrency,
            self.rps,
            self.requests,
            self.duration_secs,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_answer_is_json_and_the_route_matches_the_callback() {
        let _: Value = serde_json::from_str(ANSWER_PAYLOAD).expect("json");
        assert!(CALLBACK_ID.starts_with(ROUTE_PATTERN.trim_end_matches('*')));
    }

    #[test]
    fn the_handler_answers_direct_calls() {
        let handler = RunningHandler::start("127.0.0.1:0".parse().expect("addr")).expect("handler");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let report = runtime
            .block_on(direct(handler.addr, 2, Duration::ZERO, Duration::from_millis(200)))
            .expect("direct calls");
        assert!(report.requests > 0 && report.errors == 0, "{report:?}");
        assert!(handler.calls() >= report.requests);
    }
}
