//! Argon2id over the canonical form of a secrets object.
//!
//! The canonical form (`canonical_json`) has object keys sorted at every level, so that `{"b":1,"a":2}` and
//! `{"a":2,"b":1}` are the same secret. These functions are CPU-bound on purpose and
//! must run off the async executor (see `CredentialVerifier`).

use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::{OsRng, RngCore as _};
use serde_json::Value;
use subtle::ConstantTimeEq as _;

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
///
/// The hash is recomputed in working memory borrowed from [`WORKING_MEMORY`] rather than allocated per
/// check: the system allocator keeps every freed 19 MiB block resident in the arena of the thread that used
/// it, which grew the process to about 450 MiB under a burst of credential checks (`docs/performance.md`).
pub fn verify(canonical_secrets: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Ok(algorithm), Some(salt), Some(expected)) = (Algorithm::try_from(parsed.algorithm), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else { return false };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else { return false };
    let mut blocks = WORKING_MEMORY.take(params.block_count());
    let mut output = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        canonical_secrets.as_bytes(),
        salt,
        &mut output,
        &mut blocks,
    );
    WORKING_MEMORY.give_back(blocks);
    computed.is_ok() && bool::from(output.as_slice().ct_eq(expected.as_bytes()))
}

/// Argon2 working memory kept for reuse. At most as many buffers exist as checks ever ran at once, which
/// `ARGON2_MAX_CONCURRENCY` bounds.
static WORKING_MEMORY: MemoryPool = MemoryPool { free: Mutex::new(Vec::new()) };

struct MemoryPool {
    free: Mutex<Vec<Vec<Block>>>,
}

impl MemoryPool {
    fn take(&self, blocks: usize) -> Vec<Block> {
        let reused = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        match reused {
            Some(buffer) if buffer.len() >= blocks => buffer,
            _ => vec![Block::default(); blocks],
        }
    }

    fn give_back(&self, buffer: Vec<Block>) {
        self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(buffer);
    }
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
        // The reused working memory gives the same answers on the next checks.
        assert!(verify(r#"{"password":"s3cret"}"#, &stored));
        assert!(!verify(r#"{"password":"other"}"#, &stored));
    }

    #[test]
    fn hashes_with_other_parameters_still_verify() {
        let params = Params::new(8 * 1024, 1, 1, None).expect("params");
        let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(br#"{"password":"x"}"#, &salt)
            .expect("hash")
            .to_string();
        assert!(verify(r#"{"password":"x"}"#, &stored));
        assert!(!verify(r#"{"password":"y"}"#, &stored));
    }
}
