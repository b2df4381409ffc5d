//! One module per family of standard callbacks, each handler reading parse → call → answer: the envelope
//! becomes a TenantService request (`convert`), the call is made, and the answer becomes a [`Reply`].
//! State-changing callbacks also carry the idempotency key and answer with the `response_id` the service
//! recorded.

mod customer_mapping;
mod customer_mirroring;
mod partner_mapping;
mod partner_mirroring;
mod reply;

use axum::http::HeaderMap;

use super::cti::StandardCallback;
use super::envelope::Envelope;
use super::error::GatewayError;
use super::held_answers::HeldAnswers;
use super::idempotency::CallbackKey;
use crate::grpc::TenantClient;
pub use reply::Reply;

/// Runs `callback` (whose request body is `body`) against the TenantService; state-changing callbacks carry
/// their idempotency key, the customer list reads reuse what `held` renderings the service confirms unchanged.
pub async fn dispatch(
    callback: StandardCallback,
    envelope: &Envelope,
    headers: &HeaderMap,
    tenants: TenantClient,
    body: &[u8],
    held: &HeldAnswers,
) -> Result<Reply, GatewayError> {
    // Only a change is recorded, so only a change needs the digest of its canonical body: for a read, parsing
    // and digesting the body again would cost about a tenth of the whole callback.
    let key = || CallbackKey::new(&envelope.request_id, body);
    // The changes run boxed. A future is as large as its largest arm, and the hot reads' futures are boxed
    // and moved on every request (by axum, tonic and the timeout around them): held inline, the changes'
    // larger futures would make every read pay for their size.
    match callback {
        StandardCallback::EnablementRead => partner_mapping::read(envelope, headers, tenants).await,
        StandardCallback::EnablementWrite => Box::pin(partner_mapping::write(envelope, headers, tenants, &key())).await,
        StandardCallback::EnablementReset => Box::pin(partner_mapping::reset(envelope, headers, tenants, &key())).await,
        StandardCallback::TopologyRead => customer_mapping::topology_read(envelope, tenants, held).await,
        StandardCallback::TenantMappingRead => customer_mapping::tenant_mapping_read(envelope, tenants, held).await,
        StandardCallback::TenantMappingWrite => {
            Box::pin(customer_mapping::tenant_mapping_write(envelope, tenants, &key())).await
        }
        StandardCallback::PartnerMirroringGetState => partner_mirroring::get_state(envelope, tenants).await,
        StandardCallback::PartnerMirroringEnable => {
            Box::pin(partner_mirroring::enable(envelope, tenants, &key())).await
        }
        StandardCallback::PartnerMirroringReset => Box::pin(partner_mirroring::reset(envelope, tenants, &key())).await,
        StandardCallback::CustomerMirroringGetState => customer_mirroring::get_state(envelope, tenants).await,
        StandardCallback::CustomerMirroringSetState => {
            Box::pin(customer_mirroring::set_state(envelope, tenants, &key())).await
        }
    }
}
