//! One checked conversation with the service: a keep-alive connection and one token, each callback sent
//! with a new `request_id` and its answer parsed. For preparing data and for single timed reads (`setup`,
//! `large-partner`), not for load: the workloads send pre-serialized templates instead (`run.rs`).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::client::{self, Conn};
use crate::rng::Rng;
use crate::token::{self, Signer};

pub struct Session {
    conn: Conn,
    host: HeaderValue,
    uri: Uri,
    token: HeaderValue,
    rng: Rng,
}

/// A callback's answer, and how long it took from sending the request to its last byte.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
}

impl Session {
    /// Connects to the service at `url` with a token from `signer`.
    pub async fn open(url: &str, signer: &Signer) -> anyhow::Result<Self> {
        let mut rng = Rng::from_os();
        let token = token::bearer(&signer.sign(&mut rng)?)?;
        let (addr, host, base) = client::resolve(url).await?;
        let conn = Conn::connect(addr).await.map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {e:?}"))?;
        Ok(Self { conn, host: HeaderValue::from_str(&host)?, uri: format!("{base}/callback").parse()?, token, rng })
    }

    /// POSTs `body` to /callback with a new `request_id` and `extra` headers, and parses the JSON answer.
    pub async fn call(&mut self, mut body: Value, extra: &[(HeaderName, HeaderValue)]) -> anyhow::Result<Answer> {
        body["request_id"] = json!(self.rng.uuid_string());
        let mut request = Request::new(Full::new(Bytes::from(serde_json::to_vec(&body)?)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, self.token.clone());
        for (name, value) in extra {
            headers.insert(name.clone(), value.clone());
        }
        let started = Instant::now();
        let (status, response) =
            self.conn.send(request, true).await.map_err(|e| anyhow::anyhow!("request failed: {e:?}"))?;
        let elapsed = started.elapsed();
        let response = response.unwrap_or_default();
        let body = serde_json::from_slice(&response)
            .with_context(|| format!("status {status}, body is not JSON: {}", String::from_utf8_lossy(&response)))?;
        Ok(Answer { status: status.as_u16(), body, elapsed })
    }

    /// Like [`Session::call`], but anything other than 200 is an error naming `what`.
    pub async fn call_ok(
        &mut self,
        what: &str,
        body: Value,
        extra: &[(HeaderName, HeaderValue)],
    ) -> anyhow::Result<Answer> {
        let answer = self.call(body, extra).await.with_context(|| what.to_owned())?;
        if answer.status != 200 {
            anyhow::bail!("{what}: expected 200, got {}: {}", answer.status, answer.body);
        }
        Ok(answer)
    }
}
