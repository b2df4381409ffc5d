//! cyberapp-tenants: the Acronis CyberApp callback handler and the tenant record behind it.
//!
//! Two halves meet at a generated gRPC client and nowhere else:
//! * [`gateway`] is the public axum service. It verifies each Acronis API Callback Gateway request (JWT and
//!   JWKS in `auth`, the development key in `devmode`), parses the envelope, converts it into a
//!   TenantService request (`convert`), calls the service and renders the ACGW response envelope and its
//!   `payloads`. It never touches the database.
//! * [`tenant`] is the tonic TenantService. It owns enablement state and mappings in SeaORM tables ([`db`])
//!   and is also what other vendor services call.
//! * [`grpc`] is the seam between them: the routes served on `GRPC_ADDR` (service, health, reflection), the
//!   in-process and remote channels the gateway's client uses, who may call the port, the call counter, and
//!   every metadata name the halves exchange.
//!
//! [`app`] wires both halves into one process (or one of them, `SERVICE_ROLE`); [`config`] is the command
//! line; [`metrics`], [`telemetry`], [`tls`] and [`canonical_json`] are shared by the whole process.

pub mod app;
pub mod canonical_json;
pub mod config;
pub mod db;
pub mod gateway;
pub mod grpc;
pub mod http_limits;
pub mod metrics;
pub mod telemetry;
pub mod tenant;
pub mod tls;
pub mod trace_context;

/// Code generated from `proto/cyberapp/tenants/v1/tenants.proto`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    unused_qualifications,
    reason = "generated code follows prost's conventions, not ours"
)]
pub mod pb {
    tonic::include_proto!("cyberapp.tenants.v1");

    /// Serialized descriptors of the protocol, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tenants_descriptor");

    // Secrets must never reach a log line through `{:?}`.
    impl std::fmt::Debug for Credentials {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Credentials").field("identity", &self.identity).finish_non_exhaustive()
        }
    }

    impl std::fmt::Debug for SetCredentialsRequest {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SetCredentialsRequest")
                .field("identity", &self.identity)
                .field("organization_id", &self.organization_id)
                .finish_non_exhaustive()
        }
    }
}
