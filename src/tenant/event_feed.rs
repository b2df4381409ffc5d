//! `WatchEvents`: the sequencer loop that numbers committed outbox rows, and the streams that follow them.
//!
//! One [`run_sequencer`] per TenantService process gives committed events their positions (see
//! `store::events`) as soon as a local write commits, and at least every poll interval, which also picks up
//! events that other replicas (or `directory import`) committed. It publishes the newest position; each
//! stream waits on that instead of polling the database itself, then reads what is new in order. Each round
//! also refreshes the store's read model, so that it keeps up with the outbox between the reads that
//! refresh it themselves.
//!
//! A stream holds a small buffer: a slow consumer is slowed down by HTTP/2 flow control rather than
//! buffered without bound. If it falls so far behind that its next events have expired, it is told to
//! resync (FAILED_PRECONDITION), never silently skipped ahead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::convert;
use super::error::TenantError;
use super::store::TenantStore;
use crate::pb;

/// Events read per query while a stream catches up.
const READ_BATCH: u64 = 500;
/// Events buffered per stream beyond what HTTP/2 flow control holds.
const STREAM_BUFFER: usize = 64;

pub type EventStream = ReceiverStream<Result<pb::Event, Status>>;

/// Opens event streams. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventFeed {
    store: TenantStore,
    head: watch::Receiver<u64>,
    shutdown: CancellationToken,
    /// One permit per open stream: each holds a task and a database read per batch, so their number is
    /// bounded (MAX_WATCH_STREAMS) rather than left to whoever can reach the port.
    streams: Arc<Semaphore>,
}

/// The other end of an [`EventFeed`]: hand it to [`run_sequencer`].
#[derive(Debug)]
pub struct Sequencer {
    store: TenantStore,
    head: watch::Sender<u64>,
    commits: Arc<Notify>,
    poll_interval: Duration,
}

/// A feed over `store`'s events serving at most `max_streams` streams at once, and the sequencer that
/// drives it. Streams end (UNAVAILABLE, "reconnect") when `shutdown` is cancelled, so that a graceful
/// shutdown is not held open by long-lived streams.
pub fn feed(
    store: TenantStore,
    poll_interval: Duration,
    max_streams: usize,
    shutdown: CancellationToken,
) -> (EventFeed, Sequencer) {
    let (head_sender, head) = watch::channel(0);
    let sequencer = Sequencer { commits: store.commits(), store: store.clone(), head: head_sender, poll_interval };
    let streams = Arc::new(Semaphore::new(max_streams));
    (EventFeed { store, head, shutdown, streams }, sequencer)
}

/// Numbers committed events until `shutdown` is cancelled.
pub async fn run_sequencer(sequencer: Sequencer, shutdown: CancellationToken) {
    let Sequencer { store, head, commits, poll_interval } = sequencer;
    loop {
        match store.sequence_events().await {
            Ok(newest) => {
                head.send_if_modified(|published| std::mem::replace(published, newest) != newest);
            }
            Err(error) => tracing::warn!(%error, "could not sequence events; retrying"),
        }
        if let Err(error) = store.read_model().refresh(&store).await {
            tracing::warn!(%error, "could not refresh the read model; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = commits.notified() => {}
            () = tokio::time::sleep(poll_interval) => {}
        }
    }
}

impl EventFeed {
    /// The newest event cursor: what a consumer resumes from after reading a snapshot.
    pub async fn head(&self) -> Result<u64, TenantError> {
        self.store.event_head().await
    }

    /// A stream of the events after `after` (or after the newest one, for `None`), then live ones.
    /// RESOURCE_EXHAUSTED while the most streams allowed are open.
    pub async fn subscribe(&self, after: Option<u64>) -> Result<EventStream, TenantError> {
        let permit = Arc::clone(&self.streams).try_acquire_owned().map_err(|_| TenantError::Throttled {
            reason: "Too many WatchEvents streams are open on this server; retry shortly or share a stream.",
            retry_after: Duration::from_secs(5),
        })?;
        let head = self.store.event_head().await?;
        let cursor = match after {
            None => head,
            Some(cursor) if cursor > head => {
                return Err(TenantError::InvalidArgument(format!(
                    "after_cursor {cursor} is ahead of the newest event ({head}); pass a cursor this service sent"
                )));
            }
            Some(cursor) => cursor,
        };
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(follow(self.clone(), cursor, sender, permit));
        Ok(ReceiverStream::new(receiver))
    }
}

/// Sends every event after `cursor` to `sender`, in order, until the consumer goes away, the server shuts
/// down, or the events it needs are gone.
/// `_permit` is the stream's place among the open ones, given back when this returns.
async fn follow(
    feed: EventFeed,
    mut cursor: u64,
    sender: mpsc::Sender<Result<pb::Event, Status>>,
    _permit: OwnedSemaphorePermit,
) {
    let EventFeed { store, mut head, shutdown, streams: _ } = feed;
    let end = |status: Status| {
        let sender = sender.clone();
        async move { drop(sender.send(Err(status)).await) }
    };
    loop {
        // Marked seen before reading, so a position published during the read wakes the wait below.
        head.borrow_and_update();
        let batch = match store.events_after(cursor, READ_BATCH).await {
            Ok(batch) => batch,
            Err(error) => return end(error.into()).await,
        };
        let full = batch.len() as u64 == READ_BATCH;
        for row in batch {
            // Positions are dense: anything but the next one means the events in between have expired.
            if row.position != i64::try_from(cursor + 1).ok() {
                return end(resync(cursor)).await;
            }
            let event = match convert::event(row) {
                Ok(event) => event,
                Err(error) => return end(error.into()).await,
            };
            cursor = event.cursor;
            tokio::select! {
                sent = sender.send(Ok(event)) => if sent.is_err() { return },
                () = shutdown.cancelled() => return end(shutting_down()).await,
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return end(shutting_down()).await },
            () = sender.closed() => return,
            () = shutdown.cancelled() => return end(shutting_down()).await,
        }
    }
}

fn resync(cursor: u64) -> Status {
    TenantError::FailedPrecondition(format!(
        "the events after cursor {cursor} are no longer retained; resync with ListPartners and ListCustomers, \
         then watch from the event_cursor they return"
    ))
    .into()
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down; reconnect and resume from the last cursor received")
}
