//! RS256 tokens shaped like the Acronis API Callback Gateway's (protocol §6), signed with the service's
//! development-mode key (`DATA_DIR/dev-signing-key.pem`, written by `ACGW_DEV_MODE=true cyberapp-tenants
//! serve`).
//!
//! The key id is derived exactly as the service derives it: `dev-` + the first 16 hex digits of
//! SHA-256(modulus, big-endian, no leading zeros). Signing uses `ring` directly (PKCS#1 v1.5, SHA-256): it is
//! several times faster than the pure-Rust `rsa` crate, which matters for `--token-mode fresh` pools.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::HeaderValue;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;

use crate::rng::Rng;

/// Lifetime of every token: the Acronis gateway reuses a token for about an hour.
pub const TOKEN_TTL_SECS: u64 = 3600;

pub struct Signer {
    key: RsaKeyPair,
    kid: String,
    issuer: String,
    endpoint_id: String,
    rng: SystemRandom,
}

impl Signer {
    pub fn load(pem_path: &Path, issuer: &str, endpoint_id: &str) -> anyhow::Result<Self> {
        let pem = std::fs::read_to_string(pem_path).with_context(|| {
            format!(
                "cannot read the development signing key {} (start the service with ACGW_DEV_MODE=true and \
                 DATA_DIR set; it writes dev-signing-key.pem there)",
                pem_path.display()
            )
        })?;
        let key = parse_pem(&pem).with_context(|| format!("{} is not an RSA private key", pem_path.display()))?;
        let components: PublicKeyComponents<Vec<u8>> = key.public().into();
        let digest = ring::digest::digest(&ring::digest::SHA256, &components.n);
        let kid = format!("dev-{}", &hex(digest.as_ref())[..16]);
        Ok(Self {
            key,
            kid,
            issuer: issuer.trim_end_matches('/').to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token with a unique `jti` (`jti_rng` supplies it).
    pub fn sign(&self, jti_rng: &mut Rng) -> anyhow::Result<String> {
        let mut token = self.signing_input(jti_rng)?;
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    /// A token with a unique `jti` that carries `signature`, a real signature of *another* token: well-formed,
    /// but the service must do the full RSA check to refuse it. Costs no signing, so W5 pools are cheap.
    pub fn forge(&self, jti_rng: &mut Rng, signature: &str) -> anyhow::Result<String> {
        Ok(format!("{}.{signature}", self.signing_input(jti_rng)?))
    }

    /// `base64url(header).base64url(claims)`: what the signature covers.
    fn signing_input(&self, jti_rng: &mut Rng) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let claims = json!({
            "aud": "acronis.cloud",
            "exp": now + TOKEN_TTL_SECS,
            "iat": now,
            "iss": self.issuer,
            "jti": jti_rng.uuid_string(),
            "sub": "cyberapp-bench",
            "sub_type": "platform-acgw",
            "scope": [{ "role": self.endpoint_id }],
            "ver": 2,
        });
        let mut token = String::with_capacity(1024);
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&header)?, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&claims)?, &mut token);
        Ok(token)
    }
}

/// The same token with one bit of its signature flipped: well-formed, right length, wrong signature, so the
/// service has to do the full RSA verification before it refuses it.
pub fn corrupt_signature(token: &str) -> anyhow::Result<String> {
    let (signed, signature) = token.rsplit_once('.').context("token has no signature")?;
    let mut signature = URL_SAFE_NO_PAD.decode(signature)?;
    let last = signature.last_mut().context("empty signature")?;
    *last ^= 0x01;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

pub fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

/// `count` distinct tokens, signed on `threads` threads (or, when `corrupt`, forged: see [`Signer::forge`]);
/// returns them and the seconds it took.
pub fn pool(signer: &Signer, count: usize, threads: usize, corrupt: bool) -> anyhow::Result<(Vec<HeaderValue>, f64)> {
    let started = Instant::now();
    let borrowed = signer.sign(&mut Rng::from_os())?;
    let borrowed_signature = borrowed.rsplit_once('.').map(|(_, signature)| signature.to_owned()).unwrap_or_default();
    let borrowed_signature = &borrowed_signature;
    let threads = threads.clamp(1, count.max(1));
    let per_thread = count.div_ceil(threads);
    let parts: Vec<anyhow::Result<Vec<HeaderValue>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let n = per_thread.min(count.saturating_sub(t * per_thread));
                scope.spawn(move || {
                    let mut rng = Rng::from_os();
                    let mut out = Vec::with_capacity(n);
                    for _ in 0..n {
                        let token = if corrupt {
                            signer.forge(&mut rng, borrowed_signature)?
                        } else {
                            signer.sign(&mut rng)?
                        };
                        out.push(bearer(&token)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("signer thread panicked"))))
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for part in parts {
        all.extend(part?);
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

fn parse_pem(pem: &str) -> anyhow::Result<RsaKeyPair> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_owned());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let der = STANDARD.decode(body.as_bytes()).context("PEM body is not base64")?;
    match label.as_deref() {
        Some("RSA PRIVATE KEY") => RsaKeyPair::from_der(&der).map_err(|e| anyhow::anyhow!("PKCS#1 key rejected: {e}")),
        Some("PRIVATE KEY") => RsaKeyPair::from_pkcs8(&der).map_err(|e| anyhow::anyhow!("PKCS#8 key rejected: {e}")),
        Some(other) => bail!("unsupported PEM block {other:?}"),
        None => bail!("no PEM block found"),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
