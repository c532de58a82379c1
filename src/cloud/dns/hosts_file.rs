//! The `docker` DNS: A records as lines of a hosts file (`/etc/hosts` format) beside the
//! inventory, so a local rehearsal can resolve its names (`curl --resolve`, or point
//! `HOSTALIASES`/a resolver at the file). A hosts file has no TTL; `ttl` is ignored.

use std::path::PathBuf;

use async_trait::async_trait;

use super::record::{ARecord, Dns, DnsChange, check_ips, diff, fqdn};
use crate::cloud::types::CloudResult;

pub struct HostsFile {
    pub path: PathBuf,
}

/// Serializes read-modify-write of hosts files within this process.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[async_trait]
impl Dns for HostsFile {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn a_record(&self, rec: &ARecord, apply: bool) -> CloudResult<DnsChange> {
        check_ips(&rec.ips)?;
        let _guard = LOCK.lock().await;
        let name = fqdn(&rec.zone, &rec.name);
        let text = self.read()?;
        let (wanted, added, removed) = diff(&addresses(&text, &name), &rec.ips, rec.exact);
        let change = DnsChange {
            added: added.clone(),
            removed,
            ttl: None,
            ..Default::default()
        };
        if apply && change.changed() {
            self.write(&rewrite(&text, &name, &wanted, &added))?;
        }
        Ok(change)
    }

    /// The name leaves every line; lines left without a name go.
    async fn delete_a(&self, zone: &str, name: &str, _comment: Option<&str>, apply: bool) -> CloudResult<DnsChange> {
        let _guard = LOCK.lock().await;
        let name = fqdn(zone, name);
        let text = self.read()?;
        let change = DnsChange {
            removed: addresses(&text, &name),
            ..Default::default()
        };
        if apply && change.changed() {
            self.write(&rewrite(&text, &name, &[], &[]))?;
        }
        Ok(change)
    }
}

impl HostsFile {
    /// The file's text; none yet is empty.
    fn read(&self) -> CloudResult<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!("reading {}: {e}", self.path.display())),
        }
    }

    fn write(&self, text: &str) -> CloudResult<()> {
        write(&self.path, text).map_err(|e| format!("writing {}: {e}", self.path.display()))
    }
}

/// The addresses `name` has in the file, in file order, once each.
fn addresses(text: &str, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (ip, names) in text.lines().filter_map(parse) {
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The file with `name` on the lines of the `wanted` addresses only, and a line for each
/// `added` one; other names stay as they are.
fn rewrite(text: &str, name: &str, wanted: &[String], added: &[String]) -> String {
    let mut out = String::new();
    if text.is_empty() {
        out.push_str("# A records written by runbook (dns provider \"docker\")\n");
    }
    for line in text.lines() {
        match parse(line) {
            Some((ip, names)) if names.iter().any(|n| n.eq_ignore_ascii_case(name)) => {
                let mut kept: Vec<&str> = names
                    .iter()
                    .filter(|n| !n.eq_ignore_ascii_case(name))
                    .map(|s| s.as_str())
                    .collect();
                if wanted.contains(&ip) {
                    kept.insert(0, name);
                }
                if !kept.is_empty() {
                    out.push_str(&format!("{ip} {}\n", kept.join(" ")));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for ip in added {
        out.push_str(&format!("{ip} {name}\n"));
    }
    out
}

/// `IP name…` of a hosts file line; comments and blank lines are none.
fn parse(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.split('#').next().unwrap_or("");
    let mut words = line.split_whitespace();
    let ip = words.next()?.to_string();
    let names: Vec<String> = words.map(str::to_string).collect();
    (!names.is_empty()).then_some((ip, names))
}

fn write(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ips: &[&str], exact: bool) -> ARecord {
        ARecord {
            zone: "example.test".into(),
            name: "www".into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ttl: Some(60),
            exact,
            health_check: None,
            comment: None,
        }
    }

    #[tokio::test]
    async fn records_are_added_kept_and_removed_only_when_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.local");
        std::fs::write(&path, "10.9.9.9 db.example.test\n").unwrap();
        let dns = HostsFile { path: path.clone() };
        let c = dns
            .a_record(&rec(&["10.0.0.1", "10.0.0.2"], false), false)
            .await
            .unwrap();
        assert_eq!(c.added, ["10.0.0.1", "10.0.0.2"]);
        assert!(
            !std::fs::read_to_string(&path).unwrap().contains("www"),
            "dry run writes nothing"
        );
        dns.a_record(&rec(&["10.0.0.1", "10.0.0.2"], false), true)
            .await
            .unwrap();
        let again = dns.a_record(&rec(&["10.0.0.2"], false), true).await.unwrap();
        assert!(!again.changed(), "{again:?}");
        let exact = dns.a_record(&rec(&["10.0.0.2", "10.0.0.3"], true), true).await.unwrap();
        assert_eq!(
            (exact.added, exact.removed),
            (vec!["10.0.0.3".to_string()], vec!["10.0.0.1".to_string()])
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "10.9.9.9 db.example.test\n10.0.0.2 www.example.test\n10.0.0.3 www.example.test\n"
        );
    }

    #[tokio::test]
    async fn delete_takes_the_name_off_every_line_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.local");
        let text = "# mine\n10.0.0.1 www.example.test cache.example.test\n10.0.0.2 WWW.example.test\n10.9.9.9 db.example.test\n";
        std::fs::write(&path, text).unwrap();
        let dns = HostsFile { path: path.clone() };
        let plan = dns.delete_a("example.test", "www", None, false).await.unwrap();
        assert_eq!(plan.removed, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "dry run writes nothing");
        let done = dns.delete_a("example.test", "www", None, true).await.unwrap();
        assert_eq!(done, plan);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# mine\n10.0.0.1 cache.example.test\n10.9.9.9 db.example.test\n"
        );
        assert!(!dns.delete_a("example.test", "www", None, true).await.unwrap().changed());
        let missing = HostsFile {
            path: dir.path().join("hosts.none"),
        };
        assert!(
            !missing
                .delete_a("example.test", "www", None, true)
                .await
                .unwrap()
                .changed()
        );
        assert!(!dir.path().join("hosts.none").exists(), "no change, no file");
    }
}
