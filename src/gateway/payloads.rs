//! The `payload` of each success response (protocol §9) and its Enablement 2.0 `paging` (§10), as serde types.
//!
//! Optional keys are left out, never `null` (§7). Fields are declared in alphabetical order so that the keys
//! go out in the order they always have: a response is byte for byte what the Acronis gateway has seen (the
//! tests below pin it). The request payloads are read where they are converted (`convert`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::GatewayError;

/// A success response's `payload`, one shape per callback that has one.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// `enablement.read`.
    PartnerEnablement(PartnerEnablement),
    /// `topology.read`.
    Topology(ItemsPage<TopologyItem>),
    /// `tenant_mapping.read`.
    TenantMapping(ItemsPage<TenantMappingItem>),
    /// `partner.mirroring.get_state`.
    MirroredPartnerState(MirroredPartnerState),
    /// `partner.mirroring.enable`.
    EnabledPartner(EnabledPartner),
    /// `customer.mirroring.get_state`: a JSON array (`[]` when none), the one array payload of the protocol.
    MirroredCustomers(Vec<MirroredCustomer>),
    /// One of the above, rendered before (`held_answers`).
    Rendered(RenderedPayload),
}

/// A payload already rendered to JSON, shared by the answers that send it.
#[derive(Debug, Clone)]
pub struct RenderedPayload(Arc<RawValue>);

impl RenderedPayload {
    pub fn render(payload: &impl Serialize) -> Result<Self, GatewayError> {
        let json = serde_json::value::to_raw_value(payload).map_err(|error| {
            tracing::error!(%error, "a payload could not be rendered");
            GatewayError::Internal
        })?;
        Ok(Self(Arc::from(json)))
    }

    /// Bytes of JSON.
    pub fn byte_len(&self) -> usize {
        self.0.get().len()
    }
}

impl Serialize for RenderedPayload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The organization the enablement credentials belong to, and its Acronis tenant when mapped.
#[derive(Debug, Serialize)]
pub struct PartnerEnablement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acronis_tenant_id: Option<String>,
    pub vendor_tenant_id: String,
}

/// `{items[, paging]}`: one page of a partner's customers.
#[derive(Debug, Serialize)]
pub struct ItemsPage<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// A customer organization in `topology.read`.
#[derive(Debug, Serialize)]
pub struct TopologyItem {
    pub id: String,
    pub name: String,
}

/// A customer organization in `tenant_mapping.read`, with its Acronis tenant when mapped.
#[derive(Debug, Serialize)]
pub struct TenantMappingItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acronis_tenant_id: Option<String>,
    pub vendor_tenant_id: String,
}

/// A mirrored partner's state and stored settings.
#[derive(Debug, Serialize)]
pub struct MirroredPartnerState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    pub state: State,
}

/// The partner record `partner.mirroring.enable` created or re-enabled.
#[derive(Debug, Serialize)]
pub struct EnabledPartner {
    pub acronis_tenant_id: String,
    pub state: State,
    pub vendor_tenant_id: String,
}

/// An enabled mirrored customer and its stored settings.
#[derive(Debug, Serialize)]
pub struct MirroredCustomer {
    pub acronis_tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    pub vendor_tenant_id: String,
}

/// A mirrored tenant's enablement state as the protocol spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Enabled,
    Disabled,
}

/// `payload.paging` of a served page: the offset form, or the cursor form with opaque cursors (only those
/// that exist).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Paging {
    Offset {
        limit: u32,
        offset: u64,
        total_count: u64,
    },
    Cursor {
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload's bytes, checked against the same payload turned into a `serde_json::Value` first (a sorted
    /// map, the order any hand-built JSON object of ours goes out in): the two must not differ by a byte.
    fn json(payload: &Payload) -> String {
        let typed = serde_json::to_string(payload).expect("serializable");
        let as_value = serde_json::to_value(payload).expect("serializable");
        assert_eq!(typed, as_value.to_string(), "keys out of alphabetical order");
        typed
    }

    #[test]
    fn keys_go_out_in_alphabetical_order_and_absent_ones_are_left_out() {
        let mapped = Payload::PartnerEnablement(PartnerEnablement {
            acronis_tenant_id: Some("a".into()),
            vendor_tenant_id: "v".into(),
        });
        assert_eq!(json(&mapped), r#"{"acronis_tenant_id":"a","vendor_tenant_id":"v"}"#);
        let unmapped =
            Payload::PartnerEnablement(PartnerEnablement { acronis_tenant_id: None, vendor_tenant_id: "v".into() });
        assert_eq!(json(&unmapped), r#"{"vendor_tenant_id":"v"}"#);
        let enabled = Payload::EnabledPartner(EnabledPartner {
            acronis_tenant_id: "a".into(),
            state: State::Enabled,
            vendor_tenant_id: "v".into(),
        });
        assert_eq!(json(&enabled), r#"{"acronis_tenant_id":"a","state":"ENABLED","vendor_tenant_id":"v"}"#);
        let state = Payload::MirroredPartnerState(MirroredPartnerState {
            settings: Some(serde_json::json!({"z": 1, "a": [true]})),
            state: State::Disabled,
        });
        assert_eq!(json(&state), r#"{"settings":{"a":[true],"z":1},"state":"DISABLED"}"#);
        let customers = Payload::MirroredCustomers(vec![MirroredCustomer {
            acronis_tenant_id: "a".into(),
            settings: None,
            vendor_tenant_id: "v".into(),
        }]);
        assert_eq!(json(&customers), r#"[{"acronis_tenant_id":"a","vendor_tenant_id":"v"}]"#);
        assert_eq!(json(&Payload::MirroredCustomers(Vec::new())), "[]");
    }

    #[test]
    fn pages_carry_paging_only_when_served_a_page() {
        let topology = Payload::Topology(ItemsPage {
            items: vec![TopologyItem { id: "v".into(), name: "n".into() }],
            paging: Some(Paging::Offset { limit: 5, offset: 10, total_count: 12 }),
        });
        assert_eq!(
            json(&topology),
            r#"{"items":[{"id":"v","name":"n"}],"paging":{"limit":5,"offset":10,"total_count":12}}"#
        );
        let mapping = Payload::TenantMapping(ItemsPage {
            items: vec![TenantMappingItem { acronis_tenant_id: None, vendor_tenant_id: "v".into() }],
            paging: Some(Paging::Cursor { after: Some("n".into()), before: Some("p".into()) }),
        });
        assert_eq!(json(&mapping), r#"{"items":[{"vendor_tenant_id":"v"}],"paging":{"after":"n","before":"p"}}"#);
        let last = Payload::TenantMapping(ItemsPage {
            items: Vec::new(),
            paging: Some(Paging::Cursor { after: None, before: None }),
        });
        assert_eq!(json(&last), r#"{"items":[],"paging":{}}"#);
        assert_eq!(json(&Payload::Topology(ItemsPage { items: Vec::new(), paging: None })), r#"{"items":[]}"#);
    }

    #[test]
    fn a_rendered_payload_goes_out_byte_for_byte_as_first_rendered() {
        #[derive(Serialize)]
        struct Answer {
            payload: Payload,
            z: u8,
        }
        let mapping = Payload::TenantMapping(ItemsPage {
            items: vec![TenantMappingItem { acronis_tenant_id: Some("a".into()), vendor_tenant_id: "v".into() }],
            paging: Some(Paging::Cursor { after: Some("n".into()), before: None }),
        });
        let direct = json(&mapping);
        let rendered = RenderedPayload::render(&mapping).expect("render");
        assert_eq!(rendered.byte_len(), direct.len());
        assert_eq!(json(&Payload::Rendered(rendered.clone())), direct);
        let answer = serde_json::to_string(&Answer { payload: Payload::Rendered(rendered), z: 1 }).expect("answer");
        assert_eq!(answer, format!(r#"{{"payload":{direct},"z":1}}"#));
    }
}
