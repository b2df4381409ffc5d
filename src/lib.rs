//! cyberapp-tenants: the Acronis CyberApp callback handler and the tenant record behind it.
//!
//! Two halves meet at a generated gRPC client and nowhere else:
//! * [`gateway`] is the public axum service. It verifies each Acronis API Callback Gateway request,
//!   turns it into a TenantService RPC and renders the ACGW response envelope. It never touches the database.
//! * [`tenant`] is the tonic TenantService. It owns enablement state and mappings in SeaORM tables ([`db`])
//!   and is also what other vendor services call.
//!
//! [`app`] wires both halves (plus health and reflection) into one process; [`config`] is the command line.

pub mod app;
pub mod canonical_json;
pub mod config;
pub mod db;
pub mod devmode;
pub mod directory_file;
pub mod gateway;
pub mod grpc;
pub mod grpc_auth;
pub mod grpc_metrics;
pub mod http_limits;
pub mod metrics;
pub mod telemetry;
pub mod tenant;
pub mod tls;

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
