//! Argon2id over the canonical form of a secrets object.
//!
//! The canonical form (`canonical_json`) has object keys sorted at every level, so that `{"b":1,"a":2}` and
//! `{"a":2,"b":1}` are the same secret. These functions are CPU-bound on purpose and
//! must run off the async executor (see `CredentialVerifier`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use rand_core::{OsRng, RngCore as _};
use serde_json::Value;

use crate::canonical_json::to_canonical_string;

/// Parses `secrets_json` and returns its canonical text; `None` when it is not a JSON object.
pub fn canonical_secrets(secrets_json: &str) -> Option<String> {
    match serde_json::from_str::<Value>(secrets_json) {
        Ok(value @ Value::Object(_)) => Some(to_canonical_string(&value)),
        _ => None,
    }
}

/// An Argon2id PHC string (default parameters: 19 MiB, 2 passes) with a fresh random salt.
pub fn hash(canonical_secrets: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default().hash_password(canonical_secrets.as_bytes(), &salt)?.to_string())
}

/// Whether `canonical_secrets` matches the PHC string `stored`. A malformed hash never matches.
pub fn verify(canonical_secrets: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(canonical_secrets.as_bytes(), &parsed).is_ok())
}

/// A hash of random bytes, verified against when an identity is unknown so that the answer takes as long as
/// for a known identity with a wrong secret.
pub fn dummy_hash() -> String {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| char::from(b'a' + b % 26)).collect();
    hash(&secret).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_canonical_form() {
        assert_eq!(
            canonical_secrets(r#"{"b": 1, "a": {"y": 2, "x": 3}}"#),
            canonical_secrets(r#"{"a":{"x":3,"y":2},"b":1}"#)
        );
        assert_eq!(canonical_secrets(r#"{"b":1,"a":2}"#).as_deref(), Some(r#"{"a":2,"b":1}"#));
    }

    #[test]
    fn only_json_objects_are_secrets() {
        for bad in ["[]", "\"password\"", "1", "null", "{", ""] {
            assert_eq!(canonical_secrets(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_hash_verifies_its_own_secret_and_nothing_else() {
        let stored = hash(r#"{"password":"s3cret"}"#).expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("s3cret"));
        assert!(verify(r#"{"password":"s3cret"}"#, &stored));
        assert!(!verify(r#"{"password":"S3cret"}"#, &stored));
        assert!(!verify(r#"{"password":"s3cret"}"#, "not a hash"));
    }
}
