//! The vendor directory: organizations (partners, which may nest, and customers, which are leaves) and the
//! credentials that prove an identity belongs to one. The rules of the tree are checked inside the write
//! transaction, so concurrent edits cannot build a cycle or hang a customer under a customer.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use super::TenantStore;
use super::cascade::disable_customers_of;
use super::events::{record_directory_event, record_unmapping};
use crate::db::entity::credential;
use crate::db::entity::organization::{self, OrganizationKind};
use crate::db::entity::tenant::{self, EnablementMethod};
use crate::tenant::error::TenantError;
use crate::tenant::model::{EventKind, Identity, TenantName, VendorTenantId};

/// Nesting deeper than this is refused; it bounds the ancestor walk of the cycle check.
const MAX_DEPTH: usize = 64;

/// An organization as `UpsertOrganization` and `directory import` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationUpsert {
    pub id: VendorTenantId,
    pub name: TenantName,
    pub kind: OrganizationKind,
    pub parent_id: Option<VendorTenantId>,
}

/// A whole directory file, applied in one transaction. Organizations come parents first; a credential with
/// `secret_hash: None` is already stored with the same secrets and only its organization is checked.
#[derive(Debug, Clone, Default)]
pub struct DirectoryImport {
    pub organizations: Vec<OrganizationUpsert>,
    pub credentials: Vec<CredentialImport>,
}

#[derive(Clone)]
pub struct CredentialImport {
    pub identity: Identity,
    pub organization_id: VendorTenantId,
    pub secret_hash: Option<String>,
    /// For an unchanged credential: the stored hash that was found to match, which must still be stored.
    pub unchanged_hash: Option<String>,
}

impl std::fmt::Debug for CredentialImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialImport")
            .field("identity", &self.identity)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub organizations_changed: usize,
    pub credentials_changed: usize,
}

impl TenantStore {
    pub async fn organization(&self, id: &VendorTenantId) -> Result<Option<organization::Model>, TenantError> {
        self.read("organization", async {
            Ok(organization::Entity::find_by_id(id.as_str()).one(self.connection()).await?)
        })
        .await
    }

    pub async fn credential(&self, identity: &Identity) -> Result<Option<credential::Model>, TenantError> {
        Ok(credential::Entity::find_by_id(identity.as_str()).one(self.connection()).await?)
    }

    /// The credential of `identity` with its organization, in one query (every callback with credentials
    /// needs both).
    pub async fn credential_with_organization(
        &self,
        identity: &Identity,
    ) -> Result<Option<(credential::Model, organization::Model)>, TenantError> {
        // The query is built inside `load`, which runs on a miss only: building it costs more than a hit.
        let load = || {
            self.read("credential_with_organization", async {
                let query = credential::Entity::find_by_id(identity.as_str()).find_also_related(organization::Entity);
                let found = query.one(self.connection()).await?;
                Ok(found.and_then(|(credential, organization)| Some(Arc::new((credential, organization?)))))
            })
        };
        let kept = self.read_model.read_through(self, |tables| &mut tables.credentials, identity.to_string(), load);
        Ok(kept.await?.map(Arc::unwrap_or_clone))
    }

    pub async fn upsert_organization(&self, upsert: &OrganizationUpsert) -> Result<organization::Model, TenantError> {
        self.write(|tx| {
            let upsert = upsert.clone();
            Box::pin(async move { upsert_organization_in(tx, &upsert).await.map(|(model, _)| model) })
        })
        .await
    }

    /// Deletes an organization with its credentials and its mapping; returns the identities it had. A mapped
    /// partner's organization takes with it what its reset would: the customer mappings it made and its
    /// mirrored customers (disabled); another enabled partner's customers are not touched.
    pub async fn delete_organization(&self, id: &VendorTenantId) -> Result<Vec<String>, TenantError> {
        self.write(|tx| {
            let id = id.as_str().to_owned();
            Box::pin(async move { delete_organization_in(tx, &id).await })
        })
        .await
    }

    /// Stores `secret_hash` (an Argon2id PHC string) for `identity`, replacing what it had.
    pub async fn set_credentials(
        &self,
        identity: &Identity,
        organization_id: &VendorTenantId,
        secret_hash: &str,
    ) -> Result<(), TenantError> {
        self.write(|tx| {
            let (identity, organization_id, secret_hash) =
                (identity.as_str().to_owned(), organization_id.as_str().to_owned(), secret_hash.to_owned());
            Box::pin(async move { set_credentials_in(tx, &identity, &organization_id, &secret_hash).await })
        })
        .await
    }

    /// Applies a whole directory file in one transaction: all of it or, on the first refusal, none of it.
    pub async fn import_directory(&self, import: &DirectoryImport) -> Result<ImportSummary, TenantError> {
        self.write(|tx| {
            let import = import.clone();
            Box::pin(async move {
                let mut summary = ImportSummary::default();
                for upsert in &import.organizations {
                    let (_, changed) = upsert_organization_in(tx, upsert)
                        .await
                        .map_err(|error| error.in_context(&format!("organization \"{}\"", upsert.id)))?;
                    summary.organizations_changed += usize::from(changed);
                }
                for entry in &import.credentials {
                    let context = format!("credentials of \"{}\"", entry.identity);
                    match &entry.secret_hash {
                        Some(hash) => {
                            set_credentials_in(tx, entry.identity.as_str(), entry.organization_id.as_str(), hash)
                                .await
                                .map_err(|error| error.in_context(&context))?;
                            summary.credentials_changed += 1;
                        }
                        None => ensure_credential_owner(tx, entry).await.map_err(|error| error.in_context(&context))?,
                    }
                }
                Ok(summary)
            })
        })
        .await
    }
}

/// Creates or updates one organization; returns it and whether anything changed.
pub(super) async fn upsert_organization_in(
    tx: &DatabaseTransaction,
    upsert: &OrganizationUpsert,
) -> Result<(organization::Model, bool), TenantError> {
    let existing = organization::Entity::find_by_id(upsert.id.as_str()).lock_exclusive().one(tx).await?;
    check_placement(tx, upsert).await?;
    if let Some(existing) = &existing {
        if existing.kind != upsert.kind {
            check_kind_change(tx, existing).await?;
        }
        let parent_id = upsert.parent_id.as_ref().map(VendorTenantId::as_str);
        if existing.name == upsert.name.as_str()
            && existing.kind == upsert.kind
            && existing.parent_id.as_deref() == parent_id
        {
            return Ok((existing.clone(), false));
        }
    }
    let now = Utc::now();
    let saved = match existing {
        Some(existing) => {
            let mut update: organization::ActiveModel = existing.into();
            update.name = Set(upsert.name.to_string());
            update.kind = Set(upsert.kind);
            update.parent_id = Set(upsert.parent_id.as_ref().map(VendorTenantId::to_string));
            update.updated_at = Set(now);
            update.update(tx).await?
        }
        None => {
            organization::ActiveModel {
                id: Set(upsert.id.to_string()),
                name: Set(upsert.name.to_string()),
                kind: Set(upsert.kind),
                parent_id: Set(upsert.parent_id.as_ref().map(VendorTenantId::to_string)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(tx)
            .await?
        }
    };
    // A mapped organization's tenant record shows the directory's name.
    tenant::Entity::update_many()
        .col_expr(tenant::Column::Name, Expr::value(saved.name.clone()))
        .filter(tenant::Column::VendorTenantId.eq(saved.id.as_str()))
        .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mapped))
        .exec(tx)
        .await?;
    record_directory_event(tx, EventKind::OrganizationUpserted, &saved.id, Some(&saved)).await?;
    Ok((saved, true))
}

/// Customers sit under a partner; partners sit under a partner or at the top; nothing sits under itself.
async fn check_placement(tx: &DatabaseTransaction, upsert: &OrganizationUpsert) -> Result<(), TenantError> {
    let Some(parent_id) = &upsert.parent_id else {
        return match upsert.kind {
            OrganizationKind::Partner => Ok(()),
            OrganizationKind::Customer => {
                Err(TenantError::InvalidArgument("a customer organization needs a parent partner (parent_id)".into()))
            }
        };
    };
    // Ancestors are read FOR SHARE: a concurrent move or kind change of any of them (which takes FOR UPDATE)
    // waits, so two moves cannot together build a cycle, and a partner cannot turn customer under a new child.
    let mut ancestor =
        organization::Entity::find_by_id(parent_id.as_str()).lock_shared().one(tx).await?.ok_or_else(|| {
            TenantError::FailedPrecondition(format!("parent organization \"{parent_id}\" does not exist"))
        })?;
    if ancestor.kind != OrganizationKind::Partner {
        return Err(TenantError::FailedPrecondition(format!(
            "parent organization \"{parent_id}\" is a customer, and customers have no children"
        )));
    }
    for _ in 0..MAX_DEPTH {
        if ancestor.id == upsert.id.as_str() {
            return Err(TenantError::FailedPrecondition(format!(
                "organization \"{}\" cannot be placed under its own descendant \"{parent_id}\"",
                upsert.id
            )));
        }
        let Some(next) = ancestor.parent_id.clone() else { return Ok(()) };
        ancestor = organization::Entity::find_by_id(&next)
            .lock_shared()
            .one(tx)
            .await?
            .ok_or_else(|| TenantError::FailedPrecondition(format!("organization \"{next}\" vanished")))?;
    }
    Err(TenantError::FailedPrecondition(format!("organizations may nest at most {MAX_DEPTH} levels deep")))
}

/// A partner with children cannot become a customer, and a mapped organization keeps its kind.
async fn check_kind_change(tx: &DatabaseTransaction, existing: &organization::Model) -> Result<(), TenantError> {
    let children =
        organization::Entity::find().filter(organization::Column::ParentId.eq(existing.id.as_str())).count(tx).await?;
    if children > 0 {
        return Err(TenantError::FailedPrecondition(format!(
            "organization \"{}\" has child organizations, so it must stay a partner",
            existing.id
        )));
    }
    let mapped = tenant::Entity::find()
        .filter(tenant::Column::VendorTenantId.eq(existing.id.as_str()))
        .filter(tenant::Column::AcronisTenantId.is_not_null())
        .count(tx)
        .await?;
    if mapped > 0 {
        return Err(TenantError::FailedPrecondition(format!(
            "organization \"{}\" is mapped to an Acronis tenant; disable the CyberApp for it before changing its kind",
            existing.id
        )));
    }
    Ok(())
}

async fn delete_organization_in(tx: &DatabaseTransaction, id: &str) -> Result<Vec<String>, TenantError> {
    let organization = organization::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| TenantError::NotFound(format!("organization \"{id}\" does not exist")))?;
    let children = organization::Entity::find().filter(organization::Column::ParentId.eq(id)).count(tx).await?;
    if children > 0 {
        return Err(TenantError::FailedPrecondition(format!(
            "organization \"{id}\" has {children} child organization(s); delete or move them first"
        )));
    }
    let identities: Vec<String> = credential::Entity::find()
        .filter(credential::Column::OrganizationId.eq(id))
        .all(tx)
        .await?
        .into_iter()
        .map(|credential| credential.identity)
        .collect();
    let mapping = tenant::Entity::find()
        .filter(tenant::Column::VendorTenantId.eq(id))
        .filter(tenant::Column::EnablementMethod.eq(EnablementMethod::Mapped))
        .one(tx)
        .await?;
    if let Some(mapping) = mapping {
        if let (tenant::TenantKind::Partner, Some(acronis)) = (mapping.kind, mapping.acronis_tenant_id.as_deref()) {
            // Only what this partner owns: a nested partner's customers stay theirs.
            disable_customers_of(tx, acronis).await?;
        }
        if let Some(acronis) = mapping.acronis_tenant_id.as_deref() {
            let kind = match mapping.kind {
                tenant::TenantKind::Partner => EventKind::PartnerUnmapped,
                tenant::TenantKind::Customer => EventKind::CustomerUnmapped,
            };
            // The record goes with the organization; the event shows it as it ends: disabled, unmapped.
            let after = tenant::Model {
                acronis_tenant_id: None,
                state: tenant::EnablementState::Disabled,
                updated_at: Utc::now(),
                ..mapping.clone()
            };
            record_unmapping(tx, kind, acronis, &after).await?;
        }
        tenant::Entity::delete_by_id(mapping.id).exec(tx).await?;
    }
    // Credentials go with the organization (ON DELETE CASCADE).
    organization::Entity::delete_by_id(organization.id).exec(tx).await?;
    record_directory_event(tx, EventKind::OrganizationDeleted, id, None).await?;
    Ok(identities)
}

async fn set_credentials_in(
    tx: &DatabaseTransaction,
    identity: &str,
    organization_id: &str,
    secret_hash: &str,
) -> Result<(), TenantError> {
    if organization::Entity::find_by_id(organization_id).one(tx).await?.is_none() {
        return Err(TenantError::NotFound(format!("organization \"{organization_id}\" does not exist")));
    }
    let now = Utc::now();
    match credential::Entity::find_by_id(identity).lock_exclusive().one(tx).await? {
        Some(existing) => {
            let mut update: credential::ActiveModel = existing.into();
            update.organization_id = Set(organization_id.to_owned());
            update.secret_hash = Set(secret_hash.to_owned());
            update.updated_at = Set(now);
            update.update(tx).await?;
        }
        None => {
            credential::ActiveModel {
                identity: Set(identity.to_owned()),
                organization_id: Set(organization_id.to_owned()),
                secret_hash: Set(secret_hash.to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(tx)
            .await?;
        }
    }
    Ok(record_directory_event(tx, EventKind::CredentialsSet, organization_id, None).await?)
}

/// An unchanged credential of an import must still belong to the organization the file names.
async fn ensure_credential_owner(tx: &DatabaseTransaction, entry: &CredentialImport) -> Result<(), TenantError> {
    let stored = credential::Entity::find_by_id(entry.identity.as_str()).one(tx).await?;
    match stored {
        Some(stored)
            if stored.organization_id == entry.organization_id.as_str()
                && entry.unchanged_hash.as_deref() == Some(stored.secret_hash.as_str()) =>
        {
            Ok(())
        }
        _ => Err(TenantError::FailedPrecondition("changed while the import was prepared; run it again".into())),
    }
}
