//! `CUSTOM_CALLBACK_ROUTES`: which vendor service answers which custom callback.
//!
//! Comma-separated `PATTERN=URL[;OPTION...]`. PATTERN is a callback id, or a prefix ending in `*` (custom
//! ids carry a version that changes with every CyberApp version, protocol §9.12); the longest matching
//! pattern wins, and an exact id beats a prefix of the same length. OPTIONs: `deadline=DURATION` (`500ms`,
//! `2s`; default [`DEFAULT_DEADLINE`]), `exactly-once` (replays by `request_id`, for on-click actions) and
//! `explicit-partner` (the CyberApp uses explicit partners, so the tenant need not be enabled here).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::gateway::cti::StandardCallback;

/// How long a handler may take when its route does not say.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// The longest deadline a route may set: a custom callback answers a console user who is waiting.
const MAX_DEADLINE: Duration = Duration::from_mins(1);

/// One `PATTERN=URL[;OPTION...]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The pattern as configured (the metrics' `route` label, and what the handler is told matched).
    pub pattern: String,
    /// The vendor service, `http://HOST:PORT`.
    pub url: String,
    pub deadline: Duration,
    pub exactly_once: bool,
    pub explicit_partner: bool,
}

impl Route {
    /// The literal part of the pattern and whether it is a prefix.
    fn literal(&self) -> (&str, bool) {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (&self.pattern, false),
        }
    }

    fn matches(&self, callback_id: &str) -> bool {
        match self.literal() {
            (prefix, true) => callback_id.starts_with(prefix),
            (exact, false) => callback_id == exact,
        }
    }
}

/// Every route, most specific first, so that the first match is the longest.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Parses `CUSTOM_CALLBACK_ROUTES`; an error names the offending entry.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut routes = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let route = parse_route(entry).with_context(|| format!("CUSTOM_CALLBACK_ROUTES entry {entry:?}"))?;
            ensure!(
                !routes.iter().any(|other: &Route| other.pattern == route.pattern),
                "CUSTOM_CALLBACK_ROUTES names the pattern {:?} twice",
                route.pattern
            );
            routes.push(route);
        }
        // Longest literal first; at the same length an exact id before a prefix.
        routes.sort_by_key(|route| {
            let (literal, is_prefix) = route.literal();
            (std::cmp::Reverse(literal.len()), is_prefix)
        });
        Ok(Self { routes: routes.into_iter().map(Arc::new).collect() })
    }

    /// The route of `callback_id`: the longest matching pattern.
    pub fn find(&self, callback_id: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|route| route.matches(callback_id))
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn parse_route(entry: &str) -> anyhow::Result<Route> {
    let (pattern, target) = entry.split_once('=').context("expected PATTERN=URL")?;
    let pattern = pattern.trim();
    ensure!(!pattern.is_empty(), "the pattern is empty");
    ensure!(pattern.bytes().all(|b| b.is_ascii_graphic()), "the pattern must be printable ASCII without spaces");
    ensure!(
        !pattern.trim_end_matches('*').contains('*') && !pattern.ends_with("**"),
        "`*` may only end a pattern (a prefix)"
    );
    ensure!(
        pattern.ends_with('*') || StandardCallback::from_callback_id(pattern).is_none(),
        "{pattern:?} is a standard callback, which this service answers itself"
    );
    let mut parts = target.split(';').map(str::trim);
    let url = parts.next().unwrap_or_default().to_owned();
    check_url(&url)?;
    let mut route = Route {
        pattern: pattern.to_owned(),
        url,
        deadline: DEFAULT_DEADLINE,
        exactly_once: false,
        explicit_partner: false,
    };
    for option in parts.filter(|option| !option.is_empty()) {
        match option.split_once('=') {
            Some(("deadline", value)) => route.deadline = parse_duration(value.trim())?,
            None if option == "exactly-once" => route.exactly_once = true,
            None if option == "explicit-partner" => route.explicit_partner = true,
            _ => bail!("unknown option {option:?} (known: deadline=DURATION, exactly-once, explicit-partner)"),
        }
    }
    Ok(route)
}

/// Vendor services are reached over plaintext HTTP/2 inside the cluster, as the TenantService is.
fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    ensure!(
        parsed.scheme() == "http" && parsed.host().is_some() && matches!(parsed.path(), "" | "/"),
        "the URL must be http://HOST:PORT (vendor services are called over plaintext HTTP/2 inside the cluster)"
    );
    Ok(())
}

/// `500ms`, `2s` or `2` (seconds): more than zero, at most a minute.
fn parse_duration(value: &str) -> anyhow::Result<Duration> {
    let bad = || format!("deadline {value:?} must be like 500ms or 2s");
    let duration = if let Some(millis) = value.strip_suffix("ms") {
        Duration::from_millis(millis.parse().with_context(bad)?)
    } else {
        Duration::from_secs(value.strip_suffix('s').unwrap_or(value).parse().with_context(bad)?)
    };
    ensure!(
        !duration.is_zero() && duration <= MAX_DEADLINE,
        "deadline {value:?} must be more than zero and at most 60s"
    );
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS_READ: &str = "cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.7";

    fn table(spec: &str) -> RouteTable {
        RouteTable::parse(spec).expect("valid routes")
    }

    fn routed(table: &RouteTable, callback_id: &str) -> Option<String> {
        table.find(callback_id).map(|route| route.pattern.clone())
    }

    #[test]
    fn the_longest_matching_pattern_wins_and_an_exact_id_beats_an_equal_prefix() {
        let table = table(&format!(
            "*=http://all:1, cti.a.p.acgw.callback.v1.0~vendor.app.*=http://app:1,\
             cti.a.p.acgw.callback.v1.0~vendor.app.users_*=http://users:1,{USERS_READ}=http://exact:1"
        ));
        assert_eq!(routed(&table, USERS_READ).as_deref(), Some(USERS_READ));
        let next_version = "cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.8";
        assert_eq!(routed(&table, next_version).as_deref(), Some("cti.a.p.acgw.callback.v1.0~vendor.app.users_*"));
        let other = "cti.a.p.acgw.callback.v1.0~vendor.app.tenant_info.v1.0";
        assert_eq!(routed(&table, other).as_deref(), Some("cti.a.p.acgw.callback.v1.0~vendor.app.*"));
        assert_eq!(routed(&table, "cti.a.p.acgw.callback.v2.0~other.app.x.v1.0").as_deref(), Some("*"));
    }

    #[test]
    fn no_route_means_none() {
        let table = table("cti.a.p.acgw.callback.v1.0~vendor.app.*=http://app:1");
        assert_eq!(routed(&table, "cti.a.p.acgw.callback.v1.0~vendor.other.x.v1.0"), None);
        assert!(RouteTable::parse("").expect("empty").is_empty());
    }

    #[test]
    fn options_are_read() {
        let table = table("x.*=http://h:1;deadline=250ms;exactly-once, y=http://h:2 ; explicit-partner ; deadline=3s");
        let x = table.find("x.a").expect("x");
        assert_eq!((x.deadline, x.exactly_once, x.explicit_partner), (Duration::from_millis(250), true, false));
        let y = table.find("y").expect("y");
        assert_eq!((y.deadline, y.exactly_once, y.explicit_partner), (Duration::from_secs(3), false, true));
        assert_eq!(y.url, "http://h:2");
        assert_eq!(table.find("x.b").map(|route| route.url.as_str()), Some("http://h:1"));
    }

    #[test]
    fn every_bad_entry_is_refused_naming_it() {
        for (spec, why) in [
            ("no-equals", "expected PATTERN=URL"),
            ("=http://h:1", "the pattern is empty"),
            ("a*b=http://h:1", "may only end a pattern"),
            ("a=ftp://h:1", "http://HOST:PORT"),
            ("a=http://h:1/path", "http://HOST:PORT"),
            ("a=not a url", "is not a URL"),
            ("a=http://h:1;deadline=0s", "more than zero"),
            ("a=http://h:1;deadline=soon", "must be like"),
            ("a=http://h:1;deadline=61s", "at most 60s"),
            ("a=http://h:1;sometimes", "unknown option"),
            ("a=http://h:1,a=http://h:2", "twice"),
            ("cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.enable.v1.0=http://h:1", "standard callback"),
        ] {
            let error = format!("{:#}", RouteTable::parse(spec).expect_err(spec));
            assert!(error.contains(why), "{spec}: {error}");
        }
    }
}
