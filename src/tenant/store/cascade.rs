//! What disabling a partner does to its customers, whichever way the partner was enabled: its mirrored
//! customers are disabled (soft, records kept) and the customer mappings it made lose their Acronis tenant.
//! Both partner resets (`enablement.reset`, `partner.mirroring.reset`) and `DeleteOrganization` of a mapped
//! partner use it.
//!
//! Ownership is read from the records alone: every customer record, mirrored or mapped, names the partner
//! whose callback created it (`partner_acronis_tenant_id`). So the cascade never walks the directory, and it
//! never touches a customer another enabled partner owns, such as one a nested reseller mapped itself.
//!
//! It sits below the families that call it (`partner_mapping`, `partner_mirroring`, `directory`) and uses
//! only [`super::sql`] and [`super::events`].

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};

use super::events::unmapping_event;
use super::sql::IDS_PER_STATEMENT;
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::tenant::error::TenantError;
use crate::tenant::model::EventKind;

/// Disables the enabled mirrored customers and removes the customer mappings of the partner with Acronis
/// tenant `partner_acronis`; returns how many customers it changed.
pub(super) async fn disable_customers_of(tx: &DatabaseTransaction, partner_acronis: &str) -> Result<u64, TenantError> {
    let mirrored = customers_of(partner_acronis, EnablementMethod::Mirrored)
        .filter(tenant::Column::State.eq(EnablementState::Enabled))
        .all(tx)
        .await?;
    let mapped = customers_of(partner_acronis, EnablementMethod::Mapped)
        .filter(tenant::Column::AcronisTenantId.is_not_null())
        .all(tx)
        .await?;
    Ok(apply(tx, &mirrored, EventKind::CustomerDisabled).await?
        + apply(tx, &mapped, EventKind::CustomerUnmapped).await?)
}

/// The customer records `partner_acronis` created by `method`, oldest first (the order of their events).
fn customers_of(partner_acronis: &str, method: EnablementMethod) -> sea_orm::Select<tenant::Entity> {
    tenant::Entity::find()
        .filter(tenant::Column::PartnerAcronisTenantId.eq(partner_acronis))
        .filter(tenant::Column::Kind.eq(TenantKind::Customer))
        .filter(tenant::Column::EnablementMethod.eq(method))
        .order_by_asc(tenant::Column::Id)
}

/// Records one event per customer and disables them in one statement (unmapping them for
/// [`EventKind::CustomerUnmapped`]).
async fn apply(tx: &DatabaseTransaction, customers: &[tenant::Model], kind: EventKind) -> Result<u64, TenantError> {
    let unmap = kind == EventKind::CustomerUnmapped;
    let now = Utc::now();
    let mut changed = 0;
    for chunk in customers.chunks(IDS_PER_STATEMENT) {
        let events: Vec<tenant_event::ActiveModel> = chunk
            .iter()
            .map(|customer| {
                let after = tenant::Model {
                    state: EnablementState::Disabled,
                    acronis_tenant_id: if unmap { None } else { customer.acronis_tenant_id.clone() },
                    updated_at: now,
                    ..customer.clone()
                };
                unmapping_event(kind, customer.acronis_tenant_id.as_deref(), &after)
            })
            .collect();
        tenant_event::Entity::insert_many(events).exec_without_returning(tx).await?;
        let mut update = tenant::Entity::update_many()
            .col_expr(tenant::Column::State, Expr::value(EnablementState::Disabled))
            .col_expr(tenant::Column::UpdatedAt, Expr::value(now));
        if unmap {
            update = update.col_expr(tenant::Column::AcronisTenantId, Expr::value(Option::<String>::None));
        }
        changed += update.filter(tenant::Column::Id.is_in(chunk.iter().map(|c| c.id))).exec(tx).await?.rows_affected;
    }
    Ok(changed)
}
