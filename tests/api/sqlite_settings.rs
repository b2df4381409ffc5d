//! SQLite's durability and concurrency settings, read back from live connections of the service's own pool
//! (`db::connect`): WAL, `synchronous=FULL` (a commit answered 200 survives a crash) and a 5 s busy timeout
//! (concurrent writers wait instead of failing). `synchronous` and `busy_timeout` are per connection, so
//! they are checked repeatedly through the pool and on every connection it may hold, held at once (up to
//! [`CONNECTIONS`]; SeaORM caps a SQLite pool at one connection unless told otherwise).

use cyberapp_tenants::db;
use sea_orm::sqlx::{self, Row as _};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

/// At most this many connections held at the same time, so that each is a different one.
const CONNECTIONS: u32 = 4;

/// `(journal_mode, synchronous, busy_timeout)` as the service expects them: WAL, FULL (= 2), 5000 ms.
const EXPECTED: (&str, i64, i64) = ("wal", 2, 5000);

fn names_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres"))
}

#[tokio::test]
async fn every_pooled_sqlite_connection_runs_in_wal_with_synchronous_full_and_a_busy_timeout() {
    if names_postgres() {
        eprintln!("SKIPPED sqlite_settings: TEST_DATABASE_URL names PostgreSQL; these are SQLite's settings");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tenants.db").display());
    let connection = db::connect(&url).await.expect("db::connect");

    // Through the DatabaseConnection the service uses, several times (the pool picks the connection).
    for _ in 0..(2 * CONNECTIONS) {
        let statement = |name: &str| Statement::from_string(DbBackend::Sqlite, format!("PRAGMA {name}"));
        let journal_mode: String = connection
            .query_one_raw(statement("journal_mode"))
            .await
            .expect("PRAGMA journal_mode")
            .expect("a row")
            .try_get_by_index(0)
            .expect("text");
        let synchronous: i32 = connection
            .query_one_raw(statement("synchronous"))
            .await
            .expect("PRAGMA synchronous")
            .expect("a row")
            .try_get_by_index(0)
            .expect("integer");
        let busy_timeout: i32 = connection
            .query_one_raw(statement("busy_timeout"))
            .await
            .expect("PRAGMA busy_timeout")
            .expect("a row")
            .try_get_by_index(0)
            .expect("integer");
        assert_eq!(
            (journal_mode.to_lowercase().as_str(), i64::from(synchronous), i64::from(busy_timeout)),
            EXPECTED,
            "(journal_mode, synchronous, busy_timeout) through db::connect's DatabaseConnection"
        );
    }

    // On several connections of the same pool held at once: each is a distinct connection.
    let pool = connection.get_sqlite_connection_pool();
    let at_once = pool.options().get_max_connections().min(CONNECTIONS);
    let mut held = Vec::new();
    for _ in 0..at_once {
        held.push(pool.acquire().await.expect("a pooled connection"));
    }
    for (index, conn) in held.iter_mut().enumerate() {
        let journal_mode = pragma(conn, "journal_mode", index).await;
        let synchronous = pragma(conn, "synchronous", index).await;
        let busy_timeout = pragma(conn, "busy_timeout", index).await;
        assert_eq!(
            (journal_mode.to_lowercase(), synchronous, busy_timeout),
            (EXPECTED.0.to_owned(), EXPECTED.1.to_string(), EXPECTED.2.to_string()),
            "(journal_mode, synchronous, busy_timeout) on pooled connection {index} of {at_once} held at once"
        );
    }
    assert!(pool.size() >= at_once, "{at_once} distinct connections were held");
    drop(held);
    connection.close().await.expect("close");
}

/// `PRAGMA name` on one pooled connection, its value as text (`journal_mode` answers text, the others integers).
async fn pragma(conn: &mut sqlx::SqliteConnection, name: &str, index: usize) -> String {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("PRAGMA {name} on connection {index}: {e}"));
    row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string())).expect("value")
}
