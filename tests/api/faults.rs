//! Faults and races, against the real binary: PostgreSQL going away and coming back, `kill -9` under a
//! write load, and two service processes racing on one database. Whatever happens: no 5xx but the
//! documented 503, no change lost after a 200, no one-to-one rule broken.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cyberapp_tenants::db::entity::tenant::{self, EnablementState};
use sea_orm::{Database, EntityTrait};
use serde_json::{Value, json};

use crate::helpers::{
    PARTNER_TENANT, Service, TestDatabase, enable_partner, enablement_read, enablement_write, free_port, http_client,
    password_auth, reset_partner, tenant_mapping_write,
};

/// A PostgreSQL cluster of the test's own, which it may stop and start. Needs the Debian server packages
/// and root (to run them as `postgres`); where that is not available, [`Cluster::create`] says why.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// Initializes and starts the cluster; `Err` (why not) where the server binaries or root are missing.
    /// Once the prerequisites are there, a failing `initdb` or `pg_ctl start` panics rather than skipping.
    fn create() -> Result<Self, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL server packages (/usr/lib/postgresql: {e})"))?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .max()
            .ok_or("no PostgreSQL server packages (/usr/lib/postgresql is empty)")?;
        if !bin.join("initdb").exists() {
            return Err(format!("no {}", bin.join("initdb").display()));
        }
        let uid = Command::new("id").arg("-u").output().map_err(|e| format!("`id -u` does not run: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root (the cluster runs as `postgres`, through `su`)".to_owned());
        }
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let chown = Command::new("chown").args(["postgres"]).arg(dir.path()).status();
        if !chown.as_ref().is_ok_and(std::process::ExitStatus::success) {
            return Err(format!("chown postgres {} failed ({chown:?}): no `postgres` user?", dir.path().display()));
        }
        let cluster = Self { bin, dir, port: free_port() };
        Self::as_postgres(&format!(
            "{}/initdb -D {} --auth=trust -U postgres",
            cluster.bin.display(),
            cluster.dir.path().display()
        ));
        cluster.start();
        Ok(cluster)
    }

    /// Runs `command` as `postgres`. Output goes nowhere: a started server would otherwise hold our pipes.
    fn as_postgres(command: &str) {
        let status = Command::new("su")
            .args(["postgres", "-c", command])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("su runs");
        assert!(status.success(), "{command} failed");
    }

    fn pg_ctl(&self, action: &str) {
        Self::as_postgres(&format!(
            "{}/pg_ctl -D {dir} -l {dir}/server.log -o '-c listen_addresses=127.0.0.1 -p {} -k /tmp' -w -m fast {action}",
            self.bin.display(),
            self.port,
            dir = self.dir.path().display(),
        ));
    }

    fn start(&self) {
        self.pg_ctl("start");
    }

    fn stop(&self) {
        self.pg_ctl("stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args([
                "postgres",
                "-c",
                &format!("{}/pg_ctl -D {} -m immediate stop", self.bin.display(), self.dir.path().display()),
            ])
            .output();
    }
}

async fn post(
    service: &Service,
    token: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap) {
    let mut request =
        http_client().post(format!("http://127.0.0.1:{}/callback", service.http_port)).bearer_auth(token).json(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => (response.status().as_u16(), response.headers().clone()),
        Err(_) => (0, reqwest::header::HeaderMap::new()),
    }
}

async fn readyz(service: &Service) -> u16 {
    let url = format!("http://127.0.0.1:{}/readyz", service.http_port);
    http_client().get(url).send().await.map_or(0, |response| response.status().as_u16())
}

async fn wait_for_readyz(service: &Service, expected: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while readyz(service).await != expected {
        assert!(Instant::now() < deadline, "/readyz did not become {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_postgresql_down_callbacks_get_503_and_the_service_recovers_by_itself() {
    let cluster = match Cluster::create() {
        Ok(cluster) => cluster,
        Err(why) => {
            // In CI this test must run: a skip there would pass without having tested anything.
            let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
            assert!(
                !ci,
                "CI is set, so this test may not be skipped, but its PostgreSQL cluster cannot be started: {why}"
            );
            eprintln!(
                "SKIPPED with_postgresql_down_callbacks_get_503_and_the_service_recovers_by_itself: {why} \
                 (needs root and the PostgreSQL server packages; with CI set this fails instead)"
            );
            return;
        }
    };
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut service = Service::start(&cluster.url(), data_dir.path(), &[]);
    service.wait_until_ready().await;
    let token = service.dev_token(data_dir.path());
    assert_eq!(post(&service, &token, &enable_partner(PARTNER_TENANT, "Partner", None), &[]).await.0, 200);

    cluster.stop();
    let started = Instant::now();
    let (status, headers) = post(&service, &token, &reset_body(), &[]).await;
    assert_eq!(status, 503, "database down");
    assert!(headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(11),
        "answered within the request timeout: {:?}",
        started.elapsed()
    );
    wait_for_readyz(&service, 503, Duration::from_secs(10)).await;

    cluster.start();
    wait_for_readyz(&service, 200, Duration::from_secs(30)).await;
    assert_eq!(post(&service, &token, &reset_body(), &[]).await.0, 200, "recovered without a restart");
    assert_eq!(service.terminate().code(), Some(0));
}

fn reset_body() -> Value {
    reset_partner(PARTNER_TENANT)
}

#[tokio::test]
async fn kill_9_under_write_load_loses_no_change_that_was_answered_200() {
    let (database, data_dir, mut service) = Service::start_fresh(&[]).await;
    let token = service.dev_token(data_dir.path());

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = service.http_port;
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (acknowledged, stop, token) = (acknowledged.clone(), stop.clone(), token.clone());
            tokio::spawn(async move {
                let client = http_client();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let tenant = uuid::Uuid::new_v4().to_string();
                    let sent = client
                        .post(format!("http://127.0.0.1:{port}/callback"))
                        .bearer_auth(&token)
                        .json(&enable_partner(&tenant, "Load", None))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => acknowledged.lock().expect("lock").push(tenant),
                        Ok(response) => assert!(response.status().as_u16() < 500, "{}", response.status()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    service.signal("-KILL");
    service.wait_for_exit();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }

    let restarted = Service::start(&database.url, data_dir.path(), &[]);
    restarted.wait_until_ready().await;
    let db = Database::connect(&database.url).await.expect("connect");
    let stored: HashMap<String, EnablementState> = tenant::Entity::find()
        .all(&db)
        .await
        .expect("tenants")
        .into_iter()
        .filter_map(|row| row.acronis_tenant_id.map(|id| (id, row.state)))
        .collect();
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() > 20, "the load ran: {} writes acknowledged", acknowledged.len());
    for tenant in &acknowledged {
        assert_eq!(stored.get(tenant), Some(&EnablementState::Enabled), "{tenant} was answered 200 but is lost");
    }
    eprintln!("kill -9: {} acknowledged writes all present after restart", acknowledged.len());
}

/// Imports `directory` into the database with the CLI.
fn import(database_url: &str, directory: &Value, dir: &Path) {
    let file = dir.join("race-directory.json");
    std::fs::write(&file, directory.to_string()).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
        .args(["directory", "import"])
        .arg(&file)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("import");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn two_processes_racing_conflicting_callbacks_keep_every_one_to_one_rule_and_never_fail() {
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let customers: Vec<String> = (1..=4).map(|i| format!("c{i}")).collect();
    let mut organizations = vec![
        json!({ "id": "p1", "name": "P1", "kind": "partner" }),
        json!({ "id": "p2", "name": "P2", "kind": "partner" }),
    ];
    organizations
        .extend(customers.iter().map(|id| json!({ "id": id, "name": id, "kind": "customer", "parent_id": "p1" })));
    let directory = json!({
        "organizations": organizations,
        "credentials": [
            { "identity": "one", "organization_id": "p1", "secrets": { "password": "pw" } },
            { "identity": "two", "organization_id": "p2", "secrets": { "password": "pw" } },
        ],
    });
    import(&database.url, &directory, data_dir.path());
    // Both processes share the data directory, hence the development key, and listen on their own ports.
    let first = Service::start(&database.url, data_dir.path(), &[]);
    first.wait_until_ready().await;
    let second = Service::start(&database.url, data_dir.path(), &[]);
    second.wait_until_ready().await;
    let tokens = [first.dev_token(data_dir.path()), second.dev_token(data_dir.path())];
    let services = [&first, &second];

    // Each process checks each login once, so the race below is on the database, not on Argon2 slots.
    for (service, token) in services.iter().zip(&tokens) {
        for identity in ["one", "two"] {
            let read = enablement_read(PARTNER_TENANT);
            assert_eq!(post(service, token, &read, &[password_auth(identity, "pw")]).await.0, 200);
        }
    }

    // Round 1: both partners race for one Acronis tenant.
    let writes = (0..100).map(|i| {
        let (organization, identity) = if i % 2 == 0 { ("p1", "one") } else { ("p2", "two") };
        let body = enablement_write(PARTNER_TENANT, organization, PARTNER_TENANT);
        let (service, token) = (services[(i / 2) % 2], &tokens[(i / 2) % 2]);
        async move { (organization, post(service, token, &body, &[password_auth(identity, "pw")]).await.0) }
    });
    let outcomes = futures::future::join_all(writes).await;
    let winners: HashSet<&str> = outcomes.iter().filter(|(_, status)| *status == 200).map(|(org, _)| *org).collect();
    assert!(outcomes.iter().all(|(_, status)| matches!(status, 200 | 403)), "{outcomes:?}");
    assert_eq!(winners.len(), 1, "exactly one organization won the tenant: {outcomes:?}");
    let winner = *winners.iter().next().expect("winner");

    // Round 2: the winner's customer mappings, remapped concurrently from both processes.
    let acronis: Vec<String> = (0..4).map(|i| format!("aaaaaaaa-0000-4000-8000-00000000000{i}")).collect();
    let mapping_writes = (0..100).map(|i| {
        let pairs: Vec<Value> = (0..2)
            .map(|j| json!({ "vendor_tenant_id": format!("c{}", (i + j) % 4 + 1), "acronis_tenant_id": acronis[(i * 3 + j) % 4] }))
            .collect();
        let body = tenant_mapping_write(PARTNER_TENANT, json!(pairs));
        let (service, token) = (services[i % 2], &tokens[i % 2]);
        async move { post(service, token, &body, &[]).await.0 }
    });
    let statuses = futures::future::join_all(mapping_writes).await;
    let expected = if winner == "p1" { 200 } else { 403 };
    assert!(statuses.iter().all(|&status| status == expected), "{statuses:?}");

    let db = Database::connect(&database.url).await.expect("connect");
    let rows = tenant::Entity::find().all(&db).await.expect("tenants");
    let mut by_acronis = HashSet::new();
    for row in rows.iter().filter(|row| row.acronis_tenant_id.is_some()) {
        assert!(by_acronis.insert(row.acronis_tenant_id.clone()), "an Acronis tenant is mapped twice");
    }
    let partner = rows.iter().find(|row| row.acronis_tenant_id.as_deref() == Some(PARTNER_TENANT)).expect("partner");
    assert_eq!(partner.vendor_tenant_id, winner);
}
