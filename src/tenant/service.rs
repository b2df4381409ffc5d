//! The tonic `TenantService`: parses each request into domain types, calls the store, maps the outcome.
//!
//! Kept thin on purpose: rules about *what* may change live in the store's transactions, rules about *what a
//! request must contain* live in `model`'s parsers.

use std::sync::Arc;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use super::credentials::CredentialVerifier;
use super::error::TenantError;
use super::event_feed::{EventFeed, EventStream};
use super::messages;
use super::model::{
    AcronisTenantId, Settings, parse_datacenter_url, parse_identity, parse_name, parse_organization_id,
};
use super::paging::{PageInfo, PageRequest, decode_page_token, encode_page_token, list_page_size};
use super::store::{
    CustomerMappingChange, IdempotencyKey, MirroredCustomer, MirroredPartnerEnablement, OrganizationUpsert,
    TenantFilter, TenantStore,
};
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::{self, EnablementState as StoredState};
use crate::grpc::{REQUEST_HASH_METADATA, REQUEST_ID_METADATA, RESPONSE_ID_METADATA};
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
        Ok(TenantPage { tenants: records.into_iter().map(messages::tenant).collect(), next_page_token, event_cursor })
    }
    /// The directory organization the enablement-form credentials belong to.
    async fn authenticate(&self, credentials: Option<&pb::Credentials>) -> Result<organization::Model, TenantError> {
        let credentials =
            credentials.ok_or_else(|| TenantError::Unauthenticated("Credentials are required.".into()))?;
        // An identity that could never be stored is simply unknown (401, not 400): the form is the source.
        let identity = parse_identity(&credentials.identity).map_err(|_| {
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

fn state_filter(state: Option<i32>) -> Result<Option<StoredState>, TenantError> {
    match state.map(pb::EnablementState::try_from) {
        None => Ok(None),
        Some(Ok(pb::EnablementState::Enabled)) => Ok(Some(StoredState::Enabled)),
        Some(Ok(pb::EnablementState::Disabled)) => Ok(Some(StoredState::Disabled)),
        Some(_) => Err(TenantError::InvalidArgument("state must be ENABLED or DISABLED when given".into())),
    }
}

fn method_filter(method: Option<i32>) -> Result<Option<tenant::EnablementMethod>, TenantError> {
    match method.map(pb::EnablementMethod::try_from) {
        None => Ok(None),
        Some(Ok(pb::EnablementMethod::Mirrored)) => Ok(Some(tenant::EnablementMethod::Mirrored)),
        Some(Ok(pb::EnablementMethod::Mapped)) => Ok(Some(tenant::EnablementMethod::Mapped)),
        Some(_) => Err(TenantError::InvalidArgument("enablement_method must be MIRRORED or MAPPED when given".into())),
    }
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

fn organization_kind(kind: pb::OrganizationKind) -> Result<OrganizationKind, TenantError> {
    match kind {
        pb::OrganizationKind::Partner => Ok(OrganizationKind::Partner),
        pb::OrganizationKind::Customer => Ok(OrganizationKind::Customer),
        pb::OrganizationKind::Unspecified => {
            Err(TenantError::InvalidArgument("kind must be partner or customer".into()))
        }
    }
}

/// Longest accepted idempotency metadata value.
const MAX_METADATA_LEN: usize = 256;

/// The idempotency key a state-changing call carries in its metadata: all three values or none.
fn idempotency_key(metadata: &MetadataMap) -> Result<Option<IdempotencyKey>, TenantError> {
    let value = |name| metadata.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    match (value(REQUEST_ID_METADATA), value(REQUEST_HASH_METADATA), value(RESPONSE_ID_METADATA)) {
        (None, None, None) => Ok(None),
        (Some(request_id), Some(request_hash), Some(response_id))
            if [&request_id, &request_hash, &response_id]
                .iter()
                .all(|value| !value.is_empty() && value.len() <= MAX_METADATA_LEN) =>
        {
            Ok(Some(IdempotencyKey { request_id, request_hash, response_id }))
        }
        _ => Err(TenantError::InvalidArgument(format!(
            "{REQUEST_ID_METADATA}, {REQUEST_HASH_METADATA} and {RESPONSE_ID_METADATA} go together, each non-empty"
        ))),
    }
}

/// Wraps `message`, telling the caller in [`RESPONSE_ID_METADATA`] which `response_id` answers the callback.
fn answer<T>(message: T, response_id: Option<String>) -> Response<T> {
    let mut response = Response::new(message);
    if let Some(value) = response_id.and_then(|id| MetadataValue::try_from(id).ok()) {
        response.metadata_mut().insert(RESPONSE_ID_METADATA, value);
    }
    response
}

fn page_info_message(info: PageInfo) -> pb::PageInfo {
    let kind = match info {
        PageInfo::Offset { offset, limit, total_count } => {
            pb::page_info::Kind::Offset(pb::OffsetPage { offset, limit, total_count })
        }
        PageInfo::Cursor { before, after } => pb::page_info::Kind::Cursor(pb::CursorPage { before, after }),
    };
    pb::PageInfo { kind: Some(kind) }
}

fn optional_datacenter_url(url: Option<String>) -> Result<Option<String>, TenantError> {
    url.filter(|url| !url.is_empty()).as_deref().map(parse_datacenter_url).transpose()
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
                state: messages::state(record.state).into(),
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
        let key = idempotency_key(request.metadata())?;
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
        let recorded = self.store.enable_mirrored_partner(&enablement, key.as_ref()).await?;
        let record = recorded.outcome;
        let message = pb::EnableMirroredPartnerResponse {
            state: messages::state(record.state).into(),
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
        let message = pb::ResetMirroredPartnerResponse {
            customers_disabled: u32::try_from(recorded.outcome).unwrap_or(u32::MAX),
        };
        Ok(answer(message, recorded.response_id))
    }

    async fn read_partner_enablement(
        &self,
        request: Request<pb::ReadPartnerEnablementRequest>,
    ) -> Result<Response<pb::ReadPartnerEnablementResponse>, Status> {
        let organization = self.authenticate(request.get_ref().credentials.as_ref()).await?;
        require_partner(&organization)?;
        let mapping = self.store.partner_mapping_of(&organization.id).await?;
        Ok(Response::new(pb::ReadPartnerEnablementResponse {
            vendor_tenant_id: organization.id,
            acronis_tenant_id: mapping.and_then(|mapping| mapping.acronis_tenant_id),
        }))
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
        let datacenter_url = optional_datacenter_url(request.datacenter_url)?;
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
        let recorded = self.store.unmap_partner(&organization.id, acronis, key.as_ref()).await?;
        let message = pb::ResetPartnerEnablementResponse {
            customers_unmapped: u32::try_from(recorded.outcome).unwrap_or(u32::MAX),
        };
        Ok(answer(message, recorded.response_id))
    }

    async fn upsert_organization(
        &self,
        request: Request<pb::UpsertOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let request = request.into_inner();
        let upsert = OrganizationUpsert {
            id: parse_organization_id(&request.id, "id")?,
            name: parse_name(&request.name, "name")?,
            kind: organization_kind(request.kind())?,
            parent_id: request
                .parent_id
                .filter(|parent| !parent.is_empty())
                .map(|parent| parse_organization_id(&parent, "parent_id"))
                .transpose()?,
        };
        let saved = self.store.upsert_organization(&upsert).await?;
        Ok(Response::new(messages::organization(saved)))
    }

    async fn delete_organization(
        &self,
        request: Request<pb::DeleteOrganizationRequest>,
    ) -> Result<Response<pb::DeleteOrganizationResponse>, Status> {
        let id = parse_organization_id(&request.get_ref().id, "id")?;
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
        let identity = parse_identity(&request.identity)?;
        let organization_id = parse_organization_id(&request.organization_id, "organization_id")?;
        let secret_hash = self.credentials.hash(&request.secrets_json).await?;
        self.store.set_credentials(&identity, &organization_id, &secret_hash).await?;
        self.credentials.forget(&identity);
        Ok(Response::new(pb::SetCredentialsResponse {}))
    }

    async fn list_customer_organizations(
        &self,
        request: Request<pb::ListCustomerOrganizationsRequest>,
    ) -> Result<Response<pb::ListCustomerOrganizationsResponse>, Status> {
        let request = request.into_inner();
        let partner = AcronisTenantId::parse(&request.partner_acronis_tenant_id, "partner_acronis_tenant_id")?;
        let page = request
            .page
            .map(|page| PageRequest::new(page.limit, page.offset, page.after.as_deref(), page.before.as_deref()))
            .transpose()?;
        let (customers, info) = self.store.customer_organizations(partner, page.as_ref()).await?;
        Ok(Response::new(pb::ListCustomerOrganizationsResponse {
            customers: customers
                .into_iter()
                .map(|customer| pb::CustomerOrganization {
                    vendor_tenant_id: customer.id,
                    name: customer.name,
                    acronis_tenant_id: customer.acronis_tenant_id,
                })
                .collect(),
            page: info.map(page_info_message),
        }))
    }

    async fn write_customer_mappings(
        &self,
        request: Request<pb::WriteCustomerMappingsRequest>,
    ) -> Result<Response<pb::WriteCustomerMappingsResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let partner = AcronisTenantId::parse(&request.partner_acronis_tenant_id, "partner_acronis_tenant_id")?;
        let changes = request
            .changes
            .iter()
            .map(|change| {
                Ok(CustomerMappingChange {
                    vendor_tenant_id: parse_organization_id(&change.vendor_tenant_id, "vendor_tenant_id")?,
                    acronis_tenant_id: change
                        .acronis_tenant_id
                        .as_deref()
                        .map(|id| AcronisTenantId::parse(id, "acronis_tenant_id"))
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, TenantError>>()?;
        let datacenter_url = optional_datacenter_url(request.datacenter_url)?;
        let recorded = self.store.write_customer_mappings(partner, &changes, datacenter_url, key.as_ref()).await?;
        Ok(answer(pb::WriteCustomerMappingsResponse {}, recorded.response_id))
    }

    async fn get_mirrored_customers(
        &self,
        request: Request<pb::GetMirroredCustomersRequest>,
    ) -> Result<Response<pb::GetMirroredCustomersResponse>, Status> {
        let partner =
            AcronisTenantId::parse(&request.get_ref().partner_acronis_tenant_id, "partner_acronis_tenant_id")?;
        let customers = self.store.enabled_mirrored_customers(partner).await?;
        Ok(Response::new(pb::GetMirroredCustomersResponse {
            customers: customers
                .into_iter()
                .map(|customer| pb::MirroredCustomer {
                    vendor_tenant_id: customer.vendor_tenant_id,
                    acronis_tenant_id: customer.acronis_tenant_id.unwrap_or_default(),
                    settings_json: customer.settings_json,
                })
                .collect(),
        }))
    }

    async fn set_mirrored_customers(
        &self,
        request: Request<pb::SetMirroredCustomersRequest>,
    ) -> Result<Response<pb::SetMirroredCustomersResponse>, Status> {
        let key = idempotency_key(request.metadata())?;
        let request = request.into_inner();
        let partner = AcronisTenantId::parse(&request.partner_acronis_tenant_id, "partner_acronis_tenant_id")?;
        let enabled = request
            .enabled
            .iter()
            .map(|customer| {
                Ok(MirroredCustomer {
                    acronis_tenant_id: AcronisTenantId::parse(
                        &customer.acronis_tenant_id,
                        "enabled[].acronis_tenant_id",
                    )?,
                    name: parse_name(&customer.name, "enabled[].acronis_tenant_name")?,
                    settings: customer.settings_json.as_deref().map(Settings::parse).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, TenantError>>()?;
        let disabled = request
            .disabled
            .iter()
            .map(|id| AcronisTenantId::parse(id, "disabled[].acronis_tenant_id"))
            .collect::<Result<Vec<_>, TenantError>>()?;
        let datacenter_url = optional_datacenter_url(request.datacenter_url)?;
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
                self.store.tenant_by_vendor_id(&parse_organization_id(&id, "vendor_tenant_id")?).await?
            }
            None => {
                return Err(
                    TenantError::InvalidArgument("give either acronis_tenant_id or vendor_tenant_id".into()).into()
                );
            }
        };
        let record = record.ok_or_else(|| TenantError::NotFound("no tenant record has this id".into()))?;
        Ok(Response::new(messages::tenant(record)))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        let request = request.into_inner();
        let filter = TenantFilter {
            kind: tenant::TenantKind::Partner,
            state: state_filter(request.state)?,
            method: method_filter(request.enablement_method)?,
            partner: None,
        };
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
        let partner = request
            .partner_acronis_tenant_id
            .as_deref()
            .map(|id| AcronisTenantId::parse(id, "partner_acronis_tenant_id"))
            .transpose()?;
        let filter = TenantFilter {
            kind: tenant::TenantKind::Customer,
            state: state_filter(request.state)?,
            method: method_filter(request.enablement_method)?,
            partner,
        };
        let page = self.list(filter, request.page_size, &request.page_token).await?;
        Ok(Response::new(pb::ListCustomersResponse {
            customers: page.tenants,
            next_page_token: page.next_page_token,
            event_cursor: page.event_cursor,
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Ok(Response::new(self.events.subscribe(request.into_inner().after_cursor).await?))
    }
}
