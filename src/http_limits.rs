//! Time limits on the gateway's HTTP/1.1 connections (plain and TLS): a request head must be complete within
//! [`HEADER_READ_TIMEOUT`] of its first byte, and a kept-alive connection with no request in progress is
//! closed after [`IDLE_TIMEOUT`].
//!
//! Why not hyper's own `header_read_timeout`: hyper starts that timer as soon as a kept-alive connection
//! waits for its next request, so it also closes every *idle* connection 5 s after its last answer. Clients
//! (the Acronis gateway, reqwest, Go's `http.Transport`) pool idle connections far longer than that and then
//! send a request on one the server has just closed, which fails ("connection closed before message
//! completed"). So hyper's timer is off (see `app::bounded`) and this module keeps two separate clocks.
//!
//! How: [`ConnectionLimits`] is an axum-server acceptor wrapping the real one (plain or rustls). For every
//! connection it shares one [`Tracker`] (the connection's phase) between
//! * [`LimitedIo`], the connection's (decrypted) byte stream: bytes arriving while idle start the head deadline,
//!   and `poll_read` fails (head) or ends the stream (idle) once a deadline passes, which makes hyper close it;
//! * [`TrackedService`], which marks the connection busy when hyper hands it a request (its head is then
//!   complete) and idle again when the response body has been sent in full or dropped.
//!
//! A busy connection has no limit here (request bodies have their own minimum rate, and handlers a request
//! timeout). A pipelined request whose head partly arrived while the previous one was busy is bounded by the
//! idle timeout until more of it arrives (then by the head deadline). HTTP/2 connections, recognised by their connection preface, keep today's behaviour: these limits
//! step aside (hyper's header timer never applied to them either) and only axum-server's first-request timeout
//! bounds them, as it bounds every new connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum_server::accept::Accept;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a client may take to send a request's head once its first byte has arrived (HTTP/1.1), and its
/// first request at all (also HTTP/2, through axum-server's first-request timeout): a connection that
/// trickles them is closed rather than held open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a kept-alive connection may wait for its next request. Outliving every client's pool is not
/// possible (Go's `http.Transport` keeps idle connections 90 s, some clients forever); 75 s is nginx's
/// `keepalive_timeout`, which clients are commonly tuned to, and long enough that a client reusing a pooled
/// connection rarely races the close. An idle connection costs a socket and a few KiB, so 75 s is cheap.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The first bytes of every HTTP/2 connection (RFC 9113, section 3.4), prior knowledge or ALPN alike.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The two deadlines; the constants above in production, shorter ones in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header: HEADER_READ_TIMEOUT, idle: IDLE_TIMEOUT }
    }
}

/// What a connection is doing, as far as its deadlines are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No request in progress: waiting for the next one (or the first).
    Idle,
    /// A request's first bytes have arrived, its head is not yet complete.
    Head,
    /// A request has been handed to the service and its response is not yet fully sent.
    Busy,
    /// An HTTP/2 connection: none of the above applies.
    Http2,
}

/// One connection's phase, shared by its [`LimitedIo`] and every clone of its [`TrackedService`].
///
/// Packed in one atomic with a counter of transitions, so that the stream notices a new idle period even
/// when a whole request (say, a pipelined one) came and went between two of its reads.
#[derive(Debug, Default)]
pub struct Tracker(AtomicU64);

impl Tracker {
    fn phase_of(state: u64) -> Phase {
        match state & 0b11 {
            0 => Phase::Idle,
            1 => Phase::Head,
            2 => Phase::Busy,
            _ => Phase::Http2,
        }
    }

    fn encode(phase: Phase) -> u64 {
        match phase {
            Phase::Idle => 0,
            Phase::Head => 1,
            Phase::Busy => 2,
            Phase::Http2 => 3,
        }
    }

    fn state(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Moves to `to` if the current phase is one of `from`; returns the new state when it did.
    fn transition(&self, from: &[Phase], to: Phase) -> Option<u64> {
        let next = |state: u64| {
            from.contains(&Self::phase_of(state)).then(|| ((state >> 2).wrapping_add(1) << 2) | Self::encode(to))
        };
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, next).ok().and_then(next)
    }

    #[cfg(test)]
    fn phase(&self) -> Phase {
        Self::phase_of(self.state())
    }
}

/// The acceptor: wraps `inner` (axum-server's default or rustls acceptor) so that every connection it yields
/// gets the [`Limits`].
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits<A> {
    inner: A,
    limits: Limits,
}

impl<A> ConnectionLimits<A> {
    pub fn new(inner: A) -> Self {
        Self::with(inner, Limits::default())
    }

    pub fn with(inner: A, limits: Limits) -> Self {
        Self { inner, limits }
    }
}

impl<A, I, S> Accept<I, S> for ConnectionLimits<A>
where
    A: Accept<I, S>,
{
    type Stream = LimitedIo<A::Stream>;
    type Service = TrackedService<A::Service>;
    type Future = Accepting<A::Future>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        Accepting { inner: Box::pin(self.inner.accept(stream, service)), limits: self.limits }
    }
}

/// The inner acceptor's work (a TLS handshake, say), then the wrapping.
#[derive(Debug)]
pub struct Accepting<F> {
    inner: Pin<Box<F>>,
    limits: Limits,
}

impl<F, I, S> Future for Accepting<F>
where
    F: Future<Output = io::Result<(I, S)>>,
{
    type Output = io::Result<(LimitedIo<I>, TrackedService<S>)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (io, service) = ready!(this.inner.as_mut().poll(cx))?;
        let tracker = Arc::new(Tracker::default());
        Poll::Ready(Ok((
            LimitedIo::new(io, Arc::clone(&tracker), this.limits),
            TrackedService { inner: service, tracker },
        )))
    }
}

/// A connection's byte stream, enforcing the head and idle deadlines on its reads.
#[derive(Debug)]
pub struct LimitedIo<T> {
    inner: T,
    tracker: Arc<Tracker>,
    limits: Limits,
    /// The tracker's state this stream last acted on (`u64::MAX` before the first read).
    seen: u64,
    /// The deadline of the current idle period or head, when `armed`.
    timer: Pin<Box<Sleep>>,
    armed: bool,
    /// How many of the connection's first bytes matched the HTTP/2 preface; `None` once decided.
    preface_matched: Option<usize>,
}

impl<T> LimitedIo<T> {
    fn new(inner: T, tracker: Arc<Tracker>, limits: Limits) -> Self {
        let timer = Box::pin(tokio::time::sleep(limits.idle));
        Self { inner, tracker, limits, seen: u64::MAX, timer, armed: false, preface_matched: Some(0) }
    }

    fn arm(&mut self, after: Duration) {
        self.timer.as_mut().reset(Instant::now() + after);
        self.armed = true;
    }

    /// Catches up with transitions made by the service: a new idle period starts its clock, a request in
    /// progress (or HTTP/2) stops it.
    fn sync(&mut self) {
        let state = self.tracker.state();
        if state == self.seen {
            return;
        }
        self.seen = state;
        match Tracker::phase_of(state) {
            Phase::Idle => self.arm(self.limits.idle),
            // Only this stream enters `Head`, and arms the head deadline as it does (`on_bytes`).
            Phase::Head => {}
            Phase::Busy | Phase::Http2 => self.armed = false,
        }
    }

    /// Bytes arrived: the first ones may say HTTP/2; on an idle connection they start a request's head.
    fn on_bytes(&mut self, bytes: &[u8]) {
        if self.sniff_h2(bytes) {
            if let Some(state) = self.tracker.transition(&[Phase::Idle, Phase::Head], Phase::Http2) {
                self.seen = state;
            }
            self.armed = false;
            return;
        }
        if let Some(state) = self.tracker.transition(&[Phase::Idle], Phase::Head) {
            self.seen = state;
            self.arm(self.limits.header);
        }
    }

    /// Whether `bytes` complete the HTTP/2 preface at the start of the connection.
    fn sniff_h2(&mut self, bytes: &[u8]) -> bool {
        let Some(matched) = self.preface_matched else { return false };
        let rest = &H2_PREFACE[matched..];
        let compared = rest.len().min(bytes.len());
        if rest[..compared] != bytes[..compared] {
            self.preface_matched = None;
            return false;
        }
        if compared == rest.len() {
            self.preface_matched = None;
            return true;
        }
        self.preface_matched = Some(matched + compared);
        false
    }

    /// What a read returns once the current deadline has passed: an error for a head that did not complete
    /// (hyper drops the connection), the end of the stream for an idle connection (hyper closes it cleanly,
    /// as if the client had, which also sends a TLS close_notify).
    fn expired(&self) -> Poll<io::Result<()>> {
        match Tracker::phase_of(self.seen) {
            Phase::Head => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("request head not complete within {:?}", self.limits.header),
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn deadline_passed(&self) -> bool {
        self.armed && Instant::now() >= self.timer.deadline()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LimitedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync();
        // Checked before reading too, so that a client sending a steady stream of bytes is still cut off.
        if this.deadline_passed() {
            return this.expired();
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled();
                if filled.len() > before {
                    this.on_bytes(&filled[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            // Nothing to read: register the deadline with this task's waker, so that hyper reads again (and
            // gets the expiry) when it passes, even if the client never sends another byte.
            Poll::Pending if this.armed && this.timer.as_mut().poll(cx).is_ready() => this.expired(),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LimitedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The service: a request reaching it has a complete head, so the connection is busy until its response
/// has been sent.
#[derive(Clone, Debug)]
pub struct TrackedService<S> {
    inner: S,
    tracker: Arc<Tracker>,
}

impl<S, R, B> tower::Service<R> for TrackedService<S>
where
    S: tower::Service<R, Response = http::Response<B>>,
{
    type Response = http::Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.tracker.transition(&[Phase::Idle, Phase::Head], Phase::Busy);
        let responding = Responding { tracker: Some(Arc::clone(&self.tracker)) };
        TrackedFuture { inner: Box::pin(self.inner.call(request)), responding: Some(responding) }
    }
}

/// Marks the connection idle again when dropped, or when the response ends, whichever comes first.
#[derive(Debug)]
struct Responding {
    tracker: Option<Arc<Tracker>>,
}

impl Responding {
    fn finish(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            // Not from `Http2` (sticky), nor from a `Head` of a next request already under way.
            tracker.transition(&[Phase::Busy], Phase::Idle);
        }
    }
}

impl Drop for Responding {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The service's response future; a future dropped unanswered (the connection went away) ends the request.
#[derive(Debug)]
pub struct TrackedFuture<F> {
    inner: Pin<Box<F>>,
    responding: Option<Responding>,
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = ready!(this.inner.as_mut().poll(cx))?;
        let responding = this.responding.take().unwrap_or(Responding { tracker: None });
        Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, responding })))
    }
}

/// A response body that ends its request when it has been sent in full (or dropped: a HEAD answer, a
/// connection closed mid-way).
#[derive(Debug)]
pub struct TrackedBody<B> {
    inner: B,
    responding: Responding,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.is_none() {
            this.responding.finish();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    // Passed on so that hyper still frames a known-size answer with Content-Length.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum_server::accept::DefaultAcceptor;
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
    use tower::{Service as _, ServiceExt as _};

    use super::*;

    const SHORT: Limits = Limits { header: Duration::from_millis(300), idle: Duration::from_millis(800) };
    /// Far beyond either deadline above; only reached when something is wrong.
    const PATIENCE: Duration = Duration::from_secs(5);

    type Answer = Result<http::Response<Full<Bytes>>, Infallible>;

    /// A connection through [`ConnectionLimits`]: the client's end, the server's stream and its service.
    async fn connection() -> (
        DuplexStream,
        LimitedIo<DuplexStream>,
        TrackedService<impl tower::Service<(), Response = http::Response<Full<Bytes>>, Error = Infallible> + Clone>,
    ) {
        let (client, server) = tokio::io::duplex(1024);
        let answer = tower::service_fn(|()| async { Answer::Ok(http::Response::new(Full::new(Bytes::from("ok")))) });
        let accepted = ConnectionLimits::with(DefaultAcceptor, SHORT).accept(server, answer).await;
        let (io, service) = accepted.expect("the default acceptor does not fail");
        (client, io, service)
    }

    /// One read by the server, bounded by [`PATIENCE`].
    async fn read(io: &mut LimitedIo<DuplexStream>) -> io::Result<Vec<u8>> {
        let mut buffer = [0_u8; 256];
        let read = tokio::time::timeout(PATIENCE, io.read(&mut buffer)).await.expect("a read that ends");
        read.map(|n| buffer[..n].to_vec())
    }

    /// Answers a request and sends the whole response body.
    async fn serve_one<S>(service: &mut TrackedService<S>) -> Option<Phase>
    where
        S: tower::Service<(), Response = http::Response<Full<Bytes>>, Error = Infallible>,
    {
        let response = service.ready().await.ok()?.call(()).await.ok()?;
        let during = service.tracker.phase();
        let body = response.into_body();
        let collected = body.collect().await.ok()?;
        assert_eq!(collected.to_bytes(), "ok");
        Some(during)
    }

    #[tokio::test]
    async fn phases_follow_a_request_from_its_first_byte_to_the_end_of_its_response() {
        let (mut client, mut io, mut service) = connection().await;
        assert_eq!(service.tracker.phase(), Phase::Idle);

        client.write_all(b"GET / HTTP/1.1\r\n").await.expect("written");
        assert_eq!(read(&mut io).await.expect("bytes"), b"GET / HTTP/1.1\r\n");
        assert_eq!(service.tracker.phase(), Phase::Head);

        assert_eq!(serve_one(&mut service).await, Some(Phase::Busy));
        assert_eq!(service.tracker.phase(), Phase::Idle, "the response has been sent");

        // A second request on the same connection starts its own head.
        client.write_all(b"GET /again HTTP/1.1\r\n").await.expect("written");
        read(&mut io).await.expect("bytes");
        assert_eq!(service.tracker.phase(), Phase::Head);
    }

    #[tokio::test]
    async fn a_response_body_dropped_unsent_still_ends_the_request() {
        let (_client, _io, mut service) = connection().await;
        let response = service.ready().await.expect("ready").call(()).await.expect("answered");
        assert_eq!(service.tracker.phase(), Phase::Busy);
        drop(response);
        assert_eq!(service.tracker.phase(), Phase::Idle);
    }

    #[tokio::test]
    async fn a_head_that_does_not_complete_in_time_fails_the_read() {
        let (mut client, mut io, _service) = connection().await;
        let started = Instant::now();
        client.write_all(b"GET / HTTP/1.1\r\n").await.expect("written");
        read(&mut io).await.expect("bytes");
        // Trickling, a line every 100 ms, does not extend the deadline.
        let error = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The server may already have closed; only its read matters.
            let _ = client.write_all(b"X: 1\r\n").await;
            match read(&mut io).await {
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        let took = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(took >= SHORT.header && took < SHORT.header + Duration::from_millis(500), "took {took:?}");
    }

    #[tokio::test]
    async fn an_idle_connection_reaches_its_end_after_the_idle_timeout_not_the_head_one() {
        let (mut client, mut io, mut service) = connection().await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("written");
        read(&mut io).await.expect("bytes");
        serve_one(&mut service).await;

        let idle_since = Instant::now();
        let end = read(&mut io).await.expect("the end of the stream, not an error");
        let took = idle_since.elapsed();
        assert!(end.is_empty());
        assert!(took >= SHORT.idle && took < SHORT.idle + Duration::from_millis(500), "took {took:?}");
    }

    #[tokio::test]
    async fn a_busy_connection_has_no_deadline() {
        let (mut client, mut io, mut service) = connection().await;
        client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n").await.expect("written");
        read(&mut io).await.expect("bytes");
        let response = service.ready().await.expect("ready").call(()).await.expect("answered");
        // Past both deadlines, a read still waits for the (slow) request body.
        let late = async {
            tokio::time::sleep(SHORT.idle + SHORT.header).await;
            client.write_all(b"{}").await.expect("written");
        };
        let (body, ()) = tokio::join!(read(&mut io), late);
        assert_eq!(body.expect("bytes"), b"{}");
        drop(response);
    }

    #[tokio::test]
    async fn an_http2_preface_turns_the_limits_off_even_when_it_arrives_in_pieces() {
        let (mut client, mut io, mut service) = connection().await;
        client.write_all(&H2_PREFACE[..5]).await.expect("written");
        read(&mut io).await.expect("bytes");
        assert_eq!(service.tracker.phase(), Phase::Head, "not yet known to be HTTP/2");
        client.write_all(&H2_PREFACE[5..]).await.expect("written");
        read(&mut io).await.expect("bytes");
        assert_eq!(service.tracker.phase(), Phase::Http2);

        // Requests (streams) neither start nor end anything.
        assert_eq!(serve_one(&mut service).await, Some(Phase::Http2));
        assert_eq!(service.tracker.phase(), Phase::Http2);
        // Nor does time: the connection outlives both deadlines.
        let idle = tokio::time::timeout(SHORT.idle + SHORT.header, read(&mut io)).await;
        assert!(idle.is_err(), "the read should still be waiting: {idle:?}");
    }

    /// An axum server on localhost behind [`ConnectionLimits`] with [`SHORT`] limits (hyper's own header timer
    /// off, as in `app::bounded`), and a raw connection to it.
    async fn served() -> tokio::net::TcpStream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
        let address = listener.local_addr().expect("an address");
        let mut server = axum_server::from_tcp(listener).expect("a server");
        server.http_builder().http1().header_read_timeout(None);
        let server = server.acceptor(ConnectionLimits::with(DefaultAcceptor, SHORT));
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(server.serve(router.into_make_service()));
        tokio::net::TcpStream::connect(address).await.expect("connected")
    }

    /// Sends a GET and reads its whole (two-byte) answer.
    async fn get(stream: &mut tokio::net::TcpStream) {
        stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("written");
        let mut received = Vec::new();
        while !received.ends_with(b"\r\n\r\nok") {
            let mut chunk = [0_u8; 512];
            let read = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("answered in time");
            let read = read.expect("read");
            assert!(read > 0, "closed before the answer: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..read]);
        }
        assert!(received.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&received));
    }

    /// How long until the server closes `stream`, which must send nothing more.
    async fn closed_after(stream: &mut tokio::net::TcpStream) -> Duration {
        let started = Instant::now();
        let mut chunk = [0_u8; 64];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("closed in time");
        assert!(matches!(read, Ok(0) | Err(_)), "unexpected bytes: {read:?}");
        started.elapsed()
    }

    #[tokio::test]
    async fn through_hyper_an_idle_connection_outlives_the_head_deadline_and_then_closes() {
        let mut stream = served().await;
        get(&mut stream).await;
        tokio::time::sleep(SHORT.header * 2).await;
        get(&mut stream).await;
        let took = closed_after(&mut stream).await;
        // The idle clock starts as the answer leaves, a little before the client has read it.
        assert!(took >= SHORT.idle.saturating_sub(Duration::from_millis(100)), "closed after {took:?}");
        assert!(took < SHORT.idle + Duration::from_millis(500), "closed after {took:?}");
    }

    #[tokio::test]
    async fn through_hyper_a_second_head_that_trickles_is_cut_off() {
        let mut stream = served().await;
        get(&mut stream).await;
        stream.write_all(b"GET / HTTP/1.1\r\n").await.expect("written");
        let started = Instant::now();
        let (mut reader, mut writer) = stream.split();
        let trickle = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if writer.write_all(b"X: 1\r\n").await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let mut chunk = [0_u8; 64];
        let read = tokio::select! {
            read = tokio::time::timeout(PATIENCE, reader.read(&mut chunk)) => read.expect("closed in time"),
            _ = trickle => unreachable!("the trickle never ends"),
        };
        assert!(matches!(read, Ok(0) | Err(_)), "unexpected bytes: {read:?}");
        let took = started.elapsed();
        assert!(took >= SHORT.header && took < SHORT.header + Duration::from_millis(500), "closed after {took:?}");
    }

    #[tokio::test]
    async fn http1_bytes_that_start_like_the_preface_are_still_http1() {
        let (mut client, mut io, service) = connection().await;
        client.write_all(b"PRI").await.expect("written");
        read(&mut io).await.expect("bytes");
        client.write_all(b"VATE / HTTP/1.1\r\n").await.expect("written");
        read(&mut io).await.expect("bytes");
        assert_eq!(service.tracker.phase(), Phase::Head);
        assert!(io.preface_matched.is_none(), "decided");
    }
}
