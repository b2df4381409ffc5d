//! The ACGW request and response envelopes (protocol §4 and §7) as serde types.
//!
//! Parsing is lenient where Acronis is inconsistent (unknown fields ignored; `payload` absent, `null` and `{}`
//! mean the same; any `created_at`, even the Go zero time) and strict where a wrong value would make us act
//! on the wrong tenant (`context.tenant_id` must be a UUID). The envelope, `context`, `payload`, `paging` and
//! the items of a payload's lists must be JSON objects: serde would also read a struct from an array, by
//! field order, a shape Acronis never sends.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::error::GatewayError;
use super::payloads::Payload;

/// Longest `request_id` accepted (Acronis sends UUIDs); it bounds what we store and echo.
const MAX_REQUEST_ID_LEN: usize = 128;

#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// The request `type` CTI. Checked only leniently, as the protocol allows (§11.3).
    #[serde(rename = "type")]
    pub request_type: String,
    pub request_id: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(deserialize_with = "from_object")]
    pub context: Context,
    #[serde(default)]
    payload: Option<Value>,
    /// Enablement 2.0 pagination (§10), a top-level sibling of `payload`.
    #[serde(default)]
    paging: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Context {
    pub callback_id: String,
    pub endpoint_id: String,
    pub tenant_id: String,
    #[serde(default)]
    pub datacenter_url: Option<String>,
}

impl Envelope {
    /// Parses and validates a request body.
    pub fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        let envelope: Self = serde_json::from_slice(body).map_err(|error| {
            if error.is_data() {
                GatewayError::BadRequest(format!(
                    "The request body is not a valid callback envelope: {}.",
                    without_position(&error)
                ))
            } else {
                GatewayError::BadRequest("The request body is not valid JSON.".into())
            }
        })?;
        if !body.trim_ascii_start().starts_with(b"{") {
            return Err(GatewayError::BadRequest("The request body must be a JSON object.".into()));
        }
        if !is_plain_text(&envelope.request_id, MAX_REQUEST_ID_LEN) {
            return Err(GatewayError::BadRequest(format!(
                "request_id must be a non-empty string of at most {MAX_REQUEST_ID_LEN} printable ASCII characters."
            )));
        }
        if Uuid::try_parse(&envelope.context.tenant_id).is_err() {
            return Err(GatewayError::BadRequest("context.tenant_id must be a UUID.".into()));
        }
        Ok(envelope)
    }

    /// The callback-specific payload as `T`. An absent or `null` payload reads as `{}`.
    pub fn payload<T: DeserializeOwned>(&self, callback: &str) -> Result<T, GatewayError> {
        let empty = Value::Object(serde_json::Map::new());
        let payload = match &self.payload {
            None | Some(Value::Null) => &empty,
            Some(value @ Value::Object(_)) => value,
            Some(_) => return Err(GatewayError::BadRequest(format!("The payload of {callback} must be an object."))),
        };
        T::deserialize(payload).map_err(|error| {
            GatewayError::BadRequest(format!("The payload of {callback} is invalid: {}.", without_position(&error)))
        })
    }

    /// The payload as JSON text for a handler that reads it itself; `{}` when absent or `null`.
    pub fn payload_json(&self) -> String {
        match &self.payload {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(value) => value.to_string(),
        }
    }

    /// The top-level `paging` object, when present.
    pub fn paging(&self) -> Option<&Value> {
        self.paging.as_ref()
    }

    /// Checks that `value`, the payload's `key`, names the tenant the request was made from: a UUID (400
    /// otherwise) equal to `context.tenant_id`, in any letter case (403 otherwise). The token vouches only
    /// for `context.tenant_id`, so a payload naming another tenant is refused rather than acted on.
    pub fn require_own_tenant(&self, key: &str, value: &str) -> Result<(), GatewayError> {
        let Ok(named) = Uuid::try_parse(value) else {
            return Err(GatewayError::BadRequest(format!("payload.{key} must be a UUID.")));
        };
        if Uuid::try_parse(&self.context.tenant_id).ok() != Some(named) {
            return Err(GatewayError::Forbidden(format!(
                "payload.{key} must be the tenant the request was made from (context.tenant_id)."
            )));
        }
        Ok(())
    }

    /// `context.datacenter_url`, when given and not blank.
    pub fn datacenter_url(&self) -> Option<String> {
        self.context.datacenter_url.clone().filter(|url| !url.trim().is_empty())
    }
}

/// serde's message without its " at line L column C" suffix, which means nothing to a partner admin.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => message,
    }
}

/// A struct read from a JSON object only (see the module's notes); an array is "invalid type: sequence".
/// The object's fields go straight into `T`, with no map built in between.
pub(super) fn from_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// A list of structs, each read from a JSON object only (see [`from_object`]).
pub(super) fn from_objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let objects = Vec::<Object<T>>::deserialize(deserializer)?;
    Ok(objects.into_iter().map(|Object(item)| item).collect())
}

/// Reads a `T` from a map, and refuses every other shape with "expected a map".
struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// One item of [`from_objects`].
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_object(deserializer).map(Object)
    }
}

/// Non-blank, at most `max_len` bytes, printable ASCII (`request_id` travels as gRPC metadata, and
/// PostgreSQL refuses NUL in text). Acronis sends UUIDs.
pub fn is_plain_text(text: &str, max_len: usize) -> bool {
    !text.trim().is_empty() && text.len() <= max_len && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// The `request_id` of a body that may not be a valid envelope, for echoing in an error response.
pub fn readable_request_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe {
        request_id: Option<Value>,
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    match probe.request_id? {
        Value::String(id) if is_plain_text(&id, MAX_REQUEST_ID_LEN) => Some(id),
        _ => None,
    }
}

/// The success envelope (§7). `payload` is left out, never `null`, when the callback has none.
#[derive(Debug, Serialize)]
pub struct SuccessResponse {
    #[serde(rename = "type")]
    pub response_type: &'static str,
    pub request_id: String,
    pub response_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET_STATE: &str = r#"{
        "type": "cti.a.p.acgw.request.v1.1~a.p.partner.mirroring.get_state.v1.0",
        "request_id": "14ba57f7-b28c-4e5f-b1ae-55eba40a8502",
        "created_at": "0001-01-01T00:00:00Z",
        "context": {
            "callback_id": "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1.0",
            "endpoint_id": "cti.a.p.acgw.endpoint.v1.0~wasabi_technologies.wasabi_qa.endpoint.v1.0",
            "tenant_id": "9ae2aada-2342-4fc0-8d92-007b597a7d9c",
            "datacenter_url": "https://eu8.acronis.cloud"
        },
        "payload": {},
        "paging": {"limit": 5}
    }"#;

    #[test]
    fn documented_request_parses_with_unknown_fields_ignored() {
        let envelope = Envelope::parse(GET_STATE.as_bytes()).expect("valid");
        assert_eq!(envelope.request_id, "14ba57f7-b28c-4e5f-b1ae-55eba40a8502");
        assert_eq!(envelope.datacenter_url().as_deref(), Some("https://eu8.acronis.cloud"));
    }

    #[test]
    fn absent_null_and_empty_payloads_read_the_same() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Empty {}
        for payload in ["", r#","payload": null"#, r#","payload": {}"#] {
            let body = format!(
                r#"{{"type":"t","request_id":"r","context":{{"callback_id":"c","endpoint_id":"e","tenant_id":"9ae2aada-2342-4fc0-8d92-007b597a7d9c"}}{payload}}}"#
            );
            let envelope = Envelope::parse(body.as_bytes()).expect("valid");
            assert_eq!(envelope.payload::<Empty>("x").expect("empty payload"), Empty {});
        }
    }

    #[test]
    fn a_payload_must_name_the_requesting_tenant_in_any_letter_case() {
        let envelope = Envelope::parse(GET_STATE.as_bytes()).expect("valid");
        assert!(envelope.require_own_tenant("acronis_tenant_id", "9AE2AADA-2342-4FC0-8D92-007B597A7D9C").is_ok());
        let other = envelope.require_own_tenant("partner_tenant_id", "999d63d2-831e-40b9-aaab-16f919a483d0");
        assert!(matches!(&other, Err(GatewayError::Forbidden(message))
            if message == "payload.partner_tenant_id must be the tenant the request was made from (context.tenant_id)."));
        let malformed = envelope.require_own_tenant("acronis_tenant_id", "nope");
        assert!(matches!(&malformed, Err(GatewayError::BadRequest(message))
            if message == "payload.acronis_tenant_id must be a UUID."));
    }

    #[test]
    fn request_id_is_echoed_only_when_readable() {
        assert_eq!(readable_request_id(br#"{"request_id":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(readable_request_id(br#"{"request_id":7}"#), None);
        assert_eq!(readable_request_id(b"not json"), None);
        assert_eq!(readable_request_id(b"[]"), None);
    }
}
