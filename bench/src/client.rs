//! One HTTP/1.1 keep-alive connection, driven by hyper's low-level client (`client::conn::http1`).
//!
//! The connection future is polled in the same task as the request (no spawned connection task), so a
//! request/response round trip costs no cross-task wake-ups.

use std::net::SocketAddr;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Body = Full<Bytes>;

pub struct Conn {
    sender: SendRequest<Body>,
    connection: Pin<Box<Connection<TokioIo<TcpStream>, Body>>>,
}

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransportError {
    Connect,
    Send,
    Body,
    Closed,
    Timeout,
}

impl TransportError {
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Send => "send",
            Self::Body => "body",
            Self::Closed => "closed",
            Self::Timeout => "timeout",
        }
    }
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Self, TransportError> {
        let stream = TcpStream::connect(addr).await.map_err(|_| TransportError::Connect)?;
        stream.set_nodelay(true).map_err(|_| TransportError::Connect)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|_| TransportError::Connect)?;
        Ok(Self { sender, connection: Box::pin(connection) })
    }

    /// Sends `request` and reads the whole response; the body is kept only when `keep_body`.
    /// After an error the connection must be dropped.
    pub async fn send(
        &mut self,
        request: Request<Body>,
        keep_body: bool,
    ) -> Result<(StatusCode, Option<Bytes>), TransportError> {
        let Self { sender, connection } = self;
        let exchange = async {
            sender.ready().await.map_err(|_| TransportError::Closed)?;
            let response = sender.send_request(request).await.map_err(|_| TransportError::Send)?;
            let status = response.status();
            let mut body = response.into_body();
            let mut kept = keep_body.then(BytesMut::new);
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| TransportError::Body)?;
                if let (Some(kept), Ok(data)) = (kept.as_mut(), frame.into_data()) {
                    kept.extend_from_slice(&data);
                }
            }
            Ok((status, kept.map(BytesMut::freeze)))
        };
        tokio::select! {
            biased;
            result = exchange => result,
            // The connection only finishes on its own when the server closed it (or it broke).
            _ = connection.as_mut() => Err(TransportError::Closed),
        }
    }
}

/// Splits `http://host:port/base` into the socket address, the Host header value and the base path.
pub async fn resolve(url: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let uri: http::Uri = url.parse().map_err(|e| anyhow::anyhow!("--url {url:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        anyhow::bail!("--url must be http:// (the bench speaks plain HTTP/1.1)");
    }
    let authority = uri.authority().ok_or_else(|| anyhow::anyhow!("--url {url:?} has no host"))?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let addr =
        tokio::net::lookup_host((host, port)).await?.next().ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))?;
    let base = uri.path().trim_end_matches('/').to_owned();
    Ok((addr, authority.as_str().to_owned(), base))
}
