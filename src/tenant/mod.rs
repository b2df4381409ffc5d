//! The TenantService: the owner of the tenant record.
//!
//! [`service`] is the thin tonic layer (validate, call the store, map errors), [`store`] holds every query
//! and transaction, [`model`] the domain types both share, [`messages`] turns records into protocol
//! messages, [`event_feed`] streams the outbox, and [`error`] is the one error type and its mapping to
//! `tonic::Status`; [`directory_file`] is the `directory import` command. Nothing here knows about HTTP or the
//! ACGW envelope.

pub mod credentials;
pub mod directory_file;
pub mod error;
pub mod event_feed;
pub mod maintenance;
pub mod messages;
pub mod model;
pub mod paging;
pub mod readiness;
pub mod service;
pub mod store;

pub use error::TenantError;
pub use service::TenantServiceImpl;
pub use store::TenantStore;
