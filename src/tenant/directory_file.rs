//! `cyberapp-tenants directory import FILE`: loads vendor organizations and credentials from the JSON file
//! format of the product contract.
//!
//! The whole file is checked before anything is written, and then applied in one transaction, so a bad file
//! changes nothing; every complaint names the entry (`organizations[3] "acme-c1": …`). Importing the same
//! file again changes nothing: organizations are compared field by field and a credential whose stored hash
//! already matches its secrets is left alone (no new salt, no event).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::db::entity::organization::OrganizationKind;
use crate::tenant::credentials::hashing;
use crate::tenant::model::{Identity, TenantName, VendorTenantId};
use crate::tenant::store::{CredentialImport, DirectoryImport, ImportSummary, OrganizationUpsert, TenantStore};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    organizations: Vec<OrganizationEntry>,
    #[serde(default)]
    credentials: Vec<CredentialEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationEntry {
    id: String,
    name: String,
    kind: KindEntry,
    #[serde(default)]
    parent_id: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum KindEntry {
    Partner,
    Customer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    identity: String,
    organization_id: String,
    secrets: Value,
}

/// Reads, checks and applies the directory file at `path`.
pub async fn import(store: &TenantStore, path: &Path) -> anyhow::Result<ImportSummary> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: DirectoryFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid directory file", path.display()))?;
    let organizations = plan_organizations(&file.organizations)?;
    let credentials = plan_credentials(store, &file, &organizations).await?;
    let import = DirectoryImport { organizations, credentials };
    store.import_directory(&import).await.map_err(|error| anyhow::anyhow!("{error}; nothing was imported"))
}

/// Checks each organization entry and orders them parents first.
fn plan_organizations(entries: &[OrganizationEntry]) -> anyhow::Result<Vec<OrganizationUpsert>> {
    let mut upserts = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("organizations[{index}] \"{}\"", entry.id);
        let upsert = OrganizationUpsert {
            id: VendorTenantId::parse(&entry.id, "id").map_err(|e| anyhow::anyhow!("{at}: {e}"))?,
            name: TenantName::parse(&entry.name, "name").map_err(|e| anyhow::anyhow!("{at}: {e}"))?,
            kind: match entry.kind {
                KindEntry::Partner => OrganizationKind::Partner,
                KindEntry::Customer => OrganizationKind::Customer,
            },
            parent_id: entry
                .parent_id
                .as_deref()
                .map(|parent| VendorTenantId::parse(parent, "parent_id"))
                .transpose()
                .map_err(|e| anyhow::anyhow!("{at}: {e}"))?,
        };
        if !seen.insert(upsert.id.clone()) {
            bail!("{at}: the id appears more than once");
        }
        if upsert.parent_id.as_ref() == Some(&upsert.id) {
            bail!("{at}: an organization cannot be its own parent");
        }
        upserts.push(upsert);
    }
    let kinds: HashMap<&str, OrganizationKind> = upserts.iter().map(|u| (u.id.as_str(), u.kind)).collect();
    for (index, upsert) in upserts.iter().enumerate() {
        if let Some(parent) = &upsert.parent_id
            && kinds.get(parent.as_str()) == Some(&OrganizationKind::Customer)
        {
            bail!(
                "organizations[{index}] \"{}\": parent \"{parent}\" is a customer, and customers have no children",
                upsert.id
            );
        }
    }
    order_parents_first(upserts)
}

/// Orders organizations so that every parent named in the file comes before its children.
fn order_parents_first(upserts: Vec<OrganizationUpsert>) -> anyhow::Result<Vec<OrganizationUpsert>> {
    let index_of: HashMap<String, usize> = upserts.iter().enumerate().map(|(i, u)| (u.id.to_string(), i)).collect();
    let mut placed = vec![false; upserts.len()];
    let mut order = Vec::with_capacity(upserts.len());
    for start in 0..upserts.len() {
        // Walk up to the highest unplaced ancestor within the file, then place the chain top-down.
        let mut chain = vec![start];
        let mut current = start;
        while let Some(parent) = upserts[current].parent_id.as_ref().and_then(|p| index_of.get(p.as_str())).copied() {
            if placed[parent] {
                break;
            }
            if chain.contains(&parent) {
                bail!("organizations[{start}] \"{}\": its parents form a cycle", upserts[start].id);
            }
            chain.push(parent);
            current = parent;
        }
        for &index in chain.iter().rev() {
            if !placed[index] {
                placed[index] = true;
                order.push(index);
            }
        }
    }
    let mut slots: Vec<Option<OrganizationUpsert>> = upserts.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|index| slots[index].take()).collect())
}

/// Checks each credential entry and hashes the secrets that are not stored already.
async fn plan_credentials(
    store: &TenantStore,
    file: &DirectoryFile,
    organizations: &[OrganizationUpsert],
) -> anyhow::Result<Vec<CredentialImport>> {
    let in_file: HashSet<&str> = organizations.iter().map(|u| u.id.as_str()).collect();
    let mut seen = HashSet::new();
    let mut plan = Vec::with_capacity(file.credentials.len());
    for (index, entry) in file.credentials.iter().enumerate() {
        let at = format!("credentials[{index}] \"{}\"", entry.identity);
        let identity = Identity::parse(&entry.identity).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        if !seen.insert(identity.clone()) {
            bail!("{at}: the identity appears more than once");
        }
        let organization_id = VendorTenantId::parse(&entry.organization_id, "organization_id")
            .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        if !in_file.contains(organization_id.as_str()) && store.organization(&organization_id).await?.is_none() {
            bail!("{at}: organization \"{organization_id}\" is neither in the file nor in the directory");
        }
        let Some(canonical) = entry
            .secrets
            .is_object()
            .then(|| entry.secrets.to_string())
            .and_then(|json| hashing::canonical_secrets(&json))
        else {
            bail!("{at}: secrets must be a JSON object such as {{\"password\": \"…\"}}");
        };
        let stored = store.credential(&identity).await?;
        let planned = tokio::task::spawn_blocking(move || match stored {
            Some(stored)
                if stored.organization_id == organization_id.as_str()
                    && hashing::verify(&canonical, &stored.secret_hash) =>
            {
                Ok(CredentialImport {
                    identity,
                    organization_id,
                    secret_hash: None,
                    unchanged_hash: Some(stored.secret_hash),
                })
            }
            _ => hashing::hash(&canonical).map(|hash| CredentialImport {
                identity,
                organization_id,
                secret_hash: Some(hash),
                unchanged_hash: None,
            }),
        })
        .await?
        .map_err(|error| anyhow::anyhow!("{at}: cannot hash the secrets: {error}"))?;
        plan.push(planned);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(id: &str, parent: Option<&str>) -> OrganizationUpsert {
        let id_of = |id| VendorTenantId::parse(id, "id").expect("valid id");
        OrganizationUpsert {
            id: id_of(id),
            name: TenantName::parse(id, "name").expect("valid name"),
            kind: OrganizationKind::Partner,
            parent_id: parent.map(id_of),
        }
    }

    #[test]
    fn parents_come_before_their_children_whatever_the_file_order() {
        let ordered = order_parents_first(vec![
            upsert("grandchild", Some("child")),
            upsert("child", Some("root")),
            upsert("root", None),
            upsert("outside", Some("already-stored")),
        ])
        .expect("ordered");
        let ids: Vec<&str> = ordered.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["root", "child", "grandchild", "outside"]);
    }

    #[test]
    fn a_cycle_within_the_file_is_refused() {
        let error = order_parents_first(vec![upsert("a", Some("b")), upsert("b", Some("a"))]).expect_err("cycle");
        assert!(error.to_string().contains("cycle"), "{error}");
    }
}
