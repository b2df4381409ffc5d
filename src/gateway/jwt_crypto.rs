//! RS256 signature checks with `ring` instead of jsonwebtoken's pure-Rust RSA.
//!
//! Every callback with a token not seen before costs one RSA verification, and the pure-Rust one takes
//! about 400 µs of CPU: the largest cost of a callback, and what bounds how fast forged tokens are refused.
//! `ring` (already built in for TLS) checks the same signature in a small fraction of that. It also refuses
//! RSA keys shorter than 2048 bits, which no IdP should be signing with anyway. jsonwebtoken still does
//! everything else (parsing, claims, the other algorithms, which our verifier never accepts).

use std::sync::LazyLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};

static PROVIDER: LazyLock<CryptoProvider> =
    LazyLock::new(|| CryptoProvider { verifier_factory: new_verifier, ..rust_crypto::DEFAULT_PROVIDER.clone() });

/// Makes jsonwebtoken check RS256 signatures with `ring` in this process, unless jsonwebtoken was used
/// before (its first use fixes the process's provider): call this before anything else uses it. Returns
/// whether `ring` is in use; idempotent.
pub fn install() -> bool {
    match PROVIDER.install_default() {
        Ok(()) => true,
        Err(installed) => std::ptr::eq(installed, &raw const *PROVIDER),
    }
}

// The signature jsonwebtoken's `CryptoProvider` asks for.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::RS256 {
        return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key);
    }
    if key.family() != AlgorithmFamily::Rsa {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(Rs256Verifier(key.clone())))
}

struct Rs256Verifier(DecodingKey);

impl jsonwebtoken::signature::Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), jsonwebtoken::signature::Error> {
        let checked = match self.0.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                // ring wants the modulus and exponent without leading zero bytes; JWKs may carry them.
                let components = RsaPublicKeyComponents { n: strip_leading_zeros(n), e: strip_leading_zeros(e) };
                components.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            }
            DecodingKeyKind::SecretOrDer(pkcs1_der) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1_der).verify(message, signature)
            }
        };
        checked.map_err(|_| jsonwebtoken::signature::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&byte| byte != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bytes_are_stripped_and_nothing_else() {
        assert_eq!(strip_leading_zeros(&[0, 0, 1, 0, 2]), &[1, 0, 2]);
        assert_eq!(strip_leading_zeros(&[1, 0]), &[1, 0]);
        assert_eq!(strip_leading_zeros(&[0, 0]), &[] as &[u8]);
    }
}
