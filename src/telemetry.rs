//! Logging set-up: structured JSON for machines, a readable format for people at a terminal.
//!
//! Nothing here decides *what* is logged; modules must never pass tokens, credentials or hashes to `tracing`.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// `LOG_FORMAT`: how log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (the default when standard error is not a terminal).
    Json,
    /// Human-readable lines (the default on a terminal).
    Pretty,
}

impl LogFormat {
    /// The contract's default: `pretty` on a terminal, `json` otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() { Self::Pretty } else { Self::Json }
    }
}

/// Installs the global subscriber. `RUST_LOG` refines the level (default `info`).
pub fn init(format: Option<LogFormat>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (tests build several apps in one process) keeps the first subscriber.
    let _ = match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Json => builder.json().flatten_event(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
