//! Parsing of CTI identifiers (`cti.<vendor>.<package>.<entity>.v<major>.<minor>[~…]`, protocol §11) and
//! the table of the standard ACGW callbacks this handler recognises.
//!
//! Dispatch compares parsed segments (vendor, package, entity, major version), never raw strings: the
//! Acronis gateway may bump minor versions, and callbacks have been seen under both the v1.0 and the v2.0
//! base (§11.3).

/// One `vendor.package.entity.vMAJOR.MINOR` link of a CTI chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtiSegment<'a> {
    pub vendor: &'a str,
    pub package: &'a str,
    pub entity: &'a str,
    pub major: u32,
}

/// Splits a CTI identifier into its chain of segments; `None` when it is not a well-formed CTI.
/// A trailing instance UUID (`~<uuid>`) is accepted and ignored.
pub fn parse_cti(id: &str) -> Option<Vec<CtiSegment<'_>>> {
    let chain = id.strip_prefix("cti.")?;
    let mut parts: Vec<&str> = chain.split('~').collect();
    if parts.len() > 1 && parts.last().is_some_and(|last| uuid::Uuid::try_parse(last).is_ok()) {
        parts.pop();
    }
    parts.into_iter().map(parse_segment).collect()
}

fn parse_segment(segment: &str) -> Option<CtiSegment<'_>> {
    let names: Vec<&str> = segment.split('.').collect();
    // The version is `v<major>` followed by up to two numeric components; find where it starts.
    let version_at = names.iter().rposition(|part| part.strip_prefix('v').is_some_and(is_number))?;
    let trailing = &names[version_at + 1..];
    if trailing.len() > 2 || !trailing.iter().all(|part| is_number(part)) {
        return None;
    }
    let major = names[version_at][1..].parse().ok()?;
    // vendor, package and at least one entity name must come before the version.
    if version_at < 3 || !names[..version_at].iter().all(|name| is_name(name)) {
        return None;
    }
    let entity_start = names[0].len() + names[1].len() + 2;
    let entity_end = names[..version_at].iter().map(|n| n.len() + 1).sum::<usize>() - 1;
    Some(CtiSegment { vendor: names[0], package: names[1], entity: &segment[entity_start..entity_end], major })
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The standard (`a.p.*`) callbacks of protocol §0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardCallback {
    EnablementRead,
    EnablementWrite,
    EnablementReset,
    TopologyRead,
    TenantMappingRead,
    TenantMappingWrite,
    PartnerMirroringGetState,
    PartnerMirroringEnable,
    PartnerMirroringReset,
    CustomerMirroringGetState,
    CustomerMirroringSetState,
}

/// The success response `type` of every callback that answers without a payload.
const SUCCESS_NO_CONTENT: &str = "cti.a.p.acgw.response.v1.0~a.p.success_no_content.v1.0";

impl StandardCallback {
    /// Every standard callback, to recognise one by its entity name.
    const ALL: [Self; 11] = [
        Self::EnablementRead,
        Self::EnablementWrite,
        Self::EnablementReset,
        Self::TopologyRead,
        Self::TenantMappingRead,
        Self::TenantMappingWrite,
        Self::PartnerMirroringGetState,
        Self::PartnerMirroringEnable,
        Self::PartnerMirroringReset,
        Self::CustomerMirroringGetState,
        Self::CustomerMirroringSetState,
    ];

    /// Recognises `cti.a.p.acgw.callback.v{1,2}.x~a.p.<entity>.v1.x`; anything else (including vendor-defined
    /// custom callbacks) is `None`.
    pub fn from_callback_id(callback_id: &str) -> Option<Self> {
        Self::from_canonical_id(callback_id).or_else(|| Self::from_parsed_id(callback_id))
    }

    /// The spellings Acronis sends, `cti.a.p.acgw.callback.v{1,2}.0~a.p.<entity>.v1.0`, recognised by
    /// comparison: parsing them (a few vectors and a UUID attempt) was about 5% of a hot read's instructions.
    /// Any other spelling is parsed; both ways agree on these (tested).
    fn from_canonical_id(callback_id: &str) -> Option<Self> {
        let entity = callback_id
            .strip_prefix("cti.a.p.acgw.callback.v1.0~a.p.")
            .or_else(|| callback_id.strip_prefix("cti.a.p.acgw.callback.v2.0~a.p."))?
            .strip_suffix(".v1.0")?;
        Self::ALL.into_iter().find(|known| known.name() == entity)
    }

    fn from_parsed_id(callback_id: &str) -> Option<Self> {
        let segments = parse_cti(callback_id)?;
        let [base, callback] = segments.as_slice() else { return None };
        let base_is_acgw_callback =
            base.vendor == "a" && base.package == "p" && base.entity == "acgw.callback" && matches!(base.major, 1 | 2);
        if !base_is_acgw_callback || callback.vendor != "a" || callback.package != "p" || callback.major != 1 {
            return None;
        }
        Self::ALL.into_iter().find(|known| known.name() == callback.entity)
    }

    /// The entity name, also used in logs and metrics, e.g. `partner.mirroring.enable`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EnablementRead => "enablement.read",
            Self::EnablementWrite => "enablement.write",
            Self::EnablementReset => "enablement.reset",
            Self::TopologyRead => "topology.read",
            Self::TenantMappingRead => "tenant_mapping.read",
            Self::TenantMappingWrite => "tenant_mapping.write",
            Self::PartnerMirroringGetState => "partner.mirroring.get_state",
            Self::PartnerMirroringEnable => "partner.mirroring.enable",
            Self::PartnerMirroringReset => "partner.mirroring.reset",
            Self::CustomerMirroringGetState => "customer.mirroring.get_state",
            Self::CustomerMirroringSetState => "customer.mirroring.set_state",
        }
    }

    /// The exact success response `type` (protocol §0; ACGW checks it to the letter).
    pub fn response_type(self) -> &'static str {
        match self {
            Self::EnablementRead => "cti.a.p.acgw.response.v1.0~a.p.enablement.read.ok.v1.0",
            Self::EnablementWrite | Self::EnablementReset | Self::TenantMappingWrite => SUCCESS_NO_CONTENT,
            Self::TopologyRead => "cti.a.p.acgw.response.v1.0~a.p.topology.read.ok.v1.0",
            Self::TenantMappingRead => "cti.a.p.acgw.response.v1.0~a.p.tenant_mapping.read.ok.v1.0",
            Self::PartnerMirroringGetState => "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.get_state.ok.v1.0",
            Self::PartnerMirroringEnable => "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.enable.ok.v1.0",
            Self::PartnerMirroringReset => "cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.reset.ok.v1.0",
            Self::CustomerMirroringGetState => "cti.a.p.acgw.response.v1.1~a.p.customer.mirroring.get_state.ok.v1.0",
            Self::CustomerMirroringSetState => "cti.a.p.acgw.response.v1.1~a.p.customer.mirroring.set_state.ok.v1.0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_callback_ids_are_recognised() {
        let cases = [
            ("cti.a.p.acgw.callback.v1.0~a.p.enablement.read.v1.0", StandardCallback::EnablementRead),
            ("cti.a.p.acgw.callback.v1.0~a.p.tenant_mapping.write.v1.0", StandardCallback::TenantMappingWrite),
            (
                "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1.0",
                StandardCallback::PartnerMirroringGetState,
            ),
            (
                "cti.a.p.acgw.callback.v2.0~a.p.customer.mirroring.set_state.v1.0",
                StandardCallback::CustomerMirroringSetState,
            ),
        ];
        for (id, expected) in cases {
            assert_eq!(StandardCallback::from_callback_id(id), Some(expected), "{id}");
        }
    }

    #[test]
    fn minor_versions_and_either_base_major_match() {
        for id in [
            "cti.a.p.acgw.callback.v1.0~a.p.partner.mirroring.get_state.v1.0",
            "cti.a.p.acgw.callback.v2.3~a.p.partner.mirroring.get_state.v1.7",
            "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1",
        ] {
            assert_eq!(
                StandardCallback::from_callback_id(id),
                Some(StandardCallback::PartnerMirroringGetState),
                "{id}"
            );
        }
    }

    #[test]
    fn other_major_versions_vendors_and_malformed_ids_are_not_recognised() {
        for id in [
            "cti.a.p.acgw.callback.v3.0~a.p.partner.mirroring.get_state.v1.0",
            "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v2.0",
            "cti.a.p.acgw.callback.v2.0~vendor.app.partner.mirroring.get_state.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.read_users.v1.0",
            "cti.a.p.acgw.request.v1.1~a.p.partner.mirroring.get_state.v1.0",
            "a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1.0",
            "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state",
            "cti.a.p.acgw.callback.v2.0~a.p.Partner.mirroring.get_state.v1.0",
            "cti.a.p.acgw.callback.v2.0",
            "",
            "cti.",
            "cti.~~",
        ] {
            assert_eq!(StandardCallback::from_callback_id(id), None, "{id}");
        }
    }

    #[test]
    fn recognising_by_comparison_agrees_with_parsing() {
        for callback in StandardCallback::ALL {
            for base in ["v1.0", "v2.0"] {
                let id = format!("cti.a.p.acgw.callback.{base}~a.p.{}.v1.0", callback.name());
                assert_eq!(StandardCallback::from_canonical_id(&id), Some(callback), "{id}");
                assert_eq!(StandardCallback::from_parsed_id(&id), Some(callback), "{id}");
            }
        }
        // Not the canonical spelling: left to the parser, which decides.
        for id in [
            "cti.a.p.acgw.callback.v2.3~a.p.partner.mirroring.get_state.v1.7",
            "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.get_state.v1.0~9ae2aada-2342-4fc0-8d92-007b597a7d9c",
            "cti.a.p.acgw.callback.v1.0~a.p.partner.mirroring.explode.v1.0",
        ] {
            assert_eq!(StandardCallback::from_canonical_id(id), None, "{id}");
        }
    }

    #[test]
    fn cti_segments_expose_entity_and_major_version() {
        let segments =
            parse_cti("cti.a.p.acgw.endpoint.v1.1~vendor.app.endpoint.v1.1~9ae2aada-2342-4fc0-8d92-007b597a7d9c")
                .expect("valid");
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0], CtiSegment { vendor: "a", package: "p", entity: "acgw.endpoint", major: 1 });
        assert_eq!(segments[1].entity, "endpoint");
    }

    #[test]
    fn every_callback_is_recognised_by_its_own_name_and_answers_with_its_own_type() {
        for callback in StandardCallback::ALL {
            let id = format!("cti.a.p.acgw.callback.v1.0~a.p.{}.v1.0", callback.name());
            assert_eq!(StandardCallback::from_callback_id(&id), Some(callback), "{id}");
            let response = callback.response_type();
            let own = format!("~a.p.{}.ok.v1.0", callback.name());
            assert!(response.ends_with(&own) || response == SUCCESS_NO_CONTENT, "{response}");
        }
    }
}
