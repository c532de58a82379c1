//! What an inventory is, once read: hosts, groups, variables and the settings tables, with
//! the lookups everyone needs (groups of a host, a host's variables). Kept apart from
//! `mod.rs` so the other files of `inventory` (and every layer above) import these types
//! from a file that imports none of its siblings but `settings`: reading the file format
//! (`file`) and host patterns (`pattern`) add their methods to `Inventory` from their own
//! files, pointing down at this one.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;

use super::settings::{CloudSettings, DnsSettings, SshSettings};
use crate::cost::settings::CostSettings;
use crate::error::{Diagnostic, Error, Location, display_path};

/// Variables: a JSON-like map, so they convert cleanly to Rhai and to templates.
pub type Vars = serde_json::Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Ssh,
    Local,
    Docker,
}

#[derive(Debug, Clone)]
pub struct HostSpec {
    pub name: String,
    /// Address to connect to; defaults to the host name.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub connection: ConnectionKind,
    /// SSH private key for this host (overrides `[ssh] key`).
    pub key: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    /// The host's own variables (not merged).
    pub vars: Vars,
    /// A droplet a dry run would create: its addresses are not known yet, and steps
    /// report what they would do instead of connecting.
    pub pending: bool,
}

impl HostSpec {
    /// An ssh host at `address`, everything else from the inventory's defaults.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        HostSpec {
            name: name.into(),
            address: address.into(),
            port: None,
            user: None,
            connection: ConnectionKind::Ssh,
            key: None,
            private_ip: None,
            public_ip: None,
            vars: Vars::new(),
            pending: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub vars: Vars,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    /// The name given on the command line (`local`), or the file stem.
    pub name: String,
    pub path: PathBuf,
    pub vars: Vars,
    pub ssh: SshSettings,
    pub cloud: Option<CloudSettings>,
    pub dns: Option<DnsSettings>,
    /// `[cost]`: budget, currency, prices no API gives.
    pub cost: CostSettings,
    /// In file order, which is the order hosts run in batches and appear in reports.
    pub hosts: IndexMap<String, HostSpec>,
    pub groups: IndexMap<String, Group>,
}

impl Inventory {
    /// Where `secret()` looks for secret files: `secrets/` beside the inventory, then
    /// `.runbook/secrets`.
    pub fn secret_dirs(&self) -> Vec<PathBuf> {
        let dir = self.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        vec![dir.join("secrets"), PathBuf::from(".runbook/secrets")]
    }

    pub fn file_label(&self) -> String {
        display_path(&self.path)
    }

    /// All groups a host belongs to, directly or through `children`, `all` first.
    /// `all`, then every group that holds `host`, directly or through a child group, in
    /// the inventory's order. Walks up from the groups that name the host (one pass over
    /// the memberships), not down from every group: a 10,000-host inventory asks this once
    /// per host.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, g) in &self.groups {
            for child in &g.children {
                parents.entry(child.as_str()).or_default().push(name.as_str());
            }
        }
        let mut holding: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.iter().any(|h| h == host))
            .map(|(name, _)| name.as_str())
            .collect();
        while let Some(g) = stack.pop() {
            if holding.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        let mut out = vec!["all".to_string()];
        out.extend(
            self.groups
                .keys()
                .filter(|name| *name != "all" && holding.contains(name.as_str()))
                .cloned(),
        );
        out
    }

    /// Every host of a group, including those of its child groups.
    pub fn group_hosts(&self, group: &str) -> BTreeSet<String> {
        if group == "all" {
            return self.hosts.keys().cloned().collect();
        }
        let mut out = BTreeSet::new();
        let mut stack = vec![group.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(g) = stack.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(group) = self.groups.get(&g) {
                out.extend(group.hosts.iter().cloned());
                stack.extend(group.children.iter().cloned());
            }
        }
        out
    }

    /// Nesting depth of a group (`all` 0, top-level groups 1, their children 2, …), so
    /// that a child group's variables override its parent's.
    fn depth(&self, group: &str, memo: &mut HashMap<String, usize>) -> usize {
        if group == "all" {
            return 0;
        }
        if let Some(d) = memo.get(group) {
            return *d;
        }
        memo.insert(group.to_string(), 1); // guards against cycles (rejected at load)
        let parents: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.children.iter().any(|c| c == group))
            .map(|(n, _)| n.clone())
            .collect();
        let d = parents.iter().map(|p| self.depth(p, memo) + 1).max().unwrap_or(1);
        memo.insert(group.to_string(), d);
        d
    }

    /// The variables a host sees: `[vars]`, then its groups from the outermost to the
    /// innermost (ties by name), then its own, then the command line's (see [`overrides`](super::overrides)).
    pub fn host_vars(&self, host: &str, overrides: &Vars) -> Vars {
        let mut out = self.vars.clone();
        let mut memo = HashMap::new();
        let mut groups: Vec<(usize, String)> = self
            .groups_of(host)
            .into_iter()
            .filter(|g| g != "all")
            .map(|g| (self.depth(&g, &mut memo), g))
            .collect();
        groups.sort();
        for (_, g) in groups {
            if let Some(group) = self.groups.get(&g) {
                merge(&mut out, &group.vars);
            }
        }
        if let Some(h) = self.hosts.get(host) {
            merge(&mut out, &h.vars);
        }
        merge(&mut out, overrides);
        out
    }

    /// Inventory-wide variables (`[vars]` and the command line's), as scripts see them
    /// outside steps.
    pub fn global_vars(&self, overrides: &Vars) -> Vars {
        let mut out = self.vars.clone();
        merge(&mut out, overrides);
        out
    }

    /// Adds or replaces a host (cloud discovery), putting it into `groups`.
    pub fn upsert_host(&mut self, spec: HostSpec, groups: &[String]) {
        for g in groups {
            let group = self.groups.entry(g.clone()).or_default();
            if !group.hosts.contains(&spec.name) {
                group.hosts.push(spec.name.clone());
            }
        }
        self.hosts.insert(spec.name.clone(), spec);
    }

    pub fn error_at(&self, text: &str, offset: usize, message: impl Into<String>) -> Error {
        Error::Inventory(Diagnostic::new(message).at(Location::at_offset(self.file_label(), text, offset)))
    }
}

/// Shallow merge: later values replace earlier ones key by key.
pub fn merge(into: &mut Vars, from: &Vars) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}
