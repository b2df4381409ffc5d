//! `cyberapp-bench`: an HTTP/1.1 load generator for a running `cyberapp-tenants` service.
//!
//! It starts no service itself: point it at a service started with `ACGW_DEV_MODE=true` (so the development
//! signing key in DATA_DIR is trusted), run `setup` once, then run workloads. See bench/README.md. (For
//! `CUSTOM` it does start the vendor side: a trivial CustomCallbackHandler the service routes to.)

mod client;
mod custom;
mod fsync;
mod huge;
mod large_partner;
mod procstat;
mod rng;
mod run;
mod session;
mod token;
mod workload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use http::header::HOST;
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::client::Conn;
use crate::rng::Rng;
use crate::run::{LatencyMs, Plan, Report, TokenReport, Tokens, ms};
use crate::session::Session;
use crate::workload::{
    DEFAULT_CUSTOMERS, DEFAULT_IDENTITY, DEFAULT_LOGINS, DEFAULT_PASSWORD, MAPPED_PARTNER_TENANT,
    MIRRORED_PARTNER_TENANT, PAIRS_PER_WRITE, VENDOR_PARTNER_ORG, Workload,
};

/// W3P's partners by default: one per connection up to the usual largest concurrency.
const DEFAULT_W3P_PARTNERS: usize = 64;

/// The endpoint the service's `dev token` scopes tokens to by default.
const DEFAULT_ENDPOINT_ID: &str = "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0";

#[derive(Debug, Parser)]
#[command(
    name = "cyberapp-bench",
    version,
    about = "Load generator for cyberapp-tenants: sends Acronis-shaped callbacks over HTTP/1.1 keep-alive \
             to a running service (started with ACGW_DEV_MODE=true) and reports throughput and latency",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prepare what the workloads need through real callbacks (enable the W1 mirrored partner, map the
    /// W2/W3 partner and the W3P partners with enablement.write) and check it; the directory must already
    /// hold the file that `directory` prints
    Setup(Target),
    /// Print the directory file to load with `cyberapp-tenants directory import FILE`
    Directory(DirectoryArgs),
    /// Wait until GET /readyz answers 200 (exit 1 on timeout)
    WaitReady(WaitArgs),
    /// Print the directory file of the large partner (a partner organization with --customers customers) to
    /// load with `cyberapp-tenants directory import FILE` before `large-partner`
    LargePartnerDirectory(LargeDirectoryArgs),
    /// Map the imported large partner and some of its customers through real callbacks, check its customer
    /// lists, and print how long topology.read and tenant_mapping.read take unpaged and paged
    LargePartner(LargePartnerArgs),
    /// Measure how many `write 4 KiB + fdatasync` per second one thread gets in a directory (the ceiling of
    /// SQLite's commits with synchronous=FULL)
    FsyncRate(FsyncArgs),
    /// Print the SQL that seeds the large-data mode (HUGE) into a migrated database: pipe it into `sqlite3`
    /// or `psql`
    HugeSeedSql(HugeSeedArgs),
}

#[derive(Debug, Args)]
struct FsyncArgs {
    /// Directory to measure in (the service's SQLite data directory)
    #[arg(long)]
    dir: PathBuf,
    /// Seconds to measure
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Print one JSON object (`{"fsync_per_sec": …}`) instead of the human line
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HugeSeedArgs {
    /// The database's dialect
    #[arg(long, value_enum)]
    backend: huge::Backend,
    /// Tenant records to insert in all (mirrored partners plus --customers mirrored customers)
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Of --records, mirrored customers (spread over the first 100 seeded partners)
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
}

/// Where the service is and how to sign its tokens.
#[derive(Debug, Clone, Args)]
struct ServiceArgs {
    /// Base URL of the service's gateway
    #[arg(long, env = "BENCH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,

    /// The service's development signing key (DATA_DIR/dev-signing-key.pem of `serve` with ACGW_DEV_MODE=true)
    /// [required]
    #[arg(long, env = "BENCH_DEV_KEY")]
    dev_key: Option<PathBuf>,

    /// Token issuer the service trusts [default: http://localhost:<port of --url>/dev]
    #[arg(long, env = "BENCH_ISSUER")]
    issuer: Option<String>,

    /// CyberApp endpoint id: the token's scope[].role and every request's context.endpoint_id
    #[arg(long, env = "BENCH_ENDPOINT_ID", default_value = DEFAULT_ENDPOINT_ID)]
    endpoint_id: String,
}

/// Where the service is, how to authenticate to it, and what the directory holds for the workloads.
#[derive(Debug, Clone, Args)]
struct Target {
    #[command(flatten)]
    service: ServiceArgs,

    /// Identity of the X-CyberApp-Auth credentials (W2, W3, setup); must be in the directory
    #[arg(long, default_value = DEFAULT_IDENTITY)]
    identity: String,

    /// Password of the X-CyberApp-Auth credentials
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    password: String,

    /// Customer organizations under the bench partner in the directory (W3 needs 10 per connection)
    #[arg(long, default_value_t = DEFAULT_CUSTOMERS)]
    customers: usize,

    /// Extra logins of the bench partner in the directory: W2/W3 connection i authenticates as
    /// <user>-(i mod N)@<domain> of --identity; 0 = every connection uses --identity itself
    #[arg(long, default_value_t = DEFAULT_LOGINS)]
    logins: usize,

    /// W3P partners in the directory (bench-p000 …), each with 10 customers and its login; `setup` maps each
    /// to its Acronis tenant, and W3P connection i writes to partner i (so it needs one per connection)
    #[arg(long, default_value_t = DEFAULT_W3P_PARTNERS)]
    w3p_partners: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TokenMode {
    /// One token for every request (the Acronis gateway reuses a token for an hour)
    Reuse,
    /// A different token for every request, from a pool signed before the run
    Fresh,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,

    /// What to send [required]
    #[arg(long, value_enum)]
    workload: Option<Workload>,

    /// Connections, each with one request in flight (closed loop)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,

    /// Measured seconds
    #[arg(long, default_value_t = 10.0)]
    duration: f64,

    /// Seconds of load before measuring starts
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,

    /// Token handling
    #[arg(long, value_enum, default_value_t = TokenMode::Reuse)]
    token_mode: TokenMode,

    /// Print one JSON object on stdout (the human line goes to stderr)
    #[arg(long)]
    json: bool,

    /// Runtime worker threads [default: number of CPUs]
    #[arg(long)]
    threads: Option<usize>,

    /// Requests per second expected, to size the fresh-token pool: (warmup + duration) × rate × 1.1
    #[arg(long, default_value_t = 10_000.0)]
    expected_rate: f64,

    /// Largest fresh-token pool; beyond it tokens are reused (wrapped) and the report says so
    #[arg(long, default_value_t = 200_000)]
    pool_cap: usize,

    /// PID of the service: report its CPU% and maximum RSS over the measured window (Linux /proc)
    #[arg(long)]
    service_pid: Option<u32>,

    /// Skip the checked request before the run (for a stand-in server such as examples/sink.rs)
    #[arg(long)]
    skip_preflight: bool,

    /// CUSTOM: where the bench's own CustomCallbackHandler listens, the address the service's
    /// CUSTOM_CALLBACK_ROUTES names for `cti.a.p.acgw.callback.v1.0~vendor.bench.*` [required for CUSTOM]
    #[arg(long)]
    handler_listen: Option<SocketAddr>,

    /// W1: read a partner picked at random among this many seeded ones (`huge-seed-sql`) in every request,
    /// instead of the one `setup` enabled: random access over the whole table
    #[arg(long)]
    w1_partners: Option<u64>,
}

#[derive(Debug, Args)]
struct DirectoryArgs {
    /// Customer organizations to create under the bench partner
    #[arg(long, default_value_t = DEFAULT_CUSTOMERS)]
    customers: usize,
    /// Extra logins of the bench partner (<user>-<i>@<domain> of --identity), one per W2/W3 connection
    #[arg(long, default_value_t = DEFAULT_LOGINS)]
    logins: usize,
    /// W3P partners (bench-pNNN), each with 10 customers and its own login admin@bench-pNNN
    #[arg(long, default_value_t = DEFAULT_W3P_PARTNERS)]
    w3p_partners: usize,
    #[arg(long, default_value = DEFAULT_IDENTITY)]
    identity: String,
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    password: String,
}

#[derive(Debug, Args)]
struct LargeDirectoryArgs {
    /// Customer organizations of the large partner
    #[arg(long, default_value_t = large_partner::DEFAULT_CUSTOMERS)]
    customers: usize,
}

#[derive(Debug, Args)]
struct LargePartnerArgs {
    #[command(flatten)]
    service: ServiceArgs,
    /// Customer organizations of the large partner (as in the imported `large-partner-directory` file)
    #[arg(long, default_value_t = large_partner::DEFAULT_CUSTOMERS)]
    customers: usize,
    /// Customers to map to Acronis tenants (the first ones, in order)
    #[arg(long, default_value_t = large_partner::DEFAULT_MAPPED)]
    mapped: usize,
    /// Times each read is repeated (the report gives the median and the maximum)
    #[arg(long, default_value_t = 7)]
    repeats: usize,
    /// Named in the report's first line, e.g. the backend
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, Args)]
struct WaitArgs {
    #[arg(long, env = "BENCH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Seconds to wait at most
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Directory(args)) => {
            let file = workload::directory_file(
                args.customers,
                args.logins,
                args.w3p_partners,
                &args.identity,
                &args.password,
            );
            println!("{file}");
            Ok(())
        }
        Some(Command::WaitReady(args)) => runtime(1).and_then(|rt| rt.block_on(wait_ready(&args))),
        Some(Command::Setup(target)) => runtime(1).and_then(|rt| rt.block_on(setup(&target))),
        Some(Command::LargePartnerDirectory(args)) => {
            println!("{}", large_partner::directory_file(args.customers));
            Ok(())
        }
        Some(Command::LargePartner(args)) => runtime(1).and_then(|rt| rt.block_on(large_partner(&args))),
        Some(Command::FsyncRate(args)) => fsync_rate(&args),
        Some(Command::HugeSeedSql(args)) => huge::seed_sql(args.backend, args.records, args.customers).map(|sql| {
            print!("{sql}");
        }),
        None => bench(&cli.run),
    };
    if let Err(error) = result {
        eprintln!("cyberapp-bench: {error:#}");
        std::process::exit(2);
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()?)
}

impl ServiceArgs {
    /// The token signer: the service's development key, the issuer it trusts, our endpoint id.
    fn signer(&self) -> anyhow::Result<token::Signer> {
        let dev_key = self
            .dev_key
            .as_deref()
            .context("--dev-key PATH is required (DATA_DIR/dev-signing-key.pem of the service)")?;
        token::Signer::load(dev_key, &self.issuer()?, &self.endpoint_id)
    }

    fn issuer(&self) -> anyhow::Result<String> {
        if let Some(issuer) = &self.issuer {
            return Ok(issuer.clone());
        }
        let uri: Uri = self.url.parse().context("--url is not a URL")?;
        let port = uri.port_u16().unwrap_or(80);
        Ok(format!("http://localhost:{port}/dev"))
    }
}

fn callback_uri(base: &str) -> anyhow::Result<Uri> {
    Ok(format!("{base}/callback").parse()?)
}

fn bench(args: &RunArgs) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let threads = args.threads.unwrap_or(cpus);
    let concurrency = usize::try_from(args.concurrency)?;
    let workload = args.workload.context("--workload W1|W2|W3|W3P|W4|W5|CUSTOM|HEALTHZ is required (see --help)")?;
    if !(args.duration > 0.0 && args.warmup >= 0.0) {
        bail!("--duration must be positive and --warmup not negative");
    }
    if workload == Workload::W3 && concurrency * PAIRS_PER_WRITE > args.target.customers {
        bail!(
            "W3 gives each connection its own {PAIRS_PER_WRITE} customers: concurrency {concurrency} needs {} \
             customers in the directory (--customers, and `directory --customers` for the import)",
            concurrency * PAIRS_PER_WRITE
        );
    }
    if workload == Workload::W3p && concurrency > args.target.w3p_partners {
        bail!(
            "W3P gives each connection its own partner: concurrency {concurrency} needs {concurrency} W3P partners \
             (--w3p-partners, and `directory --w3p-partners` for the import, then `setup`)"
        );
    }
    // HEALTHZ sends no token, so it needs no signing key (the sink neither checks one).
    let signer = if workload.is_callback() { Some(args.target.service.signer()?) } else { None };
    let corrupt = workload == Workload::W5;

    // Tokens first, on every core, before any load.
    let (tokens, generation_secs) = match (&signer, args.token_mode) {
        (None, _) => (Tokens::None, None),
        (Some(signer), TokenMode::Reuse) => {
            let token = signer.sign(&mut Rng::from_os())?;
            let token = if corrupt { token::corrupt_signature(&token)? } else { token };
            (Tokens::Reuse(token::bearer(&token)?), None)
        }
        (Some(signer), TokenMode::Fresh) => {
            let wanted = ((args.warmup + args.duration) * args.expected_rate.max(1.0) * 1.1).ceil() as usize;
            let size = wanted.saturating_add(concurrency + 1).min(args.pool_cap.max(concurrency + 1));
            let (values, secs) = token::pool(signer, size, cpus, corrupt)?;
            eprintln!(
                "cyberapp-bench: signed {size} fresh tokens in {secs:.1}s ({:.0}/s on {cpus} threads)",
                size as f64 / secs.max(1e-9)
            );
            (Tokens::Pool { values, next: Default::default() }, Some(secs))
        }
    };

    let rt = runtime(threads)?;
    let (addr, host, base) = rt.block_on(client::resolve(&args.target.service.url))?;
    let extra_headers = (0..concurrency)
        .map(|w| {
            if workload == Workload::W3p {
                workload::credential_headers(&workload::w3p_identity(w), &args.target.password)
            } else if workload.sends_credentials() {
                let identity = workload::login_identity(&args.target.identity, args.target.logins, w);
                workload::credential_headers(&identity, &args.target.password)
            } else {
                Ok(Vec::new())
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created_at = workload::rfc3339_now();
    let templates = (0..concurrency)
        .map(|w| workload.template(&args.target.service.endpoint_id, w, &created_at, args.w1_partners))
        .collect::<Vec<_>>();
    let plan = Arc::new(Plan {
        workload,
        addr,
        host: HeaderValue::from_str(&host)?,
        uri: if workload.is_callback() { callback_uri(&base)? } else { format!("{base}/healthz").parse()? },
        tokens,
        templates,
        extra_headers,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
    });

    // CUSTOM: the vendor's handler, and its own time (called directly) before the callbacks that reach it
    // through the service.
    let handler = match workload {
        Workload::Custom => {
            let listen = args.handler_listen.context(
                "CUSTOM needs --handler-listen ADDR, the address the service's CUSTOM_CALLBACK_ROUTES routes \
                 `cti.a.p.acgw.callback.v1.0~vendor.bench.*` to",
            )?;
            let handler = custom::RunningHandler::start(listen)?;
            let direct = rt.block_on(custom::direct(handler.addr, concurrency, plan.warmup, plan.duration))?;
            eprintln!("{}", direct.human());
            Some((handler, direct))
        }
        _ => None,
    };

    if !args.skip_preflight {
        rt.block_on(preflight(&plan))?;
    }
    let handler_calls_before = handler.as_ref().map_or(0, |(handler, _)| handler.calls());

    let start = Instant::now();
    let sampler = procstat::sample(args.service_pid, start + plan.warmup, start + plan.warmup + plan.duration);
    let (stats, measure_start, end) = rt.block_on(run::run(plan.clone(), start));
    let usage = sampler.join().unwrap_or_default();
    drop(rt);
    let custom = handler.map(|(handler, direct)| {
        let histogram = &stats.histogram;
        let overhead = |e2e: u64, direct: f64| ((ms(e2e) - direct) * 100.0).round() / 100.0;
        custom::CustomReport {
            overhead_p50_ms: overhead(histogram.value_at_quantile(0.50), direct.latency_ms.p50),
            overhead_p99_ms: overhead(histogram.value_at_quantile(0.99), direct.latency_ms.p99),
            handler_calls: handler.calls() - handler_calls_before,
            callbacks_sent: stats.warmup_requests + stats.measured,
            direct,
        }
    });

    let elapsed = stats.last_done.map_or(end, |done| done.max(end)).duration_since(measure_start).as_secs_f64();
    let expected = workload.expected_status();
    let unexpected: u64 = stats.statuses.iter().filter(|(s, _)| **s != expected).map(|(_, n)| n).sum();
    let transport: u64 = stats.transport.values().sum();
    let histogram = &stats.histogram;
    let (pool_size, used) = plan.tokens.pool_use().map_or((None, None), |(size, used)| (Some(size), Some(used)));
    let report = Report {
        workload: workload.name(),
        callback: workload.callback(),
        token_mode: match args.token_mode {
            TokenMode::Reuse => "reuse",
            TokenMode::Fresh => "fresh",
        },
        concurrency,
        threads,
        warmup_secs: args.warmup,
        duration_secs: (elapsed * 1000.0).round() / 1000.0,
        requests: stats.measured,
        rps: (stats.measured as f64 / elapsed * 10.0).round() / 10.0,
        latency_ms: LatencyMs::of(histogram),
        expected_status: expected,
        statuses: stats.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        transport_errors: stats.transport.iter().map(|(e, n)| (e.name().to_owned(), *n)).collect(),
        errors: unexpected + transport,
        warmup_requests: stats.warmup_requests,
        warmup_errors: stats.warmup_unexpected,
        tokens: TokenReport {
            mode: match args.token_mode {
                TokenMode::Reuse => "reuse",
                TokenMode::Fresh => "fresh",
            },
            pool_size,
            used,
            wrapped: matches!((pool_size, used), (Some(size), Some(used)) if used > size),
            generation_secs: generation_secs.map(|s| (s * 100.0).round() / 100.0),
            kid: signer.as_ref().map(|signer| signer.kid().to_owned()),
        },
        bench_cpu_pct: usage.bench_cpu_pct.map(round1),
        service_cpu_pct: usage.service_cpu_pct.map(round1),
        service_max_rss_mib: usage.service_max_rss_kib.map(|kib| round1(kib as f64 / 1024.0)),
        machine_busy_pct: usage.machine_busy_pct.map(round1),
        service_exited: usage.service_exited,
        custom,
    };
    if args.json {
        eprintln!("{}", report.human());
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.human());
    }
    Ok(())
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One request before the run, checked in full (status, response type, request_id echo, payload), so a
/// set-up mistake fails loudly instead of producing a table of errors.
async fn preflight(plan: &Plan) -> anyhow::Result<()> {
    let workload = plan.workload;
    let mut conn =
        Conn::connect(plan.addr).await.map_err(|e| anyhow::anyhow!("cannot connect to {}: {e:?}", plan.addr))?;
    let mut attempts = 0;
    let (status, response, request_id) = loop {
        let (body, request_id) = plan.templates[0].render(&mut Rng::from_os());
        let (status, response) = conn
            .send(plan.request(0, body), true)
            .await
            .map_err(|e| anyhow::anyhow!("preflight request failed: {e:?}"))?;
        // CUSTOM: the service's channel to the handler may still be (re)connecting (503, the Acronis gateway
        // would retry): give it a few seconds.
        attempts += 1;
        if workload == Workload::Custom && status.as_u16() == 503 && attempts < 50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        break (status, response, request_id);
    };
    let response = response.unwrap_or_default();
    let text = String::from_utf8_lossy(&response);
    let value: Value = serde_json::from_slice(&response).unwrap_or(Value::Null);
    let fail = |why: &str| anyhow::anyhow!("preflight {}: {why}; got {status}: {text}", workload.name());
    if status.as_u16() != workload.expected_status() {
        let hint = match (workload, status.as_u16()) {
            (Workload::Custom, 404) => format!(
                " (is the service started with CUSTOM_CALLBACK_ROUTES='{}=http://<--handler-listen>'?)",
                custom::ROUTE_PATTERN
            ),
            (Workload::Custom, 403) => {
                " (the mirrored partner is not enabled: run `cyberapp-bench setup` first)".into()
            }
            _ => String::new(),
        };
        return Err(fail(&format!("expected status {}{hint}", workload.expected_status())));
    }
    if !workload.is_callback() {
        return Ok(());
    }
    if value["request_id"].as_str().map(str::as_bytes) != Some(&request_id[..]) {
        return Err(fail("the response does not echo request_id"));
    }
    match workload.expected_type() {
        Some(expected) if value["type"] != expected => return Err(fail(&format!("expected type {expected}"))),
        None if value["err_message"].as_str().is_none_or(str::is_empty) => return Err(fail("expected an err_message")),
        _ => {}
    }
    match workload {
        Workload::W1 if value["payload"]["state"] != "ENABLED" => {
            Err(fail("the mirrored partner is not ENABLED: run `cyberapp-bench setup` first"))
        }
        Workload::W2 if value["payload"]["vendor_tenant_id"] != VENDOR_PARTNER_ORG => {
            Err(fail(&format!("expected vendor_tenant_id {VENDOR_PARTNER_ORG}")))
        }
        Workload::W4 if value["payload"]["state"] != "ENABLED" => Err(fail("expected state ENABLED")),
        Workload::Mapread => {
            // The figures mean "a list of N customers" only if the list has them: say how many.
            let items = value["payload"]["items"].as_array().map_or(0, Vec::len);
            eprintln!("preflight MAPREAD: {items} customers in the list, {} bytes per answer", response.len());
            if items == 0 { Err(fail("expected the partner's customers in payload.items")) } else { Ok(()) }
        }
        Workload::Custom
            if value["payload"] != serde_json::from_str::<Value>(custom::ANSWER_PAYLOAD).unwrap_or_default()
                || value["response_id"].as_str().is_none_or(str::is_empty) =>
        {
            Err(fail("expected the handler's payload and a response_id"))
        }
        _ => Ok(()),
    }
}

async fn setup(target: &Target) -> anyhow::Result<()> {
    let signer = target.service.signer()?;
    let mut session = Session::open(&target.service.url, &signer).await?;
    let credentials = workload::credential_headers(&target.identity, &target.password)?;
    let created_at = workload::rfc3339_now();
    let endpoint_id = &target.service.endpoint_id;
    let mut step = async |name: &str, body: Value, extra: &[(HeaderName, HeaderValue)]| -> anyhow::Result<Value> {
        let response = session.call_ok(&format!("setup step {name}"), body, extra).await?.body;
        eprintln!("setup: {name}: 200 {response}");
        Ok(response)
    };

    // W1/W5: a mirrored partner, enabled as the gateway would (partner.mirroring.enable).
    let enable = workload::envelope_v2(
        "partner.mirroring.enable",
        endpoint_id,
        MIRRORED_PARTNER_TENANT,
        Some(json!({ "acronis_tenant_id": MIRRORED_PARTNER_TENANT, "acronis_tenant_name": "bench mirrored partner" })),
    );
    step("partner.mirroring.enable (W1)", enable, &[]).await?;
    let state =
        workload::envelope_v2("partner.mirroring.get_state", endpoint_id, MIRRORED_PARTNER_TENANT, Some(json!({})));
    let response = step("partner.mirroring.get_state (W1)", state, &[]).await?;
    if response["payload"]["state"] != "ENABLED" {
        bail!("the mirrored partner is not ENABLED after enabling it: {response}");
    }

    // W2/W3: the directory's bench partner, mapped to its Acronis tenant with its credentials.
    let read =
        workload::envelope_v1("enablement.read", "a.p.empty", endpoint_id, MAPPED_PARTNER_TENANT, &created_at, None);
    let response = step("enablement.read (W2)", read.clone(), &credentials).await.with_context(|| {
        format!(
            "the directory needs the bench partner and credentials: `cyberapp-bench directory --customers {} > \
             dir.json && cyberapp-tenants directory import dir.json`",
            target.customers
        )
    })?;
    if response["payload"]["vendor_tenant_id"] != VENDOR_PARTNER_ORG {
        bail!("the credentials belong to {} instead of {VENDOR_PARTNER_ORG}", response["payload"]["vendor_tenant_id"]);
    }
    let write = workload::envelope_v1(
        "enablement.write",
        "a.p.enablement.write",
        endpoint_id,
        MAPPED_PARTNER_TENANT,
        &created_at,
        Some(json!({ "vendor_tenant_id": VENDOR_PARTNER_ORG, "acronis_tenant_id": MAPPED_PARTNER_TENANT })),
    );
    step("enablement.write (W3)", write, &credentials).await?;
    let response = step("enablement.read after write", read, &credentials).await?;
    if response["payload"]["acronis_tenant_id"] != MAPPED_PARTNER_TENANT {
        bail!("the bench partner is not mapped to {MAPPED_PARTNER_TENANT}: {response}");
    }

    // W3P: each of its partners mapped to its own Acronis tenant, with its own login.
    for p in 0..target.w3p_partners {
        let tenant = workload::w3p_partner_tenant(p);
        let payload = json!({ "vendor_tenant_id": workload::w3p_partner_org(p), "acronis_tenant_id": tenant });
        let write = workload::envelope_v1(
            "enablement.write",
            "a.p.enablement.write",
            endpoint_id,
            &tenant,
            &created_at,
            Some(payload),
        );
        let credentials = workload::credential_headers(&workload::w3p_identity(p), &target.password)?;
        session.call_ok(&format!("setup step enablement.write (W3P partner {p})"), write, &credentials).await?;
    }
    if target.w3p_partners > 0 {
        eprintln!("setup: enablement.write (W3P): {} partners mapped", target.w3p_partners);
    }
    eprintln!("setup: done (token kid {})", signer.kid());
    Ok(())
}

fn fsync_rate(args: &FsyncArgs) -> anyhow::Result<()> {
    let rate = fsync::measure(&args.dir, args.seconds)?;
    if args.json {
        println!("{}", json!({ "fsync_per_sec": round1(rate), "dir": args.dir, "seconds": args.seconds }));
    } else {
        println!("{rate:.0} write 4 KiB + fdatasync per second in {} (one thread)", args.dir.display());
    }
    Ok(())
}

async fn large_partner(args: &LargePartnerArgs) -> anyhow::Result<()> {
    let mut session = Session::open(&args.service.url, &args.service.signer()?).await?;
    let options = large_partner::Options {
        endpoint_id: &args.service.endpoint_id,
        customers: args.customers,
        mapped: args.mapped,
        repeats: args.repeats,
        label: &args.label,
    };
    large_partner::run(&mut session, &options).await
}

async fn wait_ready(args: &WaitArgs) -> anyhow::Result<()> {
    let (addr, host, base) = client::resolve(&args.url).await?;
    let host = HeaderValue::from_str(&host)?;
    let uri: Uri = format!("{base}/readyz").parse()?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let mut conn: Option<Conn> = None;
    loop {
        if conn.is_none() {
            conn = Conn::connect(addr).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            let mut request = Request::new(Full::new(Bytes::new()));
            *request.uri_mut() = uri.clone();
            request.headers_mut().insert(HOST, host.clone());
            match c.send(request, false).await {
                Ok((status, _)) if status.as_u16() == 200 => return Ok(()),
                Ok(_) => {}
                Err(_) => conn = None,
            }
        }
        if Instant::now() >= deadline {
            bail!("{} did not answer 200 on /readyz within {}s", args.url, args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
