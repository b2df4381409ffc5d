//! The command line and its environment variables (the product contract fixes their names and defaults).
//!
//! Every flag can also be set through the environment variable named in its help. `Debug` output never shows
//! a database password, so a configuration can be logged safely.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::gateway::custom::routes::RouteTable;
use crate::telemetry::LogFormat;

/// The embedded default: a SQLite file in the working directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cyberapp-tenants.db?mode=rwc";

/// The TenantService listens on loopback unless told otherwise: it is the admin surface of the record.
pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:50051";

/// The most clock skew `ACGW_CLOCK_LEEWAY_SECS` may allow: beyond a few minutes an expired token would
/// stay usable long after Acronis meant it to end.
pub const MAX_CLOCK_LEEWAY_SECS: u64 = 300;

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

    /// Address of the internal TenantService (gRPC, with health and reflection). Loopback by default: a
    /// non-loopback address needs GRPC_AUTH_TOKEN (or GRPC_ALLOW_UNAUTHENTICATED=true)
    #[arg(long, env = "GRPC_ADDR", default_value = DEFAULT_GRPC_ADDR)]
    pub grpc_addr: SocketAddr,

    /// Do not apply migrations at start-up (a Helm hook or `migrate` does it); refuse to become ready until
    /// the schema is current
    #[arg(long, env = "NO_MIGRATE", action = ArgAction::SetTrue)]
    pub no_migrate: bool,

    #[command(flatten)]
    pub acgw: AcgwArgs,

    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub grpc_auth: GrpcAuthArgs,

    #[command(flatten)]
    pub custom_callbacks: CustomCallbackArgs,

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

    /// Milliseconds by which an answer kept in the read model may trail writes committed on other replicas (or
    /// by `directory import`); 0, the default, serves nothing older than the read's own arrival
    #[arg(long, env = "READ_MODEL_MAX_STALENESS_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(..=60_000))]
    pub read_model_max_staleness_ms: u64,

    /// Records the read model keeps per kind of read (tenant lookups, partner mappings, credentials, customer
    /// pages, mirrored customer lists; a list counts one per item); 0 turns it off and every read goes to the
    /// database
    #[arg(long, env = "READ_MODEL_ENTRIES", default_value_t = 100_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10_000_000))]
    pub read_model_entries: usize,

    /// WatchEvents streams open at once; further ones are RESOURCE_EXHAUSTED until one closes
    #[arg(long, env = "MAX_WATCH_STREAMS", default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_watch_streams: usize,

    /// Seconds to let in-flight requests finish after SIGTERM before exiting anyway
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,

    #[command(flatten)]
    pub test_hooks: TestHooks,
}

/// Hooks that only tests set, to put the service into states a test could not otherwise hit on time. Hidden
/// from `--help`, without environment variables, and off by default; off, each costs one branch.
#[derive(Debug, Clone, Default, Args)]
pub struct TestHooks {
    /// Milliseconds every write transaction pauses after its last statement and before it commits, so that
    /// a test can let REQUEST_TIMEOUT_MS fire while a write is inside its transaction
    #[arg(long, hide = true, default_value_t = 0)]
    pub test_pause_before_commit_ms: u64,
}

/// Shortest GRPC_AUTH_TOKEN / GRPC_READ_TOKEN accepted: a guessable token is no protection.
const MIN_GRPC_TOKEN_LEN: usize = 16;

impl ServeArgs {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Refuses settings that cannot work or would leave the service open (the product contract's secure
    /// defaults), each with a message that names the variable to set; logs a warning for the unsafe ones an
    /// operator asked for explicitly.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.tls_cert_file.is_some() && self.acgw.dev_mode {
            anyhow::bail!(
                "development mode (ACGW_DEV_MODE) refuses to run with TLS settings: it is never for production"
            );
        }
        match (self.role, &self.tenant_service_url) {
            (ServiceRole::Gateway, None) => {
                anyhow::bail!("SERVICE_ROLE=gateway needs TENANT_SERVICE_URL, the address of the TenantService")
            }
            (ServiceRole::All | ServiceRole::TenantService, Some(_)) => {
                anyhow::bail!(
                    "TENANT_SERVICE_URL is only for SERVICE_ROLE=gateway; this process runs the TenantService"
                )
            }
            _ => {}
        }
        if self.role.runs_gateway() {
            self.acgw.endpoint_allow_list()?;
            self.custom_callbacks.route_table(self.request_timeout())?;
        }
        self.grpc_auth.check(self.role.runs_tenant_service().then_some(self.grpc_addr))
    }
}

impl GrpcAuthArgs {
    /// `grpc_addr` is where this process serves the TenantService, if it does.
    fn check(&self, grpc_addr: Option<SocketAddr>) -> anyhow::Result<()> {
        for (name, token) in [("GRPC_AUTH_TOKEN", &self.grpc_auth_token), ("GRPC_READ_TOKEN", &self.grpc_read_token)] {
            if let Some(token) = token {
                let token = token.expose();
                anyhow::ensure!(
                    token.len() >= MIN_GRPC_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic()),
                    "{name} must be at least {MIN_GRPC_TOKEN_LEN} printable ASCII characters without spaces \
                     (e.g. `openssl rand -hex 32`)"
                );
            }
        }
        match (&self.grpc_auth_token, &self.grpc_read_token) {
            (None, Some(_)) => anyhow::bail!(
                "GRPC_READ_TOKEN needs GRPC_AUTH_TOKEN: without it every caller would have full access anyway"
            ),
            (Some(full), Some(read)) if full == read => {
                anyhow::bail!("GRPC_READ_TOKEN must differ from GRPC_AUTH_TOKEN")
            }
            _ => {}
        }
        let Some(addr) = grpc_addr.filter(|addr| !addr.ip().is_loopback()) else { return Ok(()) };
        if self.grpc_auth_token.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            self.grpc_allow_unauthenticated,
            "GRPC_AUTH_TOKEN is required when GRPC_ADDR ({addr}) is not a loopback address: the TenantService \
             port can change every record and set any organization's credentials. Set GRPC_AUTH_TOKEN (and give \
             it to the vendor services that call it), bind GRPC_ADDR to 127.0.0.1, or, only behind a mesh that \
             authenticates callers itself, set GRPC_ALLOW_UNAUTHENTICATED=true"
        );
        tracing::warn!(
            %addr,
            "GRPC_ALLOW_UNAUTHENTICATED=true: the TenantService on this address accepts every call without a token; \
             anyone who reaches it can read and change every record and set any organization's credentials"
        );
        Ok(())
    }
}

/// Where custom callbacks go (product contract, "Custom callbacks").
#[derive(Debug, Clone, Default, Args)]
pub struct CustomCallbackArgs {
    /// Where custom callbacks go: comma-separated PATTERN=URL[;OPTION...], PATTERN a callback id or a prefix
    /// ending in `*` (the longest match wins), URL a vendor service implementing
    /// cyberapp.tenants.v1.CustomCallbackHandler (http://HOST:PORT). OPTIONs: deadline=DURATION (500ms, 2s;
    /// default 5s), exactly-once (replays by request_id get the recorded answer), explicit-partner (the
    /// tenant need not be enabled here). Unset: every custom callback is 404
    #[arg(long, env = "CUSTOM_CALLBACK_ROUTES")]
    pub custom_callback_routes: Option<String>,

    /// Sent to every vendor service of CUSTOM_CALLBACK_ROUTES as `authorization: Bearer <token>`
    #[arg(long, env = "CUSTOM_CALLBACK_AUTH_TOKEN", hide_env_values = true)]
    pub custom_callback_auth_token: Option<Secret>,
}

impl CustomCallbackArgs {
    /// The route table; an entry that cannot work refuses the start, naming it. A route deadline beyond
    /// `request_timeout` could never be waited for, so it is refused too.
    pub fn route_table(&self, request_timeout: Duration) -> anyhow::Result<RouteTable> {
        let table = RouteTable::parse(self.custom_callback_routes.as_deref().unwrap_or_default())?;
        for route in table.routes() {
            anyhow::ensure!(
                route.deadline < request_timeout,
                "CUSTOM_CALLBACK_ROUTES: the deadline of {:?} must be shorter than REQUEST_TIMEOUT_MS ({} ms)",
                route.pattern,
                request_timeout.as_millis()
            );
        }
        if let Some(token) = &self.custom_callback_auth_token {
            anyhow::ensure!(
                token.expose().bytes().all(|b| b.is_ascii_graphic()) && !token.expose().is_empty(),
                "CUSTOM_CALLBACK_AUTH_TOKEN must be printable ASCII without spaces"
            );
        }
        Ok(table)
    }
}

/// Who may call the TenantService's gRPC port.
#[derive(Debug, Clone, Default, Args)]
pub struct GrpcAuthArgs {
    /// Every gRPC call except health must carry `authorization: Bearer <token>`. Required when GRPC_ADDR is
    /// not a loopback address; a `gateway`-role process sends it to TENANT_SERVICE_URL
    #[arg(long, env = "GRPC_AUTH_TOKEN", hide_env_values = true)]
    pub grpc_auth_token: Option<Secret>,

    /// A second token that may call only the read RPCs (GetTenant, ListPartners, ListCustomers,
    /// WatchEvents) and reflection; anything else with it is PERMISSION_DENIED
    #[arg(long, env = "GRPC_READ_TOKEN", hide_env_values = true)]
    pub grpc_read_token: Option<Secret>,

    /// Serve a non-loopback GRPC_ADDR without GRPC_AUTH_TOKEN (only behind a mesh that authenticates callers
    /// itself: anyone who reaches the port can then change every record and set any credentials)
    #[arg(
        long,
        env = "GRPC_ALLOW_UNAUTHENTICATED",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub grpc_allow_unauthenticated: bool,
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

    /// Comma-separated `context.endpoint_id` values this deployment serves; the Vendor Portal shows them on
    /// the CyberApp's callback endpoint. Required outside development mode (which defaults to the `dev token`
    /// endpoint): Acronis issues genuine tokens to every CyberApp
    #[arg(long = "acgw-endpoint-ids", env = "ACGW_ENDPOINT_IDS", value_delimiter = ',')]
    pub endpoint_ids: Vec<String>,

    /// Allowed clock skew in seconds when checking `exp` and `nbf` (at most 300)
    #[arg(long = "acgw-clock-leeway-secs", env = "ACGW_CLOCK_LEEWAY_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=MAX_CLOCK_LEEWAY_SECS))]
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
    /// The endpoints served: ACGW_ENDPOINT_IDS with blanks dropped; in development mode, when it is empty, the
    /// endpoint `dev token` signs for. Outside development mode an empty list is refused: any CyberApp's
    /// genuine token would otherwise pass by naming its own endpoint in the body.
    pub fn endpoint_allow_list(&self) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> =
            self.endpoint_ids.iter().map(|id| id.trim()).filter(|id| !id.is_empty()).map(str::to_owned).collect();
        match (ids.is_empty(), self.dev_mode) {
            (false, _) => Ok(ids),
            (true, true) => Ok(vec![DEFAULT_DEV_ENDPOINT_ID.to_owned()]),
            (true, false) => anyhow::bail!(
                "ACGW_ENDPOINT_IDS is required: set it to the CyberApp's callback endpoint id (comma-separated if \
                 several), which the Vendor Portal shows on the CyberApp's callback endpoint, e.g. \
                 cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0. Acronis issues genuine tokens to every \
                 CyberApp, so without it another vendor's token could drive this service"
            ),
        }
    }
}

/// How the credentials of mapped enablements (`X-CyberApp-Auth`) are checked.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// Seconds a successful credential check is remembered, sparing Argon2 on the next callbacks; 0 disables
    #[arg(long, env = "CREDENTIAL_CACHE_TTL_SECS", default_value_t = 60)]
    pub credential_cache_ttl_secs: u64,

    /// Failed checks of one identity from one Acronis tenant after which that tenant is refused for it with
    /// 429 until the lockout ends (the owner's own tenant is not); 0 disables
    #[arg(long, env = "CREDENTIAL_FAILURE_LIMIT", default_value_t = 5)]
    pub credential_failure_limit: u32,

    /// Seconds over which failures are counted, and how long a locked-out identity and tenant wait
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

/// Query parameters that carry a password in database URLs (libpq and sqlx spellings).
const SECRET_QUERY_KEYS: [&str; 3] = ["password", "sslpassword", "pass"];

/// Hides the passwords of a URL such as `postgres://user:secret@host/db?password=secret`: the one in the
/// user info and any password query parameter.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    // The user info ends at the last `@`: a password may hold `@`, `?`, `#` or `/` unescaped. Should a query
    // hold `@` too, more is hidden than needed, never less.
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    };
    let mut redacted = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        let user = userinfo.split_once(':').map_or(userinfo, |(user, _password)| user);
        let hidden = if userinfo.contains(':') { ":***" } else { "" };
        redacted.extend([user, hidden, "@"]);
    }
    let Some((location, query)) = after.split_once('?') else {
        redacted.push_str(after);
        return redacted;
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str()) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    redacted.extend([location, "?", &pairs.join("&")]);
    redacted
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, FromArgMatches as _};

    use super::*;

    #[test]
    fn database_password_never_appears_in_debug_output() {
        let args = DatabaseArgs { database_url: "postgres://app:hunter2@db:5432/tenants".into() };
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/tenants"), "{shown}");
    }

    /// `command` and its subcommands with every `env = ...` removed, so that parsing sees the flags alone.
    fn without_env(command: clap::Command) -> clap::Command {
        let ids: Vec<clap::Id> = command.get_arguments().map(|arg| arg.get_id().clone()).collect();
        let subcommands: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
        let command = ids.into_iter().fold(command, |command, id| command.mut_arg(id, |arg| arg.env(None)));
        subcommands.into_iter().fold(command, |command, name| command.mut_subcommand(name, without_env))
    }

    /// Parses `args` as the binary does, but without consulting the environment: the tests' outcome does
    /// not depend on what DATABASE_URL, GRPC_AUTH_TOKEN and the rest happen to be in the test process.
    fn parse<'a>(args: impl IntoIterator<Item = &'a &'a str>) -> Result<Cli, clap::Error> {
        let matches = without_env(Cli::command()).try_get_matches_from(args.into_iter().copied())?;
        Cli::from_arg_matches(&matches)
    }

    #[test]
    fn the_test_parser_ignores_the_environment_the_binary_reads() {
        // Every variable the binary reads is declared on an argument; the test parser has none of them left.
        let declared = |command: &clap::Command| command.get_arguments().filter(|arg| arg.get_env().is_some()).count();
        let serve = Cli::command().find_subcommand("serve").cloned().expect("serve");
        assert!(declared(&serve) > 10, "serve reads its configuration from the environment");
        let stripped = without_env(Cli::command());
        assert_eq!(declared(stripped.find_subcommand("serve").expect("serve")), 0);
    }

    #[test]
    fn the_grpc_token_never_appears_in_debug_output() {
        let cli = parse(&["cyberapp-tenants", "serve", "--grpc-auth-token", "s3cr3t-token"]).expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
    }

    #[test]
    fn defaults_match_the_product_contract() {
        let cli = parse(&["cyberapp-tenants", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.database.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(args.acgw.trusted_issuers, ["https://acronis.cloud", "https://cloud.acronis.com"]);
        assert_eq!(args.http_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(args.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(args.acgw.clock_leeway_secs, 60);
        assert!(!args.acgw.dev_mode);
        assert!(args.acgw.endpoint_ids.is_empty());
        assert_eq!(args.max_body_bytes, 1024 * 1024);
        assert_eq!(args.request_timeout_ms, 10_000);
        assert_eq!(args.max_concurrent_callbacks, 512);
        assert_eq!(args.idempotency_retention_secs, 7 * 24 * 3600);
        assert_eq!(args.credentials.credential_cache_ttl_secs, 60);
        assert_eq!(args.credentials.credential_failure_limit, 5);
        assert_eq!(args.credentials.credential_lockout_secs, 60);
        assert_eq!(args.acgw.jwks_refetch_interval_secs, 15);
    }

    fn serve(flags: &[&str]) -> ServeArgs {
        let cli = parse(["cyberapp-tenants", "serve"].iter().chain(flags)).expect("parses");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        args
    }

    const ENDPOINT: &str = "--acgw-endpoint-ids=cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0";
    const TOKEN: &str = "--grpc-auth-token=0123456789abcdef0123";

    fn refusal(args: &ServeArgs) -> String {
        args.check().expect_err("refused").to_string()
    }

    #[test]
    fn serve_refuses_to_start_without_endpoint_ids_outside_development_mode() {
        let message = refusal(&serve(&["--acgw-endpoint-ids", ""]));
        assert!(message.contains("ACGW_ENDPOINT_IDS") && message.contains("Vendor Portal"), "{message}");
        // A TenantService-only process runs no gateway and needs none.
        assert!(serve(&["--acgw-endpoint-ids", "", "--role", "tenant-service"]).check().is_ok());
        assert!(serve(&[ENDPOINT]).check().is_ok());
    }

    #[test]
    fn development_mode_serves_the_dev_token_endpoint_by_default() {
        let args = serve(&["--acgw-endpoint-ids", "", "--acgw-dev-mode"]);
        assert_eq!(args.acgw.endpoint_allow_list().expect("allowed"), [DEFAULT_DEV_ENDPOINT_ID]);
        let listed = serve(&["--acgw-dev-mode", "--acgw-endpoint-ids", " a , ,b"]);
        assert_eq!(listed.acgw.endpoint_allow_list().expect("allowed"), ["a", "b"]);
    }

    #[test]
    fn a_grpc_port_beyond_loopback_needs_a_token_or_an_explicit_opt_out() {
        let open = serve(&[ENDPOINT, "--grpc-addr", "0.0.0.0:50051"]);
        let message = refusal(&open);
        assert!(message.contains("GRPC_AUTH_TOKEN") && message.contains("0.0.0.0:50051"), "{message}");
        assert!(serve(&[ENDPOINT, "--grpc-addr", "0.0.0.0:50051", TOKEN]).check().is_ok());
        let mesh = serve(&[ENDPOINT, "--grpc-addr", "0.0.0.0:50051", "--grpc-allow-unauthenticated"]);
        assert!(mesh.check().is_ok());
        assert!(serve(&[ENDPOINT, "--grpc-addr", "[::1]:50051"]).check().is_ok(), "loopback needs no token");
        // A gateway-only process binds no gRPC port.
        let gateway = ["--role", "gateway", "--tenant-service-url", "http://tenants:50051", "--grpc-addr", "0.0.0.0:1"];
        assert!(serve(&[&[ENDPOINT][..], &gateway[..]].concat()).check().is_ok());
    }

    #[test]
    fn weak_or_inconsistent_grpc_tokens_are_refused() {
        assert!(refusal(&serve(&[ENDPOINT, "--grpc-auth-token", "short"])).contains("at least 16"));
        assert!(refusal(&serve(&[ENDPOINT, "--grpc-auth-token", "with a space in it ok"])).contains("at least 16"));
        let read_alone = refusal(&serve(&[ENDPOINT, "--grpc-read-token", "0123456789abcdef-read"]));
        assert!(read_alone.contains("GRPC_READ_TOKEN needs GRPC_AUTH_TOKEN"), "{read_alone}");
        let same = refusal(&serve(&[ENDPOINT, TOKEN, "--grpc-read-token", "0123456789abcdef0123"]));
        assert!(same.contains("must differ"), "{same}");
        assert!(serve(&[ENDPOINT, TOKEN, "--grpc-read-token", "0123456789abcdef-read"]).check().is_ok());
    }

    #[test]
    fn the_clock_leeway_is_bounded() {
        assert!(parse(&["cyberapp-tenants", "serve", "--acgw-clock-leeway-secs", "300"]).is_ok());
        let error =
            parse(&["cyberapp-tenants", "serve", "--acgw-clock-leeway-secs", "301"]).expect_err("refused").to_string();
        assert!(error.contains("301"), "{error}");
    }

    #[test]
    fn redacting_a_url_hides_every_password() {
        for (url, shown) in [
            ("postgres://app:hunter2@db:5432/tenants", "postgres://app:***@db:5432/tenants"),
            ("postgres://app:p@ss@word@db/tenants", "postgres://app:***@db/tenants"),
            ("postgres://app:p?ss#w/rd@db/tenants?sslmode=require", "postgres://app:***@db/tenants?sslmode=require"),
            (
                "postgres://app@db/tenants?password=hunter2&sslmode=require",
                "postgres://app@db/tenants?password=***&sslmode=require",
            ),
            ("postgres://db/tenants?user=app&PASSWORD=hunter2", "postgres://db/tenants?user=app&PASSWORD=***"),
            ("sqlite://cyberapp-tenants.db?mode=rwc", "sqlite://cyberapp-tenants.db?mode=rwc"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
    }
}
