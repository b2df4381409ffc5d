//! Every gRPC metadata name the two halves exchange, in one place, so that the side that sets a name and
//! the side that reads it cannot drift apart. Names only: what each one carries is written beside it, and
//! the code that sets or reads it lives with its half (`gateway::idempotency`, `tenant::service`,
//! `tenant::error`, `grpc::auth`, `grpc::metrics`).

/// The callback's `request_id`, sent with every state-changing call. With [`REQUEST_HASH_METADATA`] and
/// [`RESPONSE_ID_METADATA`] (always the three together) it makes the call idempotent.
pub const REQUEST_ID_METADATA: &str = "x-callback-request-id";

/// A hash of the callback's canonical body: the same `request_id` with another body is refused.
pub const REQUEST_HASH_METADATA: &str = "x-callback-request-hash";

/// On the request, the `response_id` to record; on the answer, the one to use (the recorded one when the
/// call was a replay).
pub const RESPONSE_ID_METADATA: &str = "x-callback-response-id";

/// Set on the UNAUTHENTICATED (or PERMISSION_DENIED) answer to a call without the right GRPC_AUTH_TOKEN, so
/// that a gateway can tell its own misconfiguration apart from a partner's wrong credentials (also
/// UNAUTHENTICATED).
pub const AUTH_REFUSED_METADATA: &str = "x-grpc-auth-refused";

/// On a RESOURCE_EXHAUSTED answer: how many seconds a throttled caller should wait.
pub const RETRY_AFTER_METADATA: &str = "retry-after";

/// The trailer (or, for an error answered before any message, the header) that carries a call's final
/// status code; gRPC's own name, read to count calls.
pub const GRPC_STATUS_METADATA: &str = "grpc-status";
