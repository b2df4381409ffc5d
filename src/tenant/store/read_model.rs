//! The read model: answers of the hot reads kept in memory, and never served older than the database allows.
//!
//! The callbacks that repeat are reads (a partner's state on every console visit, a form's refresh every 5 s,
//! `enablement.read` and `tenant_mapping.read` while a partner maps its customers). Each used to cost a
//! database round trip, on SQLite a hand-off to the connection's thread. Here their answers are kept, keyed
//! by what they were asked, and dropped when the outbox (`tenant_events`) says that something they were built
//! from changed.
//!
//! **How fresh an answer is.** A kept answer is served only once the model has *caught up*: a refresh that
//! started at or after `arrival − max_staleness`, and after this process's last own commit before the read
//! arrived, has read every committed event and applied it here (dropping what it touched). That includes
//! the events the sequencer has not numbered yet, so that no read waits for the sequencer's write. With the
//! default bound of zero, a read waits for a refresh that began after it arrived, so it reflects every write
//! committed before it arrived, on any replica, exactly like a database read. What makes that cheap is that
//! refreshes are shared: one refresh (one statement when nothing changed) confirms every read that arrived
//! before it began, so under load the database sees a refresh per round trip rather than a query per
//! callback. A miss reads the database directly and needs no refresh.
//!
//! **Why a load that raced an invalidation is not kept.** A miss loads from the database and then stores the
//! answer only if no invalidation was applied in between (`generation`): an event applied meanwhile may
//! predate the load's read, and storing would bring the old answer back after its invalidation.
//!
//! Which answers an event drops: a tenant event drops the lookups of the Acronis tenant it names (a remap
//! names the tenant it took away) and of the vendor tenant it names, and every list; a directory event (an
//! organization or credentials changed) drops everything, since an organization's rename also renames its
//! mapped records without a tenant event. Expired events (a gap in positions) drop everything too.
//!
//! Memory is bounded: each table holds at most `capacity` records (a list counts one per item it holds) and
//! sheds an arbitrary eighth of its answers when full.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::TenantStore;
use super::customer_mapping::CustomerPage;
use crate::db::entity::{credential, organization, tenant};
use crate::metrics::METRICS;
use crate::tenant::error::TenantError;
use crate::tenant::model::EventKind;
use crate::tenant::paging::PageRequest;

tokio::task_local! {
    /// When the request being served arrived (see [`as_of_now`]).
    static REQUEST_ARRIVAL: Instant;
}

/// Runs `reads`, the reads of one request, as of this moment: a refresh begun after it confirms every one of
/// them, so a request that reads several kept answers (credentials, then a mapping) waits for one refresh
/// rather than one each. What it answers still reflects every write answered before it arrived.
pub async fn as_of_now<F: Future>(reads: F) -> F::Output {
    REQUEST_ARRIVAL.scope(Instant::now(), reads).await
}

/// Events applied per query while catching up.
const APPLY_BATCH: u64 = 1000;

/// What the read model keeps and how fresh it must be.
#[derive(Debug, Clone, Copy)]
pub struct ReadModelSettings {
    /// How old the newest refresh may be for a kept answer to be served: zero (the default) serves only what
    /// a refresh begun after the read arrived confirmed.
    pub max_staleness: Duration,
    /// Records kept per table (a list counts one per item); zero keeps none (every read goes to the database).
    pub capacity: usize,
}

impl Default for ReadModelSettings {
    fn default() -> Self {
        Self { max_staleness: Duration::ZERO, capacity: 100_000 }
    }
}

/// A credential with its organization, as `credential_with_organization` answers it.
pub type CredentialOwner = (credential::Model, organization::Model);

/// The kept answers, one table per kind of read.
#[derive(Debug)]
pub(super) struct Tables {
    /// Tenant record by Acronis tenant id (`None`: no record holds it).
    pub tenants: Table<String, Option<Arc<tenant::Model>>>,
    /// Enabled partner mapping by vendor organization id.
    pub partner_mappings: Table<String, Option<Arc<tenant::Model>>>,
    /// Credential and organization by identity.
    pub credentials: Table<String, Option<Arc<CredentialOwner>>>,
    /// Customer organizations of a partner, by partner and page.
    pub customer_pages: Table<(String, Option<PageRequest>), Arc<CustomerPage>>,
    /// Enabled mirrored customers by partner.
    pub mirrored_customers: Table<String, Arc<Vec<tenant::Model>>>,
}

impl Tables {
    fn new(capacity: usize) -> Self {
        Self {
            tenants: Table::new("tenants", capacity),
            partner_mappings: Table::new("partner_mappings", capacity),
            credentials: Table::new("credentials", capacity),
            customer_pages: Table::new("customer_pages", capacity),
            mirrored_customers: Table::new("mirrored_customers", capacity),
        }
    }

    fn clear(&mut self) {
        self.tenants.clear();
        self.partner_mappings.clear();
        self.credentials.clear();
        self.clear_lists();
    }

    fn clear_lists(&mut self) {
        self.customer_pages.clear();
        self.mirrored_customers.clear();
    }

    /// Drops what `event` may have changed.
    fn invalidate(&mut self, event: &EventKeys) {
        match EventKind::parse(&event.kind) {
            Some(EventKind::OrganizationUpserted | EventKind::OrganizationDeleted | EventKind::CredentialsSet)
            | None => self.clear(),
            Some(_) => {
                if let Some(acronis) = &event.acronis_tenant_id {
                    self.tenants.remove(acronis);
                }
                self.partner_mappings.remove(&event.vendor_tenant_id);
                self.clear_lists();
            }
        }
    }
}

/// One kind of kept answer.
#[derive(Debug)]
pub(super) struct Table<K, V> {
    name: &'static str,
    /// Most records kept (see [`Weight`]).
    capacity: usize,
    /// Records kept now.
    weight: usize,
    entries: HashMap<K, V>,
}

/// How many records an answer holds: one for a lookup, one per item (and one for the list) for a list, so
/// that a table's capacity bounds its memory whatever the size of its lists.
pub(super) trait Weight {
    fn weight(&self) -> usize;
}

impl<T> Weight for Option<Arc<T>> {
    fn weight(&self) -> usize {
        1
    }
}

impl<T> Weight for Arc<Vec<T>> {
    fn weight(&self) -> usize {
        1 + self.len()
    }
}

impl Weight for Arc<CustomerPage> {
    fn weight(&self) -> usize {
        1 + self.customers.len()
    }
}

impl<K: Hash + Eq, V: Clone + Weight> Table<K, V> {
    fn new(name: &'static str, capacity: usize) -> Self {
        Self { name, capacity, weight: 0, entries: HashMap::new() }
    }

    fn insert(&mut self, key: K, value: V) {
        let weight = value.weight();
        if weight > self.capacity {
            return;
        }
        self.remove(&key);
        while self.weight + weight > self.capacity {
            // Shed an arbitrary eighth (the map's iteration order is seeded per process): cheaper than
            // tracking recency on every hit, and a shed answer only costs one database read.
            // Fewer than eight answers (a few long lists): shed them all.
            if self.entries.len() < 8 {
                self.clear();
                break;
            }
            let (mut seen, mut shed) = (0_usize, 0_usize);
            self.entries.retain(|_, value| {
                seen += 1;
                let keep = !seen.is_multiple_of(8);
                if !keep {
                    shed += value.weight();
                }
                keep
            });
            self.weight -= shed;
        }
        self.weight += weight;
        self.entries.insert(key, value);
    }

    fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
    {
        if let Some(value) = self.entries.remove(key) {
            self.weight -= value.weight();
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.weight = 0;
    }
}

/// The columns of an outbox row that say what it invalidates.
#[derive(Debug, sea_orm::FromQueryResult)]
pub(super) struct EventKeys {
    pub id: i64,
    /// `None` while the sequencer has not numbered it yet.
    pub position: Option<i64>,
    pub kind: String,
    pub vendor_tenant_id: String,
    pub acronis_tenant_id: Option<String>,
}

#[derive(Debug)]
struct State {
    tables: Tables,
    /// Events up to this position are reflected in `tables`; `None` before the first refresh.
    applied: Option<u64>,
    /// When the newest completed refresh began: it reflects every event committed before then.
    confirmed_at: Option<Instant>,
    /// When this process's newest write committed: a refresh must begin after it to confirm anything.
    last_local_commit: Option<Instant>,
    /// Bumped whenever answers are dropped (see the module's notes).
    generation: u64,
    /// The outbox ids of events applied before the sequencer numbered them: numbered, they are passed over,
    /// since every answer kept after their first application already reflects them. Each id leaves the set
    /// when its numbered event is read, and the whole set goes with a start over.
    applied_unnumbered: HashSet<i64>,
}

impl State {
    /// Whether a refresh that began at or after `needed` has completed.
    fn confirmed_since(&self, needed: Option<Instant>) -> bool {
        self.confirmed_at.is_some_and(|confirmed_at| needed.is_none_or(|needed| confirmed_at >= needed))
    }
}

/// The read model of one process, shared by every clone of its store.
#[derive(Debug)]
pub struct ReadModel {
    settings: ReadModelSettings,
    state: Mutex<State>,
    /// One refresh at a time; the reads that need a newer one queue here and share the next.
    refreshing: tokio::sync::Mutex<()>,
}

impl ReadModel {
    pub fn new(settings: ReadModelSettings) -> Self {
        let state = State {
            tables: Tables::new(settings.capacity),
            applied: None,
            confirmed_at: None,
            last_local_commit: None,
            generation: 0,
            applied_unnumbered: HashSet::new(),
        };
        Self { settings, state: Mutex::new(state), refreshing: tokio::sync::Mutex::new(()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; recover rather than fail every read if it ever did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called once a write of this process has committed: kept answers wait for a refresh that sees it.
    pub(super) fn committed(&self) {
        self.state().last_local_commit = Some(Instant::now());
    }

    /// The answer to a read keyed `key` in `table`: kept and confirmed fresh (see the module's notes), or
    /// loaded by the future `load` makes and kept.
    ///
    /// `load` makes its future only on a miss, and that future runs boxed: a database query's future is
    /// several KiB, and held inline it would make every hit's future (boxed and moved by tonic and axum on
    /// every request) that large too.
    pub(super) async fn read_through<K, V, L>(
        &self,
        store: &TenantStore,
        table: fn(&mut Tables) -> &mut Table<K, V>,
        key: K,
        load: impl FnOnce() -> L,
    ) -> Result<V, TenantError>
    where
        K: Hash + Eq,
        V: Clone + Weight,
        L: Future<Output = Result<V, TenantError>>,
    {
        if self.settings.capacity == 0 {
            return Box::pin(load()).await;
        }
        let arrived = REQUEST_ARRIVAL.try_with(|arrived| *arrived).unwrap_or_else(|_| Instant::now());
        let (name, kept, mut generation) = {
            let mut state = self.state();
            let generation = state.generation;
            let table = table(&mut state.tables);
            (table.name, table.entries.contains_key(&key), generation)
        };
        if kept {
            self.confirm(store, arrived).await?;
            let mut state = self.state();
            generation = state.generation;
            if let Some(value) = table(&mut state.tables).entries.get(&key) {
                METRICS.read_model_lookup(name, "hit");
                return Ok(value.clone());
            }
        }
        METRICS.read_model_lookup(name, "miss");
        let value = Box::pin(load()).await?;
        let mut state = self.state();
        // Kept only when nothing was dropped since the load began and the model has been refreshed once (an
        // answer kept before the first refresh would not be dropped by events older than that refresh).
        if state.generation == generation && state.applied.is_some() {
            table(&mut state.tables).insert(key, value.clone());
        }
        Ok(value)
    }

    /// Returns once a refresh that began at or after `arrived − max_staleness`, and after this process's
    /// last commit before `arrived`, has completed; runs one if none has.
    async fn confirm(&self, store: &TenantStore, arrived: Instant) -> Result<(), TenantError> {
        let needed = {
            let state = self.state();
            let needed = refresh_needed_since(arrived, self.settings.max_staleness, state.last_local_commit);
            if state.confirmed_since(needed) {
                return Ok(());
            }
            needed
        };
        let _turn = self.refreshing.lock().await;
        // The refresh this read queued behind may have begun late enough.
        if self.state().confirmed_since(needed) {
            return Ok(());
        }
        // Boxed for the reason `read_through` boxes its loads: a refresh's queries would otherwise size every read.
        Box::pin(self.refresh_in_turn(store)).await
    }

    /// Applies every event committed since the last refresh: the sequenced ones after `applied`, in order,
    /// and those still waiting for their position (the sequencer numbers them soon after their commit, and
    /// a read should not wait for that write, so they are applied now and passed over when numbered).
    pub async fn refresh(&self, store: &TenantStore) -> Result<(), TenantError> {
        let _turn = self.refreshing.lock().await;
        self.refresh_in_turn(store).await
    }

    async fn refresh_in_turn(&self, store: &TenantStore) -> Result<(), TenantError> {
        let started = Instant::now();
        let applied = self.state().applied;
        let Some(mut cursor) = applied else {
            // The first refresh: whatever was kept before it would not be dropped by older events.
            return self.start_over(store, started).await;
        };
        loop {
            // One statement: the sequenced events after `cursor` in order, then the unsequenced ones.
            let batch = store.event_keys_after(cursor, APPLY_BATCH).await?;
            let sequenced = batch.iter().filter(|event| event.position.is_some()).count() as u64;
            let unsequenced = batch.len() as u64 - sequenced;
            if self.apply(&batch, &mut cursor) || unsequenced == APPLY_BATCH {
                // Events expired before this model saw them, or more are unsequenced than one batch reads:
                // what they changed is unknown.
                return self.start_over(store, started).await;
            }
            let mut state = self.state();
            state.applied = Some(cursor);
            if sequenced < APPLY_BATCH {
                state.confirmed_at = Some(started);
                return Ok(());
            }
        }
    }

    /// Drops everything and resumes at the newest position, read before the drop: an answer loaded after the
    /// drop reflects every event up to that position.
    async fn start_over(&self, store: &TenantStore, started: Instant) -> Result<(), TenantError> {
        let head = store.event_head().await?;
        let mut state = self.state();
        state.tables.clear();
        state.applied_unnumbered.clear();
        state.generation += 1;
        state.applied = Some(head);
        state.confirmed_at = Some(started);
        Ok(())
    }

    /// Drops what `batch` changed, advancing `cursor` over its sequenced events; returns whether events were
    /// lost (a gap in positions: they expired before this model saw them).
    fn apply(&self, batch: &[EventKeys], cursor: &mut u64) -> bool {
        let mut state = self.state();
        for event in batch {
            let first_time = match event.position {
                Some(position) if position != to_position(*cursor + 1) => return true,
                Some(_) => {
                    *cursor += 1;
                    !state.applied_unnumbered.remove(&event.id)
                }
                None => state.applied_unnumbered.insert(event.id),
            };
            if first_time {
                state.generation += 1;
                state.tables.invalidate(event);
            }
        }
        false
    }
}

/// The earliest start of a refresh that confirms a read that `arrived`: `max_staleness` before it, but never
/// before this process's last commit that preceded it. A commit after the read arrived does not count: under
/// a steady stream of writes it would send every read queued for a refresh into a refresh of its own, one
/// after the other, instead of sharing one.
fn refresh_needed_since(
    arrived: Instant,
    max_staleness: Duration,
    last_local_commit: Option<Instant>,
) -> Option<Instant> {
    let allowed = arrived.checked_sub(max_staleness);
    let own_write = last_local_commit.map(|committed| committed.min(arrived));
    allowed.max(own_write)
}

fn to_position(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm_migration::MigratorTrait as _;

    use super::*;
    use crate::db::migration::Migrator;
    use crate::tenant::model::{AcronisTenantId, TenantName};
    use crate::tenant::store::MirroredPartnerEnablement;

    const X: &str = "0a5e1c3e-0000-4000-8000-000000000001";
    const Y: &str = "0a5e1c3e-0000-4000-8000-000000000002";

    /// Two stores on one SQLite file, each with a read model of its own: two replicas.
    async fn replicas() -> (tempfile::TempDir, TenantStore, TenantStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("tenants.db").display());
        let db = crate::db::connect(&url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let this = TenantStore::new(db);
        let other = TenantStore::new(crate::db::connect(&url).await.expect("connect"));
        this.read_model().refresh(&this).await.expect("first refresh");
        (dir, this, other)
    }

    fn id(value: &str) -> AcronisTenantId {
        AcronisTenantId::parse(value, "id").expect("valid")
    }

    async fn enable(store: &TenantStore, tenant: &str) {
        let enablement = MirroredPartnerEnablement {
            acronis_tenant_id: id(tenant),
            name: TenantName::parse("Partner", "name").expect("valid"),
            settings: None,
            datacenter_url: None,
        };
        store.enable_mirrored_partner(&enablement, None).await.expect("enabled");
    }

    #[tokio::test]
    async fn a_read_future_does_not_carry_the_size_of_its_database_query() {
        // tonic and axum box and move the future of every callback's read; a miss's query (several KiB of
        // SeaORM and sqlx state) must not size every hit's future, so `read_through` boxes it.
        let (_dir, this, _other) = replicas().await;
        let read = this.tenant_by_acronis_id(id(X));
        let bytes = size_of_val(&read);
        assert!(bytes <= 1024, "a tenant read's future is {bytes} bytes");
    }

    #[tokio::test]
    async fn an_answer_loaded_while_an_event_was_applied_is_not_kept() {
        let (_dir, this, other) = replicas().await;
        // A load that read the database before the other replica's write, and returned after this model
        // applied that write's event: what it loaded is already old.
        let load = || async {
            enable(&other, X).await;
            this.read_model().refresh(&this).await?;
            Ok(None)
        };
        let loaded = this
            .read_model()
            .read_through(&this, |tables| &mut tables.tenants, X.to_owned(), load)
            .await
            .expect("read");
        assert!(loaded.is_none());
        let record = this.tenant_by_acronis_id(id(X)).await.expect("read");
        assert!(record.is_some(), "the stale load was kept and served");
    }

    #[tokio::test]
    async fn a_committed_event_not_numbered_yet_is_applied_all_the_same() {
        let (_dir, this, other) = replicas().await;
        assert!(this.tenant_by_acronis_id(id(X)).await.expect("read").is_none());
        // No sequencer runs here: the other replica's event stays without a position.
        enable(&other, X).await;
        let record = this.tenant_by_acronis_id(id(X)).await.expect("read");
        assert!(record.is_some(), "a kept answer outlived an unsequenced event that changed it");
    }

    #[tokio::test]
    async fn an_event_applied_before_it_was_numbered_is_not_applied_again_once_numbered() {
        let (_dir, this, other) = replicas().await;
        enable(&other, X).await;
        // A refresh (a read's, when it finds an answer kept) applies the unsequenced event; the answer
        // loaded after it is kept.
        this.read_model().refresh(&this).await.expect("refresh");
        assert!(this.tenant_by_acronis_id(id(X)).await.expect("read").is_some());
        let kept = |store: &TenantStore| store.read_model().state().tables.tenants.entries.contains_key(X);
        assert!(kept(&this));
        other.sequence_events().await.expect("sequenced");
        this.read_model().refresh(&this).await.expect("refresh");
        assert!(kept(&this), "numbering an event already applied dropped an answer that reflects it");
    }

    #[tokio::test]
    async fn events_expired_before_they_were_applied_drop_everything() {
        let (_dir, this, other) = replicas().await;
        assert!(this.tenant_by_acronis_id(id(X)).await.expect("read").is_none());
        enable(&other, X).await;
        enable(&other, Y).await;
        other.sequence_events().await.expect("sequenced");
        // Every event but the newest (Y's enable) goes: this model never sees what X's events changed.
        assert!(other.expire_events(Duration::ZERO).await.expect("expired") >= 1);
        let record = this.tenant_by_acronis_id(id(X)).await.expect("read");
        assert!(record.is_some(), "a kept answer outlived the event that changed it");
    }

    #[tokio::test]
    async fn events_are_read_in_windows_of_positions_and_a_cursor_among_expired_ones_sees_the_gap() {
        let (_dir, this, other) = replicas().await;
        for n in 1..=5 {
            enable(&other, &format!("0a5e1c3e-0000-4000-8000-{n:012}")).await;
        }
        let head = other.sequence_events().await.expect("sequenced");
        assert!(head >= 5);
        let positions = |events: Vec<EventKeys>| events.iter().filter_map(|event| event.position).collect::<Vec<_>>();
        let first = i64::try_from(head).expect("position") - 4;
        let window = this.event_keys_after(head - 5, 2).await.expect("read");
        assert_eq!(positions(window), vec![first, first + 1], "the next two, in order");
        // Every event but the newest goes. A cursor four behind the head with a window of two: every position
        // of the window expired, and what comes back must still show that events were missed.
        other.expire_events(Duration::ZERO).await.expect("expired");
        let after_gap = this.event_keys_after(head - 4, 2).await.expect("read");
        assert_eq!(positions(after_gap), vec![first + 4], "the oldest event kept, after the gap");
        assert!(this.event_keys_after(head, 2).await.expect("read").is_empty(), "nothing after the head");
    }

    #[test]
    fn a_read_needs_a_refresh_after_its_own_writes_but_not_after_later_ones() {
        let arrived = Instant::now() + Duration::from_mins(2);
        let bound = Duration::from_mins(1);
        let before = |seconds| arrived.checked_sub(Duration::from_secs(seconds)).expect("after the clock's start");
        assert_eq!(refresh_needed_since(arrived, Duration::ZERO, Some(before(1))), Some(arrived));
        assert_eq!(refresh_needed_since(arrived, bound, None), Some(before(60)));
        assert_eq!(refresh_needed_since(arrived, bound, Some(before(90))), Some(before(60)));
        assert_eq!(refresh_needed_since(arrived, bound, Some(before(1))), Some(before(1)), "its own write");
        let later = arrived + Duration::from_millis(1);
        assert_eq!(refresh_needed_since(arrived, Duration::ZERO, Some(later)), Some(arrived), "a later write");
        assert_eq!(refresh_needed_since(arrived, bound, Some(later)), Some(arrived), "a later write");
    }

    #[test]
    fn a_full_table_sheds_answers_and_stays_within_its_capacity() {
        let mut table = Table::new("t", 64);
        for key in 0..1_000 {
            table.insert(key, Some(Arc::new(key)));
            assert!(table.entries.len() <= 64 && table.weight == table.entries.len());
        }
        assert_eq!(table.entries.get(&999), Some(&Some(Arc::new(999))), "the newest answer is kept");
        let mut off = Table::new("t", 0);
        off.insert(1, Some(Arc::new(1)));
        assert!(off.entries.is_empty());
    }

    #[test]
    fn lists_count_one_record_per_item() {
        let mut lists = Table::new("t", 100);
        lists.insert(1, Arc::new(vec![0; 60]));
        lists.insert(2, Arc::new(vec![0; 30]));
        assert_eq!(lists.weight, 92);
        // Another list of 60 does not fit beside both: answers are shed until it does.
        lists.insert(3, Arc::new(vec![0; 60]));
        assert!(lists.weight <= 100 && lists.entries.contains_key(&3), "{} records kept", lists.weight);
        let weights: usize = lists.entries.values().map(Weight::weight).sum();
        assert_eq!(lists.weight, weights);
        // A list larger than the whole table is not kept at all.
        lists.insert(4, Arc::new(vec![0; 200]));
        assert!(!lists.entries.contains_key(&4));
        lists.remove(&3);
        lists.clear();
        assert_eq!((lists.weight, lists.entries.len()), (0, 0));
    }
}
