//! Custom callbacks: the vendor-defined callbacks of the CyberApp's own UI forms (protocol §9.12), verified
//! here like the standard ones and handed to the vendor service that owns each over gRPC
//! (`cyberapp.tenants.v1.CustomCallbackHandler`).
//!
//! [`routes`] reads CUSTOM_CALLBACK_ROUTES, [`forward`] is the path of one callback (resolve the tenant →
//! exactly-once claim → call the handler → record), and [`answer`] checks and renders the handler's answer
//! and maps its errors. [`CustomCallbacks`] holds the route table and one pooled channel per vendor service.

mod answer;
mod forward;
pub mod routes;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Secret;
use crate::grpc::channel::{GrpcChannel, vendor_channel};
use crate::pb::custom_callback_handler_client::CustomCallbackHandlerClient;
pub use forward::{CustomCall, forward};
use routes::{Route, RouteTable};

type HandlerClient = CustomCallbackHandlerClient<GrpcChannel>;

/// The routes, and a client per distinct vendor service URL (its channel is shared by every call and
/// every route to that service, and reconnects by itself).
#[derive(Debug, Clone, Default)]
pub struct CustomCallbacks {
    table: RouteTable,
    clients: HashMap<String, HandlerClient>,
}

impl CustomCallbacks {
    /// Builds the clients of `table`'s services, presenting `token` (CUSTOM_CALLBACK_AUTH_TOKEN) to each.
    /// Connections are made on first use, so the gateway starts while a vendor service is still down.
    pub fn connect(table: RouteTable, token: Option<&Secret>) -> anyhow::Result<Self> {
        let mut clients = HashMap::new();
        for route in table.routes() {
            if !clients.contains_key(&route.url) {
                // A handler's answer is one form's data; tonic's default 4 MiB decode limit is ample.
                clients.insert(route.url.clone(), CustomCallbackHandlerClient::new(vendor_channel(&route.url, token)?));
            }
        }
        Ok(Self { table, clients })
    }

    /// The route of a custom `callback_id`, if any.
    pub fn route(&self, callback_id: &str) -> Option<Arc<Route>> {
        self.table.find(callback_id).cloned()
    }

    fn client(&self, route: &Route) -> Option<HandlerClient> {
        self.clients.get(&route.url).cloned()
    }
}
