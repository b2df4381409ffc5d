//! Cursor paging as ACGW carries it (acgw-protocol.md §10): the request's top-level `paging` object in, the
//! response's `paging` object out, and the cursor between them.
//!
//! The cursor is opaque to Acronis and to the console: it only ever comes back to us. We encode the id of the
//! last user of the page (base64url, so it travels in JSON and URLs untouched) and refuse anything we could
//! not have issued, so a forged cursor is a 400, not a wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

/// Page size when the request carries no `paging` or no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// Larger `limit`s are capped to this rather than refused: the console decides page sizes, not the partner.
pub const MAX_LIMIT: usize = 500;

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// Start after the user with this id; `None` for the first page.
    pub after: Option<u64>,
}

/// Why a request's paging object was refused; the text is a sentence for the partner admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPaging(pub &'static str);

#[derive(Deserialize)]
struct RawPaging {
    limit: Option<Value>,
    after: Option<Value>,
    before: Option<Value>,
}

impl PageRequest {
    /// The page `paging_json` (the request's `paging` object as JSON text, when present) asks for.
    pub fn parse(paging_json: Option<&str>) -> Result<Self, InvalidPaging> {
        let Some(text) = paging_json else { return Ok(Self { limit: DEFAULT_LIMIT, after: None }) };
        let raw: RawPaging =
            serde_json::from_str(text).map_err(|_| InvalidPaging("The paging object must be a JSON object."))?;
        // Only forward paging is offered: a `before` cursor would otherwise be silently ignored and answer
        // the first page.
        if raw.before.is_some_and(|before| !before.is_null()) {
            return Err(InvalidPaging("This list can only be paged forward, with an after cursor."));
        }
        let limit = match raw.limit {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(limit) => match limit.as_u64() {
                Some(0) | None => return Err(InvalidPaging("The page size (limit) must be a positive whole number.")),
                Some(limit) => usize::try_from(limit).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
            },
        };
        let after = match raw.after {
            None | Some(Value::Null) => None,
            Some(Value::String(cursor)) if cursor.is_empty() => None,
            Some(Value::String(cursor)) => {
                Some(decode_cursor(&cursor).ok_or(InvalidPaging("The paging cursor is not valid; reload the list."))?)
            }
            Some(_) => return Err(InvalidPaging("The paging cursor is not valid; reload the list.")),
        };
        Ok(Self { limit, after })
    }
}

/// The response `paging` object (JSON text) for a page whose last user is `more_after`, or `None` when the page
/// was the last: the key is then left out of the envelope.
pub fn response_paging(more_after: Option<u64>) -> Option<String> {
    more_after.map(|id| json!({ "after": encode_cursor(id) }).to_string())
}

pub fn encode_cursor(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    // Exactly what `encode_cursor` writes: digits with no sign, no leading zero.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_paging_object_asks_for_the_first_page_of_the_default_size() {
        assert_eq!(PageRequest::parse(None), Ok(PageRequest { limit: DEFAULT_LIMIT, after: None }));
        assert_eq!(PageRequest::parse(Some("{}")), Ok(PageRequest { limit: DEFAULT_LIMIT, after: None }));
    }

    #[test]
    fn a_cursor_comes_back_as_the_id_it_was_made_from() {
        for id in [0, 1, 42, u64::MAX] {
            let paging = format!(r#"{{"limit": 5, "after": "{}"}}"#, encode_cursor(id));
            assert_eq!(PageRequest::parse(Some(&paging)), Ok(PageRequest { limit: 5, after: Some(id) }));
        }
    }

    #[test]
    fn a_limit_above_the_maximum_is_capped() {
        assert_eq!(PageRequest::parse(Some(r#"{"limit": 100000}"#)).map(|p| p.limit), Ok(MAX_LIMIT));
    }

    #[test]
    fn invalid_paging_is_refused_with_a_sentence() {
        for paging in [
            "[]",
            "not json",
            r#"{"limit": 0}"#,
            r#"{"limit": -1}"#,
            r#"{"limit": 2.5}"#,
            r#"{"limit": "5"}"#,
            r#"{"after": 5}"#,
            r#"{"after": "not a cursor!"}"#,
            r#"{"limit": 5, "before": "MQ"}"#,
        ] {
            let refused = PageRequest::parse(Some(paging)).expect_err(paging);
            assert!(refused.0.ends_with('.'), "{paging}: {}", refused.0);
        }
    }

    #[test]
    fn only_cursors_we_could_have_issued_are_accepted() {
        for text in ["", "-1", "+1", "01", "1.0", "18446744073709551616", "abc"] {
            assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(text)), None, "{text:?}");
        }
    }

    #[test]
    fn the_response_carries_a_cursor_only_when_more_follow() {
        assert_eq!(response_paging(None), None);
        let paging: Value = serde_json::from_str(&response_paging(Some(7)).expect("more")).expect("JSON");
        assert_eq!(paging, json!({ "after": encode_cursor(7) }));
    }
}
