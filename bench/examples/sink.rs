//! A minimal HTTP/1.1 keep-alive server that answers every request with a fixed 200 JSON body, to measure
//! the bench's own ceiling (how many requests per second it can drive when the server costs next to nothing):
//! `cargo run --release --example sink -- 127.0.0.1:18099`, then run the bench with `--url http://127.0.0.1:18099`.
//! Not a real HTTP parser: it expects well-formed requests with Content-Length, as the bench sends.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const BODY: &str = r#"{"type":"sink","request_id":"00000000-0000-4000-8000-000000000000","response_id":"00000000-0000-4000-8000-000000000000","payload":{"state":"ENABLED"}}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18099".into());
    let listener = TcpListener::bind(&addr).await?;
    let response =
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}", BODY.len());
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let response = response.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            loop {
                // One request: headers up to \r\n\r\n, then Content-Length bytes.
                let request_len = loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let body_len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + body_len {
                            break end + 4 + body_len;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                buf.drain(..request_len);
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}
