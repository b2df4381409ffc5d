//! The `cyberapp-tenants` binary as its own process, started the way an operator starts it, for tests of
//! what only a process shows: signals, exit statuses, the log, `migrate`, several processes on one database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ENDPOINT_ID, TestDatabase, http_client};

/// The binary, started as an operator would: `serve` with the environment only. Its log (debug level, JSON)
/// goes to `service.log` in the data directory.
pub struct Service {
    child: Child,
    pub http_port: u16,
    pub grpc_port: u16,
    log_path: std::path::PathBuf,
}

impl Service {
    pub fn start(database_url: &str, data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Self {
        let http_port = free_port();
        let grpc_port = free_port();
        let log_path = data_dir.join("service.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("ACGW_DEV_MODE", "true")
            .env("ACGW_ENDPOINT_IDS", ENDPOINT_ID)
            .env("DATA_DIR", data_dir)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("binary starts");
        Self { child, http_port, grpc_port, log_path }
    }

    /// Starts the binary with `extra_env` on a database and a data directory of its own, and waits until it is
    /// ready. Bind them in this order (`let (database, data_dir, mut service) = ...`): locals drop in reverse,
    /// so the process stops before its database and directory go.
    pub async fn start_fresh(extra_env: &[(&str, &str)]) -> (TestDatabase, tempfile::TempDir, Self) {
        let database = TestDatabase::create().await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let service = Self::start(&database.url, data_dir.path(), extra_env);
        service.wait_until_ready().await;
        (database, data_dir, service)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).expect("log readable")
    }

    pub fn dev_token(&self, data_dir: &std::path::Path) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_cyberapp-tenants"))
            .args(["dev", "token", "--endpoint-id", ENDPOINT_ID])
            .env("HTTP_ADDR", format!("127.0.0.1:{}", self.http_port))
            .env("DATA_DIR", data_dir)
            .output()
            .expect("dev token runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf8").trim().to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().expect("kill").success());
    }

    pub async fn wait_until_ready(&self) -> Duration {
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{}/readyz", self.http_port);
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = http_client().get(&url).send().await
                && response.status() == 200
            {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("binary did not become ready");
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.wait_for_exit()
    }

    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
