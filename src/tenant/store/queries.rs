//! Read-only queries for vendor services: one tenant record, and filtered pages of partners or customers.
//!
//! Pages are keyed on the row id (keyset paging, oldest first): a record created while a consumer pages
//! lands after every id already served, and none shifts when another changes or disappears, so no record
//! is served twice or skipped because of concurrent writes.

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::TenantStore;
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::tenant::error::TenantError;
use crate::tenant::model::{AcronisTenantId, VendorTenantId};

/// Which records a list returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFilter {
    pub kind: TenantKind,
    pub state: Option<EnablementState>,
    pub method: Option<EnablementMethod>,
    /// Customers of this partner only.
    pub partner: Option<AcronisTenantId>,
}

impl TenantStore {
    /// The record holding Acronis tenant `id`, whatever its kind and state (a read-model read).
    pub async fn tenant_by_acronis_id(&self, id: AcronisTenantId) -> Result<Option<tenant::Model>, TenantError> {
        let load = || {
            self.read("tenant_by_acronis_id", async {
                let found =
                    tenant::Entity::find().filter(tenant::Column::AcronisTenantId.eq(id.to_string())).one(&self.db);
                Ok(found.await?.map(Arc::new))
            })
        };
        let kept = self.read_model.read_through(self, |tables| &mut tables.tenants, id.to_string(), load).await?;
        Ok(kept.map(Arc::unwrap_or_clone))
    }

    pub async fn tenant_by_vendor_id(&self, id: &VendorTenantId) -> Result<Option<tenant::Model>, TenantError> {
        self.read("tenant_by_vendor_id", async {
            Ok(tenant::Entity::find().filter(tenant::Column::VendorTenantId.eq(id.as_str())).one(&self.db).await?)
        })
        .await
    }

    /// Up to `limit` records matching `filter` whose row id is above `after`, oldest first.
    pub async fn list_tenants(
        &self,
        filter: &TenantFilter,
        after: i64,
        limit: u64,
    ) -> Result<Vec<tenant::Model>, TenantError> {
        let mut query = tenant::Entity::find()
            .filter(tenant::Column::Kind.eq(filter.kind))
            .filter(tenant::Column::Id.gt(after))
            .order_by_asc(tenant::Column::Id)
            .limit(limit);
        if let Some(state) = filter.state {
            query = query.filter(tenant::Column::State.eq(state));
        }
        if let Some(method) = filter.method {
            query = query.filter(tenant::Column::EnablementMethod.eq(method));
        }
        if let Some(partner) = filter.partner {
            query = query.filter(tenant::Column::PartnerAcronisTenantId.eq(partner.to_string()));
        }
        self.read("list_tenants", async { Ok(query.all(&self.db).await?) }).await
    }
}
