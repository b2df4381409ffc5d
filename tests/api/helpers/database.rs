//! A database of its own for each test: a temporary SQLite file, or, when `TEST_DATABASE_URL` names a
//! PostgreSQL server, a new database created on it and dropped (with `FORCE`) when the test ends.

use sea_orm::Database;

/// A database of its own for one test.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::create_postgres(admin_url).await,
            _ => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("tenants.db").display());
                Self { url, postgres: None, _sqlite_dir: Some(dir) }
            }
        }
    }

    /// An existing database (a restart, or a second replica): whoever created it owns it and drops it.
    pub fn shared(url: &str) -> Self {
        Self { url: url.to_owned(), postgres: None, _sqlite_dir: None }
    }

    async fn create_postgres(admin_url: String) -> Self {
        use sea_orm::ConnectionTrait as _;
        let name = format!("cyberapp_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.expect("TEST_DATABASE_URL reachable");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
        admin.close().await.expect("close");
        let mut url = reqwest::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self { url: url.to_string(), postgres: Some((admin_url, name)), _sqlite_dir: None }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs inside the test's runtime; a thread with its own runtime may block on the cleanup.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                use sea_orm::ConnectionTrait as _;
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
