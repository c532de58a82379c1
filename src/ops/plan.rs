//! What an operation decided: the change that makes the host match, as data. Planners
//! return it; `apply` carries it out (or, in a dry run, reports it) for every operation.

use std::path::PathBuf;

use serde::Serialize;

use crate::facts::{Fact, FactKey};
use crate::shell::Become;

/// One change on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub op: &'static str,
    pub target: String,
    /// One line: what changes ("create, mode 0644", "content", "install 2.1.3").
    pub summary: String,
    #[serde(rename = "become", serialize_with = "become_text")]
    pub become_: Become,
    /// Carried out in order; the first that fails ends the change.
    pub actions: Vec<Action>,
    /// The change to a file's text, when the operation shows one (dry run or `--diff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// What the host's facts will be afterwards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// A change that could lock runbook out: undone unless a new login works after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Guard>,
}

/// Commit-confirmed, as network operating systems call it (`ops::confirm` writes them):
/// `schedule` saves what the change replaces (and, with `confirm`, makes the host undo the
/// change by itself after that long) and runs in the same round trip as the change; after
/// it runbook logs in anew. If that works, `cancel` drops the saved copy and the scheduled
/// undo; if not (or the change fails half-way), `revert` undoes the change at once over the
/// connection still open (or the host's timer does), and the operation fails saying so.
#[derive(Debug, Clone, Serialize)]
pub struct Guard {
    /// How long the change stands unless a new login confirms it; none: no login is asked
    /// for, the change is undone only when it fails half-way (a file's failed `reload`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_duration_text")]
    pub confirm: Option<std::time::Duration>,
    /// Whose new login confirms the change (same address, port and key); none: runbook's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_as: Option<String>,
    /// What `revert` puts back, as messages name it ("the firewall", "/etc/ssh/sshd_config").
    pub subject: String,
    pub schedule: String,
    pub cancel: String,
    pub revert: String,
}

/// A step of a change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Shell text run on the host (one round trip), with its standard input.
    Script {
        script: String,
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "stdin_text")]
        stdin: Option<Vec<u8>>,
    },
    /// A local file written to `remote` with `mode` (a staging name the next script checks
    /// and renames into place).
    Upload { local: PathBuf, remote: String, mode: u32 },
    /// Shell text run with a local file's bytes as its standard input (a file written as
    /// another user, which an upload cannot do).
    Pipe { local: PathBuf, script: String },
    /// A write (a `Script` or `Pipe`) whose new content must pass `command` (`%s`: its
    /// temporary file) before it is renamed into place (`ops::validate`).
    Validated { command: String, write: Box<Action> },
}

/// What a change does to the facts an operation later in the play reads.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The fact afterwards.
    Predict(#[serde(serialize_with = "key_text")] FactKey, Fact),
    /// Nothing is left at or below the path (after `absent`).
    RemovedUnder(String),
    /// Files at or below the path changed in ways not predicted (after `unpack`).
    ForgetUnder(String),
    /// A dry run: these packages will be installed, with files not known before.
    PackagesPending(Vec<String>),
}

impl Plan {
    /// A plan of one script.
    pub fn script(
        op: &'static str,
        target: impl Into<String>,
        summary: impl Into<String>,
        become_: Become,
        script: String,
    ) -> Self {
        Plan {
            op,
            target: target.into(),
            summary: summary.into(),
            become_,
            actions: vec![Action::Script { script, stdin: None }],
            diff: None,
            effects: Vec::new(),
            guard: None,
        }
    }

    pub fn predicts(mut self, key: FactKey, fact: Fact) -> Self {
        self.effects.push(Effect::Predict(key, fact));
        self
    }

    /// The scripts, as a dry run shows them.
    pub fn shown(&self) -> Option<String> {
        let parts: Vec<String> = self.actions.iter().map(Action::shown).collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }
}

impl Action {
    fn shown(&self) -> String {
        match self {
            Action::Script { script, .. } => script.clone(),
            Action::Upload { local, remote, mode } => {
                format!("(upload {} to {remote}, mode {mode:04o})", local.display())
            }
            Action::Pipe { local, script } => format!("(from {}) {script}", local.display()),
            Action::Validated { write, .. } => write.shown(),
        }
    }

    /// The shell text the action runs, when it runs one.
    pub fn script_mut(&mut self) -> Option<&mut String> {
        match self {
            Action::Script { script, .. } | Action::Pipe { script, .. } => Some(script),
            Action::Validated { write, .. } => write.script_mut(),
            Action::Upload { .. } => None,
        }
    }
}

/// What an operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub changed: bool,
    pub diff: Option<String>,
}

impl Outcome {
    pub fn unchanged() -> Self {
        Outcome::default()
    }
}

fn become_text<S: serde::Serializer>(b: &Become, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&match b {
        Become::Me => "me".to_string(),
        Become::Root => "root".to_string(),
        Become::User(u) => u.clone(),
    })
}

fn stdin_text<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_str(&String::from_utf8_lossy(b)),
        None => s.serialize_none(),
    }
}

fn key_text<S: serde::Serializer>(k: &FactKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.to_string())
}

fn opt_duration_text<S: serde::Serializer>(d: &Option<std::time::Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}
