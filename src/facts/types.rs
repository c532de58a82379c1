//! The kinds of facts and their values: what a probe reads and an operation predicts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FactKey {
    File(String),
    Package(String),
    Service(String),
    User(String),
    Group(String),
    Ufw,
    Os,
    Init,
}

/// `file:/etc/motd`, `package:nginx`, `ufw`: how tests and messages name a fact; the
/// inverse of `FactKey::parse`.
impl std::fmt::Display for FactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactKey::File(a) => write!(f, "file:{a}"),
            FactKey::Package(a) => write!(f, "package:{a}"),
            FactKey::Service(a) => write!(f, "service:{a}"),
            FactKey::User(a) => write!(f, "user:{a}"),
            FactKey::Group(a) => write!(f, "group:{a}"),
            FactKey::Ufw => f.write_str("ufw"),
            FactKey::Os => f.write_str("os"),
            FactKey::Init => f.write_str("init"),
        }
    }
}

impl FactKey {
    /// `file:/etc/motd` → `FactKey::File("/etc/motd")`.
    pub fn parse(text: &str) -> Result<FactKey, String> {
        match text.split_once(':') {
            Some((kind, arg)) => key_for(kind, Some(arg)),
            None => key_for(text, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    #[default]
    Missing,
    File,
    Dir,
    Link,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileFact {
    pub kind: FileKind,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Scripts see it as the string options take (`"0644"`), never as a number.
    #[serde(serialize_with = "mode_text", deserialize_with = "mode_of_text")]
    pub mode: Option<u32>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub link_target: Option<String>,
    /// The file's bytes: predicted (an earlier write of a dry run or of the same batch),
    /// or read with the facts when the file is small (`probe::CONTENT_MAX`), for edits.
    #[serde(skip)]
    pub content: Option<Arc<Vec<u8>>>,
    /// Dry-run overlay only: an edit of a file that a planned package brings; what the file
    /// will hold is known only after apply (no `sha256`, `size` or `content`).
    #[serde(skip)]
    pub content_unknown: bool,
}

fn mode_text<S: serde::Serializer>(mode: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match mode {
        Some(m) => s.serialize_str(&format!("{m:04o}")),
        None => s.serialize_none(),
    }
}

fn mode_of_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    text.map(|t| u32::from_str_radix(&t, 8).map_err(serde::de::Error::custom))
        .transpose()
}

impl FileFact {
    pub fn missing() -> Self {
        FileFact {
            kind: FileKind::Missing,
            owner: None,
            group: None,
            mode: None,
            size: None,
            sha256: None,
            link_target: None,
            content: None,
            content_unknown: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PackageFact {
    pub installed: bool,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceFact {
    pub exists: bool,
    pub active: bool,
    pub enabled: bool,
    /// Masked (`systemctl mask`): it cannot be started or enabled until unmasked.
    pub masked: bool,
    /// Its files changed since systemd read them: `systemctl daemon-reload` is due.
    pub need_reload: bool,
    /// When it last became active (Unix seconds), while it is active.
    pub active_since: Option<u64>,
    /// When its files under /etc/systemd/system (the unit, its `.d/*.conf` drop-ins) were
    /// last written (Unix seconds); none when it has none there.
    pub written: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserFact {
    pub exists: bool,
    pub uid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// Supplementary groups (the primary group first, as `id -nG` prints them).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupFact {
    pub exists: bool,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UfwFact {
    pub installed: bool,
    pub enabled: bool,
    /// `deny`, `allow` or `reject`, from /etc/default/ufw.
    pub default_incoming: String,
    pub default_outgoing: String,
    /// Rules as `ufw show added` prints them, without the leading `ufw `.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OsFact {
    pub id: String,
    pub version_id: String,
    pub codename: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Fact {
    File(FileFact),
    Package(PackageFact),
    Service(ServiceFact),
    User(UserFact),
    Group(GroupFact),
    Ufw(UfwFact),
    Os(OsFact),
    /// `systemd` or `sysv`.
    Init(String),
}

impl Fact {
    /// The fact of kind `key` from its JSON form (recorded facts in tests, as `h.fact`
    /// shows them).
    pub fn from_json(key: &FactKey, v: serde_json::Value) -> Result<Fact, String> {
        let e = |e: serde_json::Error| format!("{key}: {e}");
        Ok(match key {
            FactKey::File(_) => Fact::File(serde_json::from_value(v).map_err(e)?),
            FactKey::Package(_) => Fact::Package(serde_json::from_value(v).map_err(e)?),
            FactKey::Service(_) => Fact::Service(serde_json::from_value(v).map_err(e)?),
            FactKey::User(_) => Fact::User(serde_json::from_value(v).map_err(e)?),
            FactKey::Group(_) => Fact::Group(serde_json::from_value(v).map_err(e)?),
            FactKey::Ufw => Fact::Ufw(serde_json::from_value(v).map_err(e)?),
            FactKey::Os => Fact::Os(serde_json::from_value(v).map_err(e)?),
            FactKey::Init => Fact::Init(serde_json::from_value(v).map_err(e)?),
        })
    }
}

/// `h.fact(name, arg)` for scripts.
pub fn key_for(name: &str, arg: Option<&str>) -> Result<FactKey, String> {
    let need = |what: &str| {
        arg.map(str::to_string)
            .ok_or_else(|| format!("fact({name:?}) needs {what}"))
    };
    Ok(match name {
        "file" => FactKey::File(need("a path")?),
        "package" => FactKey::Package(need("a package name")?),
        "service" => FactKey::Service(need("a unit name")?),
        "user" => FactKey::User(need("a user name")?),
        "group" => FactKey::Group(need("a group name")?),
        "ufw" => FactKey::Ufw,
        "os" => FactKey::Os,
        "init" => FactKey::Init,
        _ => {
            return Err(format!(
                "unknown fact {name:?} (known: file, package, service, user, group, ufw, os, init)"
            ));
        }
    })
}
