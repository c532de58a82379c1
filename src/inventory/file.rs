//! The TOML file format of an inventory, and its validation with line:col errors.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::ansible;
use super::model::{ConnectionKind, Group, HostSpec, Inventory, Vars};
use super::settings::{CloudSettings, DnsSettings, SshSettings};
use super::validate;
use crate::error::{Diagnostic, Error, Location, Result, display_path};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    vars: toml::Table,
    #[serde(default)]
    ssh: SshSettings,
    #[serde(default)]
    groups: IndexMap<String, GroupModel>,
    #[serde(default)]
    hosts: IndexMap<String, HostModel>,
    cloud: Option<CloudSettings>,
    dns: Option<DnsSettings>,
    cost: Option<crate::cost::settings::RawCost>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GroupModel {
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    #[serde(default)]
    children: Vec<Spanned<String>>,
    #[serde(default)]
    vars: toml::Table,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HostModel {
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    connection: Option<ConnectionKind>,
    key: Option<String>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    #[serde(default)]
    vars: toml::Table,
}

/// Reading an inventory: beside the format it parses (`model` defines the type and knows
/// nothing of files).
impl Inventory {
    /// Finds the inventory file for `name_or_path`: an existing path, else
    /// `inventory/NAME.toml` (then `.ini`, `.yml`, `.yaml`: Ansible's formats), else the
    /// same in `examples/inventory/`.
    pub fn locate(name_or_path: &str) -> Result<PathBuf> {
        let direct = PathBuf::from(name_or_path);
        if direct.is_file() {
            return Ok(direct);
        }
        if direct.is_dir() {
            return Err(Error::Usage(format!(
                "inventory {} is a directory: give an inventory file (e.g. {}/NAME.toml) or a name",
                direct.display(),
                direct.display()
            )));
        }
        let candidates: Vec<PathBuf> = ["inventory", "examples/inventory"]
            .iter()
            .flat_map(|dir| {
                std::iter::once("toml")
                    .chain(ansible::EXTENSIONS.iter().copied())
                    .map(move |ext| PathBuf::from(dir).join(format!("{name_or_path}.{ext}")))
            })
            .collect();
        candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            Error::Usage(format!(
                "inventory `{name_or_path}` not found: looked for {}, {} and {} (or .ini, .yml, .yaml for an Ansible inventory)",
                direct.display(),
                candidates[0].display(),
                candidates[ansible::EXTENSIONS.len() + 1].display()
            ))
        })
    }

    pub fn load(name_or_path: &str) -> Result<Inventory> {
        let path = Self::locate(name_or_path)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::read_file(&path, e))?;
        let name = if Path::new(name_or_path).is_file() {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            name_or_path.to_string()
        };
        Self::parse(&name, &path, &text)
    }

    /// Reads an inventory's text in the format its file name says: Ansible's INI (`.ini`)
    /// or YAML (`.yml`, `.yaml`), else runbook's TOML.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Inventory> {
        match ansible::format_of(path) {
            Some(format) => ansible::parse(format, name, path, text),
            None => parse(name, path, text),
        }
    }
}

fn parse(name: &str, path: &Path, text: &str) -> Result<Inventory> {
    let label = display_path(path);
    let invalid = |e: String| Error::Inventory(Diagnostic::new(format!("invalid inventory {label}: {e}")));
    let model: FileModel = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let message = format!("invalid inventory {label}: {}", e.message().trim_end());
        let mut d = Diagnostic::new(message).at(Location::at_offset(&label, text, offset));
        if path.extension().is_none_or(|x| x != "toml") {
            d = d.note(
                "an inventory is read as TOML unless its name ends in .ini (Ansible's INI format) or .yml/.yaml (Ansible's YAML)",
            );
        }
        Error::Inventory(d)
    })?;

    let mut inv = Inventory {
        name: name.to_string(),
        path: path.to_path_buf(),
        vars: to_vars(model.vars).map_err(invalid)?,
        ssh: model.ssh,
        cloud: model.cloud,
        dns: model.dns,
        cost: match model.cost {
            Some(raw) => crate::cost::settings::parse(raw, &label, text)?,
            None => Default::default(),
        },
        hosts: IndexMap::new(),
        groups: IndexMap::new(),
    };

    if let Some(c) = inv
        .cloud
        .as_ref()
        .filter(|c| !matches!(c.address.as_deref(), None | Some("public") | Some("private")))
    {
        return Err(Error::Inventory(Diagnostic::new(format!(
            "invalid inventory {label}: [cloud] address must be \"public\" or \"private\", not {:?}",
            c.address.as_deref().unwrap_or("")
        ))));
    }

    for (host, h) in model.hosts {
        let spec = HostSpec {
            address: h.address.unwrap_or_else(|| host.clone()),
            port: h.port,
            user: h.user,
            connection: h.connection.unwrap_or(ConnectionKind::Ssh),
            key: h.key,
            private_ip: h.private_ip,
            public_ip: h.public_ip,
            vars: to_vars(h.vars).map_err(|e| invalid(format!("[hosts.{host}.vars]: {e}")))?,
            pending: false,
            name: host.clone(),
        };
        inv.hosts.insert(host, spec);
    }

    if model.groups.contains_key("all") {
        let g = &model.groups["all"];
        if let Some(first) = g.hosts.first().or(g.children.first()) {
            return Err(inv.error_at(
                text,
                first.span().start,
                "group `all` is implicit: it always holds every host",
            ));
        }
    }

    // Hosts named only in groups exist too, with their name as address.
    for g in model.groups.values() {
        for h in &g.hosts {
            let host = h.get_ref();
            if host.is_empty() {
                return Err(inv.error_at(text, h.span().start, "empty host name"));
            }
            if model.groups.contains_key(host) {
                return Err(inv.error_at(
                    text,
                    h.span().start,
                    format!("`{host}` is a group; list it in `children`"),
                ));
            }
            if !inv.hosts.contains_key(host) {
                inv.hosts.insert(host.clone(), implicit_host(host));
            }
        }
    }
    for (gname, g) in &model.groups {
        if inv.hosts.contains_key(gname) {
            return Err(Error::Inventory(Diagnostic::new(format!(
                "invalid inventory {label}: `{gname}` is both a group and a host"
            ))));
        }
        for c in &g.children {
            if !model.groups.contains_key(c.get_ref()) {
                return Err(inv.error_at(
                    text,
                    c.span().start,
                    format!("group `{gname}` has unknown child group `{}`", c.get_ref()),
                ));
            }
        }
    }
    for (gname, g) in model.groups {
        let group = Group {
            hosts: g.hosts.into_iter().map(Spanned::into_inner).collect(),
            children: g.children.into_iter().map(Spanned::into_inner).collect(),
            vars: to_vars(g.vars).map_err(|e| invalid(format!("[groups.{gname}.vars]: {e}")))?,
        };
        inv.groups.insert(gname, group);
    }
    validate::group_nesting(&inv, &label)?;
    Ok(inv)
}

fn implicit_host(name: &str) -> HostSpec {
    HostSpec::new(name, name)
}

/// TOML tables become JSON maps, every value as written; dates become their TOML text
/// (`1979-05-27T07:32:00Z`). A float JSON cannot hold (nan, inf) is an error naming its key.
pub(super) fn to_vars(table: toml::Table) -> std::result::Result<Vars, String> {
    fn value(path: &str, v: toml::Value) -> std::result::Result<serde_json::Value, String> {
        use serde_json::Value as J;
        Ok(match v {
            toml::Value::String(s) => J::String(s),
            toml::Value::Integer(i) => J::from(i),
            toml::Value::Float(f) => serde_json::Number::from_f64(f)
                .map(J::Number)
                .ok_or_else(|| format!("variable `{path}` is {f}, which a variable cannot hold"))?,
            toml::Value::Boolean(b) => J::Bool(b),
            toml::Value::Datetime(d) => J::String(d.to_string()),
            toml::Value::Array(a) => J::Array(
                a.into_iter()
                    .enumerate()
                    .map(|(i, v)| value(&format!("{path}[{i}]"), v))
                    .collect::<std::result::Result<_, _>>()?,
            ),
            toml::Value::Table(t) => J::Object(
                t.into_iter()
                    .map(|(k, v)| Ok((k.clone(), value(&format!("{path}.{k}"), v)?)))
                    .collect::<std::result::Result<_, String>>()?,
            ),
        })
    }
    table.into_iter().map(|(k, v)| Ok((k.clone(), value(&k, v)?))).collect()
}
