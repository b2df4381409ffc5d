//! The timed run: `concurrency` closed-loop workers, one keep-alive connection each, for warm-up + duration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde::Serialize;

use crate::client::{Conn, TransportError};
use crate::rng::Rng;
use crate::workload::{Template, Workload};

/// Longest latency the histogram holds (µs); longer ones are clamped.
const MAX_LATENCY_US: u64 = 120_000_000;
/// How long after the end of the run in-flight requests may take before they count as timeouts.
const GRACE: Duration = Duration::from_secs(15);

pub enum Tokens {
    /// No `Authorization` header (HEALTHZ).
    None,
    Reuse(HeaderValue),
    Pool {
        values: Vec<HeaderValue>,
        next: AtomicUsize,
    },
}

impl Tokens {
    fn next(&self) -> Option<HeaderValue> {
        match self {
            Self::None => None,
            Self::Reuse(value) => Some(value.clone()),
            Self::Pool { values, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                Some(values[i % values.len()].clone())
            }
        }
    }

    /// (pool size, tokens handed out) for a pool.
    pub fn pool_use(&self) -> Option<(usize, usize)> {
        match self {
            Self::None | Self::Reuse(_) => None,
            Self::Pool { values, next } => Some((values.len(), next.load(Ordering::Relaxed))),
        }
    }
}

pub struct Plan {
    pub workload: Workload,
    pub addr: SocketAddr,
    pub host: HeaderValue,
    pub uri: Uri,
    pub tokens: Tokens,
    /// Per connection: its body template and the headers it adds (e.g. its X-CyberApp-Auth).
    pub templates: Vec<Template>,
    pub extra_headers: Vec<Vec<(HeaderName, HeaderValue)>>,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Plan {
    pub fn request(&self, worker: usize, body: Bytes) -> Request<Full<Bytes>> {
        let extra = &self.extra_headers[worker];
        let mut request = Request::new(Full::new(body));
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(4 + extra.len());
        headers.insert(HOST, self.host.clone());
        if !self.workload.is_callback() {
            return request;
        }
        *request.method_mut() = Method::POST;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(token) = self.tokens.next() {
            headers.insert(AUTHORIZATION, token);
        }
        for (name, value) in extra {
            headers.insert(name.clone(), value.clone());
        }
        request
    }
}

struct Window {
    measure_start: Instant,
    end: Instant,
    hard_deadline: Instant,
}

pub struct Stats {
    pub histogram: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<TransportError, u64>,
    pub measured: u64,
    pub last_done: Option<Instant>,
    pub warmup_requests: u64,
    pub warmup_unexpected: u64,
}

impl Stats {
    fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| unreachable!()),
            statuses: BTreeMap::new(),
            transport: BTreeMap::new(),
            measured: 0,
            last_done: None,
            warmup_requests: 0,
            warmup_unexpected: 0,
        }
    }

    fn merge(&mut self, other: Self) {
        let _ = self.histogram.add(&other.histogram);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (error, n) in other.transport {
            *self.transport.entry(error).or_default() += n;
        }
        self.measured += other.measured;
        self.last_done = self.last_done.max(other.last_done);
        self.warmup_requests += other.warmup_requests;
        self.warmup_unexpected += other.warmup_unexpected;
    }
}

/// Runs the plan with one task per template; returns the merged statistics and the measured window's start
/// and end.
pub async fn run(plan: Arc<Plan>, start: Instant) -> (Stats, Instant, Instant) {
    let measure_start = start + plan.warmup;
    let end = measure_start + plan.duration;
    let window = Arc::new(Window { measure_start, end, hard_deadline: end + GRACE });
    let handles: Vec<_> =
        (0..plan.templates.len()).map(|w| tokio::spawn(worker(plan.clone(), window.clone(), w))).collect();
    let mut total = Stats::new();
    for handle in handles {
        if let Ok(stats) = handle.await {
            total.merge(stats);
        }
    }
    (total, measure_start, end)
}

async fn worker(plan: Arc<Plan>, window: Arc<Window>, index: usize) -> Stats {
    let mut stats = Stats::new();
    let mut rng = Rng::from_os();
    let template = &plan.templates[index];
    let expected = plan.workload.expected_status();
    let mut conn: Option<Conn> = None;
    let hard = tokio::time::sleep_until(tokio::time::Instant::from_std(window.hard_deadline));
    tokio::pin!(hard);
    loop {
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let measured = started >= window.measure_start;
        let mut connection = match conn.take() {
            Some(connection) => connection,
            None => {
                let connected = tokio::select! {
                    connected = Conn::connect(plan.addr) => connected,
                    () = &mut hard => Err(TransportError::Timeout),
                };
                match connected {
                    Ok(connection) => connection,
                    Err(error) => {
                        if measured {
                            *stats.transport.entry(error).or_default() += 1;
                        }
                        if error == TransportError::Timeout {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
            }
        };
        let (body, _) = template.render(&mut rng);
        let request = plan.request(index, body);
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = connection.send(request, false) => outcome,
            () = &mut hard => Err(TransportError::Timeout),
        };
        let done = Instant::now();
        match outcome {
            Ok((status, _)) => {
                conn = Some(connection);
                let status = status.as_u16();
                if measured {
                    let micros = u64::try_from(done.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                    stats.histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
                    *stats.statuses.entry(status).or_default() += 1;
                    stats.measured += 1;
                    stats.last_done = Some(done);
                } else {
                    stats.warmup_requests += 1;
                    stats.warmup_unexpected += u64::from(status != expected);
                }
            }
            Err(error) => {
                if measured {
                    *stats.transport.entry(error).or_default() += 1;
                    stats.measured += 1;
                    stats.last_done = Some(done);
                } else {
                    stats.warmup_requests += 1;
                    stats.warmup_unexpected += 1;
                }
                if error == TransportError::Timeout {
                    break;
                }
            }
        }
    }
    stats
}

#[derive(Debug, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl LatencyMs {
    /// The report's percentiles of a histogram of microseconds, in milliseconds.
    pub fn of(histogram: &hdrhistogram::Histogram<u64>) -> Self {
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
            mean: (histogram.mean() / 10.0).round() / 100.0,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TokenReport {
    pub mode: &'static str,
    pub pool_size: Option<usize>,
    pub used: Option<usize>,
    pub wrapped: bool,
    pub generation_secs: Option<f64>,
    /// The signing key's id; none for HEALTHZ, which sends no token.
    pub kid: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: &'static str,
    pub callback: &'static str,
    pub token_mode: &'static str,
    pub concurrency: usize,
    pub threads: usize,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub requests: u64,
    pub rps: f64,
    pub latency_ms: LatencyMs,
    pub expected_status: u16,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: BTreeMap<String, u64>,
    /// Responses with another status than expected, plus transport errors.
    pub errors: u64,
    pub warmup_requests: u64,
    pub warmup_errors: u64,
    pub tokens: TokenReport,
    pub bench_cpu_pct: Option<f64>,
    pub service_cpu_pct: Option<f64>,
    pub service_max_rss_mib: Option<f64>,
    pub machine_busy_pct: Option<f64>,
    pub service_exited: bool,
    /// CUSTOM: the handler called directly, and the routing overhead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<crate::custom::CustomReport>,
}

pub fn ms(micros: u64) -> f64 {
    (micros as f64 / 10.0).round() / 100.0
}

impl Report {
    pub fn human(&self) -> String {
        let statuses: Vec<String> = self.statuses.iter().map(|(s, n)| format!("{s}={n}")).collect();
        let transport: Vec<String> = self.transport_errors.iter().map(|(e, n)| format!("{e}={n}")).collect();
        let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}%"));
        let mut line = format!(
            "{} {} token={} c={}: {:.1} req/s, {} requests in {:.2}s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}; \
             statuses {}; transport errors {}; unexpected {}",
            self.workload,
            self.callback,
            self.token_mode,
            self.concurrency,
            self.rps,
            self.requests,
            self.duration_secs,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            if statuses.is_empty() { "none".to_owned() } else { statuses.join(" ") },
            if transport.is_empty() { "0".to_owned() } else { transport.join(" ") },
            self.errors,
        );
        line.push_str(&format!(
            "; CPU bench {} service {} machine {}",
            pct(self.bench_cpu_pct),
            pct(self.service_cpu_pct),
            pct(self.machine_busy_pct)
        ));
        if let Some(rss) = self.service_max_rss_mib {
            line.push_str(&format!("; service max RSS {rss:.1} MiB"));
        }
        if let (Some(size), Some(used)) = (self.tokens.pool_size, self.tokens.used) {
            line.push_str(&format!(
                "; token pool {size} ({used} used{}, signed in {:.1}s)",
                if self.tokens.wrapped { ", WRAPPED: tokens were reused" } else { "" },
                self.tokens.generation_secs.unwrap_or(0.0)
            ));
        }
        if self.warmup_errors > 0 {
            line.push_str(&format!("; warm-up errors {}", self.warmup_errors));
        }
        if self.service_exited {
            line.push_str("; THE SERVICE PROCESS EXITED");
        }
        if let Some(custom) = &self.custom {
            line.push_str(&format!(
                "; handler called directly p50 {:.2} p99 {:.2} ({:.1} req/s): routing overhead p50 {:.2} p99 {:.2}; \
                 handler calls {} for {} callbacks sent",
                custom.direct.latency_ms.p50,
                custom.direct.latency_ms.p99,
                custom.direct.rps,
                custom.overhead_p50_ms,
                custom.overhead_p99_ms,
                custom.handler_calls,
                custom.callbacks_sent
            ));
        }
        line
    }
}
