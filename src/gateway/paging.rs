//! The Enablement 2.0 `paging` object (protocol §10): a top-level sibling of `payload` in the request, and
//! `payload.paging` in the response (offset form `{offset, limit, total_count}`, cursor form
//! `{before, after}` with opaque cursors; keys without a value are left out).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::GatewayError;
use crate::pb;

/// Unknown keys are ignored: Acronis may add some, as it added `paging` itself.
#[derive(Deserialize)]
struct PagingRequest {
    limit: u32,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

/// The requested page, or `None` when the request has no `paging` (then everything is returned).
pub fn page_request(paging: Option<&Value>) -> Result<Option<pb::PageRequest>, GatewayError> {
    let Some(paging) = paging.filter(|value| !value.is_null()) else { return Ok(None) };
    let request = PagingRequest::deserialize(paging).map_err(|_| {
        GatewayError::BadRequest(
            "paging must be an object with a positive integer limit and either offset, after or before.".into(),
        )
    })?;
    // Blank cursors mean "none" (the first page).
    let cursor = |value: Option<String>| value.filter(|cursor| !cursor.is_empty());
    Ok(Some(pb::PageRequest {
        limit: request.limit,
        offset: request.offset,
        after: cursor(request.after),
        before: cursor(request.before),
    }))
}

/// `payload.paging` for a served page.
pub fn page_info(info: Option<pb::PageInfo>) -> Option<Value> {
    match info?.kind? {
        pb::page_info::Kind::Offset(page) => {
            Some(json!({ "offset": page.offset, "limit": page.limit, "total_count": page.total_count }))
        }
        pb::page_info::Kind::Cursor(page) => {
            let mut cursors = Map::new();
            if let Some(before) = page.before {
                cursors.insert("before".into(), before.into());
            }
            if let Some(after) = page.after {
                cursors.insert("after".into(), after.into());
            }
            Some(Value::Object(cursors))
        }
    }
}
