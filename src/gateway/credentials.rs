//! The enablement-form headers (protocol §5.2, §5.3).
//!
//! `X-CyberApp-Auth` is base64 of `<identity>:<secrets>`, split at the *first* colon: the identity is plain
//! text and the secrets a JSON object. Every way it can be unreadable is a 401 (the contract treats it as
//! authentication), and no message ever quotes the header: it carries a password. `X-CyberApp-Extra` is
//! base64 of JSON text; when present it must decode (400 otherwise).

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

use super::error::GatewayError;
use crate::pb;

pub const CYBERAPP_AUTH: &str = "x-cyberapp-auth";
pub const CYBERAPP_EXTRA: &str = "x-cyberapp-extra";

/// Headers larger than this are refused before decoding.
const MAX_HEADER_LEN: usize = 16 * 1024;

/// Standard base64, with or without padding (Acronis pads; hand-made test requests often do not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn unreadable(reason: &str) -> GatewayError {
    GatewayError::Unauthorized(format!("The enablement credentials could not be read: {reason}."))
}

/// Decodes `X-CyberApp-Auth` into the identity and the secrets object's JSON text.
pub fn cyberapp_auth(headers: &HeaderMap, from_tenant: &str) -> Result<pb::Credentials, GatewayError> {
    let raw = headers.get(CYBERAPP_AUTH).ok_or_else(|| unreadable("the X-CyberApp-Auth header is missing"))?;
    if raw.len() > MAX_HEADER_LEN {
        return Err(unreadable("X-CyberApp-Auth is too long"));
    }
    let decoded =
        BASE64.decode(raw.as_bytes().trim_ascii()).map_err(|_| unreadable("X-CyberApp-Auth is not valid base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| unreadable("X-CyberApp-Auth is not UTF-8 text"))?;
    let (identity, secrets) =
        text.split_once(':').ok_or_else(|| unreadable("X-CyberApp-Auth must hold <identity>:<secrets>"))?;
    if identity.is_empty() {
        return Err(unreadable("the identity in X-CyberApp-Auth is empty"));
    }
    match serde_json::from_str::<Value>(secrets) {
        Ok(Value::Object(_)) => {}
        Ok(_) => return Err(unreadable("the secrets in X-CyberApp-Auth must be a JSON object")),
        Err(_) => return Err(unreadable("the secrets in X-CyberApp-Auth are not JSON")),
    }
    Ok(pb::Credentials {
        identity: identity.to_owned(),
        secrets_json: secrets.to_owned(),
        acronis_tenant_id: from_tenant.to_owned(),
    })
}

/// Checks that `X-CyberApp-Extra`, when present and not blank, is base64 of JSON text.
pub fn check_cyberapp_extra(headers: &HeaderMap) -> Result<(), GatewayError> {
    cyberapp_extra(headers).map(drop)
}

/// The decoded `X-CyberApp-Extra` (JSON text), when present and not blank; 400 when it is not base64 of
/// JSON text.
pub fn cyberapp_extra(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let Some(raw) = headers.get(CYBERAPP_EXTRA) else { return Ok(None) };
    let raw = raw.as_bytes().trim_ascii();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || GatewayError::BadRequest("X-CyberApp-Extra must be base64-encoded JSON.".into());
    if raw.len() > MAX_HEADER_LEN {
        return Err(bad());
    }
    let decoded = BASE64.decode(raw).map_err(|_| bad())?;
    serde_json::from_slice::<Value>(&decoded).map_err(|_| bad())?;
    String::from_utf8(decoded).map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "999d63d2-831e-40b9-aaab-16f919a483d0";

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().expect("header value"));
        headers
    }

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn identity_and_secrets_split_at_the_first_colon() {
        let credentials =
            cyberapp_auth(&headers(CYBERAPP_AUTH, &encode(r#"admin@acme:{"password":"a:b"}"#)), TENANT).expect("valid");
        assert_eq!(credentials.identity, "admin@acme");
        assert_eq!(credentials.secrets_json, r#"{"password":"a:b"}"#);
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let encoded = encode(r#"u:{"password":"p"}"#);
        assert!(cyberapp_auth(&headers(CYBERAPP_AUTH, encoded.trim_end_matches('=')), TENANT).is_ok());
    }

    #[test]
    fn every_unreadable_header_is_a_401_that_does_not_quote_it() {
        let cases = [
            "not base64!".to_owned(),
            encode("no-colon"),
            encode(r#":{"password":"p"}"#),
            encode("user:not json"),
            encode(r#"user:["password"]"#),
            encode("user:\"password\""),
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', b'{', b'}']),
        ];
        for value in cases {
            let error = cyberapp_auth(&headers(CYBERAPP_AUTH, &value), TENANT).expect_err("refused");
            assert!(matches!(error, GatewayError::Unauthorized(_)), "{value}");
            assert!(!error.to_string().contains(&value), "{error}");
        }
        assert!(cyberapp_auth(&HeaderMap::new(), TENANT).is_err());
    }

    #[test]
    fn extra_must_be_base64_json_when_present() {
        assert!(check_cyberapp_extra(&HeaderMap::new()).is_ok());
        assert!(check_cyberapp_extra(&headers(CYBERAPP_EXTRA, "e30=")).is_ok());
        assert!(check_cyberapp_extra(&headers(CYBERAPP_EXTRA, &encode(r#"{"region":"eu"}"#))).is_ok());
        for bad in ["%%%".to_owned(), encode("{not json")] {
            assert!(matches!(check_cyberapp_extra(&headers(CYBERAPP_EXTRA, &bad)), Err(GatewayError::BadRequest(_))));
        }
    }
}
