//! The tonic `TenantService`: each RPC parses its request into domain types (`convert`), calls the store,
//! and answers (`convert` again).
//!
//! Kept thin on purpose: rules about *what* may change live in the store's transactions, rules about *what a
//! request must contain* live in `model`'s parsers, and which field becomes which value in `convert`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{self, answer, idempotency_key};
use super::credentials::CredentialVerifier;
use super::error::TenantError;
use super::event_feed::{EventFeed, EventStream};
use super::model::{AcronisTenantId, Identity, VendorTenantId};
use super::paging::{decode_page_token, encode_page_token, list_page_size};
use super::store::{CustomCallbackClaim, TenantFilter, TenantStore, as_of_now};
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::TenantKind;
use crate::pb;
use crate::pb::tenant_service_server::TenantService;

#[derive(Debug, Clone)]
pub struct TenantServiceImpl {
    store: TenantStore,
    credentials: Arc<CredentialVerifier>,
    events: EventFeed,
}

impl TenantServiceImpl {
    pub fn new(store: TenantStore, credentials: Arc<CredentialVerifier>, events: EventFeed) -> Self {
        Self { store, credentials, events }
    }

    /// One page of tenant records, with the token of the next page and the event cursor to watch from.
    async fn list(&self, filter: TenantFilter, page_size: u32, page_token: &str) -> Result<TenantPage, TenantError> {
        let after = decode_page_token(page_token)?;
        let limit = u64::from(list_page_size(page_size));
        // Read before the records: every event up to it is reflected in them, so watching from it after a
        // resync can repeat a change but never miss one.
        let event_cursor = self.events.head().await?;
        // One record more than the page tells whether there is a next page without an empty last one.
        let mut records = self.store.list_tenants(&filter, after, limit + 1).await?;
        let next_page_token = if records.len() as u64 > limit {
            records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            records.last().map(|last| encode_page_token(last.id)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(TenantPage { tenants: records.into_iter().map(convert::tenant).collect(), next_page_token, event_cursor })
    }

    /// The directory organization the enablement-form credentials belong to.
    async fn authenticate(&self, credentials: Option<&pb::Credentials>) -> Result<organization::Model, TenantError> {
        let credentials =
            credentials.ok_or_else(|| TenantError::Unauthenticated("Credentials are required.".into()))?;
        // An identity that could never be stored is simply unknown (401, not 400): the form is the source.
        let identity = Identity::parse(&credentials.identity).map_err(|_| {
            TenantError::Unauthenticated("The credentials are not valid for any account of this service.".into())
        })?;
        self.credentials.verify(&self.store, &identity, &credentials.secrets_json, &credentials.acronis_tenant_id).await
    }
}

struct TenantPage {
    tenants: Vec<pb::Tenant>,
    next_page_token: String,
    event_cursor: u64,
}

/// Only a partner account can enable the CyberApp as a partner.
fn require_partner(organization: &organization::Model) -> Result<(), TenantError> {
    match organization.kind {
        OrganizationKind::Partner => Ok(()),
        OrganizationKind::Customer => Err(TenantError::PermissionDenied(
            "These credentials belong to a customer account; use the credentials of a partner account.".into(),
        )),
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
        Ok(Response::new(convert::mirrored_partner_state(partner)))
    }

    async fn enable_mirrored_partner(
        &self,
        request: Request<pb::EnableMirroredPartnerRequest>,
    ) -> Result<Response<pb::EnableMirroredPartnerResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let enablement = convert::mirrored_partner_enablement(request.into_inner())?;
        let recorded = self.store.enable_mirrored_partner(&enablement, key.as_ref()).await?;
        let record = recorded.outcome;
        let message = pb::EnableMirroredPartnerResponse {
            state: convert::state(record.state).into(),
            vendor_tenant_id: record.vendor_tenant_id,
            acronis_tenant_id: enablement.acronis_tenant_id.to_string(),
        };
        Ok(answer(message, recorded.response_id))
    }

    async fn reset_mirrored_partner(
        &self,
        request: Request<pb::ResetMirroredPartnerRequest>,
    ) -> Result<Response<pb::ResetMirroredPartnerResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let id = AcronisTenantId::parse(&request.get_ref().acronis_tenant_id, "acronis_tenant_id")?;
        let recorded = self.store.reset_mirrored_partner(id, key.as_ref()).await?;
        let message = pb::ResetMirroredPartnerResponse { customers_disabled: convert::count(recorded.outcome) };
        Ok(answer(message, recorded.response_id))
    }

    async fn read_partner_enablement(
        &self,
        request: Request<pb::ReadPartnerEnablementRequest>,
    ) -> Result<Response<pb::ReadPartnerEnablementResponse>, Status> {
        // Two kept answers (the credentials, the mapping): one refresh confirms both.
        as_of_now(Box::pin(async move {
            let organization = self.authenticate(request.get_ref().credentials.as_ref()).await?;
            require_partner(&organization)?;
            let mapping = self.store.partner_mapping_of(&organization).await?;
            Ok::<_, Status>(Response::new(pb::ReadPartnerEnablementResponse {
                vendor_tenant_id: organization.id,
                acronis_tenant_id: mapping.and_then(|mapping| mapping.acronis_tenant_id),
            }))
        }))
        .await
    }

    async fn write_partner_enablement(
        &self,
        request: Request<pb::WritePartnerEnablementRequest>,
    ) -> Result<Response<pb::WritePartnerEnablementResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let organization = self.authenticate(request.credentials.as_ref()).await?;
        if request.vendor_tenant_id != organization.id {
            return Err(TenantError::PermissionDenied(
                "These credentials belong to another account than the vendor_tenant_id being enabled.".into(),
            )
            .into());
        }
        require_partner(&organization)?;
        let acronis = AcronisTenantId::parse(&request.acronis_tenant_id, "acronis_tenant_id")?;
        let datacenter_url = convert::datacenter_url(request.datacenter_url)?;
        let recorded = self.store.map_partner(&organization, acronis, datacenter_url, key.as_ref()).await?;
        Ok(answer(pb::WritePartnerEnablementResponse {}, recorded.response_id))
    }

    async fn reset_partner_enablement(
        &self,
        request: Request<pb::ResetPartnerEnablementRequest>,
    ) -> Result<Response<pb::ResetPartnerEnablementResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let organization = self.authenticate(request.credentials.as_ref()).await?;
        require_partner(&organization)?;
        let acronis = AcronisTenantId::parse(&request.acronis_tenant_id, "acronis_tenant_id")?;
        let recorded = self.store.unmap_partner(&organization, acronis, key.as_ref()).await?;
        let message = pb::ResetPartnerEnablementResponse { customers_unmapped: convert::count(recorded.outcome) };
        Ok(answer(message, recorded.response_id))
    }

    async fn upsert_organization(
        &self,
        request: Request<pb::UpsertOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let upsert = convert::organization_upsert(request.into_inner())?;
        let saved = self.store.upsert_organization(&upsert).await?;
        Ok(Response::new(convert::organization(saved)))
    }

    async fn delete_organization(
        &self,
        request: Request<pb::DeleteOrganizationRequest>,
    ) -> Result<Response<pb::DeleteOrganizationResponse>, Status> {
        let id = VendorTenantId::parse(&request.get_ref().id, "id")?;
        for identity in self.store.delete_organization(&id).await? {
            self.credentials.forget(&identity);
        }
        Ok(Response::new(pb::DeleteOrganizationResponse {}))
    }

    async fn set_credentials(
        &self,
        request: Request<pb::SetCredentialsRequest>,
    ) -> Result<Response<pb::SetCredentialsResponse>, Status> {
        let request = request.into_inner();
        let identity = Identity::parse(&request.identity)?;
        let organization_id = VendorTenantId::parse(&request.organization_id, "organization_id")?;
        let secret_hash = self.credentials.hash(&request.secrets_json).await?;
        self.store.set_credentials(&identity, &organization_id, &secret_hash).await?;
        self.credentials.forget(identity.as_str());
        Ok(Response::new(pb::SetCredentialsResponse {}))
    }

    async fn list_customer_organizations(
        &self,
        request: Request<pb::ListCustomerOrganizationsRequest>,
    ) -> Result<Response<pb::ListCustomerOrganizationsResponse>, Status> {
        let request = request.into_inner();
        let partner = convert::partner(&request.partner_acronis_tenant_id)?;
        let page = convert::page_request(request.page)?;
        let answer = self.store.customer_organizations(partner, page.as_ref()).await?;
        let version = answer.version.to_vec();
        if request.held_version == version {
            return Ok(Response::new(pb::ListCustomerOrganizationsResponse {
                version,
                unchanged: true,
                ..Default::default()
            }));
        }
        Ok(Response::new(pb::ListCustomerOrganizationsResponse {
            customers: answer.customers.iter().map(convert::customer_organization).collect(),
            page: answer.info.clone().map(convert::page_info),
            version,
            unchanged: false,
        }))
    }

    async fn write_customer_mappings(
        &self,
        request: Request<pb::WriteCustomerMappingsRequest>,
    ) -> Result<Response<pb::WriteCustomerMappingsResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let partner = convert::partner(&request.partner_acronis_tenant_id)?;
        let changes = convert::customer_mapping_changes(&request.changes)?;
        let datacenter_url = convert::datacenter_url(request.datacenter_url)?;
        let recorded = self.store.write_customer_mappings(partner, &changes, datacenter_url, key.as_ref()).await?;
        Ok(answer(pb::WriteCustomerMappingsResponse {}, recorded.response_id))
    }

    async fn get_mirrored_customers(
        &self,
        request: Request<pb::GetMirroredCustomersRequest>,
    ) -> Result<Response<pb::GetMirroredCustomersResponse>, Status> {
        let partner = convert::partner(&request.get_ref().partner_acronis_tenant_id)?;
        let customers = self.store.enabled_mirrored_customers(partner).await?;
        Ok(Response::new(pb::GetMirroredCustomersResponse {
            customers: customers.into_iter().map(convert::mirrored_customer).collect(),
        }))
    }

    async fn set_mirrored_customers(
        &self,
        request: Request<pb::SetMirroredCustomersRequest>,
    ) -> Result<Response<pb::SetMirroredCustomersResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let partner = convert::partner(&request.partner_acronis_tenant_id)?;
        let (enabled, disabled) = convert::mirrored_customer_states(&request.enabled, &request.disabled)?;
        let datacenter_url = convert::datacenter_url(request.datacenter_url)?;
        let recorded =
            self.store.set_mirrored_customers(partner, &enabled, &disabled, datacenter_url, key.as_ref()).await?;
        Ok(answer(pb::SetMirroredCustomersResponse {}, recorded.response_id))
    }

    async fn get_tenant(&self, request: Request<pb::GetTenantRequest>) -> Result<Response<pb::Tenant>, Status> {
        let record = match request.into_inner().id {
            Some(pb::get_tenant_request::Id::AcronisTenantId(id)) => {
                self.store.tenant_by_acronis_id(AcronisTenantId::parse(&id, "acronis_tenant_id")?).await?
            }
            Some(pb::get_tenant_request::Id::VendorTenantId(id)) => {
                self.store.tenant_by_vendor_id(&VendorTenantId::parse(&id, "vendor_tenant_id")?).await?
            }
            None => {
                return Err(
                    TenantError::InvalidArgument("give either acronis_tenant_id or vendor_tenant_id".into()).into()
                );
            }
        };
        let record = record.ok_or_else(|| TenantError::NotFound("no tenant record has this id".into()))?;
        Ok(Response::new(convert::tenant(record)))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        let request = request.into_inner();
        let filter = convert::tenant_filter(TenantKind::Partner, request.state, request.enablement_method, None)?;
        let page = self.list(filter, request.page_size, &request.page_token).await?;
        Ok(Response::new(pb::ListPartnersResponse {
            partners: page.tenants,
            next_page_token: page.next_page_token,
            event_cursor: page.event_cursor,
        }))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let request = request.into_inner();
        let partner = request.partner_acronis_tenant_id.as_deref();
        let filter = convert::tenant_filter(TenantKind::Customer, request.state, request.enablement_method, partner)?;
        let page = self.list(filter, request.page_size, &request.page_token).await?;
        Ok(Response::new(pb::ListCustomersResponse {
            customers: page.tenants,
            next_page_token: page.next_page_token,
            event_cursor: page.event_cursor,
        }))
    }

    async fn resolve_callback_tenant(
        &self,
        request: Request<pb::ResolveCallbackTenantRequest>,
    ) -> Result<Response<pb::ResolveCallbackTenantResponse>, Status> {
        // Up to three kept answers (credentials, tenant, partner): one refresh confirms them all.
        as_of_now(Box::pin(async move {
            let request = request.into_inner();
            let id = AcronisTenantId::parse(&request.acronis_tenant_id, "acronis_tenant_id")?;
            // Credentials first, as the mapped-partner callbacks check them: a wrong secret is 401 whatever the
            // tenant's state, so the answer never tells an attacker which tenants are enabled.
            let organization = match request.credentials.as_ref() {
                Some(credentials) => Some(self.authenticate(Some(credentials)).await?),
                None => None,
            };
            let resolved = self.store.callback_tenant(id).await?;
            if request.require_enabled && !resolved.is_enabled() {
                return Err(TenantError::PermissionDenied(
                    "The CyberApp is not enabled for this tenant (or for its partner).".into(),
                )
                .into());
            }
            if let (Some(organization), Some(tenant)) = (&organization, &resolved.tenant) {
                let own = [Some(tenant), resolved.partner.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|record| record.vendor_tenant_id == organization.id);
                if !own {
                    return Err(TenantError::PermissionDenied(
                        "These credentials belong to another account than the tenant the request was made from.".into(),
                    )
                    .into());
                }
            }
            Ok::<_, Status>(Response::new(pb::ResolveCallbackTenantResponse {
                tenant: resolved.tenant.map(convert::tenant),
                partner: resolved.partner.map(convert::tenant),
                identity_organization_id: organization.map(|organization| organization.id),
            }))
        }))
        .await
    }

    async fn begin_custom_callback(
        &self,
        request: Request<pb::BeginCustomCallbackRequest>,
    ) -> Result<Response<pb::BeginCustomCallbackResponse>, Status> {
        let request = request.into_inner();
        let key = convert::custom_callback_key(request.request_id, request.request_hash, request.response_id)?;
        let lease = std::time::Duration::from_secs(u64::from(request.lease_seconds.max(1)));
        let message = match self.store.begin_custom_callback(&key, lease).await? {
            CustomCallbackClaim::Claimed => {
                pb::BeginCustomCallbackResponse { response_id: key.response_id, recorded_answer_json: None }
            }
            CustomCallbackClaim::Replay { response_id, answer_json } => {
                pb::BeginCustomCallbackResponse { response_id, recorded_answer_json: Some(answer_json) }
            }
        };
        Ok(Response::new(message))
    }

    async fn finish_custom_callback(
        &self,
        request: Request<pb::FinishCustomCallbackRequest>,
    ) -> Result<Response<pb::FinishCustomCallbackResponse>, Status> {
        let request = request.into_inner();
        self.store
            .finish_custom_callback(&request.request_id, &request.response_id, request.answer_json.as_deref())
            .await?;
        Ok(Response::new(pb::FinishCustomCallbackResponse {}))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Ok(Response::new(self.events.subscribe(request.into_inner().after_cursor).await?))
    }
}
