//! TLS plumbing shared by the outbound JWKS client.
//!
//! The process uses one rustls crypto provider, `ring` (the one sqlx already builds), so that no second
//! C crypto library is compiled in.

/// Installs `ring` as the process-wide rustls provider; later calls are no-ops.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
