//! `GET /metrics`: the process's counters in the Prometheus (OpenMetrics) text format.
//!
//! One process-wide registry: the instruments are bumped where things happen (the callback pipeline, the
//! JWKS cache, the credential cache, the gRPC routes, the readiness watcher for the database pool) without
//! threading a handle through every constructor. Every update is a few atomic operations; label sets come
//! from small fixed vocabularies (callback names, HTTP statuses, gRPC methods and codes, the configured custom
//! callback routes), never from input, so the series count stays bounded.

use std::sync::LazyLock;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallbackLabels {
    /// The callback's short name (`partner.mirroring.enable`), or `unknown` when it was refused before the
    /// envelope named one.
    pub callback: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallbackNameLabels {
    pub callback: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CustomCallbackLabels {
    /// The CUSTOM_CALLBACK_ROUTES pattern (configuration, never input), or `none` for an unrouted id.
    pub route: String,
    pub outcome: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GrpcLabels {
    pub method: &'static str,
    pub code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReadModelLabels {
    /// The kind of read (`tenants`, `partner_mappings`, `credentials`, `customer_pages`, `mirrored_customers`).
    pub table: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: &'static str,
}

/// Every instrument of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub callbacks: Family<CallbackLabels, Counter>,
    pub callback_duration: Family<CallbackNameLabels, Histogram>,
    pub jwks_fetches: Family<OutcomeLabels, Counter>,
    pub credential_cache: Family<OutcomeLabels, Counter>,
    pub grpc_requests: Family<GrpcLabels, Counter>,
    pub custom_callbacks: Family<CustomCallbackLabels, Counter>,
    pub custom_handler_duration: Family<RouteLabels, Histogram>,
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    pub read_model_lookups: Family<ReadModelLabels, Counter>,
}

/// Latency buckets in seconds: fine below 10 ms, where a healthy callback answers, up to the 10 s timeout.
const LATENCY_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// Registers `metric` under `name` and hands it back, to be kept as one of the instruments.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("cyberapp");
        let r = &mut registry;
        let callbacks =
            registered(r, "callbacks", "ACGW callbacks answered, by callback and HTTP status", Family::default());
        let callback_duration = registered(
            r,
            "callback_duration_seconds",
            "Time from a callback's arrival to its answer",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let jwks_fetches = registered(
            r,
            "jwks_fetches",
            "Fetches of an issuer's signing keys, by outcome (success, failure)",
            Family::default(),
        );
        let credential_cache = registered(
            r,
            "credential_cache_lookups",
            "X-CyberApp-Auth checks answered from the cache (hit) or by Argon2 (miss)",
            Family::default(),
        );
        let grpc_requests = registered(
            r,
            "grpc_requests",
            "TenantService gRPC calls (the gateway's in-process ones included), by method and status code",
            Family::default(),
        );
        let custom_callbacks = registered(
            r,
            "custom_callbacks",
            "Custom callbacks answered, by route, outcome (answered, replayed, refused, handler_error, \
             invalid_answer, unrouted) and HTTP status",
            Family::default(),
        );
        let custom_handler_duration = registered(
            r,
            "custom_callback_handler_duration_seconds",
            "Time a vendor's custom-callback handler took to answer, by route",
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let db_pool_connections = registered(
            r,
            "db_pool_connections",
            "Database pool connections by state (idle, in_use, max), sampled every second",
            Family::default(),
        );
        let read_model_lookups = registered(
            r,
            "read_model_lookups",
            "Hot reads answered from the in-memory read model (hit) or the database (miss), by table",
            Family::default(),
        );
        Self {
            registry,
            callbacks,
            callback_duration,
            jwks_fetches,
            credential_cache,
            grpc_requests,
            custom_callbacks,
            custom_handler_duration,
            db_pool_connections,
            read_model_lookups,
        }
    }

    pub fn callback_answered(&self, callback: &'static str, status: u16, elapsed: Duration) {
        self.callbacks.get_or_create(&CallbackLabels { callback, status }).inc();
        self.callback_duration.get_or_create(&CallbackNameLabels { callback }).observe(elapsed.as_secs_f64());
    }

    pub fn custom_callback_answered(&self, route: &str, outcome: &'static str, status: u16) {
        self.custom_callbacks.get_or_create(&CustomCallbackLabels { route: route.to_owned(), outcome, status }).inc();
    }

    pub fn read_model_lookup(&self, table: &'static str, outcome: &'static str) {
        self.read_model_lookups.get_or_create(&ReadModelLabels { table, outcome }).inc();
    }

    pub fn outcome(family: &Family<OutcomeLabels, Counter>, outcome: &'static str) {
        family.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The registry in the text exposition format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Records the state of a database pool (called by the readiness watcher).
pub fn record_pool(db: &sea_orm::DatabaseConnection) {
    // The pool getters panic for another backend, so dispatch on the backend first.
    let (size, idle, max) = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        _ => return,
    };
    // sqlx counts idle connections apart from the pool's size, and the count can briefly run past it (a test
    // once read 4294967295 idle connections of 1): never report more idle connections than exist.
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
    let gauges = &METRICS.db_pool_connections;
    gauges.get_or_create(&PoolLabels { state: "idle" }).set(i64::from(idle));
    gauges.get_or_create(&PoolLabels { state: "in_use" }).set(i64::from(size.saturating_sub(idle)));
    gauges.get_or_create(&PoolLabels { state: "max" }).set(i64::from(max));
}

/// `GET /metrics`.
pub async fn handler() -> Response {
    match METRICS.render() {
        Ok(text) => {
            let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
            ([(header::CONTENT_TYPE, content_type)], text).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
