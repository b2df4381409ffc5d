//! What disabling a partner does to its customers, whichever way the partner was enabled: mirrored
//! customers are disabled (soft, records kept) and mapped customers lose their mapping, at every depth of
//! the partner's organization. Both partner resets (`enablement.reset`, `partner.mirroring.reset`) use it.

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::directory::customer_organizations_under;
use super::events::unmapping_event;
use crate::db::entity::tenant::{self, EnablementMethod, EnablementState, TenantKind};
use crate::db::entity::tenant_event;
use crate::tenant::error::TenantError;
use crate::tenant::model::EventKind;

/// Ids per `IN (...)` list; well under SQLite's and PostgreSQL's bind-parameter limits.
const ID_CHUNK: usize = 500;

/// Disables or unmaps every customer of the partner with Acronis tenant `partner_acronis` and directory
/// organization `partner_organization`; returns how many customers it changed.
pub(super) async fn disable_customers_of(
    tx: &DatabaseTransaction,
    partner_acronis: &str,
    partner_organization: &str,
) -> Result<u64, TenantError> {
    let mirrored = tenant::Entity::find()
        .filter(tenant::Column::PartnerAcronisTenantId.eq(partner_acronis))
        .filter(tenant::Column::Kind.eq(TenantKind::Customer))
        .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mirrored))
        .filter(tenant::Column::State.eq(EnablementState::Enabled))
        .all(tx)
        .await?;
    let mut changed = apply(tx, &mirrored, EventKind::CustomerDisabled).await?;

    let mut mapped_ids: BTreeSet<i64> = tenant::Entity::find()
        .filter(tenant::Column::PartnerAcronisTenantId.eq(partner_acronis))
        .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mapped))
        .filter(tenant::Column::AcronisTenantId.is_not_null())
        .all(tx)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    let organizations: Vec<String> =
        customer_organizations_under(tx, partner_organization).await?.into_iter().map(|(id, _)| id).collect();
    for chunk in organizations.chunks(ID_CHUNK) {
        let rows = tenant::Entity::find()
            .filter(tenant::Column::VendorTenantId.is_in(chunk.iter().cloned()))
            .filter(tenant::Column::Kind.eq(TenantKind::Customer))
            .filter(tenant::Column::AcronisTenantId.is_not_null())
            .all(tx)
            .await?;
        mapped_ids.extend(rows.into_iter().map(|row| row.id));
    }
    let ids: Vec<i64> = mapped_ids.into_iter().collect();
    for chunk in ids.chunks(ID_CHUNK) {
        let rows = tenant::Entity::find().filter(tenant::Column::Id.is_in(chunk.iter().copied())).all(tx).await?;
        changed += apply(tx, &rows, EventKind::CustomerUnmapped).await?;
    }
    Ok(changed)
}

/// Records one event per customer and disables them in one statement (unmapping them for
/// [`EventKind::CustomerUnmapped`]).
async fn apply(tx: &DatabaseTransaction, customers: &[tenant::Model], kind: EventKind) -> Result<u64, TenantError> {
    let unmap = kind == EventKind::CustomerUnmapped;
    let now = Utc::now();
    let mut changed = 0;
    for chunk in customers.chunks(ID_CHUNK) {
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
