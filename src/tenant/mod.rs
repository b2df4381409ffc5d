//! The TenantService: the owner of the tenant record.
//!
//! [`service`] is the thin tonic layer (parse, call the store, answer); [`convert`] is its one place between
//! protobuf and the domain; [`model`] holds the domain types and their parsers; [`store`] holds every query
//! and transaction, one file per callback family; [`error`] is the one error type and its mapping to
//! `tonic::Status`. Around them: [`credentials`] checks enablement-form credentials, [`paging`] the page
//! tokens and cursors, [`event_feed`] streams the outbox, [`maintenance`] prunes old rows, [`readiness`] keeps
//! the gRPC health status true to the database, and [`directory_file`] is the `directory import` command.
//! Nothing here knows about HTTP or the ACGW envelope.

pub mod convert;
pub mod credentials;
pub mod directory_file;
pub mod error;
pub mod event_feed;
pub mod maintenance;
pub mod model;
pub mod paging;
pub mod readiness;
pub mod service;
pub mod store;

pub use error::TenantError;
pub use service::TenantServiceImpl;
pub use store::TenantStore;
