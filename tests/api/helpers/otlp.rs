//! [`OtlpReceiver`]: an OpenTelemetry collector stand-in on a loopback port. It serves the OTLP/gRPC
//! `TraceService/Export` RPC and keeps every span it is sent, flattened with its service name, so a test can
//! check how the spans a process exported link up. [`TraceparentHandler`]: a vendor's custom-callback handler
//! that records the `traceparent` it is called with.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cyberapp_tenants::pb::custom_callback_handler_server::{CustomCallbackHandler, CustomCallbackHandlerServer};
use cyberapp_tenants::pb::{HandleCustomCallbackRequest, HandleCustomCallbackResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio_util::sync::CancellationToken;

/// One exported span, as the receiver got it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    /// Lower-case hex, as `traceparent` spells them.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Every attribute, its value rendered as text.
    pub attributes: HashMap<String, String>,
    /// The status code (0 unset, 1 ok, 2 error).
    pub status: i32,
    /// The span kind (2 server, 3 client).
    pub kind: i32,
}

pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    exports: Arc<Mutex<usize>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref())
                .map(|value| text(value.value.as_ref()))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(ReceivedSpan {
                        service: service.clone(),
                        kind: span.kind,
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: span
                            .attributes
                            .into_iter()
                            .map(|attribute| {
                                (attribute.key, text(attribute.value.as_ref().and_then(|value| value.value.as_ref())))
                            })
                            .collect(),
                        status: span.status.map_or(0, |status| status.code),
                    });
                }
            }
        }
        self.spans.lock().unwrap().extend(received);
        *self.exports.lock().unwrap() += 1;
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The receiver; stops serving when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    collector: Collector,
    stop: CancellationToken,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the OTLP receiver");
        let addr = listener.local_addr().expect("addr");
        let collector = Collector::default();
        let stop = CancellationToken::new();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            );
        tokio::spawn(server);
        Self { addr, collector, stop }
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` is set to for a process that exports here.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.collector.spans.lock().unwrap().clone()
    }

    /// How many export calls arrived (an exporter sends none while it has no spans).
    pub fn exports(&self) -> usize {
        *self.collector.exports.lock().unwrap()
    }

    /// Waits (at most 20 s) until the spans received satisfy `done`, and returns them.
    pub async fn wait_for(&self, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let started = Instant::now();
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the expected spans never arrived; received: {:#?}",
                spans.iter().map(|span| (&span.service, &span.name, &span.trace_id)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A vendor's custom-callback handler stand-in on a loopback port: answers every call with an empty success
/// and records the `traceparent` each call arrived with.
pub struct TraceparentHandler {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Option<String>>>>,
    stop: CancellationToken,
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<Option<String>>>>);

#[tonic::async_trait]
impl CustomCallbackHandler for Recorder {
    async fn handle_custom_callback(
        &self,
        request: tonic::Request<HandleCustomCallbackRequest>,
    ) -> Result<tonic::Response<HandleCustomCallbackResponse>, tonic::Status> {
        let traceparent =
            request.metadata().get("traceparent").and_then(|value| value.to_str().ok()).map(str::to_owned);
        self.0.lock().unwrap().push(traceparent);
        Ok(tonic::Response::new(HandleCustomCallbackResponse {
            response_type: "cti.a.p.acgw.response.v1.0~vendor.app.traced.v1.0".into(),
            http_status: 200,
            payload_json: None,
            paging_json: None,
        }))
    }
}

impl TraceparentHandler {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the handler");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let server = tonic::transport::Server::builder()
            .add_service(CustomCallbackHandlerServer::new(Recorder(Arc::clone(&received))))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            );
        tokio::spawn(server);
        Self { addr, received, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `traceparent` of every call so far, in order (`None`: the call had none).
    pub fn traceparents(&self) -> Vec<Option<String>> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TraceparentHandler {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
