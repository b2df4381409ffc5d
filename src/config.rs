//! The command line and its environment variables (the product contract fixes their names and defaults).
//!
//! Every flag can also be set through the environment variable named in its help. `Debug` output never shows
//! a database password, so a configuration can be logged safely.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

/// The embedded default: a SQLite file in the working directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cyberapp-tenants.db?mode=rwc";

/// The endpoint a development token is scoped to unless `--endpoint-id` says otherwise.
pub const DEFAULT_DEV_ENDPOINT_ID: &str = "cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0";

#[derive(Debug, Parser)]
#[command(name = "cyberapp-tenants", version, about = "Acronis CyberApp callback handler and tenant service")]
pub struct Cli {
    /// Log line format: `json` or `pretty` [default: pretty on a terminal, else json]
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at start-up; boxing the settings buys nothing")]
pub enum Command {
    /// Apply pending migrations (unless --no-migrate), then serve HTTP and gRPC until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage the vendor directory (organizations and their credentials).
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// Development helpers (never for production).
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Load organizations and credentials from a JSON file (idempotent; a bad file changes nothing).
    Import(DirectoryImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DirectoryImportArgs {
    /// The directory file: {"organizations": [...], "credentials": [...]} (see the README)
    pub file: PathBuf,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Print a JWT signed by the local development key, as the Acronis gateway would send it.
    Token(DevTokenArgs),
}

/// Where the tenant record lives.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// SeaORM database URL: `sqlite://FILE?mode=rwc` or `postgres://USER:PASSWORD@HOST/DB`
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs").field("database_url", &redact_url(&self.database_url)).finish()
    }
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// What this process runs: `all` (gateway and TenantService), `gateway` (the public HTTP half, calling
    /// the TenantService at TENANT_SERVICE_URL) or `tenant-service` (gRPC and the database, plus
    /// /healthz, /readyz and /metrics on HTTP_ADDR)
    #[arg(long, env = "SERVICE_ROLE", value_enum, default_value_t = ServiceRole::All)]
    pub role: ServiceRole,

    /// Where a `gateway` finds the TenantService, e.g. `http://tenants:50051`; it sends GRPC_AUTH_TOKEN
    /// when set
    #[arg(long, env = "TENANT_SERVICE_URL")]
    pub tenant_service_url: Option<String>,

    /// Address of the public callback gateway (HTTP)
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Address of the internal TenantService (gRPC, with health and reflection)
    #[arg(long, env = "GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// Do not apply migrations at start-up (a Helm hook or `migrate` does it); refuse to become ready until
    /// the schema is current
    #[arg(long, env = "NO_MIGRATE", action = ArgAction::SetTrue)]
    pub no_migrate: bool,

    #[command(flatten)]
    pub acgw: AcgwArgs,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// When set, every gRPC call except health must carry `authorization: Bearer <token>`
    #[arg(long, env = "GRPC_AUTH_TOKEN", hide_env_values = true)]
    pub grpc_auth_token: Option<Secret>,

    /// PEM certificate chain: with TLS_KEY_FILE, the gateway serves HTTPS (TLS 1.3 only)
    #[arg(long, env = "TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of TLS_CERT_FILE
    #[arg(long, env = "TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Directory for files the service keeps beside the database (the development signing key)
    #[arg(long, env = "DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,

    /// Largest accepted callback body in bytes; larger ones get 413
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Milliseconds a callback may take before it is answered 503 with Retry-After
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,

    /// Callbacks processed at once; beyond it new ones are shed with 429 and Retry-After at once
    #[arg(long, env = "MAX_CONCURRENT_CALLBACKS", default_value_t = 512)]
    pub max_concurrent_callbacks: usize,

    /// Seconds a state-changing callback's outcome is kept for replays of its request_id (default 7 days)
    #[arg(long, env = "IDEMPOTENCY_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub idempotency_retention_secs: u64,

    /// Seconds change events are kept for WatchEvents consumers to catch up (default 30 days); a consumer
    /// further behind is told to resync
    #[arg(long, env = "EVENT_RETENTION_SECS", default_value_t = 30 * 24 * 3600)]
    pub event_retention_secs: u64,

    /// Milliseconds between checks for change events committed by other replicas
    #[arg(long, env = "EVENT_POLL_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub event_poll_interval_ms: u64,

    /// Seconds to let in-flight requests finish after SIGTERM before exiting anyway
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
}

impl ServeArgs {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

/// Which halves a `serve` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceRole {
    /// The gateway and the TenantService in one process (the default).
    All,
    /// Only the public gateway; it calls a TenantService elsewhere (TENANT_SERVICE_URL).
    Gateway,
    /// Only the TenantService and its database.
    TenantService,
}

impl ServiceRole {
    pub fn runs_gateway(self) -> bool {
        matches!(self, Self::All | Self::Gateway)
    }

    pub fn runs_tenant_service(self) -> bool {
        matches!(self, Self::All | Self::TenantService)
    }
}

/// How callbacks from the Acronis API Callback Gateway are verified.
#[derive(Debug, Clone, Args)]
pub struct AcgwArgs {
    /// Comma-separated JWT issuers to trust; keys come from `<issuer>/api/idp/v1/keys`. `https://` is required
    /// except for loopback hosts (`http://127.0.0.1:PORT`, `http://localhost:PORT`)
    #[arg(
        long = "acgw-trusted-issuers",
        env = "ACGW_TRUSTED_ISSUERS",
        value_delimiter = ',',
        default_value = "https://acronis.cloud,https://cloud.acronis.com"
    )]
    pub trusted_issuers: Vec<String>,

    /// Comma-separated allow-list of `context.endpoint_id` values this deployment serves [default: any
    /// endpoint whose JWT scope matches]
    #[arg(long = "acgw-endpoint-ids", env = "ACGW_ENDPOINT_IDS", value_delimiter = ',')]
    pub endpoint_ids: Vec<String>,

    /// Allowed clock skew in seconds when checking `exp` and `nbf`
    #[arg(long = "acgw-clock-leeway-secs", env = "ACGW_CLOCK_LEEWAY_SECS", default_value_t = 60)]
    pub clock_leeway_secs: u64,

    /// Development mode: a local signing key, its JWKS at /dev/api/idp/v1/keys and `dev token` (never in
    /// production)
    #[arg(
        long = "acgw-dev-mode",
        env = "ACGW_DEV_MODE",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub dev_mode: bool,

    /// Least number of seconds between two JWKS fetches for one issuer that a token with an unknown `kid`
    /// may cause (protects the IdP from a flood of bogus key ids; at least 1)
    #[arg(
        long = "acgw-jwks-refetch-interval-secs",
        env = "ACGW_JWKS_REFETCH_INTERVAL_SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub jwks_refetch_interval_secs: u64,
}

impl AcgwArgs {
    /// The endpoint allow-list with blanks dropped (`ACGW_ENDPOINT_IDS=""` means "any").
    pub fn endpoint_allow_list(&self) -> Vec<String> {
        self.endpoint_ids.iter().map(|id| id.trim()).filter(|id| !id.is_empty()).map(str::to_owned).collect()
    }
}

/// How the credentials of mapped enablements (`X-CyberApp-Auth`) are checked.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Seconds a successful credential check is remembered, sparing Argon2 on the next callbacks; 0 disables
    #[arg(long, env = "CREDENTIAL_CACHE_TTL_SECS", default_value_t = 60)]
    pub credential_cache_ttl_secs: u64,

    /// Failed checks of one identity after which it is refused with 429 until the lockout ends; 0 disables
    #[arg(long, env = "CREDENTIAL_FAILURE_LIMIT", default_value_t = 5)]
    pub credential_failure_limit: u32,

    /// Seconds over which failures are counted, and how long a locked-out identity waits
    #[arg(long, env = "CREDENTIAL_LOCKOUT_SECS", default_value_t = 60)]
    pub credential_lockout_secs: u64,

    /// Argon2 checks running at once; further ones wait briefly, then get 429 [default: one per CPU]
    #[arg(long, env = "ARGON2_MAX_CONCURRENCY", default_value_t = 0)]
    pub argon2_max_concurrency: usize,
}

impl CredentialArgs {
    pub fn settings(&self) -> crate::tenant::credentials::CredentialSettings {
        crate::tenant::credentials::CredentialSettings {
            cache_ttl: Duration::from_secs(self.credential_cache_ttl_secs),
            failure_limit: self.credential_failure_limit,
            lockout: Duration::from_secs(self.credential_lockout_secs),
            max_concurrent_hashes: self.argon2_max_concurrency,
        }
    }
}

/// Settings of `dev token`.
#[derive(Debug, Clone, Args)]
pub struct DevTokenArgs {
    /// The endpoint the token is issued for (its `scope[].role`); must equal the callback's
    /// `context.endpoint_id`
    #[arg(long, env = "DEV_TOKEN_ENDPOINT_ID", default_value = DEFAULT_DEV_ENDPOINT_ID)]
    pub endpoint_id: String,

    /// Lifetime of the token in seconds
    #[arg(long, env = "DEV_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub ttl: u64,

    /// The gateway address of the running service; its port names the development issuer
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Directory holding the development signing key (created when missing)
    #[arg(long, env = "DATA_DIR", default_value = ".")]
    pub data_dir: PathBuf,
}

/// A setting that must never be shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_never_appears_in_debug_output() {
        let args = DatabaseArgs { database_url: "postgres://app:hunter2@db:5432/tenants".into() };
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/tenants"), "{shown}");
    }

    #[test]
    fn the_grpc_token_never_appears_in_debug_output() {
        let cli =
            Cli::try_parse_from(["cyberapp-tenants", "serve", "--grpc-auth-token", "s3cr3t-token"]).expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
    }

    #[test]
    fn defaults_match_the_product_contract() {
        let cli = Cli::try_parse_from(["cyberapp-tenants", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        // The process environment may set these in CI; only assert when it does not.
        if std::env::var_os("DATABASE_URL").is_none() {
            assert_eq!(args.database.database_url, DEFAULT_DATABASE_URL);
        }
        if std::env::var_os("ACGW_TRUSTED_ISSUERS").is_none() {
            assert_eq!(args.acgw.trusted_issuers, ["https://acronis.cloud", "https://cloud.acronis.com"]);
        }
        if std::env::var_os("HTTP_ADDR").is_none() {
            assert_eq!(args.http_addr.to_string(), "0.0.0.0:8080");
        }
        if std::env::var_os("GRPC_ADDR").is_none() {
            assert_eq!(args.grpc_addr.to_string(), "0.0.0.0:50051");
        }
        if std::env::var_os("ACGW_CLOCK_LEEWAY_SECS").is_none() {
            assert_eq!(args.acgw.clock_leeway_secs, 60);
        }
        if std::env::var_os("ACGW_DEV_MODE").is_none() {
            assert!(!args.acgw.dev_mode);
        }
    }

    #[test]
    fn empty_endpoint_allow_list_means_any_endpoint() {
        let cli = Cli::try_parse_from(["cyberapp-tenants", "serve", "--acgw-endpoint-ids", ""]).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert!(args.acgw.endpoint_allow_list().is_empty());
    }
}
