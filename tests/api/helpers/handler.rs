//! The example vendor service (`examples/users_handler`) as its own process: the custom-callback handler the
//! tests route to, reached over a real socket exactly as a vendor's service would be.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `users_handler`; killed when dropped.
pub struct ExampleHandler {
    child: Child,
    pub port: u16,
    token: Option<String>,
}

/// The prefix of every callback id the example implements (its CyberApp code is `vendor.app`).
pub const EXAMPLE_CALLBACKS: &str = "cti.a.p.acgw.callback.v1.0~vendor.app.";

/// The callback id of the example's `name` (e.g. `users_read`), at CyberApp version `version` (e.g. `v1.0`).
pub fn example_callback(name: &str, version: &str) -> String {
    format!("{EXAMPLE_CALLBACKS}{name}.{version}")
}

/// The response type the example answers `name` with (e.g. `tenant_info_ok`).
pub fn example_response(name: &str) -> String {
    format!("cti.a.p.acgw.response.v1.0~vendor.app.{name}.v1.0")
}

impl ExampleHandler {
    /// Starts the handler on a free port, with its test-only fault callback enabled, requiring `token`.
    pub fn start(token: Option<&str>) -> Self {
        Self::start_on(0, token)
    }

    /// Starts it on `port` (0: any free port), e.g. again on the port of one that was stopped.
    pub fn start_on(port: u16, token: Option<&str>) -> Self {
        let mut command = Command::new(example_binary());
        command
            .args(["--listen", &format!("127.0.0.1:{port}"), "--fault-injection"])
            .env_remove("CUSTOM_CALLBACK_AUTH_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(token) = token {
            command.args(["--auth-token", token]);
        }
        let mut child = command.spawn().expect("the example handler starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("the handler prints where it listens");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the handler: {line:?}"));
        Self { child, port, token: token.map(str::to_owned) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the process (the port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new process on the same port, with the same token.
    pub fn restart(&mut self) {
        self.stop();
        // The old socket may linger briefly; the new process binds the same port with SO_REUSEADDR (tonic).
        std::thread::sleep(Duration::from_millis(100));
        *self = Self::start_on(self.port, self.token.as_deref());
    }
}

impl Drop for ExampleHandler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `target/<profile>/examples/users_handler`, beside this test binary (`target/<profile>/deps/api-…`).
/// `cargo test` builds examples before it runs tests; when only this test target was built, it is built here.
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("test binary path");
    let profile_dir = deps.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let binary = profile_dir.join("examples").join("users_handler");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "users_handler"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success() && binary.exists(), "cannot build the users_handler example");
    }
    binary
}
