//! SeaORM entities, one file per table. The tables themselves are created by `db::migration`.

pub mod callback_request;
pub mod credential;
pub mod organization;
pub mod tenant;
pub mod tenant_event;
