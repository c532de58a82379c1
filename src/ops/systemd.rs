//! `h.systemd_unit(name, #{ content, drop_in, enabled, state })`: a unit file in
//! /etc/systemd/system (or a drop-in beside it, `NAME.d/FILE.conf`), `systemctl daemon-reload`
//! only when a unit file changed (or systemd says one did since it read them), then enabled and
//! started as asked.
//!
//! With `state: "started"` a unit whose file changed while it runs is restarted, so what runs
//! is what the file says (Ansible's systemd module leaves that to a handler); so is one running
//! since before its files were last written (a run stopped between writing and restarting is
//! finished by the next). Leave `state` out to never restart: a running service then keeps its
//! old definition until it is restarted.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::{OpError, OpResult};
use super::files::{self, Attrs};
use super::plan::{Action, Effect, Plan};
use super::service::{self, State};
use crate::connection::ExecOutput;
use crate::connection::failure::ExecFailure;
use crate::facts::{Fact, FactKey, FileFact, FileKind, Look, ServiceFact};
use crate::shell::{Become, quote};

/// Where units written by an administrator live (they override the packages' units).
const UNIT_DIR: &str = "/etc/systemd/system";

/// The unit types that are files (`.device` and `.scope` units are made by systemd only).
const TYPES: &[&str] = &[
    "service",
    "socket",
    "timer",
    "target",
    "path",
    "mount",
    "automount",
    "swap",
    "slice",
];

/// `h.systemd_unit(name, opts)`, with the unit's text already read or rendered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub name: String,
    /// The unit file's text, or the drop-in's.
    #[serde(deserialize_with = "super::args::bytes_of_text")]
    pub content: Vec<u8>,
    /// A drop-in file name (`10-limits.conf`): written to `NAME.d/` instead of the unit.
    #[serde(default)]
    pub drop_in: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub who: Become,
}

/// Checks a unit name: `NAME.TYPE` of systemd's characters, TYPE one that has unit files.
pub fn check_name(name: &str) -> OpResult<()> {
    let bad = |why: String| {
        Err(OpError::invalid(
            "systemd_unit",
            format!("{name:?} is not a unit name: {why}"),
        ))
    };
    let types = TYPES.iter().map(|t| format!(".{t}")).collect::<Vec<_>>().join(", ");
    let Some((stem, kind)) = name.rsplit_once('.') else {
        return bad(format!(
            "it must end in its type ({types}); did you mean \"{name}.service\"?"
        ));
    };
    if !TYPES.contains(&kind) {
        let hint = match crate::builtins::suggest(kind, TYPES.iter().copied()) {
            Some(t) => format!("; did you mean \"{stem}.{t}\"?"),
            None => String::new(),
        };
        return bad(format!("it must end in one of {types}{hint}"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if stem.is_empty() || name.len() > 255 || !stem.chars().all(allowed) {
        return bad("a name is letters, digits and : - _ . \\ @ (systemd-escape makes one of a path)".into());
    }
    if stem.matches('@').count() > 1 || stem.starts_with('@') {
        return bad("a template is NAME@.TYPE, an instance NAME@INSTANCE.TYPE".into());
    }
    Ok(())
}

/// A drop-in's file name: `NAME.conf`, one path component (systemd reads only `*.conf`).
fn check_drop_in(file: &str) -> OpResult<()> {
    let bad = |why: String| Err(OpError::invalid("systemd_unit", format!("drop_in {file:?}: {why}")));
    if file.contains('/') || file.starts_with('.') || file.is_empty() {
        return bad("a file name in the unit's .d directory, like \"10-limits.conf\"".into());
    }
    if !file.ends_with(".conf") || file == ".conf" {
        return bad(format!(
            "systemd reads only files ending in .conf; did you mean \"{}.conf\"?",
            file.trim_end_matches('.')
        ));
    }
    Ok(())
}

/// Whether `text` has an `[Install]` section with something that enables the unit.
fn installable(text: &str) -> bool {
    let mut in_install = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_install = line == "[Install]";
        } else if in_install
            && ["WantedBy", "RequiredBy", "UpheldBy", "Alias", "Also", "DefaultInstance"]
                .iter()
                .any(|k| line.strip_prefix(k).is_some_and(|r| r.trim_start().starts_with('=')))
        {
            return true;
        }
    }
    false
}

pub fn unit(look: &dyn Look, a: &Unit) -> OpResult<Option<Plan>> {
    let (name, who) = (a.name.as_str(), &a.who);
    check_name(name)?;
    let refused = |why: String| Err(OpError::refused(look.host_name(), "systemd_unit", name, why));
    let template = name.contains("@.");
    if template && (a.state.is_some() || a.enabled.is_some()) {
        return refused(format!(
            "a template unit is not started or enabled itself: write it here, then start or enable an instance with h.service (e.g. \"{}\")",
            name.replacen("@.", "@1.", 1)
        ));
    }
    let (dir, path) = match &a.drop_in {
        Some(file) => {
            check_drop_in(file)?;
            let dir = format!("{UNIT_DIR}/{name}.d");
            let path = format!("{dir}/{file}");
            (Some(dir), path)
        }
        None => (None, format!("{UNIT_DIR}/{name}")),
    };
    let text = String::from_utf8_lossy(&a.content);
    if a.drop_in.is_none() && a.enabled == Some(true) && !installable(&text) {
        return Err(OpError::invalid(
            "systemd_unit",
            format!(
                "{name}: `enabled: true` needs an [Install] section saying what wants it (e.g. \"[Install]\\nWantedBy=multi-user.target\"); without one systemctl enable does nothing"
            ),
        ));
    }

    // Everything this reads, in one round trip (the file planner's reads are then known).
    let mut keys = vec![
        FactKey::Init,
        FactKey::Service(name.into()),
        FactKey::File(path.clone()),
    ];
    keys.extend(dir.iter().map(|d| FactKey::File(d.clone())));
    if dir.is_none() {
        keys.push(FactKey::File(UNIT_DIR.into()));
    }
    let facts = look.facts(&keys, who)?;
    let (Fact::Init(init), Fact::Service(cur), Fact::File(file)) = (&facts[0], &facts[1], &facts[2]) else {
        unreachable!("init, service and file probes")
    };
    if init != "systemd" {
        return refused("systemd is not the init system on this host".into());
    }
    if cur.masked {
        return refused("the unit is masked: unmask it first (`systemctl unmask`)".into());
    }
    // A drop-in needs the unit it changes, unless a package a dry run installs first brings it.
    let may_come = look.dry_run() && !look.packages_pending().is_empty();
    if a.drop_in.is_some() && !cur.exists && file.kind == FileKind::Missing && !may_come {
        return refused(format!(
            "no unit {name} on the host to add a drop-in to (install its package first, or write the unit with h.systemd_unit(\"{name}\", #{{ content }}))"
        ));
    }

    // The file, as `h.file` writes it; a missing drop-in directory is made first.
    let mut actions = Vec::new();
    let mut effects = Vec::new();
    let mut what = Vec::new();
    let mut predicted = Vec::new();
    if let (Some(d), Some(Fact::File(df))) = (&dir, facts.get(3))
        && df.kind == FileKind::Missing
    {
        actions.push(Action::Script {
            script: format!("mkdir -p -- {}", quote(d)),
            stdin: None,
        });
        let made = FileFact {
            kind: FileKind::Dir,
            mode: Some(0o755),
            ..FileFact::missing()
        };
        effects.push(Effect::Predict(FactKey::File(d.clone()), Fact::File(made.clone())));
        predicted.push((FactKey::File(d.clone()), Fact::File(made)));
    }
    let write = files::Content {
        path: path.clone(),
        content: a.content.clone(),
        attrs: Attrs {
            mode: Some(0o644),
            ..Attrs::default()
        },
        safeguards: Default::default(),
        who: who.clone(),
    };
    let written = files::content(&Predicted { look, facts: predicted }, "systemd_unit", &write)?;
    let sha = hex::encode(Sha256::digest(&a.content));
    let text_changed = !(file.kind == FileKind::File && file.sha256.as_deref() == Some(sha.as_str()));
    let mut diff = None;
    if let Some(w) = written {
        what.push(format!("{path}: {}", w.summary));
        actions.extend(w.actions);
        effects.extend(w.effects);
        diff = w.diff;
    }

    if text_changed || cur.need_reload {
        what.push("daemon-reload".into());
        actions.push(Action::Script {
            script: "systemctl daemon-reload".into(),
            stdin: None,
        });
    }
    let q = quote(name);
    let mut ctl = |verb: &str, summary: &str| {
        what.push(summary.to_string());
        actions.push(Action::Script {
            script: format!("systemctl {verb} -- {q}"),
            stdin: None,
        });
    };
    // The links `enable` makes follow the [Install] section: a new unit file is enabled
    // anew (`reenable`), so a changed WantedBy= moves them.
    let unit_changed = text_changed && a.drop_in.is_none();
    match a.enabled {
        Some(true) if !cur.enabled => ctl("enable", "enable"),
        Some(true) if unit_changed => ctl("reenable", "reenable (its [Install] section is read anew)"),
        Some(false) if cur.enabled => ctl("disable", "disable"),
        _ => {}
    }
    // What runs is what the files say: a new definition, or files written after it started.
    let stale = cur.active && matches!((cur.written, cur.active_since), (Some(w), Some(s)) if w > s);
    let run = match a.state {
        Some(State::Started) if !cur.active => Some(("start", "start")),
        Some(State::Started) if text_changed => Some(("restart", "restart (the unit changed)")),
        Some(State::Started) if stale => {
            Some(("restart", "restart (running since before its unit files were written)"))
        }
        Some(State::Stopped) if cur.active => Some(("stop", "stop")),
        Some(State::Restarted) => Some(("restart", "restart")),
        Some(State::Reloaded) if cur.active => Some(("reload", "reload")),
        Some(State::Reloaded) => Some(("start", "start")),
        _ => None,
    };
    if let Some((verb, summary)) = run {
        ctl(verb, summary);
    }
    let started = matches!(run, Some(("start" | "restart", _)));
    if actions.is_empty() {
        return Ok(None);
    }
    let after = ServiceFact {
        masked: false,
        need_reload: false,
        // Written now, after a process that keeps running started (which a later
        // `state: "started"` restarts, as it would on the host).
        written: match text_changed {
            true => cur.active_since.map(|s| s + 1).or(cur.written),
            false => cur.written,
        },
        ..service::after(cur, a.state, a.enabled, started)
    };
    effects.push(Effect::Predict(FactKey::Service(name.into()), Fact::Service(after)));
    Ok(Some(Plan {
        op: "systemd_unit",
        target: name.to_string(),
        summary: what.join(", "),
        become_: who.clone(),
        actions,
        diff,
        effects,
        guard: None,
    }))
}

/// The host as it will be once the facts given here hold (a directory this plan makes
/// first), for a planner that reads them.
struct Predicted<'a> {
    look: &'a dyn Look,
    facts: Vec<(FactKey, Fact)>,
}

impl Predicted<'_> {
    fn get(&self, key: &FactKey) -> Option<Fact> {
        self.facts.iter().find(|(k, _)| k == key).map(|(_, f)| f.clone())
    }
}

impl Look for Predicted<'_> {
    fn host_name(&self) -> &str {
        self.look.host_name()
    }
    fn dry_run(&self) -> bool {
        self.look.dry_run()
    }
    fn show_diff(&self) -> bool {
        self.look.show_diff()
    }
    fn facts(&self, keys: &[FactKey], who: &Become) -> Result<Vec<Fact>, ExecFailure> {
        let rest: Vec<FactKey> = keys.iter().filter(|k| self.get(k).is_none()).cloned().collect();
        let mut read = self.look.facts(&rest, who)?.into_iter();
        Ok(keys
            .iter()
            .map(|k| self.get(k).unwrap_or_else(|| read.next().expect("one fact per key")))
            .collect())
    }
    fn known(&self, key: &FactKey) -> Option<Fact> {
        self.get(key).or_else(|| self.look.known(key))
    }
    fn content(&self, path: &str, who: &Become) -> Result<Vec<u8>, ExecFailure> {
        self.look.content(path, who)
    }
    fn query(&self, script: &str, who: &Become) -> Result<ExecOutput, ExecFailure> {
        self.look.query(script, who)
    }
    fn packages_pending(&self) -> Vec<String> {
        self.look.packages_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_end_in_a_type_and_typos_get_the_nearest() {
        for ok in [
            "app.service",
            "app@.service",
            "app@1.service",
            "backup.timer",
            "dev-disk-by\\x2duuid.mount",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        let err = |n: &str| check_name(n).unwrap_err().to_string();
        assert!(
            err("app.servce").ends_with("did you mean \"app.service\"?"),
            "{}",
            err("app.servce")
        );
        assert!(err("app").ends_with("did you mean \"app.service\"?"), "{}", err("app"));
        assert!(
            err("my app.service").contains("letters, digits"),
            "{}",
            err("my app.service")
        );
        assert!(err("../x.service").contains("letters, digits"));
        assert!(err("app.scope").contains("must end in one of .service"));
    }

    #[test]
    fn drop_ins_are_conf_files_in_the_units_directory() {
        assert_eq!(check_drop_in("10-limits.conf"), Ok(()));
        let err = |n: &str| check_drop_in(n).unwrap_err().to_string();
        assert!(err("10-limits").ends_with("did you mean \"10-limits.conf\"?"));
        assert!(err("../x.conf").contains("a file name"));
    }

    #[test]
    fn an_install_section_is_what_enable_needs() {
        assert!(installable(
            "[Unit]\n[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\n"
        ));
        assert!(installable("[Install]\n  Alias = x.service\n"));
        assert!(!installable("[Service]\nExecStart=/x\nWantedBy=multi-user.target\n"));
        assert!(!installable("[Install]\n# WantedBy=multi-user.target\n"));
    }
}
