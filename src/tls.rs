//! TLS plumbing: the process-wide crypto provider, and the gateway's HTTPS configuration.
//!
//! The process uses one rustls crypto provider, `ring` (the one sqlx already builds), so that no second
//! C crypto library is compiled in. The gateway speaks TLS 1.3 only, as the Acronis basic requirements ask
//! (protocol §2): a TLS 1.2 client is refused during the handshake.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Installs `ring` as the process-wide rustls provider; later calls are no-ops.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TLS 1.3-only server configuration from PEM files (the certificate chain, leaf first, and its key).
pub fn server_config(cert_file: &Path, key_file: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    install_crypto_provider();
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("TLS_CERT_FILE {} holds no readable PEM certificate", cert_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!("TLS_CERT_FILE {} holds no certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("TLS_KEY_FILE {} holds no readable PEM private key", key_file.display()))?;
    let mut config = ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
