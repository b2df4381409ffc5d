//! The in-memory user store that stands in for the vendor's own database: each tenant's users, kept apart
//! by vendor tenant id, read in pages ordered by id.
//!
//! It knows nothing of gRPC or of the ACGW envelope (`callbacks.rs` turns its results into answers), and every
//! method takes the tenant first, so no code path can reach another tenant's users. Passwords are not stored:
//! a real service would keep a hash, and this example only shows the shape of the answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

/// One user of one tenant, as the callbacks answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub email: String,
    pub admin: bool,
}

/// A user to create, already validated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub login: String,
    pub email: String,
    pub admin: bool,
}

/// Why a user could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    /// Another user of the same tenant has this login (compared without regard to ASCII case).
    LoginTaken,
}

/// One page of a tenant's users, and whether more follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<User>,
    /// The id of the last item, when users with greater ids exist: the next page starts after it.
    pub more_after: Option<u64>,
}

/// Every tenant's users. Cheap to share: callbacks run concurrently and each takes the lock only for the
/// few microseconds of its read or write, never across an `.await`.
#[derive(Debug, Default)]
pub struct UserStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The last id handed out. Ids are unique across tenants and never reused, so a test can tell from the
    /// id whether a create ran once or twice.
    last_id: u64,
    tenants: HashMap<String, BTreeMap<u64, User>>,
}

impl UserStore {
    /// Up to `limit` users of `tenant` with ids greater than `after` (all when `None`), in id order.
    pub fn list(&self, tenant: &str, after: Option<u64>, limit: usize) -> Page {
        let inner = self.lock();
        let Some(users) = inner.tenants.get(tenant) else { return Page { items: Vec::new(), more_after: None } };
        let start = after.map_or(0, |id| id.saturating_add(1));
        let mut rest = users.range(start..).map(|(_, user)| user);
        let items: Vec<User> = rest.by_ref().take(limit).cloned().collect();
        let more_after = if rest.next().is_some() { items.last().map(|user| user.id) } else { None };
        Page { items, more_after }
    }

    /// Creates a user of `tenant` with the next id.
    pub fn create(&self, tenant: &str, new: NewUser) -> Result<User, CreateError> {
        let mut inner = self.lock();
        let taken = inner
            .tenants
            .get(tenant)
            .is_some_and(|users| users.values().any(|user| user.login.eq_ignore_ascii_case(&new.login)));
        if taken {
            return Err(CreateError::LoginTaken);
        }
        inner.last_id += 1;
        let user = User { id: inner.last_id, login: new.login, email: new.email, admin: new.admin };
        inner.tenants.entry(tenant.to_owned()).or_default().insert(user.id, user.clone());
        Ok(user)
    }

    /// The user `id` of `tenant`; `None` also when the id belongs to another tenant.
    pub fn get(&self, tenant: &str, id: u64) -> Option<User> {
        self.lock().tenants.get(tenant)?.get(&id).cloned()
    }

    /// Removes the user `id` of `tenant` and returns it; `None` (and nothing removed) when `tenant` has no such
    /// user.
    pub fn delete(&self, tenant: &str, id: u64) -> Option<User> {
        self.lock().tenants.get_mut(tenant)?.remove(&id)
    }

    /// A panic while the lock was held cannot leave the maps half-written (every write is one insert or
    /// remove), so a poisoned lock is still safe to use, and one failed call must not fail every later one.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_user(login: &str) -> NewUser {
        NewUser { login: login.to_owned(), email: format!("{login}@example.com"), admin: false }
    }

    fn store_with(tenant: &str, logins: &[&str]) -> UserStore {
        let store = UserStore::default();
        for login in logins {
            store.create(tenant, new_user(login)).expect("a new login");
        }
        store
    }

    fn ids(page: &Page) -> Vec<u64> {
        page.items.iter().map(|user| user.id).collect()
    }

    #[test]
    fn ids_increase_across_tenants_and_are_never_reused() {
        let store = UserStore::default();
        let first = store.create("t1", new_user("ann")).expect("created");
        let second = store.create("t2", new_user("ann")).expect("same login, other tenant");
        store.delete("t2", second.id).expect("deleted");
        let third = store.create("t2", new_user("ann")).expect("login free again");
        assert_eq!((first.id, second.id, third.id), (1, 2, 3));
    }

    #[test]
    fn a_login_is_unique_within_a_tenant_whatever_its_case() {
        let store = store_with("t1", &["ann"]);
        assert_eq!(store.create("t1", new_user("ANN")), Err(CreateError::LoginTaken));
        assert_eq!(store.list("t1", None, 10).items.len(), 1);
    }

    #[test]
    fn pages_walk_every_user_once_in_id_order() {
        let store = store_with("t1", &["a", "b", "c", "d", "e"]);
        let first = store.list("t1", None, 2);
        assert_eq!((ids(&first), first.more_after), (vec![1, 2], Some(2)));
        let second = store.list("t1", first.more_after, 2);
        assert_eq!((ids(&second), second.more_after), (vec![3, 4], Some(4)));
        let last = store.list("t1", second.more_after, 2);
        assert_eq!((ids(&last), last.more_after), (vec![5], None));
    }

    #[test]
    fn a_page_that_ends_exactly_at_the_last_user_says_there_is_no_more() {
        let store = store_with("t1", &["a", "b"]);
        let page = store.list("t1", None, 2);
        assert_eq!((ids(&page), page.more_after), (vec![1, 2], None));
    }

    #[test]
    fn a_cursor_still_works_after_its_user_is_deleted() {
        let store = store_with("t1", &["a", "b", "c"]);
        store.delete("t1", 2).expect("deleted");
        assert_eq!(ids(&store.list("t1", Some(2), 10)), vec![3]);
        assert_eq!(ids(&store.list("t1", Some(u64::MAX), 10)), Vec::<u64>::new());
    }

    #[test]
    fn a_tenant_never_sees_or_touches_another_tenants_users() {
        let store = store_with("t1", &["ann"]);
        assert_eq!(store.list("t2", None, 10), Page { items: Vec::new(), more_after: None });
        assert_eq!(store.get("t2", 1), None);
        assert_eq!(store.delete("t2", 1), None);
        assert_eq!(store.get("t1", 1).map(|user| user.login), Some("ann".to_owned()));
    }
}
