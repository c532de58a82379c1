//! Facts: what a host looks like now, read by typed, read-only probes. Several facts are
//! read in one round trip; they are cached for the step, dropped when an operation changes
//! them, and in a dry run an *overlay* holds what earlier operations would have made them,
//! so later operations plan against the predicted state.

mod probe;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::connection::ExecRequest;
use crate::host::Host;
use crate::shell::Become;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Missing,
    File,
    Dir,
    Link,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFact {
    pub kind: FileKind,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Scripts see it as the string options take (`"0644"`), never as a number.
    #[serde(serialize_with = "mode_text")]
    pub mode: Option<u32>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub link_target: Option<String>,
    /// Predicted content (dry-run overlay only), for operations that edit the file later.
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageFact {
    pub installed: bool,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceFact {
    pub exists: bool,
    pub active: bool,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserFact {
    pub exists: bool,
    pub uid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// Supplementary groups (the primary group first, as `id -nG` prints them).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupFact {
    pub exists: bool,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UfwFact {
    pub installed: bool,
    pub enabled: bool,
    /// `deny`, `allow` or `reject`, from /etc/default/ufw.
    pub default_incoming: String,
    pub default_outgoing: String,
    /// Rules as `ufw show added` prints them, without the leading `ufw `.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Per-host fact state: the step's cache and the dry run's overlay.
#[derive(Default)]
pub struct FactStore {
    cache: Mutex<HashMap<FactKey, Fact>>,
    overlay: Mutex<HashMap<FactKey, Fact>>,
    /// A dry run planned package installs: files those packages bring cannot be predicted.
    packages_pending: Mutex<Vec<String>>,
}

impl FactStore {
    pub fn begin_step(&self) {
        self.cache.lock().unwrap().clear();
    }

    fn known(&self, key: &FactKey) -> Option<Fact> {
        if let Some(f) = self.overlay.lock().unwrap().get(key) {
            return Some(f.clone());
        }
        self.cache.lock().unwrap().get(key).cloned()
    }
}

impl Host {
    /// Reads `keys`, probing in one command only those neither predicted nor cached.
    pub fn facts(&self, keys: &[FactKey], who: &Become) -> Result<Vec<Fact>, String> {
        let store = &self.state.facts;
        let missing: Vec<&FactKey> = keys.iter().filter(|k| store.known(k).is_none()).collect();
        if !missing.is_empty() {
            let script = probe::script(&missing);
            let req = ExecRequest {
                script,
                become_: who.clone(),
                ..Default::default()
            };
            let out = self.exec(&req).map_err(|e| self.exec_error(&e, &req))?;
            if out.code != 0 {
                return Err(crate::ops::command::failure(
                    self.name(),
                    "(reading facts)",
                    out.code,
                    &out.stderr_text(),
                    &out.stdout_text(),
                ));
            }
            let parsed = probe::parse(&missing, &out.stdout_text()).map_err(|e| format!("{}: {e}", self.name()))?;
            let mut cache = store.cache.lock().unwrap();
            for (k, f) in missing.into_iter().zip(parsed) {
                cache.insert(k.clone(), f);
            }
        }
        Ok(keys.iter().map(|k| store.known(k).expect("just probed")).collect())
    }

    pub fn fact(&self, key: FactKey, who: &Become) -> Result<Fact, String> {
        Ok(self.facts(std::slice::from_ref(&key), who)?.remove(0))
    }

    /// A file's fact if it is already known (predicted or cached), without probing.
    pub fn file_fact_known(&self, path: &str) -> Option<FileFact> {
        match self.state.facts.known(&FactKey::File(path.to_string())) {
            Some(Fact::File(f)) => Some(f),
            _ => None,
        }
    }

    pub fn file_fact(&self, path: &str, who: &Become) -> Result<FileFact, String> {
        match self.fact(FactKey::File(path.to_string()), who)? {
            Fact::File(f) => Ok(f),
            other => unreachable!("file probe gave {other:?}"),
        }
    }

    /// After an operation: in a dry run the predicted fact goes into the overlay; in a real
    /// run the cached fact is dropped, to be read again when next needed.
    pub fn predict(&self, key: FactKey, fact: Fact) {
        let store = &self.state.facts;
        if self.dry_run() {
            store.overlay.lock().unwrap().insert(key, fact);
        } else {
            store.cache.lock().unwrap().remove(&key);
        }
    }

    /// In a dry run, packages are to be installed whose files cannot be known yet.
    pub fn packages_pending(&self) -> bool {
        self.dry_run() && !self.state.facts.packages_pending.lock().unwrap().is_empty()
    }

    pub fn note_packages_pending(&self, names: &[String]) {
        self.state
            .facts
            .packages_pending
            .lock()
            .unwrap()
            .extend(names.iter().cloned());
    }

    /// In a dry run, whether a path that is missing now may be brought by a package about to
    /// be installed: it lies under a directory named after that package (`/etc/nginx/…`
    /// for nginx). Debian packages keep their files under such directories, so this is
    /// where a dry run must not assume "missing".
    pub fn maybe_from_package(&self, path: &str) -> bool {
        if !self.dry_run() {
            return false;
        }
        let pending = self.state.facts.packages_pending.lock().unwrap();
        let dirs: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let in_dir = |name: &str| dirs.iter().take(dirs.len().saturating_sub(1)).any(|d| *d == name);
        pending
            .iter()
            .any(|p| in_dir(p) || p.strip_suffix("-common").is_some_and(in_dir))
    }

    /// Forgets everything known about files under `path` (after `absent`, `unpack`, …).
    pub fn forget_files_under(&self, path: &str) {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let under = |k: &FactKey| matches!(k, FactKey::File(p) if p == path || p.starts_with(&prefix));
        self.state.facts.cache.lock().unwrap().retain(|k, _| !under(k));
        if !self.dry_run() {
            self.state.facts.overlay.lock().unwrap().retain(|k, _| !under(k));
        }
    }

    /// Predicted files below `path` in a dry run (after `absent` of a directory).
    pub fn predict_removed_under(&self, path: &str) {
        if !self.dry_run() {
            return self.forget_files_under(path);
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut overlay = self.state.facts.overlay.lock().unwrap();
        for (k, f) in overlay.iter_mut() {
            if matches!(k, FactKey::File(p) if p.starts_with(&prefix)) {
                *f = Fact::File(FileFact::missing());
            }
        }
        overlay.insert(FactKey::File(path.to_string()), Fact::File(FileFact::missing()));
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
