//! [`CustomerPage`]: one answer of `customer_organizations`, with the version that names its content, so that
//! a caller holding an answer can be told "unchanged" instead of being sent a thousand customers again.

use sha2::{Digest as _, Sha256};

use super::CustomerOrganization;
use crate::tenant::paging::PageInfo;

/// A page (or the whole list) of a partner's customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPage {
    pub customers: Vec<CustomerOrganization>,
    pub info: Option<PageInfo>,
    /// A digest of `customers` and `info`: equal pages have equal versions in every process and across
    /// restarts, so a gateway may hold an answer from one replica and ask another whether it still stands.
    pub version: [u8; 16],
}

impl CustomerPage {
    pub fn new(customers: Vec<CustomerOrganization>, info: Option<PageInfo>) -> Self {
        let version = digest(&customers, info.as_ref());
        Self { customers, info, version }
    }
}

/// The first 128 bits of a SHA-256 over an unambiguous encoding of the page (every string length-prefixed,
/// every optional tagged): a collision would serve one partner's older page as current, so the digest is
/// cryptographic rather than a fast hash an organization name could be chosen to collide with.
fn digest(customers: &[CustomerOrganization], info: Option<&PageInfo>) -> [u8; 16] {
    let mut sha = Sha256::new();
    let number = |sha: &mut Sha256, n: u64| sha.update(n.to_le_bytes());
    let text = |sha: &mut Sha256, text: &str| {
        sha.update((text.len() as u64).to_le_bytes());
        sha.update(text.as_bytes());
    };
    let optional = |sha: &mut Sha256, value: Option<&String>| {
        sha.update([u8::from(value.is_some())]);
        if let Some(value) = value {
            text(sha, value);
        }
    };
    number(&mut sha, customers.len() as u64);
    for customer in customers {
        text(&mut sha, &customer.id);
        text(&mut sha, &customer.name);
        optional(&mut sha, customer.acronis_tenant_id.as_ref());
    }
    match info {
        None => sha.update([0]),
        Some(PageInfo::Offset { offset, limit, total_count }) => {
            sha.update([1]);
            number(&mut sha, *offset);
            number(&mut sha, u64::from(*limit));
            number(&mut sha, *total_count);
        }
        Some(PageInfo::Cursor { before, after }) => {
            sha.update([2]);
            optional(&mut sha, before.as_ref());
            optional(&mut sha, after.as_ref());
        }
    }
    let mut version = [0; 16];
    version.copy_from_slice(&sha.finalize()[..16]);
    version
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, name: &str, acronis: Option<&str>) -> CustomerOrganization {
        CustomerOrganization { id: id.into(), name: name.into(), acronis_tenant_id: acronis.map(Into::into) }
    }

    #[test]
    fn equal_pages_have_equal_versions_and_any_difference_changes_it() {
        let page = |customers: Vec<CustomerOrganization>, info| CustomerPage::new(customers, info).version;
        let base = page(vec![customer("a", "A", None), customer("b", "B", Some("t"))], None);
        assert_eq!(base, page(vec![customer("a", "A", None), customer("b", "B", Some("t"))], None));
        let others = [
            page(vec![customer("a", "A", None), customer("b", "B", None)], None),
            page(vec![customer("a", "A", None), customer("b", "B", Some("u"))], None),
            page(vec![customer("a", "A", None), customer("b", "C", Some("t"))], None),
            page(vec![customer("b", "B", Some("t")), customer("a", "A", None)], None),
            page(vec![customer("a", "A", None)], None),
            // The same characters split differently between fields.
            page(vec![customer("aA", "", None), customer("b", "B", Some("t"))], None),
            page(
                vec![customer("a", "A", None), customer("b", "B", Some("t"))],
                Some(PageInfo::Cursor { before: None, after: None }),
            ),
            page(
                vec![customer("a", "A", None), customer("b", "B", Some("t"))],
                Some(PageInfo::Cursor { before: None, after: Some("b".into()) }),
            ),
            page(
                vec![customer("a", "A", None), customer("b", "B", Some("t"))],
                Some(PageInfo::Offset { offset: 0, limit: 2, total_count: 2 }),
            ),
            page(
                vec![customer("a", "A", None), customer("b", "B", Some("t"))],
                Some(PageInfo::Offset { offset: 0, limit: 2, total_count: 3 }),
            ),
        ];
        for (index, other) in others.iter().enumerate() {
            assert_ne!(&base, other, "variant {index} must change the version");
        }
    }
}
