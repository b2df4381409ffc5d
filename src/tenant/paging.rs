//! Pages of customer lists (Enablement 2.0 pagination, protocol §10): by offset, or by opaque cursors.
//!
//! Lists are ordered by organization id, which is unique and indexed, so a page boundary is stable while
//! data changes: a cursor is just the id where the last page ended (base64url-wrapped so that callers treat
//! it as opaque, as the protocol asks).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::TenantError;

/// Largest page served; a larger `limit` is reduced to it.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Where a requested page starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Position {
    Offset(u64),
    /// The items after this id (or from the start, for `None`).
    After(Option<String>),
    /// The items before this id.
    Before(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: u32,
    pub position: Position,
}

/// What a served page says about its neighbourhood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageInfo {
    Offset {
        offset: u64,
        limit: u32,
        total_count: u64,
    },
    /// Cursors to the previous and next page, when there is one.
    Cursor {
        before: Option<String>,
        after: Option<String>,
    },
}

impl PageRequest {
    /// Validates a limit (at least 1; capped at [`MAX_PAGE_SIZE`]) and decodes cursors.
    pub fn new(
        limit: u32,
        offset: Option<u64>,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<Self, TenantError> {
        if limit == 0 {
            return Err(TenantError::InvalidArgument("paging.limit must be at least 1".into()));
        }
        let position = match (offset, after, before) {
            (Some(offset), None, None) => Position::Offset(offset),
            (None, after, None) => Position::After(after.map(decode_cursor).transpose()?),
            (None, None, Some(before)) => Position::Before(decode_cursor(before)?),
            _ => {
                return Err(TenantError::InvalidArgument(
                    "paging takes either offset, or one of after and before".into(),
                ));
            }
        };
        Ok(Self { limit: limit.min(MAX_PAGE_SIZE), position })
    }
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<String, TenantError> {
    unwrap_token(cursor, "id:")
        .filter(|id| super::model::VendorTenantId::parse(id, "cursor").is_ok())
        .ok_or_else(|| TenantError::InvalidArgument("the paging cursor is not one this service issued".into()))
}

/// The text after `prefix` in a token this service wrapped (base64url of `prefix` + value).
fn unwrap_token(token: &str, prefix: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    text.strip_prefix(prefix).map(str::to_owned)
}

/// Records per page of `ListPartners`/`ListCustomers` when the caller does not say.
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 100;

/// A `page_token` of `ListPartners`/`ListCustomers`: the row id the previous page ended at. Wrapped and
/// prefixed so that callers treat it as opaque and tokens of the customer-organization lists are refused.
pub fn encode_page_token(row_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("row:{row_id}"))
}

/// The row id a `page_token` continues after; 0 (from the start) for an empty token.
pub fn decode_page_token(token: &str) -> Result<i64, TenantError> {
    if token.is_empty() {
        return Ok(0);
    }
    unwrap_token(token, "row:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(|| TenantError::InvalidArgument("page_token is not one this service issued".into()))
}

/// A list's page size: the default for 0, at most [`MAX_PAGE_SIZE`].
pub fn list_page_size(requested: u32) -> u32 {
    if requested == 0 { DEFAULT_LIST_PAGE_SIZE } else { requested.min(MAX_PAGE_SIZE) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_page_token(&encode_page_token(42)).expect("ours"), 42);
        assert_eq!(decode_page_token("").expect("first page"), 0);
        assert!(decode_page_token(&encode_cursor("acme")).is_err());
        assert!(decode_page_token("%%%").is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("row:-1")).is_err());
    }

    #[test]
    fn list_page_sizes_default_and_are_capped() {
        assert_eq!(list_page_size(0), DEFAULT_LIST_PAGE_SIZE);
        assert_eq!(list_page_size(7), 7);
        assert_eq!(list_page_size(u32::MAX), MAX_PAGE_SIZE);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = encode_cursor("acme-c1");
        let page = PageRequest::new(10, None, Some(&cursor), None).expect("valid");
        assert_eq!(page.position, Position::After(Some("acme-c1".into())));
        assert!(PageRequest::new(10, None, Some("bm90LW91cnM"), None).is_err());
        assert!(PageRequest::new(10, None, Some("%%%"), None).is_err());
    }

    #[test]
    fn limits_are_checked_and_capped() {
        assert!(PageRequest::new(0, None, None, None).is_err());
        assert_eq!(PageRequest::new(50_000, None, None, None).expect("capped").limit, MAX_PAGE_SIZE);
        assert!(PageRequest::new(5, Some(0), Some(&encode_cursor("a")), None).is_err());
    }
}
