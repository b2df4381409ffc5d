//! `App`: one process serving the gateway (HTTP) and the TenantService (gRPC) over one database.
//!
//! [`App::build`] does everything that can fail at start-up (configuration checks, database connection,
//! migrations, binding both ports) so that a bad deployment fails before it accepts traffic.
//! [`App::run`] serves until the shutdown token is cancelled, then drains in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;

use crate::config::ServeArgs;
use crate::db;
use crate::db::migration::Migrator;
use crate::devmode::{self, DevSigningKey};
use crate::gateway::auth::{RequestVerifier, VerifierSettings};
use crate::gateway::{self, GatewayState};
use crate::grpc::{self, HealthClient, TenantClient};
use crate::tenant::credentials::CredentialVerifier;
use crate::tenant::{TenantServiceImpl, TenantStore, maintenance, readiness};

pub struct App {
    http_listener: TcpListener,
    grpc_listener: TcpListener,
    http_router: axum::Router,
    /// HTTPS settings when TLS_CERT_FILE/TLS_KEY_FILE are given.
    tls: Option<Arc<rustls::ServerConfig>>,
    grpc_routes: Routes,
    health: HealthReporter,
    db: DatabaseConnection,
    shutdown_timeout: Duration,
    idempotency_retention: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("http_addr", &self.http_listener.local_addr().ok())
            .field("grpc_addr", &self.grpc_listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl App {
    pub async fn build(args: &ServeArgs) -> anyhow::Result<Self> {
        let tls = match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            (None, None) => None,
            _ => anyhow::bail!("TLS_CERT_FILE and TLS_KEY_FILE go together"),
        };
        if tls.is_some() && args.acgw.dev_mode {
            anyhow::bail!(
                "development mode (ACGW_DEV_MODE) refuses to run with TLS settings: it is never for production"
            );
        }
        let mut verifier = RequestVerifier::new(&VerifierSettings {
            trusted_issuers: args.acgw.trusted_issuers.clone(),
            endpoint_allow_list: args.acgw.endpoint_allow_list(),
            clock_leeway: Duration::from_secs(args.acgw.clock_leeway_secs),
            jwks_refetch_interval: Duration::from_secs(args.acgw.jwks_refetch_interval_secs),
        })?;

        let http_listener = TcpListener::bind(args.http_addr)
            .await
            .with_context(|| format!("cannot listen on HTTP_ADDR {}", args.http_addr))?;
        let grpc_listener = TcpListener::bind(args.grpc_addr)
            .await
            .with_context(|| format!("cannot listen on GRPC_ADDR {}", args.grpc_addr))?;

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

        let db = db::connect(&args.database.database_url)
            .await
            .with_context(|| format!("cannot connect to {}", crate::config::redact_url(&args.database.database_url)))?;
        if args.no_migrate {
            tracing::info!("not applying migrations (--no-migrate)");
        } else {
            Migrator::up(&db, None).await.context("cannot apply database migrations")?;
            tracing::info!("database schema is current");
        }

        let credentials = Arc::new(CredentialVerifier::new(&args.credentials.settings()));
        let service = TenantServiceImpl::new(TenantStore::new(db.clone()), credentials);
        let (grpc_routes, health) = grpc::routes(service)?;
        // The gateway's in-process client uses the routes directly; only the network port asks for the token.
        let channel = grpc::in_process_channel(grpc_routes.clone());
        let grpc_routes = match &args.grpc_auth_token {
            Some(token) => crate::grpc_auth::require_token(grpc_routes, token.clone()),
            None => grpc_routes,
        };
        let http_router = gateway::router(GatewayState {
            tenants: TenantClient::new(channel.clone()),
            health: HealthClient::new(channel),
            verifier: Arc::new(verifier),
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            callback_slots: Arc::new(tokio::sync::Semaphore::new(args.max_concurrent_callbacks.max(1))),
            dev_jwks,
        });

        Ok(Self {
            http_listener,
            grpc_listener,
            http_router,
            tls,
            grpc_routes,
            health,
            db,
            shutdown_timeout: args.shutdown_timeout(),
            idempotency_retention: Duration::from_secs(args.idempotency_retention_secs),
        })
    }

    /// The gateway's router, to drive it in-process (the fuzz target does) rather than over its port.
    pub fn router(&self) -> axum::Router {
        self.http_router.clone()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight requests finish (for at
    /// most the configured drain time) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(http_addr = %self.http_addr(), grpc_addr = %self.grpc_addr(), "serving");
        let watcher = tokio::spawn(readiness::watch(self.db.clone(), self.health, shutdown.clone()));
        let sweeper = tokio::spawn(maintenance::sweep(self.db.clone(), self.idempotency_retention, shutdown.clone()));

        let http = serve_http(self.http_listener, self.http_router, self.tls, shutdown.clone(), self.shutdown_timeout);
        let grpc = tonic::transport::Server::builder()
            .add_routes(self.grpc_routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(self.grpc_listener), shutdown.clone().cancelled_owned());
        let servers = async {
            let (http, grpc) = tokio::join!(http, grpc);
            http.context("HTTP server failed")?;
            grpc.context("gRPC server failed")
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
        let _ = watcher.await;
        let _ = sweeper.await;
        self.db.close().await.ok();
        tracing::info!("stopped");
        outcome
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
    let Some(tls) = tls else {
        return axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    };
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(drain));
    });
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
    axum_server::from_tcp_rustls(listener.into_std()?, config)?.handle(handle).serve(router.into_make_service()).await
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
