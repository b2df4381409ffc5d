//! The seam between the two halves: the gRPC surface of the TenantService and the client the gateway
//! calls it through.
//!
//! This module builds the routes served on `GRPC_ADDR` (TenantService, `grpc.health.v1` and server
//! reflection, v1 and v1alpha since grpcurl 1.8 only speaks v1alpha) and names the client types.
//! [`channel`] carries the calls (in-process or to a remote TenantService), [`auth`] decides who may call the
//! port, [`metrics`] counts the calls, [`spans`] makes them spans of the callback's trace, and [`metadata`] names every piece of metadata the halves exchange.

pub mod auth;
pub mod channel;
pub mod metadata;
pub mod metrics;
pub mod spans;

use tonic::service::Routes;
use tonic_health::server::HealthReporter;

use crate::pb::tenant_service_client::TenantServiceClient;
use crate::pb::tenant_service_server::{self, TenantServiceServer};
use crate::tenant::TenantServiceImpl;
use channel::GrpcChannel;

/// The fully qualified name of the TenantService (`cyberapp.tenants.v1.TenantService`), as health checks
/// and gRPC paths spell it.
pub const TENANT_SERVICE_NAME: &str = tenant_service_server::SERVICE_NAME;

/// The gateway's TenantService client, over either channel.
pub type TenantClient = TenantServiceClient<GrpcChannel>;

/// The health client the gateway's `/readyz` asks.
pub type HealthClient = tonic_health::pb::health_client::HealthClient<GrpcChannel>;

/// The largest request the TenantService decodes. tonic's default (4 MiB) is below what a gateway may
/// legitimately forward (a `tenant_mapping.write` near MAX_BODY_BYTES grows when re-encoded).
const MAX_REQUEST_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The gateway's client. Answers come from our own TenantService and an unpaged read of a large partner is
/// as large as its customer list (about 10 MiB for 100,000 customers), so no decode limit of tonic's may
/// refuse one.
pub fn tenant_client(channel: GrpcChannel) -> TenantClient {
    TenantServiceClient::new(channel).max_decoding_message_size(usize::MAX)
}

/// Builds the routes served on `GRPC_ADDR`, and the reporter that sets their health.
pub fn routes(service: TenantServiceImpl) -> anyhow::Result<(Routes, HealthReporter)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let routes = Routes::new(TenantServiceServer::new(service).max_decoding_message_size(MAX_REQUEST_MESSAGE_BYTES))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((routes, reporter))
}

/// Reflection over our protocol and the health protocol, so that grpcurl needs no proto file. It lists the
/// services this port serves; CustomCallbackHandler, which vendor services implement, is described (grpcurl
/// `describe` finds it) but not listed.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(TENANT_SERVICE_NAME)
        .with_service_name("grpc.health.v1.Health")
}
