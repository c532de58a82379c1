//! `h.apt(packages, #{ state, update, cache_valid })`: Debian packages, installed or
//! removed non-interactively. The package cache is refreshed only when something must be
//! installed and the cache is older than `cache_valid` (or was never fetched); refreshing
//! it is not counted as a change (it changes no configuration).

use rhai::Map;

use super::{OpResult, Plan, apply, options};
use crate::connection::ExecRequest;
use crate::facts::{Fact, FactKey, PackageFact, ServiceFact};
use crate::host::Host;
use crate::shell::{join, quote};

use super::command::become_of;

/// apt waits this long for another apt/dpkg (e.g. unattended-upgrades) to let go of the lock.
const LOCK_WAIT_SECS: u32 = 600;

pub fn apt(host: &Host, packages: Vec<String>, opts: Map) -> OpResult<Map> {
    let opts = options("apt", opts)?;
    let who = become_of(&opts)?;
    let present = match opts.string("state")?.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(s) => return Err(format!("apt: state must be \"present\" or \"absent\", not {s:?}")),
    };
    let update = opts.bool("update", false)?;
    let cache_valid = opts
        .duration("cache_valid")?
        .unwrap_or(std::time::Duration::from_secs(3600));
    if packages.is_empty() {
        return Ok(super::outcome(false, None));
    }
    // `name=version` pins a version; the fact is read by name.
    let wanted: Vec<(String, Option<String>)> = packages
        .iter()
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (p.clone(), None),
        })
        .collect();
    let keys: Vec<FactKey> = wanted.iter().map(|(n, _)| FactKey::Package(n.clone())).collect();
    let facts = host.facts(&keys, &who)?;
    let mut todo = Vec::new();
    for ((name, version), fact) in wanted.iter().zip(&facts) {
        let Fact::Package(f) = fact else { unreachable!() };
        let needed = if present {
            !f.installed || version.as_ref().is_some_and(|v| f.version.as_ref() != Some(v))
        } else {
            f.installed
        };
        if needed {
            todo.push(match version {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            });
        }
    }
    if todo.is_empty() {
        return Ok(super::outcome(false, None));
    }
    let apt_get = format!(
        "apt-get -q -y -o DPkg::Lock::Timeout={LOCK_WAIT_SECS} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
    );
    let mut script = String::from("export DEBIAN_FRONTEND=noninteractive && ");
    if present && (update || !cache_is_fresh(host, &who, cache_valid)?) {
        script.push_str(&format!("{apt_get} update && "));
    }
    let verb = if present { "install" } else { "remove" };
    script.push_str(&format!("{apt_get} {verb} -- {}", join(&todo)));
    let mut predicts = Vec::new();
    for p in &todo {
        let name = p.split('=').next().unwrap_or(p).to_string();
        let version = present.then(|| "(planned)".to_string());
        predicts.push((
            FactKey::Package(name.clone()),
            Fact::Package(PackageFact {
                installed: present,
                version,
            }),
        ));
        // Debian starts and enables a package's service when it is installed; a unit named
        // like the package is predicted that way, so a dry run's service plans match.
        if present {
            let svc = ServiceFact {
                exists: true,
                active: true,
                enabled: true,
            };
            predicts.push((FactKey::Service(unit_of(&name).to_string()), Fact::Service(svc)));
        }
    }
    if present && host.dry_run() {
        let names: Vec<String> = todo
            .iter()
            .map(|p| p.split('=').next().unwrap_or(p).to_string())
            .collect();
        host.note_packages_pending(&names);
    }
    apply(
        host,
        Some(Plan {
            op: "apt",

            target: todo.join(" "),
            summary: format!("{verb} {}", todo.join(", ")),
            script,
            stdin: None,
            become_: who,
            diff: None,
            predicts,
        }),
    )
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
fn cache_is_fresh(host: &Host, who: &crate::shell::Become, valid: std::time::Duration) -> OpResult<bool> {
    let minutes = (valid.as_secs() / 60).max(1);
    let script = format!(
        "find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -{} 2>/dev/null | head -n 1",
        quote(&minutes.to_string())
    );
    let req = ExecRequest {
        script,
        become_: who.clone(),
        ..Default::default()
    };
    let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
    Ok(!out.stdout_text().trim().is_empty())
}
