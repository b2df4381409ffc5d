//! The tonic `TenantService`: parses each request into domain types, calls the store, maps the outcome.
//!
//! Kept thin on purpose: rules about *what* may change live in the store's transactions, rules about *what a
//! request must contain* live in `model`'s parsers.

use tonic::{Request, Response, Status};

use super::model::{AcronisTenantId, Settings, parse_datacenter_url, parse_name};
use super::store::{MirroredPartnerEnablement, TenantStore};
use crate::db::entity::tenant::{self, EnablementState as StoredState};
use crate::pb;
use crate::pb::tenant_service_server::TenantService;

#[derive(Debug, Clone)]
pub struct TenantServiceImpl {
    store: TenantStore,
}

impl TenantServiceImpl {
    pub fn new(store: TenantStore) -> Self {
        Self { store }
    }
}

fn state_of(record: &tenant::Model) -> pb::EnablementState {
    match record.state {
        StoredState::Enabled => pb::EnablementState::Enabled,
        StoredState::Disabled => pb::EnablementState::Disabled,
    }
}

#[tonic::async_trait]
impl TenantService for TenantServiceImpl {
    async fn get_mirrored_partner_state(
        &self,
        request: Request<pb::GetMirroredPartnerStateRequest>,
    ) -> Result<Response<pb::GetMirroredPartnerStateResponse>, Status> {
        let id = AcronisTenantId::parse(&request.get_ref().acronis_tenant_id, "acronis_tenant_id")?;
        let partner = self.store.partner(id).await?;
        let response = match partner {
            Some(record) => pb::GetMirroredPartnerStateResponse {
                state: state_of(&record).into(),
                settings_json: record.settings_json,
            },
            None => {
                pb::GetMirroredPartnerStateResponse { state: pb::EnablementState::Disabled.into(), settings_json: None }
            }
        };
        Ok(Response::new(response))
    }

    async fn enable_mirrored_partner(
        &self,
        request: Request<pb::EnableMirroredPartnerRequest>,
    ) -> Result<Response<pb::EnableMirroredPartnerResponse>, Status> {
        let request = request.into_inner();
        let enablement = MirroredPartnerEnablement {
            acronis_tenant_id: AcronisTenantId::parse(&request.acronis_tenant_id, "acronis_tenant_id")?,
            name: parse_name(&request.name, "name")?,
            settings: request.settings_json.as_deref().map(Settings::parse).transpose()?,
            datacenter_url: request
                .datacenter_url
                .filter(|url| !url.is_empty())
                .as_deref()
                .map(parse_datacenter_url)
                .transpose()?,
        };
        let record = self.store.enable_mirrored_partner(&enablement).await?;
        Ok(Response::new(pb::EnableMirroredPartnerResponse {
            state: state_of(&record).into(),
            vendor_tenant_id: record.vendor_tenant_id,
            acronis_tenant_id: enablement.acronis_tenant_id.to_string(),
        }))
    }

    async fn reset_mirrored_partner(
        &self,
        request: Request<pb::ResetMirroredPartnerRequest>,
    ) -> Result<Response<pb::ResetMirroredPartnerResponse>, Status> {
        let id = AcronisTenantId::parse(&request.get_ref().acronis_tenant_id, "acronis_tenant_id")?;
        let customers_disabled = self.store.reset_mirrored_partner(id).await?;
        Ok(Response::new(pb::ResetMirroredPartnerResponse {
            customers_disabled: u32::try_from(customers_disabled).unwrap_or(u32::MAX),
        }))
    }
}
