//! The workloads (W1-W5 and CUSTOM): request bodies exactly as the Acronis gateway sends them (protocol §9), pre-serialized
//! once per worker into a template whose UUID slots (request_id, new tenant ids) are overwritten per request.

use bytes::{Bytes, BytesMut};
use clap::ValueEnum;
use http::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::custom;
use crate::huge;
use crate::rng::Rng;

/// The mirrored partner W1 (and W5) read, and whose form CUSTOM refreshes: enabled once by `setup`.
pub const MIRRORED_PARTNER_TENANT: &str = "b3e5c1a0-0001-4000-8000-00000000be01";
/// The mapped partner of W2/W3: mapped to [`VENDOR_PARTNER_ORG`] by `setup` (enablement.write).
pub const MAPPED_PARTNER_TENANT: &str = "b3e5c1a0-0003-4000-8000-00000000be03";
/// The vendor organization (in the directory file) the bench credentials belong to.
pub const VENDOR_PARTNER_ORG: &str = "bench-msp";
pub const DATACENTER_URL: &str = "https://eu8.acronis.cloud";
/// Customers each W3 request maps.
pub const PAIRS_PER_WRITE: usize = 10;
/// The Acronis tenants W3P's partners are mapped to: `b3e5c1a0-0007-4000-8000-<partner number>`.
const W3P_PARTNER_TENANT_PREFIX: &str = "b3e5c1a0-0007-4000-8000-";

pub const DEFAULT_IDENTITY: &str = "admin@bench";
pub const DEFAULT_PASSWORD: &str = "bench-pw";
pub const DEFAULT_CUSTOMERS: usize = 1000;
/// Extra logins of the bench partner (`login_identity`), one per connection of W2/W3.
pub const DEFAULT_LOGINS: usize = 64;

/// The identity connection `worker` authenticates with: one login each (a partner admin does not send
/// dozens of credential checks at once), or the shared `--identity` when there are no extra logins.
pub fn login_identity(identity: &str, logins: usize, worker: usize) -> String {
    if logins == 0 {
        return identity.to_owned();
    }
    match identity.split_once('@') {
        Some((user, domain)) => format!("{user}-{}@{domain}", worker % logins),
        None => format!("{identity}-{}", worker % logins),
    }
}

pub fn customer_id(i: usize) -> String {
    format!("bench-c-{i:04}")
}

/// W3P's partner organization number `p` (connection `p` writes to it alone).
pub fn w3p_partner_org(p: usize) -> String {
    format!("bench-p{p:03}")
}

/// The Acronis tenant W3P's partner `p` is mapped to by `setup`.
pub fn w3p_partner_tenant(p: usize) -> String {
    format!("{W3P_PARTNER_TENANT_PREFIX}{p:012}")
}

/// Customer `k` of W3P's partner `p`.
fn w3p_customer_id(p: usize, k: usize) -> String {
    format!("bench-p{p:03}-c{k:02}")
}

/// The login of W3P's partner `p`: its own credentials, as its own admin would send.
pub fn w3p_identity(p: usize) -> String {
    format!("admin@bench-p{p:03}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum Workload {
    /// partner.mirroring.get_state of an enabled mirrored partner
    W1,
    /// enablement.read with valid X-CyberApp-Auth credentials
    W2,
    /// tenant_mapping.write of 10 customer pairs (fresh Acronis tenant ids each time), every connection on
    /// the one partner bench-msp
    W3,
    /// W3 with one partner per connection: connection i maps 10 customers of its own partner bench-pNNN
    W3p,
    /// partner.mirroring.enable of a new Acronis tenant each time
    W4,
    /// tenant_mapping.read, unpaged, of bench-msp and its customers (1,000 by default) with credentials
    Mapread,
    /// partner.mirroring.get_state with a bad token signature (the 401 refusal path)
    W5,
    /// A custom callback (a form refresh) of the W1 partner, routed to the bench's own trivial handler
    /// (needs --handler-listen, the address CUSTOM_CALLBACK_ROUTES names)
    Custom,
    /// GET /healthz, no token, no body: the service's HTTP floor (same process and listener, no database)
    Healthz,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::W1 => "W1",
            Self::W2 => "W2",
            Self::W3 => "W3",
            Self::W4 => "W4",
            Self::W5 => "W5",
            Self::W3p => "W3P",
            Self::Mapread => "MAPREAD",
            Self::Custom => "CUSTOM",
            Self::Healthz => "HEALTHZ",
        }
    }

    pub fn callback(self) -> &'static str {
        match self {
            Self::W1 | Self::W5 => "partner.mirroring.get_state",
            Self::W2 => "enablement.read",
            Self::W3 | Self::W3p => "tenant_mapping.write",
            Self::W4 => "partner.mirroring.enable",
            Self::Mapread => "tenant_mapping.read",
            Self::Custom => "custom vendor.bench.dashboard_refresh",
            Self::Healthz => "GET /healthz",
        }
    }

    pub fn expected_status(self) -> u16 {
        if self == Self::W5 { 401 } else { 200 }
    }

    /// The response `type` a success must carry.
    pub fn expected_type(self) -> Option<&'static str> {
        match self {
            Self::W1 => Some("cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.get_state.ok.v1.0"),
            Self::W2 => Some("cti.a.p.acgw.response.v1.0~a.p.enablement.read.ok.v1.0"),
            Self::W3 | Self::W3p => Some("cti.a.p.acgw.response.v1.0~a.p.success_no_content.v1.0"),
            Self::W4 => Some("cti.a.p.acgw.response.v1.1~a.p.partner.mirroring.enable.ok.v1.0"),
            Self::Mapread => Some("cti.a.p.acgw.response.v1.0~a.p.tenant_mapping.read.ok.v1.0"),
            Self::W5 | Self::Healthz => None,
            Self::Custom => Some(custom::RESPONSE_TYPE),
        }
    }

    /// Whether the request carries the enablement-form headers (all mapping callbacks do, §9).
    pub fn sends_credentials(self) -> bool {
        matches!(self, Self::W2 | Self::W3 | Self::W3p | Self::Mapread)
    }

    /// Whether requests are callbacks (POST /callback with a token) rather than the bare GET /healthz.
    pub fn is_callback(self) -> bool {
        self != Self::Healthz
    }

    /// The body of `worker`'s requests, with UUID placeholders. With `w1_partners`, W1 reads a partner picked
    /// at random among that many seeded ones (`huge::partner_tenant`) in every request instead of the one
    /// `setup` enabled.
    pub fn template(self, endpoint_id: &str, worker: usize, created_at: &str, w1_partners: Option<u64>) -> Template {
        match self {
            Self::W1 if w1_partners.is_some() => {
                let body = envelope_v2("partner.mirroring.get_state", endpoint_id, &placeholder(1), Some(json!({})));
                Template { partners: w1_partners, ..Template::new(&body, 2) }
            }
            Self::W1 | Self::W5 => {
                let body =
                    envelope_v2("partner.mirroring.get_state", endpoint_id, MIRRORED_PARTNER_TENANT, Some(json!({})));
                Template::new(&body, 1)
            }
            Self::W2 | Self::Mapread => {
                let body =
                    envelope_v1(self.callback(), "a.p.empty", endpoint_id, MAPPED_PARTNER_TENANT, created_at, None);
                Template::new(&body, 1)
            }
            Self::W3 => {
                // Each worker owns its own 10 customers, so concurrent writes never touch the same rows: every
                // request is a real remap (new Acronis tenants replace the previous ones) that must succeed.
                let modified: Vec<Value> = (0..PAIRS_PER_WRITE)
                    .map(|k| {
                        json!({
                            "vendor_tenant_id": customer_id(worker * PAIRS_PER_WRITE + k),
                            "acronis_tenant_id": placeholder(k + 1),
                        })
                    })
                    .collect();
                let body = envelope_v1(
                    "tenant_mapping.write",
                    "a.p.tenant_mapping.write",
                    endpoint_id,
                    MAPPED_PARTNER_TENANT,
                    created_at,
                    Some(json!({ "modified": modified })),
                );
                Template::new(&body, PAIRS_PER_WRITE + 1)
            }
            Self::W3p => {
                // The same write as W3, but connection `worker` is the only writer of its partner: no two
                // connections wait for the same partner's lock.
                let modified: Vec<Value> = (0..PAIRS_PER_WRITE)
                    .map(|k| json!({ "vendor_tenant_id": w3p_customer_id(worker, k), "acronis_tenant_id": placeholder(k + 1) }))
                    .collect();
                let body = envelope_v1(
                    "tenant_mapping.write",
                    "a.p.tenant_mapping.write",
                    endpoint_id,
                    &w3p_partner_tenant(worker),
                    created_at,
                    Some(json!({ "modified": modified })),
                );
                Template::new(&body, PAIRS_PER_WRITE + 1)
            }
            Self::W4 => {
                let tenant = placeholder(1);
                let payload = json!({ "acronis_tenant_id": tenant, "acronis_tenant_name": "bench partner" });
                let body = envelope_v2("partner.mirroring.enable", endpoint_id, &tenant, Some(payload));
                Template::new(&body, 2)
            }
            Self::Custom => {
                // A form's refresh in a partner's console: the v1.0 custom envelope (protocol §9.12).
                let body = envelope(
                    custom::REQUEST_TYPE.to_owned(),
                    custom::CALLBACK_ID.to_owned(),
                    endpoint_id,
                    MIRRORED_PARTNER_TENANT,
                    created_at,
                    Some(custom::request_payload()),
                );
                Template::new(&body, 1)
            }
            Self::Healthz => Template::empty(),
        }
    }
}

/// The headers the Acronis gateway adds to mapping callbacks besides `Authorization`.
pub fn credential_headers(identity: &str, password: &str) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
    use base64::Engine as _;
    let secrets = json!({ "password": password });
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{identity}:{secrets}"));
    Ok(vec![
        (HeaderName::from_static("x-cyberapp-auth"), HeaderValue::from_str(&auth)?),
        (HeaderName::from_static("x-cyberapp-extra"), HeaderValue::from_static("e30=")),
    ])
}

/// A mirroring envelope (callback v2.0, request v1.1), as in protocol §9.7/9.8.
pub fn envelope_v2(callback: &str, endpoint_id: &str, tenant_id: &str, payload: Option<Value>) -> Value {
    envelope(
        format!("cti.a.p.acgw.request.v1.1~a.p.{callback}.v1.0"),
        format!("cti.a.p.acgw.callback.v2.0~a.p.{callback}.v1.0"),
        endpoint_id,
        tenant_id,
        "0001-01-01T00:00:00Z",
        payload,
    )
}

/// A mapping envelope (callback v1.0, request v1.0); `request_type` is the entity of the request `type`
/// (`a.p.empty` for the payload-less ones), as in protocol §9.1–9.6.
pub fn envelope_v1(
    callback: &str,
    request_type: &str,
    endpoint_id: &str,
    tenant_id: &str,
    created_at: &str,
    payload: Option<Value>,
) -> Value {
    envelope(
        format!("cti.a.p.acgw.request.v1.0~{request_type}.v1.0"),
        format!("cti.a.p.acgw.callback.v1.0~a.p.{callback}.v1.0"),
        endpoint_id,
        tenant_id,
        created_at,
        payload,
    )
}

/// The envelope both protocol versions share; the `request_id` is a placeholder replaced at send time.
fn envelope(
    request_type: String,
    callback_id: String,
    endpoint_id: &str,
    tenant_id: &str,
    created_at: &str,
    payload: Option<Value>,
) -> Value {
    let mut body = json!({
        "type": request_type,
        "request_id": placeholder(0),
        "created_at": created_at,
        "context": {
            "callback_id": callback_id,
            "endpoint_id": endpoint_id,
            "tenant_id": tenant_id,
            "datacenter_url": DATACENTER_URL,
        },
    });
    if let Some(payload) = payload {
        body["payload"] = payload;
    }
    body
}

/// A 36-character stand-in for UUID number `group`, replaced at send time.
pub fn placeholder(group: usize) -> String {
    format!("{:@<36}", format!("@uuid{group}"))
}

/// A serialized body and, per UUID group, the byte offsets of its placeholder occurrences.
#[derive(Clone)]
pub struct Template {
    bytes: Vec<u8>,
    groups: Vec<Vec<usize>>,
    /// When set, group 1 is a seeded partner's tenant picked at random below this count, not a random UUID.
    partners: Option<u64>,
}

impl Template {
    pub fn new(body: &Value, groups: usize) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let groups = (0..groups)
            .map(|g| {
                let needle = placeholder(g);
                let needle = needle.as_bytes();
                bytes.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
            })
            .collect();
        Self { bytes, groups, partners: None }
    }

    /// No body (GET /healthz); rendering still gives a request id nobody reads.
    pub fn empty() -> Self {
        Self { bytes: Vec::new(), groups: vec![Vec::new()], partners: None }
    }

    /// A fresh body: every group gets a new random UUID (group 0 is the request_id). Returns the body and the
    /// request_id.
    pub fn render(&self, rng: &mut Rng) -> (Bytes, [u8; 36]) {
        let mut buf = BytesMut::with_capacity(self.bytes.len());
        buf.extend_from_slice(&self.bytes);
        let mut request_id = [0u8; 36];
        for (g, offsets) in self.groups.iter().enumerate() {
            let mut uuid = [0u8; 36];
            match self.partners {
                Some(n) if g == 1 => uuid.copy_from_slice(huge::partner_tenant(rng.next_u64() % n).as_bytes()),
                _ => rng.uuid_into(&mut uuid),
            }
            if g == 0 {
                request_id = uuid;
            }
            for &at in offsets {
                buf[at..at + 36].copy_from_slice(&uuid);
            }
        }
        (buf.freeze(), request_id)
    }
}

/// The directory file (`cyberapp-tenants directory import FILE`) the workloads rely on: the bench partner
/// organization, `customers` customer organizations under it, and its credentials: `identity` plus `logins`
/// more logins (all with `password`); and W3P's `w3p_partners` partners, each with 10 customers and a login.
pub fn directory_file(customers: usize, logins: usize, w3p_partners: usize, identity: &str, password: &str) -> Value {
    let mut organizations = vec![json!({ "id": VENDOR_PARTNER_ORG, "name": "Bench MSP", "kind": "partner" })];
    organizations.extend((0..customers).map(|i| {
        json!({
            "id": customer_id(i),
            "name": format!("Bench customer {i}"),
            "kind": "customer",
            "parent_id": VENDOR_PARTNER_ORG,
        })
    }));
    let credential = |identity: String| json!({ "identity": identity, "organization_id": VENDOR_PARTNER_ORG, "secrets": { "password": password } });
    let mut credentials = vec![credential(identity.to_owned())];
    credentials.extend((0..logins).map(|w| credential(login_identity(identity, logins, w))));
    // W3P: `w3p_partners` partners, each with its own customers and login.
    for p in 0..w3p_partners {
        let org = w3p_partner_org(p);
        organizations.push(json!({ "id": org, "name": format!("Bench partner {p}"), "kind": "partner" }));
        organizations.extend((0..PAIRS_PER_WRITE).map(|k| {
            json!({ "id": w3p_customer_id(p, k), "name": format!("Bench partner {p} customer {k}"), "kind": "customer", "parent_id": org })
        }));
        credentials
            .push(json!({ "identity": w3p_identity(p), "organization_id": org, "secrets": { "password": password } }));
    }
    json!({ "organizations": organizations, "credentials": credentials })
}

/// `now` as RFC 3339 UTC (what a mapping callback's `created_at` looks like).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_replaced_and_the_body_stays_json() {
        let mut rng = Rng::from_os();
        for workload in Workload::value_variants().iter().filter(|w| w.is_callback()) {
            let template =
                workload.template("cti.a.p.acgw.endpoint.v1.0~vendor.app.endpoint.v1.0", 3, &rfc3339_now(), None);
            let (body, request_id) = template.render(&mut rng);
            let text = std::str::from_utf8(&body).expect("utf8");
            assert!(!text.contains("@uuid"), "{text}");
            let value: Value = serde_json::from_str(text).expect("json");
            assert_eq!(value["request_id"].as_str().expect("request_id").as_bytes(), request_id);
        }
    }

    #[test]
    fn w1_over_seeded_partners_reads_one_of_them() {
        let mut rng = Rng::from_os();
        let template = Workload::W1.template("e", 0, "t", Some(5));
        for _ in 0..20 {
            let (body, _) = template.render(&mut rng);
            let value: Value = serde_json::from_slice(&body).expect("json");
            let tenant = value["context"]["tenant_id"].as_str().expect("tenant");
            assert!((0..5).any(|i| huge::partner_tenant(i) == tenant), "{tenant}");
        }
    }

    #[test]
    fn w3p_connections_write_to_their_own_partner() {
        let mut rng = Rng::from_os();
        let (body, _) = Workload::W3p.template("e", 7, "t", None).render(&mut rng);
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["context"]["tenant_id"], w3p_partner_tenant(7));
        assert_eq!(value["payload"]["modified"][0]["vendor_tenant_id"], "bench-p007-c00");
        let file = directory_file(0, 0, 2, "admin@bench", "pw");
        assert_eq!(file["organizations"].as_array().expect("orgs").len(), 1 + 2 * (1 + PAIRS_PER_WRITE));
        assert_eq!(file["credentials"][2]["identity"], "admin@bench-p001");
    }

    #[test]
    fn w4_uses_one_new_tenant_for_context_and_payload() {
        let mut rng = Rng::from_os();
        let (body, _) = Workload::W4.template("e", 0, "t", None).render(&mut rng);
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(value["context"]["tenant_id"], value["payload"]["acronis_tenant_id"]);
        assert_ne!(value["context"]["tenant_id"], value["request_id"]);
    }

    #[test]
    fn w3_workers_own_disjoint_customers() {
        let mut rng = Rng::from_os();
        let mut ids = |worker| {
            let (body, _) = Workload::W3.template("e", worker, "t", None).render(&mut rng);
            let value: Value = serde_json::from_slice(&body).expect("json");
            value["payload"]["modified"]
                .as_array()
                .expect("modified")
                .iter()
                .map(|m| m["vendor_tenant_id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        };
        let a = ids(0);
        let b = ids(1);
        assert_eq!(a.len(), PAIRS_PER_WRITE);
        assert!(a.iter().all(|id| !b.contains(id)));
    }

    #[test]
    fn each_connection_has_its_own_login_of_the_bench_partner() {
        assert_eq!(login_identity("admin@bench", 64, 3), "admin-3@bench");
        assert_eq!(login_identity("admin@bench", 64, 67), "admin-3@bench");
        assert_eq!(login_identity("admin@bench", 0, 3), "admin@bench");
        let file = directory_file(2, 3, 0, "admin@bench", "pw");
        let identities: Vec<&str> = file["credentials"]
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["identity"].as_str().expect("id"))
            .collect();
        assert_eq!(identities, ["admin@bench", "admin-0@bench", "admin-1@bench", "admin-2@bench"]);
    }

    #[test]
    fn created_at_is_rfc3339() {
        let now = rfc3339_now();
        assert_eq!(now.len(), 25, "{now}");
        assert!(now.starts_with("20"), "{now}");
    }
}
