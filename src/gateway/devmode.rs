//! Development mode (`ACGW_DEV_MODE=true`): a local RSA signing key that stands in for the Acronis IdP.
//!
//! `serve` trusts it as the issuer `http://localhost:<port>/dev` and publishes its key set at
//! `GET /dev/api/idp/v1/keys`; `dev token` signs tokens with the same key, so a newcomer can send a real,
//! verified callback with curl. The key lives in the data directory (`dev-signing-key.pem`, mode 0600) and
//! is created by `serve` on first use. Never enable this in production: anyone holding the key file can sign callbacks.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::DevTokenArgs;

const KEY_FILE: &str = "dev-signing-key.pem";
const KEY_BITS: usize = 2048;

/// The development issuer for a gateway listening on `http_addr`.
pub fn issuer(http_addr: SocketAddr) -> String {
    format!("http://localhost:{}/dev", http_addr.port())
}

pub struct DevSigningKey {
    kid: String,
    encoding: EncodingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for DevSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl DevSigningKey {
    /// Loads `<data_dir>/dev-signing-key.pem`, creating it when missing.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let private = match std::fs::read_to_string(&path) {
            Ok(pem) => RsaPrivateKey::from_pkcs1_pem(&pem)
                .with_context(|| format!("{} is not an RSA private key", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(&path)?,
            Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
        };
        let pem = private.to_pkcs1_pem(LineEnding::LF)?;
        let public = private.to_public_key();
        let kid = format!("dev-{}", &hex(&Sha256::digest(public.n().to_bytes_be()))[..16]);
        Ok(Self { kid, encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?, public })
    }

    /// The key set served at `/dev/api/idp/v1/keys`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be()),
        }]})
    }

    /// The verification key, by `kid`, for the gateway's fixed development issuer.
    pub fn decoding_keys(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let n = URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be());
        Ok(HashMap::from([(self.kid.clone(), DecodingKey::from_rsa_components(&n, &e)?)]))
    }

    /// A token shaped like the Acronis gateway's (protocol §6), scoped to `endpoint_id`.
    pub fn sign(&self, issuer: &str, endpoint_id: &str, ttl_secs: u64) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = json!({
            "iss": issuer,
            "aud": "acronis.cloud",
            "sub": "dev",
            "sub_type": "platform-acgw",
            "iat": now,
            "exp": now + ttl_secs,
            "jti": uuid::Uuid::new_v4().to_string(),
            "scope": [{ "role": endpoint_id }],
            "ver": 2,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

/// `cyberapp-tenants dev token`. Refuses to invent a key: a token signed by a key the running service does
/// not know would only earn a puzzling 401.
pub fn token(args: &DevTokenArgs) -> anyhow::Result<String> {
    if !args.data_dir.join(KEY_FILE).exists() {
        anyhow::bail!(
            "no development key in {}: start `ACGW_DEV_MODE=true cyberapp-tenants serve` first, and run \
             `dev token` from the same directory (or give both the same DATA_DIR)",
            args.data_dir.display()
        );
    }
    let key = DevSigningKey::load_or_create(&args.data_dir)?;
    key.sign(&issuer(args.http_addr), &args.endpoint_id, args.ttl)
}

fn create(path: &Path) -> anyhow::Result<RsaPrivateKey> {
    tracing::warn!(path = %path.display(), "creating a development signing key");
    let key = RsaPrivateKey::new(&mut rand_core::OsRng, KEY_BITS)?;
    let pem = key.to_pkcs1_pem(LineEnding::LF)?;
    // create_new: two processes starting at once must not overwrite each other's key.
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path)?;
            Ok(RsaPrivateKey::from_pkcs1_pem(&pem)?)
        }
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
