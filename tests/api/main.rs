//! The API test suite: the real service on loopback ports, driven as the Acronis gateway would drive it.
//! Runs on SQLite by default and on PostgreSQL when `TEST_DATABASE_URL` is set. One file per area; what they
//! share lives in `helpers/`, the only module a test file imports from.

// Helpers outside #[test] functions state their expectations by panicking too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, reason = "test harness")]

mod argon2_slots;
mod binary;
mod credential_replicas;
mod custom_callbacks;
mod customers;
mod dev_mode;
mod directory;
mod enablement_methods;
mod envelope;
mod faults;
mod grpc_auth;
mod health;
mod helpers;
mod hostile_input;
mod idempotency;
mod idempotency_retention;
mod jwks;
mod large_answers;
mod large_partner;
mod limits;
mod logging;
mod metrics;
mod mirrored_partner;
mod nested_partners;
mod partner_mapping;
mod read_model;
mod request_timeout;
mod shutdown;
mod slow_clients;
mod split_deployment;
mod sqlite_settings;
mod tenant_queries;
mod tls;
mod traces;
mod verification;
mod watch_events;
