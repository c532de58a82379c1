//! `h.apt(packages, #{ state, update, cache_valid })`: Debian packages, installed or
//! removed non-interactively. The package cache is refreshed only when something must be
//! installed and the cache is older than `cache_valid` (or was never fetched); refreshing
//! it is not counted as a change (it changes no configuration).

use std::time::Duration;

use serde::Deserialize;

use super::error::OpResult;
use super::files::Presence;
use super::plan::{Effect, Plan};
use crate::facts::{Fact, FactKey, Look, PackageFact, ServiceFact};
use crate::shell::{Become, join, quote};

/// apt waits this long for another apt/dpkg (e.g. unattended-upgrades) to let go of the lock.
const LOCK_WAIT_SECS: u32 = 600;

/// `h.apt(packages, #{ state, update, cache_valid })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    /// Names, or `name=version` to pin a version (with `state: "absent"`, the package is
    /// removed only when that version is installed).
    pub packages: Vec<String>,
    #[serde(default)]
    pub state: Presence,
    #[serde(default)]
    pub update: bool,
    /// How old the package lists may be before an install refreshes them.
    #[serde(default = "an_hour", deserialize_with = "super::args::duration_text")]
    pub cache_valid: Duration,
    #[serde(default)]
    pub who: Become,
}

fn an_hour() -> Duration {
    Duration::from_secs(3600)
}

pub fn apt(look: &dyn Look, a: &Apt) -> OpResult<Option<Plan>> {
    let who = &a.who;
    let present = a.state == Presence::Present;
    if a.packages.is_empty() {
        return Ok(None);
    }
    // `name=version` pins a version; the fact is read by name.
    let wanted: Vec<(String, Option<String>)> = a
        .packages
        .iter()
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (p.clone(), None),
        })
        .collect();
    let keys: Vec<FactKey> = wanted.iter().map(|(n, _)| FactKey::Package(n.clone())).collect();
    let facts = look.facts(&keys, who)?;
    // What apt is given: the name, and for an install the pinned version.
    let mut todo: Vec<(&str, Option<&str>)> = Vec::new();
    for ((name, version), fact) in wanted.iter().zip(&facts) {
        let Fact::Package(f) = fact else {
            unreachable!("package probes give package facts")
        };
        let needed = match present {
            true => !f.installed || version.as_ref().is_some_and(|v| f.version.as_ref() != Some(v)),
            // A pin names the version that must not be installed; another version is left.
            false => f.installed && version.as_ref().is_none_or(|v| f.version.as_ref() == Some(v)),
        };
        if needed {
            // apt removes by name: a pinned version it no longer lists would fail the removal.
            todo.push((name.as_str(), version.as_deref().filter(|_| present)));
        }
    }
    if todo.is_empty() {
        return Ok(None);
    }
    let words: Vec<String> = todo
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{n}={v}"),
            None => n.to_string(),
        })
        .collect();
    let apt_get = format!(
        "apt-get -q -y -o DPkg::Lock::Timeout={LOCK_WAIT_SECS} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
    );
    let mut script = String::from("export DEBIAN_FRONTEND=noninteractive && ");
    if present && (a.update || !cache_is_fresh(look, who, a.cache_valid)?) {
        script.push_str(&format!("{apt_get} update && "));
    }
    let verb = if present { "install" } else { "remove" };
    script.push_str(&format!("{apt_get} {verb} -- {}", join(&words)));
    let names: Vec<String> = todo.iter().map(|(n, _)| n.to_string()).collect();
    let mut plan = Plan::script(
        "apt",
        words.join(" "),
        format!("{verb} {}", words.join(", ")),
        who.clone(),
        script,
    );
    for (name, version) in &todo {
        // A pinned install is that version (so the same pin later in a dry run is no change).
        let version = present.then(|| version.unwrap_or("(planned)").to_string());
        plan = plan.predicts(
            FactKey::Package(name.to_string()),
            Fact::Package(PackageFact {
                installed: present,
                version,
            }),
        );
        // Debian starts and enables a package's service when it is installed; a unit named
        // like the package is predicted that way (by either of its names: `nginx`,
        // `nginx.service`), so a dry run's service plans match.
        if present {
            let svc = ServiceFact {
                exists: true,
                active: true,
                enabled: true,
                ..ServiceFact::default()
            };
            let unit = unit_of(name);
            plan = plan
                .predicts(FactKey::Service(unit.to_string()), Fact::Service(svc.clone()))
                .predicts(FactKey::Service(format!("{unit}.service")), Fact::Service(svc));
        }
    }
    if present {
        plan.effects.push(Effect::PackagesPending(names));
    }
    Ok(Some(plan))
}

/// The systemd unit Debian's package of that name ships, where it is named differently.
fn unit_of(package: &str) -> &str {
    match package {
        "openssh-server" => "ssh",
        p if p.starts_with("postgresql-") && p[11..].chars().all(|c| c.is_ascii_digit()) => "postgresql",
        p => p,
    }
}

/// Whether package lists exist and were fetched less than `valid` ago (read-only probe).
fn cache_is_fresh(look: &dyn Look, who: &Become, valid: Duration) -> OpResult<bool> {
    let minutes = (valid.as_secs() / 60).max(1);
    let script = format!(
        "find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -{} 2>/dev/null | head -n 1",
        quote(&minutes.to_string())
    );
    Ok(!look.query(&script, who)?.stdout_text().trim().is_empty())
}
