//! The one home of what the API tests share; test files import from here and from nowhere else.
//!
//! * [`app`]: [`TestApp`], the service in the test process (port 0, a database of its own, the fake IdP
//!   trusted), with one method per kind of request; [`serve_args`], the configuration it starts with;
//!   [`TestResponse`]; gRPC seeding of organizations and the `WatchEvents` stream.
//! * [`database`]: [`TestDatabase`], a fresh SQLite file or PostgreSQL database (`TEST_DATABASE_URL`) per test.
//! * [`callbacks`]: the tenants and endpoint the tests speak for, the envelope, one builder per standard
//!   callback, every response type, `X-CyberApp-Auth`, and the contract's success shape.
//! * [`binary`]: [`Service`], the binary as its own process, and [`free_port`].
//! * [`fake_idp`]: the Acronis identity provider stand-in: signing keys and a JWKS endpoint that can publish
//!   any JWK and fail on demand.
//! * [`handler`]: [`ExampleHandler`], the example vendor service (`examples/users_handler`) as its own process,
//!   and the ids of its custom callbacks.
//! * [`otlp`]: [`OtlpReceiver`], an OTLP/gRPC trace collector stand-in, and the spans it received.
//!
//! Every name is re-exported here, so a test writes `use crate::helpers::{TestApp, enable_partner, ...}`.

mod app;
mod binary;
mod callbacks;
mod database;
mod fake_idp;
mod handler;
mod otlp;

pub use app::*;
pub use binary::*;
pub use callbacks::*;
pub use database::*;
pub use fake_idp::*;
pub use handler::*;
pub use otlp::*;
