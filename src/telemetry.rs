//! Logging and tracing set-up: structured JSON for machines, a readable format for people at a terminal, and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, OpenTelemetry spans
//! exported over OTLP/gRPC (see `docs/tracing.md`).
//!
//! Without that variable no exporter, tracer or OpenTelemetry layer is built and [`tracing_enabled`] is false,
//! so the code that would make spans for traces only (gRPC client and server, store) makes none.
//!
//! Nothing here decides *what* is logged; modules must never pass tokens, credentials or hashes to `tracing`
//! (span fields become span attributes when traces are exported, so the same rule covers them).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::ValueEnum;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

/// `LOG_FORMAT`: how log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (the default when standard error is not a terminal).
    Json,
    /// Human-readable lines (the default on a terminal).
    Pretty,
}

impl LogFormat {
    /// The contract's default: `pretty` on a terminal, `json` otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() { Self::Pretty } else { Self::Json }
    }
}

/// The service name traces carry unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names another.
const SERVICE_NAME: &str = "cyberapp-tenants";

/// Whether spans are exported: set once, by [`init`], when it installed the OpenTelemetry layer.
static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces. Code that makes spans only for traces asks this first, so that a
/// process without `OTEL_EXPORTER_OTLP_ENDPOINT` pays nothing for them.
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes the spans still buffered.
#[derive(Debug, Default)]
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter (a no-op without traces). Blocking work (the
    /// batch processor waits for its export thread), so it runs off the async workers.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "could not flush the last spans to the OTLP endpoint");
        }
    }
}

/// Installs the global subscriber: the log (`RUST_LOG` refines its level, default `info`) and, when the OTLP
/// endpoint is configured, the OpenTelemetry layer (this crate's `info` spans and the events in them).
/// Fails only on a tracing configuration this binary cannot honour.
pub fn init(format: Option<LogFormat>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter).boxed(),
    };
    let provider = if otlp_configured() { Some(tracer_provider()?) } else { None };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE_NAME))
            .with_filter(Targets::new().with_target(env!("CARGO_CRATE_NAME"), Level::INFO))
            .boxed()
    });
    let layers: Vec<Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync>> =
        std::iter::once(log).chain(traces).collect();
    // A second call (tests build several apps in one process) keeps the first subscriber.
    if tracing_subscriber::registry().with(layers).try_init().is_err() {
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return Ok(Telemetry::default());
    }
    if provider.is_some() {
        TRACING.store(true, Ordering::Relaxed);
        let endpoint = crate::config::redact_url(&otlp_endpoint().unwrap_or_default());
        tracing::info!(%endpoint, "exporting traces over OTLP/gRPC");
    }
    Ok(Telemetry { provider })
}

/// A variable's value, when set and not blank.
fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

fn otlp_endpoint() -> Option<String> {
    variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| variable("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// Traces are on when an OTLP endpoint is named, unless the standard switches turn them off
/// (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
fn otlp_configured() -> bool {
    let disabled = variable("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let no_exporter = variable("OTEL_TRACES_EXPORTER").is_some_and(|value| value.eq_ignore_ascii_case("none"));
    otlp_endpoint().is_some() && !disabled && !no_exporter
}

/// The OTLP/gRPC exporter behind a batch processor. The exporter reads the standard variables itself
/// (endpoint, headers, timeout, compression); the processor reads `OTEL_BSP_*`, the sampler
/// `OTEL_TRACES_SAMPLER[_ARG]`, the resource `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
fn tracer_provider() -> anyhow::Result<SdkTracerProvider> {
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(protocol) = variable(name) {
            anyhow::ensure!(
                protocol == "grpc",
                "{name}={protocol:?} is not supported: this binary exports traces over OTLP/gRPC only (grpc)"
            );
            break;
        }
    }
    let endpoint = otlp_endpoint().unwrap_or_default();
    let exporter =
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build().with_context(
            || format!("cannot export traces to the OTLP endpoint {}", crate::config::redact_url(&endpoint)),
        )?;
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let resource = if named { detected } else { Resource::builder().with_service_name(SERVICE_NAME).build() };
    Ok(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build())
}
