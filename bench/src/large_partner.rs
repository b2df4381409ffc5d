//! `large-partner`: how long the customer reads of a partner with many customers (10,000 by default; HUGE
//! uses 100,000) take, unpaged and paged.
//!
//! The partner is prepared through the service's own surface: `large-partner-directory` prints a directory
//! file (the partner organization `large-msp`, a nested reseller that is not enabled, and the customers,
//! every tenth under the reseller) for `cyberapp-tenants directory import`; then `large-partner` maps
//! `large-msp` to its Acronis tenant with `enablement.write`, maps the first `--mapped` customers with
//! `tenant_mapping.write`, checks the unpaged lists, and times each read `--repeats` times.
//! Everything it does is idempotent, so it may run again on the same database.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use crate::session::Session;
use crate::workload;

/// The Acronis tenant `large-msp` is mapped to.
pub const LARGE_PARTNER_TENANT: &str = "b3e5c1a0-0004-4000-8000-00000000be04";
const PARTNER_ORG: &str = "large-msp";
const RESELLER_ORG: &str = "large-reseller";
const IDENTITY: &str = "admin@large";
const PASSWORD: &str = "large-pw";
pub const DEFAULT_CUSTOMERS: usize = 10_000;
pub const DEFAULT_MAPPED: usize = 2_000;
/// Pairs per `tenant_mapping.write` while mapping.
const PAIRS_PER_WRITE: usize = 500;
/// The protocol's largest page (§10).
const MAX_PAGE: usize = 1_000;

fn customer_id(i: usize) -> String {
    format!("large-c-{i:06}")
}

/// The Acronis tenant customer `i` is mapped to.
fn customer_tenant(i: usize) -> String {
    format!("b3e5c1a0-0005-4000-8000-{i:012}")
}

/// The directory file of the large partner with `customers` customers.
pub fn directory_file(customers: usize) -> Value {
    let mut organizations = vec![
        json!({ "id": PARTNER_ORG, "name": "Large MSP", "kind": "partner" }),
        json!({ "id": RESELLER_ORG, "name": "Large reseller", "kind": "partner", "parent_id": PARTNER_ORG }),
    ];
    organizations.extend((0..customers).map(|i| {
        let parent = if i % 10 == 0 { RESELLER_ORG } else { PARTNER_ORG };
        json!({ "id": customer_id(i), "name": format!("Large customer {i}"), "kind": "customer", "parent_id": parent })
    }));
    let credentials =
        [json!({ "identity": IDENTITY, "organization_id": PARTNER_ORG, "secrets": { "password": PASSWORD } })];
    json!({ "organizations": organizations, "credentials": credentials })
}

/// A mapping callback of the large partner: its request type names the callback when it has a payload and is
/// `a.p.empty` when it has none (protocol §9.1–9.6).
fn request(endpoint_id: &str, callback: &str, payload: Option<Value>) -> Value {
    let request_type = if payload.is_some() { format!("a.p.{callback}") } else { "a.p.empty".to_owned() };
    let created_at = workload::rfc3339_now();
    workload::envelope_v1(callback, &request_type, endpoint_id, LARGE_PARTNER_TENANT, &created_at, payload)
}

/// A customer read (`topology.read` or `tenant_mapping.read`) of the large partner, paged when `paging` is set.
fn read(callback: &str, endpoint_id: &str, paging: Option<Value>) -> Value {
    let payload = (callback == "topology.read").then(|| json!({}));
    let mut body = request(endpoint_id, callback, payload);
    if let Some(paging) = paging {
        body["paging"] = paging;
    }
    body
}

fn items(answer: &Value) -> anyhow::Result<&Vec<Value>> {
    answer["payload"]["items"].as_array().ok_or_else(|| anyhow::anyhow!("no payload.items in {answer}"))
}

/// What to measure, and on what.
pub struct Options<'a> {
    pub endpoint_id: &'a str,
    pub customers: usize,
    pub mapped: usize,
    pub repeats: usize,
    /// Named in the first line of the report (the backend, say).
    pub label: &'a str,
}

/// Prepares the large partner, checks its lists, and prints the time of each read as a markdown table.
pub async fn run(session: &mut Session, options: &Options<'_>) -> anyhow::Result<()> {
    let Options { endpoint_id, customers, mapped, repeats, label } = *options;
    if mapped > customers || customers < MAX_PAGE || repeats == 0 {
        bail!("--repeats must be at least 1, --mapped at most --customers, and --customers at least {MAX_PAGE}");
    }
    let credentials = workload::credential_headers(IDENTITY, PASSWORD)?;
    let write = json!({ "vendor_tenant_id": PARTNER_ORG, "acronis_tenant_id": LARGE_PARTNER_TENANT });
    let write = request(endpoint_id, "enablement.write", Some(write));
    session
        .call_ok("enablement.write of large-msp (import `large-partner-directory` first)", write, &credentials)
        .await?;

    let mapping = Instant::now();
    let mut writes = 0;
    for start in (0..mapped).step_by(PAIRS_PER_WRITE) {
        let pairs: Vec<Value> = (start..mapped.min(start + PAIRS_PER_WRITE))
            .map(|i| json!({ "vendor_tenant_id": customer_id(i), "acronis_tenant_id": customer_tenant(i) }))
            .collect();
        let body = request(endpoint_id, "tenant_mapping.write", Some(json!({ "modified": pairs })));
        session.call_ok("tenant_mapping.write", body, &credentials).await?;
        writes += 1;
    }
    let mapping = mapping.elapsed();

    // The reads must be right before their times mean anything.
    let topology = session.call_ok("topology.read", read("topology.read", endpoint_id, None), &[]).await?;
    let mapping_read =
        session.call_ok("tenant_mapping.read", read("tenant_mapping.read", endpoint_id, None), &[]).await?;
    let listed = items(&topology.body)?.len();
    let with_tenant = items(&mapping_read.body)?.iter().filter(|item| item.get("acronis_tenant_id").is_some()).count();
    if listed != customers || with_tenant != mapped {
        bail!(
            "expected {customers} customers and {mapped} mapped, the service lists {listed} and {with_tenant}: \
             import `cyberapp-bench large-partner-directory --customers {customers}` into a fresh database"
        );
    }
    // A walk that fails (a deep page past the service's deadline, say) is a result, not a set-up mistake:
    // the other reads are still timed, and the failure is reported in the table and the exit status.
    let walked = match walk(session, endpoint_id).await {
        Ok(walked) if walked.ids != (0..customers).map(customer_id).collect::<Vec<_>>() => {
            bail!("walking the cursor pages did not return every customer exactly once, in order")
        }
        Ok(walked) => Ok(walked),
        Err(error) => Err(format!("{error:#}")),
    };

    let mut cases = vec![
        ("topology.read, unpaged", read("topology.read", endpoint_id, None)),
        ("tenant_mapping.read, unpaged", read("tenant_mapping.read", endpoint_id, None)),
        ("topology.read, first page of 100", read("topology.read", endpoint_id, Some(json!({ "limit": 100 })))),
        (
            "tenant_mapping.read, offset page of 100 at the end",
            read("tenant_mapping.read", endpoint_id, Some(json!({ "limit": 100, "offset": customers - 100 }))),
        ),
    ];
    if let Ok(walked) = &walked {
        cases.push((
            "tenant_mapping.read, cursor page of 100 mid-list",
            read("tenant_mapping.read", endpoint_id, Some(json!({ "limit": 100, "after": walked.middle }))),
        ));
    }
    println!(
        "large partner ({label}): {customers} customers ({} under a nested reseller), {mapped} mapped in {:.2} s \
         ({writes} tenant_mapping.write of up to {PAIRS_PER_WRITE} pairs)",
        customers.div_ceil(10),
        mapping.as_secs_f64()
    );
    println!("| read | requests | items | median ms | max ms |");
    println!("|---|---|---|---|---|");
    let mut failures = Vec::new();
    for (name, body) in cases {
        let mut times = Vec::with_capacity(repeats);
        let mut count = 0;
        for _ in 0..repeats {
            match session.call_ok(name, body.clone(), &[]).await {
                Ok(answer) => {
                    count = items(&answer.body)?.len();
                    times.push(answer.elapsed);
                }
                Err(error) => {
                    failures.push(format!("{error:#}"));
                    break;
                }
            }
        }
        if times.len() == repeats {
            print_row(name, 1, count, &mut times);
        } else {
            println!("| {name} | 1 | - | FAILED | - |");
        }
    }
    let requests = customers.div_ceil(MAX_PAGE);
    let name = format!("tenant_mapping.read, every cursor page of {MAX_PAGE}");
    match walked {
        Ok(_) => {
            let mut times = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                times.push(walk(session, endpoint_id).await?.elapsed);
            }
            print_row(&name, requests, customers, &mut times);
        }
        Err(error) => {
            println!("| {name} | {requests} | - | FAILED | - |");
            failures.push(error);
        }
    }
    if !failures.is_empty() {
        println!();
        for failure in &failures {
            println!("- FAILED: {failure}");
        }
        bail!("{} of the large partner's reads failed (see the table)", failures.len());
    }
    Ok(())
}

/// A walk through every cursor page of `MAX_PAGE` of `tenant_mapping.read`.
struct Walk {
    /// The time of all its requests together.
    elapsed: Duration,
    /// The vendor tenant ids in the order listed.
    ids: Vec<String>,
    /// The `after` cursor of the middle page.
    middle: String,
}

async fn walk(session: &mut Session, endpoint_id: &str) -> anyhow::Result<Walk> {
    let mut elapsed = Duration::ZERO;
    let mut ids = Vec::new();
    let mut paging = json!({ "limit": MAX_PAGE });
    let mut cursors = Vec::new();
    loop {
        // Which page failed, and how far the walk got, is what a slow deep page needs to be found.
        let what = format!(
            "tenant_mapping.read cursor page {} of the walk ({} ms so far)",
            cursors.len() + 1,
            elapsed.as_millis()
        );
        let answer = session.call_ok(&what, read("tenant_mapping.read", endpoint_id, Some(paging)), &[]).await?;
        elapsed += answer.elapsed;
        for item in items(&answer.body)? {
            ids.push(item["vendor_tenant_id"].as_str().unwrap_or_default().to_owned());
        }
        match answer.body["payload"]["paging"]["after"].as_str() {
            Some(after) => {
                cursors.push(after.to_owned());
                paging = json!({ "limit": MAX_PAGE, "after": after });
            }
            None => break,
        }
    }
    let middle = cursors.get(cursors.len() / 2).cloned().unwrap_or_default();
    Ok(Walk { elapsed, ids, middle })
}

fn print_row(name: &str, requests: usize, items: usize, times: &mut [Duration]) {
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
    println!("| {name} | {requests} | {items} | {:.1} | {:.1} |", ms(median), ms(max));
}
