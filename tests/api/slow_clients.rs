//! Slow clients (product spec, "Slow clients"): a request's token is checked before it takes a callback slot
//! or its body is read, headers must arrive within a few seconds and a body at a minimum rate, so connections
//! that trickle or stall can neither hold the gateway's slots nor crowd out the Acronis gateway.
//!
//! These tests drive raw sockets: an HTTP client library will not stall half-way through a request on purpose.
//! Every read and write is bounded, so a regression fails the test instead of hanging it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cyberapp_tenants::db::entity::tenant::EnablementState;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{
    PARTNER_ENABLE_OK, PARTNER_STATE_OK, PARTNER_TENANT, TestApp, TestResponse, assert_success, enable_partner,
    get_partner_state,
};

/// The refusal of a body that arrives too slowly (`gateway::callback::read_body`).
const TOO_SLOW: &str = "The request body did not arrive in time.";
/// The time every body gets before the minimum rate applies (`BODY_GRACE` in `gateway::callback`).
const BODY_GRACE: Duration = Duration::from_secs(2);
/// How long a client may take to send its headers (`HEADER_READ_TIMEOUT` in `http_limits.rs`).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The bound on any single step that should be prompt; only ever reached when something is wrong.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn six_hundred_slow_connections_without_a_token_do_not_crowd_out_a_genuine_callback() {
    // Before the token came first, 64 stalled bodies would have held every slot and shed the genuine callback.
    let app = TestApp::spawn_with(|args| args.max_concurrent_callbacks = 64).await;
    let start_of_a_body = br#"{"type": "cti"#;
    let (mut tokenless, mut unfinished) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let mut stream = connect(&app).await;
        // Alternating, so that the last connection opened is one the server must answer.
        match i % 4 {
            0 => send(&mut stream, b"POST /callb").await,
            1 => {
                send(&mut stream, callback_head(None, 4000).as_bytes()).await;
                send(&mut stream, start_of_a_body).await;
            }
            2 => send(&mut stream, b"POST /callback HTTP/1.1\r\nHost: gateway\r\nContent-Le").await,
            _ => {
                send(&mut stream, callback_head(Some("Bearer not.a.token"), 4000).as_bytes()).await;
                send(&mut stream, start_of_a_body).await;
            }
        }
        if i % 2 == 0 { unfinished.push(stream) } else { tokenless.push(stream) }
    }
    let request = enable_partner(PARTNER_TENANT, "P", None);

    // The genuine callback arrives while the crowd is still there: every connection is open and stalled.
    let genuine = async {
        let started = Instant::now();
        let response = tokio::time::timeout(PATIENCE, app.callback(&request)).await.expect("answered at all");
        (response, started.elapsed())
    };
    let refusals = futures::future::join_all(tokenless.iter_mut().map(|stream| read_response(stream, PATIENCE)));
    let ((response, took), refusals) = tokio::join!(genuine, refusals);

    assert_success(&response, &request, PARTNER_ENABLE_OK);
    assert!(took < Duration::from_secs(2), "the genuine callback took {took:?}");
    let partner = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("the genuine callback was applied");
    assert_eq!(partner.state, EnablementState::Enabled);
    assert_eq!(app.event_kinds().await, ["partner.enabled"], "and nothing else was");
    for refusal in &refusals {
        refusal.assert_error(401);
        // The stalled body was not waited for, so there was no request id to echo.
        assert!(refusal.body.get("request_id").is_none(), "{}", refusal.body);
    }
    // Every connection was accepted (the last one opened has been answered), and none with unfinished headers
    // had been closed yet: they were all held open while the genuine callback was served.
    let open = futures::future::join_all(unfinished.iter_mut().map(still_open)).await;
    let closed = open.iter().filter(|open| !**open).count();
    assert_eq!(closed, 0, "{closed} of {} connections with unfinished headers were closed early", open.len());
}

#[tokio::test]
async fn headers_that_trickle_are_cut_off_within_a_few_seconds() {
    let app = TestApp::spawn().await;
    let mut stream = connect(&app).await;
    assert_a_trickled_head_is_cut_off_by_the_header_timeout(&mut stream).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_kept_past_the_header_deadline() {
    // Clients pool idle connections for up to 90 s: one closed 5 s after its answer fails their next request.
    let app = TestApp::spawn().await;
    let request = get_partner_state(PARTNER_TENANT);
    let mut stream = connect(&app).await;
    let answered = get_state_on(&app, &mut stream, &request).await;
    assert_success(&answered, &request, PARTNER_STATE_OK);

    tokio::time::sleep(HEADER_READ_TIMEOUT + Duration::from_secs(2)).await;
    assert!(still_open(&mut stream).await, "the idle connection was closed");
    let answered = get_state_on(&app, &mut stream, &request).await;
    assert_success(&answered, &request, PARTNER_STATE_OK);
}

#[tokio::test]
async fn a_second_request_that_trickles_its_headers_on_a_kept_alive_connection_is_cut_off() {
    let app = TestApp::spawn().await;
    let request = get_partner_state(PARTNER_TENANT);
    let mut stream = connect(&app).await;
    let answered = get_state_on(&app, &mut stream, &request).await;
    assert_success(&answered, &request, PARTNER_STATE_OK);

    assert_a_trickled_head_is_cut_off_by_the_header_timeout(&mut stream).await;
}

/// Starts a request head on `stream` and trickles it, never finishing: the trickle defeats any idle timeout,
/// so only the bound on the whole head (5 s) may close the connection.
async fn assert_a_trickled_head_is_cut_off_by_the_header_timeout(stream: &mut TcpStream) {
    let started = Instant::now();
    send(stream, b"POST /callback HTTP/1.1\r\nHost: gateway\r\n").await;
    let took = trickle_until_closed(stream, started).await;
    assert!(took >= Duration::from_secs(4), "closed after only {took:?}: not the header timeout");
    assert!(took <= Duration::from_secs(8), "held open for {took:?}");
}

#[tokio::test]
async fn a_body_that_trickles_with_a_valid_token_is_refused_and_frees_its_slot() {
    // One slot, and a request timeout far away: only the minimum rate can cut the body off.
    let app = TestApp::spawn_with(|args| {
        args.max_concurrent_callbacks = 1;
        args.request_timeout_ms = 60_000;
    })
    .await;
    // A first callback fetches the IdP's keys, so that the slow one takes its slot without waiting on them.
    let warm_up = get_partner_state(PARTNER_TENANT);
    assert_success(&app.callback(&warm_up).await, &warm_up, PARTNER_STATE_OK);
    let before = app.snapshot().await;

    let mut slow = connect(&app).await;
    let started = Instant::now();
    send(&mut slow, callback_head(Some(&format!("Bearer {}", app.token())), 100_000).as_bytes()).await;
    send(&mut slow, br#"{"type": "#).await;
    // While it stalls it holds the only slot: a genuine callback (on a connection opened after it) is shed.
    let shed = crate::helpers::http_client()
        .post(format!("{}/callback", app.base_url))
        .bearer_auth(app.token())
        .json(&warm_up)
        .send();
    let shed = tokio::time::timeout(PATIENCE, shed).await.expect("answered at all").expect("sent");
    assert_eq!(shed.status(), 429, "the stalled body should hold the only slot");
    let refusal = read_response(&mut slow, PATIENCE).await;
    let took = started.elapsed();

    refusal.assert_error(400);
    assert_eq!(refusal.err_message(), TOO_SLOW);
    // The deadline is the grace plus the time the 10 bytes received may take at the minimum rate (0 ms).
    assert!(took >= BODY_GRACE, "refused after {took:?}, before the grace was over");
    assert!(took < Duration::from_secs(5), "refused only after {took:?}");
    assert_eq!(app.snapshot().await, before, "nothing was applied");

    let request = enable_partner(PARTNER_TENANT, "P", None);
    let response = app.callback(&request).await;
    assert_success(&response, &request, PARTNER_ENABLE_OK);
    assert_eq!(app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("applied").state, EnablementState::Enabled);
}

#[tokio::test]
async fn a_body_sent_at_a_steady_rate_above_the_minimum_is_served() {
    let app = TestApp::spawn().await;
    let request = enable_partner(PARTNER_TENANT, "P", None);
    // 256 KiB (JSON allows trailing whitespace), at about 100 KiB/s: 32 chunks of 8 KiB, 80 ms apart.
    let mut body = serde_json::to_vec(&request).expect("json");
    body.resize(256 * 1024, b' ');
    let mut stream = connect(&app).await;
    send(&mut stream, callback_head(Some(&format!("Bearer {}", app.token())), body.len()).as_bytes()).await;

    let started = Instant::now();
    let mut pace = tokio::time::interval(Duration::from_millis(80));
    for chunk in body.chunks(8 * 1024) {
        pace.tick().await;
        // A refusal mid-way closes the connection; the response read below then says why.
        if tokio::time::timeout(PATIENCE, stream.write_all(chunk)).await.map_or(true, |written| written.is_err()) {
            break;
        }
    }
    let took = started.elapsed();
    let response = read_response(&mut stream, PATIENCE).await;

    assert_success(&response, &request, PARTNER_ENABLE_OK);
    assert!(took > BODY_GRACE, "the upload took only {took:?}, within the grace: the rate rule was not exercised");
    assert_eq!(app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("applied").state, EnablementState::Enabled);
    assert_eq!(app.event_kinds().await, ["partner.enabled"]);
}

#[tokio::test]
async fn a_refusal_never_invites_the_body_of_a_client_that_expects_100_continue() {
    let app = TestApp::spawn().await;
    let mut stream = connect(&app).await;
    let head = callback_head(None, 4000).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    send(&mut stream, head.as_bytes()).await;
    // The first thing back is the refusal itself, not "100 Continue" asking for the body.
    let response = read_response(&mut stream, PATIENCE).await;
    response.assert_error(401);
    assert!(response.body.get("request_id").is_none(), "no body was read: {}", response.body);
}

#[tokio::test]
async fn a_refusal_echoes_the_request_id_of_a_small_body_only() {
    let app = TestApp::spawn().await;
    let mut request = enable_partner(PARTNER_TENANT, "P", None);
    let small = serde_json::to_vec(&request).expect("json");
    let mut stream = connect(&app).await;
    send(&mut stream, [callback_head(None, small.len()).as_bytes(), &small].concat().as_slice()).await;
    let response = read_response(&mut stream, PATIENCE).await;
    response.assert_error(401);
    assert_eq!(response.body["request_id"], request["request_id"]);

    // Padded past what a refusal reads, the same body is refused without its request_id being looked for.
    request["padding"] = json!(" ".repeat(100 * 1024));
    let large = serde_json::to_vec(&request).expect("json");
    let mut stream = connect(&app).await;
    send(&mut stream, [callback_head(None, large.len()).as_bytes(), &large].concat().as_slice()).await;
    let response = read_response(&mut stream, PATIENCE).await;
    response.assert_error(401);
    assert!(response.body.get("request_id").is_none(), "{}", response.body);
}

/// Sends one more header line every half second, never the blank line that ends the head, until the server
/// closes the connection; returns the time since `started`.
async fn trickle_until_closed(stream: &mut TcpStream, started: Instant) -> Duration {
    let (mut reader, mut writer) = stream.split();
    let mut trickle = tokio::time::interval(Duration::from_millis(500));
    let mut buffer = [0_u8; 1024];
    let closed = async {
        loop {
            tokio::select! {
                read = reader.read(&mut buffer) => if matches!(read, Ok(0) | Err(_)) { return },
                _ = trickle.tick() => if writer.write_all(b"X-Trickle: 1\r\n").await.is_err() { return },
            }
        }
    };
    tokio::time::timeout(HEADER_READ_TIMEOUT + PATIENCE, closed).await.expect("the connection was closed");
    started.elapsed()
}

/// Sends `request` as a `POST /callback` with a valid token on `stream` and reads the answer.
async fn get_state_on(app: &TestApp, stream: &mut TcpStream, request: &Value) -> TestResponse {
    let body = serde_json::to_vec(request).expect("json");
    let head = callback_head(Some(&format!("Bearer {}", app.token())), body.len());
    send(stream, [head.as_bytes(), &body].concat().as_slice()).await;
    read_response(stream, PATIENCE).await
}

/// A new connection to the gateway (Nagle off, so that each write leaves at once).
async fn connect(app: &TestApp) -> TcpStream {
    let address: SocketAddr =
        app.base_url.strip_prefix("http://").expect("plain HTTP").parse().expect("the gateway's socket address");
    let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(address)).await.expect("connected in time");
    let stream = stream.expect("connected");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// The head of a `POST /callback` announcing `content_length` body bytes, with `authorization` when given.
fn callback_head(authorization: Option<&str>, content_length: usize) -> String {
    let authorization = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
    format!(
        "POST /callback HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{authorization}\
         Content-Length: {content_length}\r\n\r\n"
    )
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    tokio::time::timeout(PATIENCE, stream.write_all(bytes)).await.expect("written in time").expect("written");
}

/// Reads one HTTP/1.1 response, framed by its `Content-Length`, within `limit`.
async fn read_response(stream: &mut TcpStream, limit: Duration) -> TestResponse {
    tokio::time::timeout(limit, read_response_unbounded(stream))
        .await
        .unwrap_or_else(|_| panic!("no whole response within {limit:?}"))
}

async fn read_response_unbounded(stream: &mut TcpStream) -> TestResponse {
    let mut received = Vec::new();
    let head_length = loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, &mut received).await;
    };
    let head = std::str::from_utf8(&received[..head_length]).expect("an ASCII head");
    let mut lines = head.split("\r\n").filter(|line| !line.is_empty());
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("not a header: {line:?}"));
        let name = HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name");
        headers.append(name, HeaderValue::from_str(value.trim()).expect("a header value"));
    }
    let content_length = headers.get(CONTENT_LENGTH).expect("the gateway frames its answers by Content-Length");
    let content_length: usize = content_length.to_str().ok().and_then(|value| value.parse().ok()).expect("a length");
    while received.len() < head_length + content_length {
        read_more(stream, &mut received).await;
    }
    let content = &received[head_length..head_length + content_length];
    let body = if content.is_empty() { Value::Null } else { serde_json::from_slice(content).expect("a JSON body") };
    TestResponse { status, headers, body }
}

async fn read_more(stream: &mut TcpStream, received: &mut Vec<u8>) {
    let mut chunk = [0_u8; 4096];
    let read = stream.read(&mut chunk).await.expect("read");
    assert!(read > 0, "closed before a whole response: {:?}", String::from_utf8_lossy(received));
    received.extend_from_slice(&chunk[..read]);
}

/// Whether the server still holds the connection open (it neither closed it nor answered on it).
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut chunk = [0_u8; 64];
    tokio::time::timeout(Duration::from_millis(50), stream.read(&mut chunk)).await.is_err()
}
