//! `App`: one process serving the gateway (HTTP) and the TenantService (gRPC) over one database, or only
//! one of the two (`SERVICE_ROLE`), the gateway then calling a TenantService elsewhere.
//!
//! [`App::build`] does everything that can fail at start-up (configuration checks, database connection,
//! migrations, binding both ports) so that a bad deployment fails before it accepts traffic.
//! [`App::run`] serves until the shutdown token is cancelled, then drains in-flight requests: first on ports
//! that stay open, answering probes "not ready" and new callbacks 503, until no callback is in flight; then
//! the servers stop accepting and close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;

use crate::config::ServeArgs;
use crate::db;
use crate::db::migration::Migrator;
use crate::gateway::auth::{RequestVerifier, VerifierSettings};
use crate::gateway::custom::CustomCallbacks;
use crate::gateway::devmode::{self, DevSigningKey};
use crate::gateway::{self, GatewayState};
use crate::grpc::auth::{GrpcTokens, require_token};
use crate::grpc::channel::GrpcChannel;
use crate::grpc::metrics::count_calls;
use crate::grpc::spans::trace_calls;
use crate::grpc::{self, HealthClient};
use crate::http_limits::{ConnectionLimits, HEADER_READ_TIMEOUT};
use crate::tenant::credentials::CredentialVerifier;
use crate::tenant::event_feed::{self, Sequencer};
use crate::tenant::maintenance::Retention;
use crate::tenant::store::ReadModelSettings;
use crate::tenant::{TenantServiceImpl, TenantStore, maintenance, readiness};

pub struct App {
    http_listener: TcpListener,
    http_router: axum::Router,
    /// HTTPS settings when TLS_CERT_FILE/TLS_KEY_FILE are given.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Unless this process is only a gateway.
    tenant_service: Option<TenantServiceHalf>,
    shutdown_timeout: Duration,
    /// Cancelled when shutdown begins (see [`drain_then_stop`]).
    draining: CancellationToken,
    /// The gateway's callback slots and their number, to see when no callback is in flight.
    callback_slots: Option<(Arc<tokio::sync::Semaphore>, u32)>,
}

/// The TenantService half: its port and routes, its database, and the background work that keeps them.
struct TenantServiceHalf {
    grpc_listener: TcpListener,
    grpc_routes: Routes,
    health: HealthReporter,
    store: TenantStore,
    sequencer: Sequencer,
    /// Ends open WatchEvents streams, which would otherwise hold a graceful shutdown open.
    streams_end: CancellationToken,
    retention: Retention,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("http_addr", &self.http_listener.local_addr().ok())
            .field("grpc_addr", &self.grpc_addr())
            .finish_non_exhaustive()
    }
}

impl App {
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        args.check()?;
        let tls = match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => anyhow::bail!("TLS_CERT_FILE and TLS_KEY_FILE go together"),
        };

        let http_listener = TcpListener::bind(args.http_addr)
            .await
            .with_context(|| format!("cannot listen on HTTP_ADDR {}", args.http_addr))?;

        let (tenant_service, channel) = if args.role.runs_tenant_service() {
            let (half, in_process) = TenantServiceHalf::build(args).await?;
            (Some(half), in_process)
        } else {
            let url = args.tenant_service_url.as_deref().unwrap_or_default();
            (None, grpc::channel::remote_channel(url, args.grpc_auth.grpc_auth_token.as_ref())?)
        };
        let health = HealthClient::new(channel.clone());
        let draining = CancellationToken::new();
        let (http_router, callback_slots) = if args.role.runs_gateway() {
            let state = gateway_state(args, &http_listener, channel, health, draining.clone())?;
            // As many as the semaphore was made with; a limit beyond u32 (absurd) waits for u32::MAX free.
            let count = u32::try_from(args.max_concurrent_callbacks.max(1)).unwrap_or(u32::MAX);
            let slots = (Arc::clone(&state.callback_slots), count);
            (gateway::router(state), Some(slots))
        } else {
            (gateway::probe_router(gateway::Probes { health, draining: draining.clone() }), None)
        };

        Ok(Self {
            http_listener,
            http_router,
            tls,
            tenant_service,
            shutdown_timeout: args.shutdown_timeout(),
            draining,
            callback_slots,
        })
    }

    /// The gateway's router, to drive it in-process (the fuzz target does) rather than over its port.
    pub fn router(&self) -> axum::Router {
        self.http_router.clone()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The TenantService's gRPC address; `None` in a gateway-only process.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.tenant_service.as_ref().and_then(|half| half.grpc_listener.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then drains ([`drain_then_stop`]): in-flight requests get at
    /// most the configured drain time in all, then it returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if let Some(grpc_addr) = self.grpc_addr() {
            tracing::info!(http_addr = %self.http_addr(), %grpc_addr, "serving");
        } else {
            tracing::info!(http_addr = %self.http_addr(), "serving the gateway only");
        }
        // Cancelled once the callbacks in flight are done: the servers then stop accepting.
        let stop = CancellationToken::new();
        tokio::spawn(drain_then_stop(
            shutdown.clone(),
            self.draining,
            self.callback_slots,
            self.shutdown_timeout,
            stop.clone(),
        ));
        let http = serve_http(self.http_listener, self.http_router, self.tls, stop.clone(), self.shutdown_timeout);
        let (grpc, background, db) = match self.tenant_service {
            Some(half) => {
                let (grpc, background, db) = half.serve(shutdown.clone(), stop.clone());
                (Some(grpc), background, Some(db))
            }
            None => (None, Vec::new(), None),
        };
        let servers = async {
            let grpc = async {
                match grpc {
                    Some(grpc) => grpc.await.context("gRPC server failed"),
                    None => Ok(()),
                }
            };
            let (http, grpc) = tokio::join!(http, grpc);
            http.context("HTTP server failed")?;
            grpc
        };
        let drain_deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        let outcome = tokio::select! {
            outcome = servers => outcome,
            () = drain_deadline => {
                tracing::warn!("in-flight requests did not finish within the drain time; exiting anyway");
                Ok(())
            }
        };
        shutdown.cancel();
        stop.cancel();
        for task in background {
            let _ = task.await;
        }
        if let Some(db) = db {
            db.close().await.ok();
        }
        tracing::info!("stopped");
        outcome
    }
}

/// Shutdown in two steps. First the process says it is going, on ports that stay open so that probes and
/// load balancers can see it: `/readyz` 503 and gRPC health NOT_SERVING (the readiness watcher, on
/// `shutdown`), new callbacks 503 with Retry-After; meanwhile the callbacks in flight finish. Then, once every
/// callback slot is free again (at once when none was busy) or `drain` has passed, `stop` makes the servers
/// stop accepting and close their connections, finishing whatever requests they still hold.
async fn drain_then_stop(
    shutdown: CancellationToken,
    draining: CancellationToken,
    callback_slots: Option<(Arc<tokio::sync::Semaphore>, u32)>,
    drain: Duration,
    stop: CancellationToken,
) {
    shutdown.cancelled().await;
    draining.cancel();
    if let Some((slots, count)) = callback_slots {
        // Holding every slot means no callback is in flight; new ones no longer take slots (`draining`).
        let _all = tokio::time::timeout(drain, slots.acquire_many(count)).await;
    }
    stop.cancel();
}

/// What the public gateway needs: the TenantService client, the request verifier, the limits.
fn gateway_state(
    args: &ServeArgs,
    http_listener: &TcpListener,
    channel: GrpcChannel,
    health: HealthClient,
    draining: CancellationToken,
) -> anyhow::Result<GatewayState> {
    let mut verifier = RequestVerifier::new(&VerifierSettings {
        trusted_issuers: args.acgw.trusted_issuers.clone(),
        endpoint_allow_list: args.acgw.endpoint_allow_list()?,
        clock_leeway: Duration::from_secs(args.acgw.clock_leeway_secs),
        jwks_refetch_interval: Duration::from_secs(args.acgw.jwks_refetch_interval_secs),
    })?;
    let dev_jwks = if args.acgw.dev_mode {
        let key = DevSigningKey::load_or_create(&args.data_dir)?;
        // The issuer names the port actually bound, so `HTTP_ADDR=…:0` works too.
        let issuer = devmode::issuer(http_listener.local_addr()?);
        tracing::warn!(
            %issuer,
            "DEVELOPMENT MODE: callbacks signed by the local development key are trusted. \
             Never run this in production."
        );
        verifier.trust_fixed_issuer(issuer, key.decoding_keys()?);
        Some(Arc::new(key.jwks()))
    } else {
        None
    };
    Ok(GatewayState {
        tenants: grpc::tenant_client(channel),
        health,
        verifier: Arc::new(verifier),
        max_body_bytes: args.max_body_bytes,
        request_timeout: args.request_timeout(),
        custom_callbacks: Arc::new(custom_callbacks(args)?),
        held_answers: Arc::default(),
        callback_slots: Arc::new(tokio::sync::Semaphore::new(args.max_concurrent_callbacks.max(1))),
        dev_jwks,
        draining,
    })
}

/// The routes of custom callbacks, with a client per vendor service; logged so an operator sees where each
/// custom callback goes.
fn custom_callbacks(args: &ServeArgs) -> anyhow::Result<CustomCallbacks> {
    let table = args.custom_callbacks.route_table(args.request_timeout())?;
    for route in table.routes() {
        tracing::info!(
            pattern = %route.pattern,
            url = %route.url,
            deadline_ms = route.deadline.as_millis(),
            exactly_once = route.exactly_once,
            explicit_partner = route.explicit_partner,
            "custom callback route"
        );
    }
    CustomCallbacks::connect(table, args.custom_callbacks.custom_callback_auth_token.as_ref())
}

impl TenantServiceHalf {
    /// Binds GRPC_ADDR, connects and migrates the database, and builds the routes; also returns the
    /// in-process channel to them, which does not ask for GRPC_AUTH_TOKEN (only the network port does).
    async fn build(args: &ServeArgs) -> anyhow::Result<(Self, GrpcChannel)> {
        let grpc_listener = TcpListener::bind(args.grpc_addr)
            .await
            .with_context(|| format!("cannot listen on GRPC_ADDR {}", args.grpc_addr))?;
        let db = db::connect(&args.database.database_url)
            .await
            .with_context(|| format!("cannot connect to {}", crate::config::redact_url(&args.database.database_url)))?;
        if args.no_migrate {
            tracing::info!("not applying migrations (--no-migrate)");
        } else {
            Migrator::up(&db, None).await.context("cannot apply database migrations")?;
            tracing::info!("database schema is current");
        }

        let read_model = ReadModelSettings {
            max_staleness: Duration::from_millis(args.read_model_max_staleness_ms),
            capacity: args.read_model_entries,
        };
        let store = TenantStore::new(db)
            .with_read_model(read_model)
            .with_pause_before_commit(Duration::from_millis(args.test_hooks.test_pause_before_commit_ms));
        let streams_end = CancellationToken::new();
        let (events, sequencer) = event_feed::feed(
            store.clone(),
            Duration::from_millis(args.event_poll_interval_ms),
            args.max_watch_streams,
            streams_end.clone(),
        );
        let credentials = Arc::new(CredentialVerifier::new(&args.credentials.settings()));
        let service = TenantServiceImpl::new(store.clone(), credentials, events);
        let (grpc_routes, health) = grpc::routes(service)?;
        // Traced on both paths in, the in-process channel and the port.
        let grpc_routes = trace_calls(grpc_routes);
        let in_process = grpc::channel::in_process_channel(count_calls(grpc_routes.clone()));
        // Counted outside the token check, so that refused calls show in the metrics too.
        let grpc_routes = count_calls(match &args.grpc_auth.grpc_auth_token {
            Some(token) => {
                let tokens = GrpcTokens::new(token, args.grpc_auth.grpc_read_token.as_ref());
                require_token(grpc_routes, tokens)
            }
            None => grpc_routes,
        });
        let retention = Retention {
            idempotency: Duration::from_secs(args.idempotency_retention_secs),
            events: Duration::from_secs(args.event_retention_secs),
        };
        Ok((Self { grpc_listener, grpc_routes, health, store, sequencer, streams_end, retention }, in_process))
    }

    /// The gRPC server (until `stop`), the background tasks to await once it has stopped (health, which
    /// turns NOT_SERVING at `shutdown`; retention sweeps and event sequencing, which go on while callbacks
    /// drain, until `stop`), and the database to close after them.
    fn serve(
        self,
        shutdown: CancellationToken,
        stop: CancellationToken,
    ) -> (impl Future<Output = Result<(), tonic::transport::Error>>, Vec<JoinHandle<()>>, DatabaseConnection) {
        let db = self.store.connection().clone();
        let streams_end = self.streams_end;
        let background = vec![
            tokio::spawn(readiness::watch(db.clone(), self.health, shutdown.clone())),
            tokio::spawn(maintenance::sweep(self.store.clone(), self.retention, stop.clone())),
            tokio::spawn(event_feed::run_sequencer(self.sequencer, stop.clone())),
            tokio::spawn(async move {
                shutdown.cancelled().await;
                streams_end.cancel();
            }),
        ];
        let grpc = tonic::transport::Server::builder()
            .add_routes(self.grpc_routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(self.grpc_listener), stop.cancelled_owned());
        (grpc, background, db)
    }
}

/// Serves the gateway, over HTTPS when `tls` is given, until `shutdown`; then drains for up to `drain`.
async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(drain));
    });
    let listener = listener.into_std()?;
    let service = router.into_make_service();
    match tls {
        None => bounded(axum_server::from_tcp(listener)?).handle(handle).serve(service).await,
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            bounded(axum_server::from_tcp_rustls(listener, config)?).handle(handle).serve(service).await
        }
    }
}

/// Bounds a server's connections in time: a new connection's first request (HTTP/1.1 and HTTP/2), then, on
/// HTTP/1.1, each request head and each idle wait ([`crate::http_limits`]).
fn bounded<A: axum_server::Address, Acceptor>(
    mut server: axum_server::Server<A, Acceptor>,
) -> axum_server::Server<A, ConnectionLimits<Acceptor>> {
    // Off: hyper's header timer also runs while a kept-alive connection is idle, closing it 5 s after its last
    // answer; `ConnectionLimits` times heads and idle waits separately.
    server.http_builder().http1().header_read_timeout(None);
    server.first_request_timeout(HEADER_READ_TIMEOUT).map(ConnectionLimits::new)
}

/// Cancels the returned token on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; draining"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; draining"),
        }
        cancel.cancel();
    });
    Ok(token)
}
