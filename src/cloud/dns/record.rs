//! The provider-independent part of DNS: the record wanted, the change made, the `Dns`
//! trait and the name and value arithmetic. A file of its own so the services
//! (`digitalocean`, `hosts_file`, `route53`) import it without importing `mod.rs`.

use async_trait::async_trait;
use serde::Serialize;

use crate::cloud::types::CloudResult;

/// `dns::a_record(zone, name, ips, #{ttl, exact, health_check})`.
#[derive(Debug, Clone, PartialEq)]
pub struct ARecord {
    pub zone: String,
    /// `www`, `@` for the apex, or the fully qualified name.
    pub name: String,
    pub ips: Vec<String>,
    pub ttl: Option<u32>,
    /// Remove values that are not in `ips` (otherwise they are kept).
    pub exact: bool,
    /// Route 53 only: one multivalue record set per address, each with a health check.
    pub health_check: Option<HealthCheck>,
    /// Route 53 change batch comment.
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// `HTTP`, `HTTPS` or `TCP`.
    pub kind: String,
    pub port: u16,
    pub path: Option<String>,
}

/// What changed (or would change).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DnsChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The new TTL, when it changed.
    pub ttl: Option<u32>,
    /// Route 53: addresses whose health check is replaced (its settings differ from the
    /// wanted ones, or it has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<String>,
    /// Route 53: ids of health checks runbook made for the record that no record set uses
    /// (left by a run that died before the change that would use them), deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leftover_checks: Vec<String>,
}

impl DnsChange {
    pub fn changed(&self) -> bool {
        !self.added.is_empty()
            || !self.removed.is_empty()
            || self.ttl.is_some()
            || !self.health_checks.is_empty()
            || !self.leftover_checks.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("+{}", self.added.join(" +")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("-{}", self.removed.join(" -")));
        }
        if let Some(t) = self.ttl {
            parts.push(format!("ttl {t}"));
        }
        if !self.health_checks.is_empty() {
            parts.push(format!("new health check for {}", self.health_checks.join(" ")));
        }
        if !self.leftover_checks.is_empty() {
            parts.push(format!(
                "delete health checks an earlier run left unused: {}",
                self.leftover_checks.join(" ")
            ));
        }
        parts.join(", ")
    }

    /// What a deletion of `name`'s A records does: `delete A www.example.com 192.0.2.10,
    /// 192.0.2.11`, and the health checks deleted with them.
    pub fn describe_deletion(&self, name: &str) -> String {
        let mut s = format!("delete A {name} {}", self.removed.join(", "));
        if !self.health_checks.is_empty() {
            s.push_str(&format!(
                " and runbook's health checks for {}",
                self.health_checks.join(", ")
            ));
        }
        s
    }
}

#[async_trait]
pub trait Dns: Send + Sync {
    fn name(&self) -> &'static str;
    /// Makes the record match; with `apply` false only reads and reports what would change.
    async fn a_record(&self, rec: &ARecord, apply: bool) -> CloudResult<DnsChange>;
    /// Deletes every A record of `name` (`removed`: its values; none when there is no
    /// record, which is no change). Other record types are left alone. Route 53 also
    /// deletes the health checks runbook made for the deleted sets that no other record
    /// set of the zone uses (`health_checks`: their addresses); `comment` is the change
    /// batch's. With `apply` false only reads and reports what would be deleted.
    async fn delete_a(&self, zone: &str, name: &str, comment: Option<&str>, apply: bool) -> CloudResult<DnsChange>;
    /// The fully qualified name of `name` in `zone` (Route 53: the zone may be given by
    /// its id, the name is then looked up).
    async fn record_name(&self, zone: &str, name: &str) -> CloudResult<String> {
        Ok(fqdn(zone, name))
    }
    /// The health-checked records of a zone (`www.example.com 203.0.113.10`), each billed
    /// by the service; none where the service has no health checks.
    async fn health_checks(&self, _zone: &str) -> CloudResult<Vec<String>> {
        Ok(Vec::new())
    }
}

/// `www` + `example.com` → `www.example.com`; `@`, `` and the zone itself → the zone.
pub fn fqdn(zone: &str, name: &str) -> String {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "@" || name == zone {
        zone
    } else if name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// The name relative to the zone, `@` for the apex.
pub fn relative(zone: &str, name: &str) -> String {
    let full = fqdn(zone, name);
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    full.strip_suffix(&format!(".{zone}")).unwrap_or("@").to_string()
}

/// The values a record should have: `ips` alone when exact, else the current ones plus the
/// missing ones. Returns (wanted, added, removed), current order first.
pub fn diff(current: &[String], ips: &[String], exact: bool) -> (Vec<String>, Vec<String>, Vec<String>) {
    let added: Vec<String> = dedup(ips).into_iter().filter(|ip| !current.contains(ip)).collect();
    let removed: Vec<String> = if exact {
        dedup(current).into_iter().filter(|c| !ips.contains(c)).collect()
    } else {
        Vec::new()
    };
    let wanted: Vec<String> = dedup(current)
        .into_iter()
        .filter(|c| !removed.contains(c))
        .chain(added.iter().cloned())
        .collect();
    (wanted, added, removed)
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Every value must be an IPv4 address: a typo must not become a DNS record.
pub fn check_ips(ips: &[String]) -> CloudResult<()> {
    match ips.iter().find(|ip| ip.parse::<std::net::Ipv4Addr>().is_err()) {
        Some(bad) => Err(format!("dns::a_record: {bad:?} is not an IPv4 address")),
        None if ips.is_empty() => Err("dns::a_record: no addresses given".into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names() {
        assert_eq!(fqdn("example.com", "www"), "www.example.com");
        assert_eq!(fqdn("example.com.", "@"), "example.com");
        assert_eq!(fqdn("example.com", "WWW.example.com."), "www.example.com");
        assert_eq!(relative("example.com", "www.example.com"), "www");
        assert_eq!(relative("example.com", "example.com"), "@");
    }

    #[test]
    fn diffs() {
        let (w, a, r) = diff(&s(&["1.1.1.1", "2.2.2.2"]), &s(&["2.2.2.2", "3.3.3.3"]), false);
        assert_eq!(
            (w, a, r),
            (s(&["1.1.1.1", "2.2.2.2", "3.3.3.3"]), s(&["3.3.3.3"]), s(&[]))
        );
        let (w, a, r) = diff(&s(&["1.1.1.1", "2.2.2.2"]), &s(&["2.2.2.2"]), true);
        assert_eq!((w, a, r), (s(&["2.2.2.2"]), s(&[]), s(&["1.1.1.1"])));
    }
}
