//! Ansible's inventory files, read as Ansible's `ini` and `yaml` inventory plugins read them,
//! into the same [`Inventory`] a TOML file gives: groups, `children`, host and group
//! variables, host ranges (`web[01:20]`, `db-[a:f]`, `[1:9:2]`), the implicit `all` and
//! `ungrouped` groups, and Ansible's connection variables (`ansible_host`, `ansible_port`,
//! `ansible_user`, `ansible_connection`, `ansible_ssh_private_key_file`) as the host's
//! settings, and the `group_vars/` and `host_vars/` beside the file. What runbook cannot
//! honour is refused where it is written (see `builtins::ANSIBLE_REFUSED_KEYS`); every other
//! variable stays a variable.
//!
//! INI values are typed like Ansible types them (`python`: `ast.literal_eval` after
//! `shlex`); YAML values like PyYAML's YAML 1.1 does (`yes` is true, `0755` is 493, `1e3` is
//! text), from the events of `saphyr_parser` (YAML syntax only, with each node's position).

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use indexmap::{IndexMap, IndexSet};
use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::Value;

use super::model::{ConnectionKind, Group, HostSpec, Inventory, Vars};
use super::python::{literal_eval, shlex_split, to_json};
use super::validate;
use crate::builtins::{ANSIBLE_HOST_KEYS, ANSIBLE_REFUSED_KEYS, suggest};
use crate::error::{Diagnostic, Error, Location, Result, display_path};

/// The inventory formats of Ansible that runbook reads, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Ini,
    Yaml,
}

/// The extensions of Ansible inventories, in the order `-i NAME` looks for them (after
/// `.toml`).
pub(super) const EXTENSIONS: &[&str] = &["ini", "yml", "yaml"];

/// The Ansible format of a file by its extension; `None` for every other (TOML).
pub(super) fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "ini" => Some(Format::Ini),
        "yml" | "yaml" => Some(Format::Yaml),
        _ => None,
    }
}

pub(super) fn parse(format: Format, name: &str, path: &Path, text: &str) -> Result<Inventory> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder::new(path, text);
    match format {
        Format::Ini => ini(&mut b)?,
        Format::Yaml => yaml(&mut b)?,
    }
    b.reconcile_ungrouped()?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    vars_dirs(&mut b, dir)?;
    b.finish(name, path)
}

/// How many hosts one range may make (`web[0:99999999]` is a typo, not a fleet).
pub const MAX_RANGE_HOSTS: usize = 100_000;

/// How deep YAML may nest (each level of groups is two).
const MAX_YAML_DEPTH: usize = 512;

/// A place in the file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    line: usize,
    col: usize,
}

/// The inventory as it is read: hosts and groups in the order they first appear, each
/// variable as written (connection variables included, checked and normalised), and where
/// each host and group was first named.
struct Builder<'a> {
    label: String,
    text: &'a str,
    all_vars: Vars,
    hosts: IndexMap<String, (Vars, At)>,
    groups: IndexMap<String, (Members, At)>,
}

/// A group as it is read (sets, so that a range of many hosts adds them in linear time).
#[derive(Default)]
struct Members {
    hosts: IndexSet<String>,
    children: IndexSet<String>,
    vars: Vars,
}

impl<'a> Builder<'a> {
    fn new(path: &Path, text: &'a str) -> Self {
        Builder {
            label: display_path(path),
            text,
            all_vars: Vars::new(),
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
        }
    }

    fn error(&self, at: At, message: impl Into<String>) -> Error {
        Error::Inventory(Diagnostic::new(message).at(Location::in_text(&self.label, self.text, at.line, at.col)))
    }

    /// Declares a group (`all` is the inventory itself, not a group).
    fn add_group(&mut self, name: &str, at: At) -> Result<()> {
        if name.is_empty() {
            return Err(self.error(at, "empty group name"));
        }
        if name != "all" && !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), (Members::default(), at));
        }
        Ok(())
    }

    /// Adds a host, into `group` unless that is `all`.
    fn add_host(&mut self, group: &str, host: &str, at: At) -> Result<()> {
        if host.is_empty() {
            return Err(self.error(at, "empty host name"));
        }
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_string(), (Vars::new(), at));
        }
        if group != "all" {
            self.add_group(group, at)?;
            self.groups[group].0.hosts.insert(host.to_string());
        }
        Ok(())
    }

    fn add_child(&mut self, parent: &str, child: &str, at: At) -> Result<()> {
        if child == "all" {
            return Err(self.error(
                at,
                format!("group `all` cannot be a child of `{parent}`: it holds every host"),
            ));
        }
        if parent == "all" {
            return Ok(()); // every group is in `all`
        }
        self.groups[parent].0.children.insert(child.to_string());
        Ok(())
    }

    /// Sets a variable of a host or of a group (`all`: the inventory's),
    /// refusing the Ansible variables runbook cannot honour and checking the connection
    /// ones.
    fn set_var(&mut self, owner: Owner<'_>, key: &str, value: Value, at: At) -> Result<()> {
        if key.is_empty() {
            return Err(self.error(at, "empty variable name"));
        }
        let Some(value) = check_ansible_var(key, value).map_err(|e| self.error(at, e))? else {
            return Ok(());
        };
        let vars = match owner {
            Owner::Host(h) => &mut self.hosts[h].0,
            Owner::Group("all") => &mut self.all_vars,
            Owner::Group(g) => &mut self.groups[g].0.vars,
        };
        vars.insert(key.to_string(), value);
        Ok(())
    }

    /// Ansible's `ungrouped`: the hosts in no other group, and only those.
    fn reconcile_ungrouped(&mut self) -> Result<()> {
        let grouped: std::collections::HashSet<String> = self
            .groups
            .iter()
            .filter(|(g, _)| *g != "ungrouped")
            .flat_map(|(_, (g, _))| g.hosts.iter().cloned())
            .collect();
        if let Some((g, _)) = self.groups.get_mut("ungrouped") {
            g.hosts.retain(|h| !grouped.contains(h));
        }
        let alone: Vec<(String, At)> = self
            .hosts
            .iter()
            .filter(|(h, _)| !grouped.contains(*h))
            .map(|(h, (_, at))| (h.clone(), *at))
            .collect();
        for (h, at) in alone {
            self.add_host("ungrouped", &h, at)?;
        }
        Ok(())
    }

    fn finish(mut self, name: &str, path: &Path) -> Result<Inventory> {
        if self
            .groups
            .get("ungrouped")
            .is_some_and(|(g, _)| g.hosts.is_empty() && g.children.is_empty() && g.vars.is_empty())
        {
            self.groups.shift_remove("ungrouped");
        }

        for (host, (_, at)) in &self.hosts {
            if self.groups.contains_key(host) {
                return Err(self.error(*at, format!("`{host}` is both a group and a host")));
            }
        }
        let mut inv = Inventory {
            name: name.to_string(),
            path: path.to_path_buf(),
            vars: std::mem::take(&mut self.all_vars),
            ssh: Default::default(),
            cloud: None,
            dns: None,
            cost: Default::default(),
            hosts: self
                .hosts
                .iter()
                .map(|(h, (vars, _))| {
                    let mut spec = HostSpec::new(h, h);
                    spec.vars = vars.clone();
                    (h.clone(), spec)
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(g, (m, _))| {
                    let group = Group {
                        hosts: m.hosts.iter().cloned().collect(),
                        children: m.children.iter().cloned().collect(),
                        vars: m.vars.clone(),
                    };
                    (g.clone(), group)
                })
                .collect(),
        };
        validate::group_nesting(&inv, &self.label)?;

        connection_settings(&mut inv);
        Ok(inv)
    }
}

/// Ansible's connection variables become each host's settings, merged as
/// [`Inventory::host_vars`] merges (all, groups outer to inner and by name, the host), and
/// are variables no more. Only the groups that set one are walked, so that a large range
/// costs little.
fn connection_settings(inv: &mut Inventory) {
    let sets_one = |v: &Vars| ANSIBLE_HOST_KEYS.iter().any(|(k, _, _)| v.contains_key(*k));
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (g, group) in &inv.groups {
        for c in &group.children {
            parents.entry(c.as_str()).or_default().push(g.as_str());
        }
    }
    fn depth<'a>(g: &'a str, parents: &HashMap<&str, Vec<&'a str>>, memo: &mut HashMap<&'a str, usize>) -> usize {
        if let Some(d) = memo.get(g) {
            return *d;
        }
        let d = parents.get(g).map_or(1, |ps| {
            ps.iter().map(|p| depth(p, parents, memo) + 1).max().unwrap_or(1)
        });
        memo.insert(g, d);
        d
    }
    let mut memo = HashMap::new();
    let mut groups_of: HashMap<String, Vec<(usize, String)>> = HashMap::new();
    for (g, group) in &inv.groups {
        if sets_one(&group.vars) {
            let d = depth(g, &parents, &mut memo);
            for h in inv.group_hosts(g) {
                groups_of.entry(h).or_default().push((d, g.clone()));
            }
        }
    }
    let mut settings: Vec<(String, Vars)> = Vec::new();
    for (h, spec) in &inv.hosts {
        let mut merged = Vars::new();
        let mut take = |from: &Vars| {
            for (k, _, _) in ANSIBLE_HOST_KEYS {
                if let Some(v) = from.get(*k) {
                    merged.insert(k.to_string(), v.clone());
                }
            }
        };
        take(&inv.vars);
        let mut groups = groups_of.remove(h).unwrap_or_default();
        groups.sort();
        for (_, g) in &groups {
            take(&inv.groups[g].vars);
        }
        take(&spec.vars);
        settings.push((h.clone(), merged));
    }
    for (h, merged) in settings {
        let spec = &mut inv.hosts[&h];
        for (key, setting, _) in ANSIBLE_HOST_KEYS {
            let Some(v) = merged.get(*key) else { continue };
            let text = || scalar_text(v);
            match *setting {
                "address" => spec.address = text(),
                "port" => spec.port = v.as_u64().and_then(|p| u16::try_from(p).ok()),
                "user" => spec.user = Some(text()),
                "key" => spec.key = Some(text()),
                "connection" if text() == "local" => spec.connection = ConnectionKind::Local,
                "connection" => spec.connection = ConnectionKind::Ssh,
                _ => {}
            }
        }
    }
    let strip = |vars: &mut Vars| {
        for (key, _, _) in ANSIBLE_HOST_KEYS {
            vars.shift_remove(*key);
        }
    };
    strip(&mut inv.vars);
    inv.groups.values_mut().for_each(|g| strip(&mut g.vars));
    inv.hosts.values_mut().for_each(|h| strip(&mut h.vars));
}

/// Ansible's `group_vars/` and `host_vars/` beside the inventory file, as its
/// `host_group_vars` plugin reads them: for each group (`all` too) and each host, the first of
/// `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` there is, a directory `NAME/` standing for
/// every such file in it (in name order, recursively, hidden ones left out). Their variables
/// go over the inventory file's own for that group or host; they are checked as those are.
fn vars_dirs(b: &mut Builder<'_>, dir: &Path) -> Result<()> {
    let groups: Vec<String> = std::iter::once("all".to_string())
        .chain(b.groups.keys().cloned())
        .collect();
    let hosts: Vec<String> = b.hosts.keys().cloned().collect();
    for (sub, names, is_host) in [("group_vars", groups, false), ("host_vars", hosts, true)] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        for name in names {
            for file in vars_files(&base, &name) {
                let vars = read_vars_file(&file)?;
                let target = match (is_host, name.as_str()) {
                    (true, h) => &mut b.hosts[h].0,
                    (false, "all") => &mut b.all_vars,
                    (false, g) => &mut b.groups[g].0.vars,
                };
                target.extend(vars);
            }
        }
    }
    Ok(())
}

fn vars_files(base: &Path, name: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let file = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if file.starts_with('.') || file.ends_with('~') {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_none_or(|x| matches!(x.to_str(), Some("yml" | "yaml" | "json")))
            {
                out.push(p);
            }
        }
    }
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = base.join(format!("{name}{ext}"));
        if p.is_dir() {
            let mut out = Vec::new();
            walk(&p, &mut out);
            return out;
        }
        if p.is_file() {
            return vec![p];
        }
    }
    Vec::new()
}

/// A file of `group_vars/` or `host_vars/`: a YAML (or JSON) map of variables; errors name
/// it, its line and column.
fn read_vars_file(path: &Path) -> Result<Vars> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let b = Builder::new(path, text);
    if text.starts_with("$ANSIBLE_VAULT") {
        return Err(b.error(
            At { line: 1, col: 1 },
            "this file is encrypted with Ansible Vault, which runbook does not read: keep its secrets in runbook secrets (`secret(\"NAME\")`)",
        ));
    }
    let mut vars = Vars::new();
    let Some(root) = load_yaml(&b)? else { return Ok(vars) };
    if root.is_null() {
        return Ok(vars);
    }
    let NodeKind::Map(entries) = &root.kind else {
        return Err(b.error(
            root.at,
            format!("a variables file is a map of variables, not {}", root.what()),
        ));
    };
    for (k, v) in entries {
        let key = yaml_key(&b, k)?;
        let value = yaml_value(&b, &key, v)?;
        if let Some(value) = check_ansible_var(&key, value).map_err(|e| b.error(k.at, e))? {
            vars.insert(key, value);
        }
    }
    Ok(vars)
}

#[derive(Clone, Copy)]
enum Owner<'a> {
    Host(&'a str),
    Group(&'a str),
}

/// A scalar's text: a string as it is, anything else as JSON writes it.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks an Ansible variable: `Err` for one runbook refuses, `Ok(None)` for one that asks
/// for what runbook does anyway (dropped), else the value (a connection variable's
/// normalised: a port a number, a connection `ssh` or `local`).
fn check_ansible_var(key: &str, value: Value) -> std::result::Result<Option<Value>, String> {
    if let Some((_, why)) = ANSIBLE_REFUSED_KEYS.iter().find(|(keys, _)| keys.contains(&key)) {
        let off = matches!(&value, Value::Bool(false))
            || value.as_i64() == Some(0)
            || matches!(&value, Value::String(s) if matches!(s.to_lowercase().as_str(), "false" | "no" | "0" | "off"));
        if off && matches!(key, "ansible_become" | "ansible_sudo" | "ansible_su") {
            return Ok(None);
        }
        return Err(format!("`{key}` is an Ansible setting runbook cannot honour: {why}"));
    }
    let Some((_, setting, _)) = ANSIBLE_HOST_KEYS.iter().find(|(k, _, _)| *k == key) else {
        return Ok(Some(value));
    };
    let text = match &value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("`{key}` must be text or a number, not {}", kind_of(other))),
    };
    Ok(Some(match *setting {
        "port" => match text.trim().parse::<u16>() {
            Ok(p) if p > 0 => Value::from(p),
            _ => return Err(format!("`{key}` must be a port number (1 to 65535), not `{text}`")),
        },
        "connection" => match text.as_str() {
            "ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh" | "ansible.builtin.paramiko_ssh" => {
                Value::from("ssh")
            }
            "local" | "ansible.builtin.local" => Value::from("local"),
            other => {
                return Err(format!(
                    "`{key}={other}`: runbook connects over ssh or runs on the controller (`local`), not over `{other}`"
                ));
            }
        },
        _ if text.is_empty() => return Err(format!("`{key}` is empty")),
        _ => Value::String(text),
    }))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Refuses Jinja in a value: runbook does not expand it, so the play would get the braces.
/// Ansible's own variables that runbook does not read (`ansible_python_interpreter`) may
/// hold it: nothing sees them.
fn no_jinja(key: &str, v: &Value) -> std::result::Result<(), String> {
    if key.starts_with("ansible_") && !ANSIBLE_HOST_KEYS.iter().any(|(k, _, _)| *k == key) {
        return Ok(());
    }
    let found = match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => return a.iter().try_for_each(|x| no_jinja(key, x)),
        Value::Object(m) => return m.values().try_for_each(|x| no_jinja(key, x)),
        _ => false,
    };
    if found {
        return Err(format!(
            "variable `{key}` holds a Jinja template ({}): runbook does not expand templates in inventory variables, so the play would get these characters as they are; write the value out, or build it in the playbook",
            scalar_text(v)
        ));
    }
    Ok(())
}

// --- host patterns -----------------------------------------------------------------------

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").unwrap());
static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").unwrap());
/// A host name or IPv4 address, ranges allowed (Ansible's `parse_address`).
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let range = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";
    let label = format!(r"(?:(?:[^\W_]|{range})|(?:\w|{range})(?:[\w-]|{range})*(?:[^\W_]|{range}))");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).unwrap()
});

/// A host pattern of a host line or a YAML `hosts` key: the host names it stands for, and
/// the port written after it (`host:2222`, `[::1]:2222`), as Ansible's `_expand_hostpattern`.
fn expand_hostpattern(pattern: &str) -> std::result::Result<(Vec<String>, Option<String>), String> {
    if pattern.trim() == "---" {
        return Err("`---` is not a host: it starts a YAML document; a YAML inventory ends in .yml or .yaml".into());
    }
    let mut name = pattern.to_string();
    let mut port = None;
    let split = BRACKETED_HOSTPORT
        .captures(pattern)
        .or_else(|| HOSTPORT.captures(pattern));
    if let Some(c) = split {
        let host = &c[1];
        let valid = HOSTNAME.is_match(host) || host.parse::<std::net::IpAddr>().is_ok();
        if valid {
            name = host.to_string();
            port = Some(c[2].to_string());
        }
    }
    if port.is_none() && pattern.trim_end().ends_with(':') {
        return Err(format!(
            "host `{pattern}` ends in `:`: a port goes after it (`{}:2222`)",
            pattern.trim_end().trim_end_matches(':')
        ));
    }
    let hosts = if name.contains('[') {
        let mut out = Vec::new();
        expand_range(&name, &mut out)?;
        out
    } else {
        vec![name]
    };
    Ok((hosts, port))
}

/// Ansible's `expand_hostname_range`: the first `[begin:end(:step)]` of `name`, numeric
/// (zero-padded when `begin` is) or one letter to another, then the next, and so on.
fn expand_range(name: &str, out: &mut Vec<String>) -> std::result::Result<(), String> {
    let Some(open) = name.find('[') else {
        out.push(name.to_string());
        return Ok(());
    };
    let close = match name.find(']') {
        Some(c) if c > open => c,
        _ => return Err(format!("host `{name}` has a `[` that no `]` closes")),
    };
    let (head, range, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bad = |why: &str| format!("invalid host range `[{range}]` in `{name}`: {why}");
    let bounds: Vec<&str> = range.split(':').collect();
    if !(2..=3).contains(&bounds.len()) {
        return Err(bad("write [begin:end] or [begin:end:step]"));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(bad("it has no end"));
    }
    let step = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the step must be a whole number above 0")),
        },
    };
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(bad(
                "a zero-padded begin and its end must have the same number of digits",
            ));
        }
        begin.len()
    } else {
        0
    };
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let single_letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    let items: Vec<String> = if single_letter(begin) && single_letter(end) {
        let (b, e) = (LETTERS.find(begin).unwrap_or(0), LETTERS.find(end).unwrap_or(0));
        if b > e {
            return Err(bad(&format!("`{begin}` comes after `{end}`")));
        }
        LETTERS[b..=e].chars().step_by(step).map(String::from).collect()
    } else {
        let number = |s: &str| s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
        let (Some(b), Some(e)) = (number(begin), number(end)) else {
            return Err(bad("begin and end must both be numbers or both single letters"));
        };
        if b > e {
            return Err(bad(&format!("{b} comes after {e}")));
        }
        if (e - b) / step as u64 >= MAX_RANGE_HOSTS as u64 {
            return Err(bad(&format!("it makes more than {MAX_RANGE_HOSTS} hosts")));
        }
        (b..=e).step_by(step).map(|n| format!("{n:0width$}")).collect()
    };
    for item in items {
        expand_range(&format!("{head}{item}{tail}"), out)?;
        if out.len() > MAX_RANGE_HOSTS {
            return Err(format!("host `{name}` makes more than {MAX_RANGE_HOSTS} hosts"));
        }
    }
    Ok(())
}

// --- INI -----------------------------------------------------------------------------------

static SECTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").unwrap());
static GROUP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hosts,
    Vars,
    Children,
}

/// A reference to a group no section has declared yet (Ansible's `pending_declarations`).
enum Pending {
    /// `[g:vars]` before any `[g]` or `[g:children]`.
    Vars(At),
    /// `g` listed in `[p:children]` before any `[g]`: its parents, and where it was first listed.
    Child(Vec<String>, At),
}

/// Ansible's INI inventory: `[group]` (hosts), `[group:vars]`, `[group:children]`; lines
/// before the first section are ungrouped hosts; `#` and `;` start comment lines.
fn ini(b: &mut Builder<'_>) -> Result<()> {
    let text = b.text;
    let mut group = "ungrouped".to_string();
    let mut kind = Kind::Hosts;
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let indent = raw[..raw.len() - raw.trim_start().len()].chars().count();
        let at = At {
            line: n + 1,
            col: indent + 1,
        };
        if let Some(c) = SECTION.captures(line) {
            group = c[1].to_string();
            let tag = c.get(2).map_or("hosts", |m| m.as_str());
            kind = match tag {
                "hosts" => Kind::Hosts,
                "vars" => Kind::Vars,
                "children" => Kind::Children,
                other => {
                    let hint = suggest(other, ["hosts", "vars", "children"])
                        .map(|s| format!("; did you mean `[{group}:{s}]`?"))
                        .unwrap_or_default();
                    return Err(b.error(
                        At {
                            col: at.col + group.chars().count() + 2,
                            ..at
                        },
                        format!(
                            "unknown section kind `{other}` in `[{group}:{other}]`: a section is [GROUP], [GROUP:vars] or [GROUP:children]{hint}"
                        ),
                    ));
                }
            };
            let known = matches!(group.as_str(), "all" | "ungrouped") || b.groups.contains_key(&group);
            if !known && kind == Kind::Vars && !pending.contains_key(&group) {
                pending.insert(group.clone(), Pending::Vars(at));
            }
            b.add_group(&group, at)?;
            if kind != Kind::Vars {
                match pending.shift_remove(&group) {
                    Some(Pending::Child(parents, at)) => {
                        for p in parents {
                            b.add_child(&p, &group, at)?;
                        }
                    }
                    Some(Pending::Vars(_)) | None => {}
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(b.error(
                at,
                format!("invalid section `{line}`: a section is [GROUP], [GROUP:vars] or [GROUP:children], and a group name has no spaces"),
            ));
        }
        match kind {
            Kind::Hosts => ini_host_line(b, &group, raw, at)?,
            Kind::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(b.error(at, format!("expected key=value in [{group}:vars], got `{line}`")));
                };
                let (k, v) = (k.trim(), v.trim());
                let value = ini_value(v).map_err(|e| b.error(at, format!("variable `{k}`: {e}")))?;
                no_jinja(k, &value).map_err(|e| b.error(at, e))?;
                b.set_var(Owner::Group(&group), k, value, at)?;
            }
            Kind::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    return Err(b.error(at, format!("expected a group name in [{group}:children], got `{line}`")));
                };
                let child = c[1].to_string();
                if child == "ungrouped" {
                    b.add_group(&child, at)?;
                }
                if child == "all" || b.groups.contains_key(&child) {
                    b.add_child(&group, &child, at)?;
                } else {
                    match pending.entry(child).or_insert_with(|| Pending::Child(Vec::new(), at)) {
                        Pending::Child(parents, _) => parents.push(group.clone()),
                        Pending::Vars(_) => {}
                    }
                }
            }
        }
    }
    if let Some((g, p)) = pending.first() {
        let known: Vec<&str> = b
            .groups
            .keys()
            .map(String::as_str)
            .filter(|k| !pending.contains_key(*k))
            .collect();
        let hint = suggest(g, known.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(match p {
            Pending::Vars(at) => b.error(
                *at,
                format!(
                    "section [{g}:vars] is for group `{g}`, which no [{g}] or [{g}:children] section declares{hint}"
                ),
            ),
            Pending::Child(parents, at) => b.error(
                *at,
                format!("group `{}` has unknown child group `{g}`{hint}", parents[0]),
            ),
        });
    }
    Ok(())
}

/// `host[range][:port] key=value …`
fn ini_host_line(b: &mut Builder<'_>, group: &str, raw: &str, at: At) -> Result<()> {
    let words = shlex_split(raw).map_err(|e| b.error(at, format!("invalid host line: {e}")))?;
    let Some((pattern, assignments)) = words.split_first() else {
        return Ok(());
    };
    let (hosts, port) = expand_hostpattern(pattern).map_err(|e| b.error(at, e))?;
    let mut vars: Vec<(String, Value, At)> = Vec::new();
    let mut from = raw.len() - raw.trim_start().len() + pattern.len();
    for word in assignments {
        let Some((k, v)) = word.split_once('=') else {
            return Err(b.error(at, format!("expected key=value after the host, got `{word}`")));
        };
        // Where the key is written, for messages (quotes may make it differ).
        let col_at = raw[from..].find(k).map_or(at, |i| {
            from += i + k.len();
            At {
                col: raw[..from - k.len()].chars().count() + 1,
                ..at
            }
        });
        let value = ini_value(v).map_err(|e| b.error(col_at, format!("variable `{k}`: {e}")))?;
        no_jinja(k, &value).map_err(|e| b.error(col_at, e))?;
        vars.push((k.to_string(), value, col_at));
    }
    for h in &hosts {
        b.add_host(group, h, at)?;
        if let Some(p) = &port {
            b.set_var(Owner::Host(h), "ansible_port", Value::String(p.clone()), at)?;
        }
        for (k, v, col_at) in &vars {
            b.set_var(Owner::Host(h), k, v.clone(), *col_at)?;
        }
    }
    Ok(())
}

/// An INI value: a Python literal's value, else the text as written.
fn ini_value(v: &str) -> std::result::Result<Value, String> {
    match literal_eval(v) {
        Some(py) => to_json(py),
        None => Ok(Value::String(v.to_string())),
    }
}

// --- YAML ----------------------------------------------------------------------------------

/// A YAML node with where it starts.
#[derive(Debug, Clone)]
struct Node {
    at: At,
    kind: NodeKind,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Scalar {
        text: String,
        style: ScalarStyle,
        tag: Option<Tag>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, style: ScalarStyle::Plain, tag: None } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The text of a scalar (a key, a name).
    fn text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    fn what(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }
}

fn at_of(span: &Span) -> At {
    At {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

enum Frame {
    Seq(Vec<Node>, At, usize),
    Map(Vec<(Node, Node)>, Option<Node>, At, usize),
}

/// The one document of a YAML file as nodes (aliases copied, `<<` merged), `None` when
/// the file holds no document.
fn load_yaml(b: &Builder<'_>) -> Result<Option<Node>> {
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut copies = 0usize;
    for event in Parser::new_from_str(b.text) {
        let (event, span) = event.map_err(|e| {
            b.error(
                At {
                    line: e.marker().line(),
                    col: e.marker().col() + 1,
                },
                format!("invalid inventory {}: {}", b.label, e.info()),
            )
        })?;
        let at = at_of(&span);
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(b.error(at, "a YAML inventory is one document; this is a second one"));
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => Some((
                Node {
                    at,
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        style,
                        tag: tag.map(|t| t.into_owned()),
                    },
                },
                anchor,
            )),
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| b.error(at, "an alias to an unknown anchor"))?;
                copies += count(&node);
                if copies > 1_000_000 {
                    return Err(b.error(at, "aliases here make more than a million nodes"));
                }
                Some((node, 0))
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if let Some(t) = tag
                    .as_ref()
                    .filter(|t| !(t.is_yaml_core_schema() && matches!(t.suffix.as_str(), "map" | "seq")))
                {
                    return Err(b.error(at, format!("unknown YAML tag `{t}`")));
                }
                if stack.len() >= MAX_YAML_DEPTH {
                    return Err(b.error(at, format!("YAML nested deeper than {MAX_YAML_DEPTH} levels")));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), at, anchor)
                } else {
                    Frame::Map(Vec::new(), None, at, anchor)
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, at, anchor)) => Some((
                    Node {
                        at,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, at, anchor)) => Some((
                    Node {
                        at,
                        kind: NodeKind::Map(merge_keys(b, entries)?),
                    },
                    anchor,
                )),
                _ => None,
            },
            _ => None,
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, key, ..)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => root = Some(node),
        }
    }
    Ok(root)
}

fn count(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Scalar { .. } => 0,
        NodeKind::Seq(items) => items.iter().map(count).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(k, v)| count(k) + count(v)).sum(),
    }
}

/// YAML 1.1 merge keys (`<<: *defaults`), as PyYAML does them: the merged maps' entries
/// first, the map's own over them; and no key twice.
fn merge_keys(b: &Builder<'_>, entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>> {
    let is_merge =
        |k: &Node| matches!(&k.kind, NodeKind::Scalar { text, style: ScalarStyle::Plain, tag: None } if text == "<<");
    let mut merged: Vec<(Node, Node)> = Vec::new();
    let mut own: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let maps = match v.kind {
            NodeKind::Map(m) => vec![m],
            NodeKind::Seq(items) => items
                .into_iter()
                .map(|i| match i.kind {
                    NodeKind::Map(m) => Ok(m),
                    _ => Err(b.error(i.at, "`<<` merges maps; this is not one")),
                })
                .collect::<Result<_>>()?,
            _ => return Err(b.error(v.at, "`<<` merges maps; this is not one")),
        };
        for m in maps {
            for (mk, mv) in m {
                if !merged.iter().any(|(x, _)| x.text() == mk.text()) {
                    merged.push((mk, mv));
                }
            }
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (k, _) in &own {
        let Some(text) = k.text() else { continue };
        if let Some(line) = seen.insert(text, k.at.line) {
            return Err(b.error(k.at, format!("duplicate key `{text}` (first at line {line})")));
        }
    }
    merged.retain(|(mk, _)| mk.text().is_none_or(|t| !seen.contains_key(t)));
    merged.extend(own);
    Ok(merged)
}

/// Ansible's YAML inventory: a map of groups (`all` among them, or not), each a map of
/// `hosts` (a map of host patterns to their variables, or nothing), `vars` and `children`
/// (a map of groups, nested to any depth).
fn yaml(b: &mut Builder<'_>) -> Result<()> {
    let Some(root) = load_yaml(b)? else { return Ok(()) };
    if root.is_null() {
        return Ok(());
    }
    let NodeKind::Map(groups) = &root.kind else {
        return Err(b.error(
            root.at,
            format!(
                "an Ansible YAML inventory is a map of groups (`all:`, `webservers:`, …), not {}",
                root.what()
            ),
        ));
    };
    if let Some((_, plugin)) = groups.iter().find(|(k, _)| k.text() == Some("plugin")) {
        return Err(b.error(
            plugin.at,
            format!(
                "this configures Ansible's `{}` inventory plugin: it is not an inventory; runbook reads INI and YAML inventories, and discovers cloud hosts with `[cloud]` in a TOML one",
                plugin.text().unwrap_or("?")
            ),
        ));
    }
    for (name, data) in groups {
        yaml_group(b, name, data)?;
    }
    Ok(())
}

fn yaml_group(b: &mut Builder<'_>, name: &Node, data: &Node) -> Result<String> {
    let Some(group) = name.text().map(str::to_string) else {
        return Err(b.error(name.at, format!("a group name must be text, not {}", name.what())));
    };
    b.add_group(&group, name.at)?;
    if data.is_null() {
        return Ok(group);
    }
    let NodeKind::Map(sections) = &data.kind else {
        return Err(b.error(
            data.at,
            format!(
                "group `{group}` must be a map (with hosts, children and vars) or nothing, not {}",
                data.what()
            ),
        ));
    };
    for (key, value) in sections {
        let section = key.text().unwrap_or_default();
        if !matches!(section, "hosts" | "children" | "vars") {
            let hint = suggest(section, ["hosts", "children", "vars"])
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(b.error(
                key.at,
                format!("unknown key `{section}` in group `{group}`: a group has hosts, children and vars{hint}"),
            ));
        }
        if value.is_null() {
            continue;
        }
        // `hosts: web1` is `hosts: {web1: }`, as in Ansible.
        let single;
        let entries: &[(Node, Node)] = match &value.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Scalar { .. } if section != "vars" => {
                single = [(
                    value.clone(),
                    Node {
                        at: value.at,
                        kind: NodeKind::Scalar {
                            text: String::new(),
                            style: ScalarStyle::Plain,
                            tag: None,
                        },
                    },
                )];
                &single
            }
            _ => {
                let hint = if section == "hosts" && matches!(value.kind, NodeKind::Seq(_)) {
                    ": write each host as a key, `web1:` on a line of its own"
                } else {
                    ""
                };
                return Err(b.error(
                    value.at,
                    format!(
                        "`{section}` of group `{group}` must be a map, not {}{hint}",
                        value.what()
                    ),
                ));
            }
        };
        match section {
            "vars" => {
                for (k, v) in entries {
                    let key = yaml_key(b, k)?;
                    let value = yaml_value(b, &key, v)?;
                    b.set_var(Owner::Group(&group), &key, value, k.at)?;
                }
            }
            "children" => {
                for (k, v) in entries {
                    let child = yaml_group(b, k, v)?;
                    b.add_child(&group, &child, k.at)?;
                }
            }
            _ => {
                for (k, v) in entries {
                    let Some(pattern) = k.text() else {
                        return Err(b.error(k.at, format!("a host name must be text, not {}", k.what())));
                    };
                    let (hosts, port) = expand_hostpattern(pattern).map_err(|e| b.error(k.at, e))?;
                    let vars: &[(Node, Node)] = match &v.kind {
                        _ if v.is_null() => &[],
                        NodeKind::Map(vars) => vars,
                        _ => {
                            return Err(b.error(
                                v.at,
                                format!(
                                    "host `{pattern}` of group `{group}` must have a map of variables or nothing, not {}",
                                    v.what()
                                ),
                            ));
                        }
                    };
                    let mut typed = Vec::new();
                    for (vk, vv) in vars {
                        let key = yaml_key(b, vk)?;
                        typed.push((key.clone(), yaml_value(b, &key, vv)?, vk.at));
                    }
                    for h in &hosts {
                        b.add_host(&group, h, k.at)?;
                        if let Some(p) = &port {
                            b.set_var(Owner::Host(h), "ansible_port", Value::String(p.clone()), k.at)?;
                        }
                        for (key, value, at) in &typed {
                            b.set_var(Owner::Host(h), key, value.clone(), *at)?;
                        }
                    }
                }
            }
        }
    }
    Ok(group)
}

fn yaml_key(b: &Builder<'_>, k: &Node) -> Result<String> {
    k.text()
        .map(str::to_string)
        .ok_or_else(|| b.error(k.at, format!("a variable name must be text, not {}", k.what())))
}

/// A variable's value: YAML 1.1 scalars as PyYAML types them, lists, maps; no Jinja
/// outside `!unsafe`.
fn yaml_value(b: &Builder<'_>, key: &str, node: &Node) -> Result<Value> {
    let (value, unsafe_) = to_value(b, node)?;
    if !unsafe_ {
        no_jinja(key, &value).map_err(|e| b.error(node.at, e))?;
    }
    Ok(value)
}

/// The value of a node, and whether it is all `!unsafe` (Ansible does not template it).
fn to_value(b: &Builder<'_>, node: &Node) -> Result<(Value, bool)> {
    Ok(match &node.kind {
        NodeKind::Scalar { text, style, tag } => scalar(b, node.at, text, *style, tag.as_ref())?,
        NodeKind::Seq(items) => {
            let mut all_unsafe = !items.is_empty();
            let mut out = Vec::new();
            for i in items {
                let (v, u) = to_value(b, i)?;
                all_unsafe &= u;
                out.push(v);
            }
            (Value::Array(out), all_unsafe)
        }
        NodeKind::Map(entries) => {
            let mut all_unsafe = !entries.is_empty();
            let mut out = Vars::new();
            for (k, v) in entries {
                let key = yaml_key(b, k)?;
                let (v, u) = to_value(b, v)?;
                all_unsafe &= u;
                out.insert(key, v);
            }
            (Value::Object(out), all_unsafe)
        }
    })
}

static YAML_INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$").unwrap()
});
static YAML_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$").unwrap()
});

/// A scalar as PyYAML's YAML 1.1 resolver and Ansible's loader make it.
fn scalar(b: &Builder<'_>, at: At, text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<(Value, bool)> {
    let fail = |e: String| b.error(at, e);
    let wanted = match tag {
        None if style != ScalarStyle::Plain => return Ok((Value::String(text.to_string()), false)),
        None => None,
        Some(t) if t.handle == "!" && t.suffix == "unsafe" => return Ok((Value::String(text.to_string()), true)),
        Some(t) if t.handle == "!" && t.suffix == "vault" => {
            return Err(fail(
                "this value is encrypted with Ansible Vault, which runbook does not read: keep it in a runbook secret (`secret(\"NAME\")`)".into(),
            ));
        }
        Some(t) if t.is_yaml_core_schema() && t.suffix == "str" => return Ok((Value::String(text.to_string()), false)),
        Some(t) if t.is_yaml_core_schema() && matches!(t.suffix.as_str(), "int" | "float" | "bool" | "null") => {
            Some(t.suffix.as_str())
        }
        Some(t) => return Err(fail(format!("unknown YAML tag `{t}`"))),
    };
    let is_null = matches!(text, "" | "~" | "null" | "Null" | "NULL");
    let boolean = match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    };
    let value = match wanted {
        None | Some("null") if is_null => Value::Null,
        None | Some("bool") if boolean.is_some() => Value::Bool(boolean.unwrap_or_default()),
        None | Some("int") if YAML_INT.is_match(text) => yaml_int(text).map_err(fail)?,
        None | Some("float") if YAML_FLOAT.is_match(text) => yaml_float(text).map_err(fail)?,
        Some("float") if YAML_INT.is_match(text) => yaml_float(text).map_err(fail)?,
        None => Value::String(text.to_string()),
        Some(t) => return Err(fail(format!("`{text}` is not a valid !!{t}"))),
    };
    Ok((value, false))
}

fn yaml_int(text: &str) -> std::result::Result<Value, String> {
    let t = text.replace('_', "");
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    let magnitude: Option<i128> = if digits == "0" {
        Some(0)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if digits.starts_with('0') {
        i128::from_str_radix(digits, 8).ok()
    } else if digits.contains(':') {
        digits.split(':').try_fold(0i128, |acc, part| {
            Some(acc.checked_mul(60)? + part.parse::<i128>().ok()?)
        })
    } else {
        digits.parse().ok()
    };
    magnitude
        .map(|m| if negative { -m } else { m })
        .and_then(|v| i64::try_from(v).ok())
        .map(Value::from)
        .ok_or_else(|| {
            format!(
                "the integer {text} is out of range (scripts take integers from {} to {})",
                i64::MIN,
                i64::MAX
            )
        })
}

fn yaml_float(text: &str) -> std::result::Result<Value, String> {
    let t = text.replace('_', "").to_lowercase();
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, &t[..]),
    };
    let f: f64 = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        f64::NAN
    } else if body.contains(':') {
        body.split(':')
            .fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap_or(0.0))
    } else {
        body.parse().map_err(|_| format!("`{text}` is not a number"))?
    };
    serde_json::Number::from_f64(sign * f)
        .map(Value::Number)
        .ok_or_else(|| format!("`{text}` is a number no variable can hold"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        let expand = |p: &str| expand_hostpattern(p).map(|(h, port)| (h.join(" "), port));
        let ok = |p: &str, hosts: &str| assert_eq!(expand(p), Ok((hosts.to_string(), None)), "{p}");
        ok(
            "www[01:03].example.com",
            "www01.example.com www02.example.com www03.example.com",
        );
        ok("www[01:09:4].x", "www01.x www05.x www09.x");
        ok("db-[a:c].x", "db-a.x db-b.x db-c.x");
        ok("n[:2]", "n0 n1 n2");
        ok("r[1:2]c[a:b]", "r1ca r1cb r2ca r2cb");
        ok("[y:B]", "y z A B");
        ok("10.0.0.[1:3]", "10.0.0.1 10.0.0.2 10.0.0.3");
        assert_eq!(
            expand("badwolf.example.com:5309"),
            Ok(("badwolf.example.com".into(), Some("5309".into())))
        );
        assert_eq!(expand("web[1:2]:22"), Ok(("web1 web2".into(), Some("22".into()))));
        assert_eq!(expand("[::1]:2222"), Ok(("::1".into(), Some("2222".into()))));
        assert_eq!(expand("2001:db8::1"), Ok(("2001:db8::1".into(), None)));
        let err = |p: &str| expand_hostpattern(p).unwrap_err();
        assert_eq!(err("web[1:]"), "invalid host range `[1:]` in `web[1:]`: it has no end");
        assert_eq!(
            err("web[01:5]"),
            "invalid host range `[01:5]` in `web[01:5]`: a zero-padded begin and its end must have the same number of digits"
        );
        assert_eq!(
            err("web[5:1]"),
            "invalid host range `[5:1]` in `web[5:1]`: 5 comes after 1"
        );
        assert_eq!(
            err("db-[f:a]"),
            "invalid host range `[f:a]` in `db-[f:a]`: `f` comes after `a`"
        );
        assert_eq!(
            err("web[1:x]"),
            "invalid host range `[1:x]` in `web[1:x]`: begin and end must both be numbers or both single letters"
        );
        assert_eq!(
            err("web[1:9:0]"),
            "invalid host range `[1:9:0]` in `web[1:9:0]`: the step must be a whole number above 0"
        );
        assert_eq!(
            err("web[1-9]"),
            "invalid host range `[1-9]` in `web[1-9]`: write [begin:end] or [begin:end:step]"
        );
        assert_eq!(err("web[1:9"), "host `web[1:9` has a `[` that no `]` closes");
        assert_eq!(
            err("web[0:99999999]"),
            "invalid host range `[0:99999999]` in `web[0:99999999]`: it makes more than 100000 hosts"
        );
        assert_eq!(
            err("web:"),
            "host `web:` ends in `:`: a port goes after it (`web:2222`)"
        );
    }

    #[test]
    fn yaml_scalars_are_typed_like_pyyaml() {
        let path = Path::new("t.yml");
        let b = Builder::new(path, "");
        let at = At { line: 1, col: 1 };
        let v = |t: &str| scalar(&b, at, t, ScalarStyle::Plain, None).unwrap().0;
        assert_eq!(v("yes"), Value::Bool(true));
        assert_eq!(v("Off"), Value::Bool(false));
        assert_eq!(v("y"), Value::from("y"));
        assert_eq!(v("0755"), Value::from(493));
        assert_eq!(v("0o755"), Value::from("0o755"));
        assert_eq!(v("0x1f"), Value::from(31));
        assert_eq!(v("1_000"), Value::from(1000));
        assert_eq!(v("1:30"), Value::from(90));
        assert_eq!(v("-42"), Value::from(-42));
        assert_eq!(v("1.5"), serde_json::json!(1.5));
        assert_eq!(v("1.0e+3"), serde_json::json!(1000.0));
        assert_eq!(v("1e3"), Value::from("1e3"));
        assert_eq!(v("~"), Value::Null);
        assert_eq!(v("2024-01-31"), Value::from("2024-01-31"));
        assert_eq!(v("1.10"), serde_json::json!(1.1));
        let quoted = scalar(&b, at, "yes", ScalarStyle::DoubleQuoted, None).unwrap().0;
        assert_eq!(quoted, Value::from("yes"));
        let e = scalar(&b, at, ".inf", ScalarStyle::Plain, None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`.inf` is a number no variable can hold"), "{e}");
    }
}
