//! Files and directories: `file`, `line`, `dir`, `symlink`, `absent`, and `read`. Content is
//! written to a temporary file beside the target and renamed over it, so the target is never
//! half-written; links are swapped the same way. Each planner reads the host through `Look`
//! and returns the change as a `Plan`; it never runs a command that changes anything.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::args::mode_text;
use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Plan};
use super::{confirm, validate};
use crate::facts::{Fact, FactKey, FileFact, FileKind, Look};
use crate::shell::{Become, quote};

/// Owner, group and mode asked for (None: leave as is / default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(deserialize_with = "mode_text")]
    pub mode: Option<u32>,
}

impl Attrs {
    fn is_empty(&self) -> bool {
        self.owner.is_none() && self.group.is_none() && self.mode.is_none()
    }

    /// What differs between these attributes and `cur`, as a summary and shell commands.
    fn fixes(&self, cur: &FileFact, path: &str) -> (Vec<String>, Vec<String>) {
        let q = quote(path);
        let (mut what, mut cmds) = (Vec::new(), Vec::new());
        if let Some(o) = self.owner.as_ref().filter(|o| cur.owner.as_ref() != Some(*o)) {
            what.push(format!("owner {} → {o}", cur.owner.as_deref().unwrap_or("?")));
            cmds.push(format!("chown -h {} -- {q}", quote(o)));
        }
        if let Some(g) = self.group.as_ref().filter(|g| cur.group.as_ref() != Some(*g)) {
            what.push(format!("group {} → {g}", cur.group.as_deref().unwrap_or("?")));
            cmds.push(format!("chgrp -h {} -- {q}", quote(g)));
        }
        if let Some(m) = self.mode.filter(|m| cur.mode != Some(*m)) {
            what.push(format!(
                "mode {} → {m:04o}",
                cur.mode.map(|m| format!("{m:04o}")).unwrap_or("?".into())
            ));
            cmds.push(format!("chmod {m:o} -- {q}"));
        }
        (what, cmds)
    }

    /// The fact after the change: asked-for values, else the current ones.
    fn applied(&self, cur: &FileFact, kind: FileKind, default_mode: u32) -> FileFact {
        FileFact {
            kind,
            owner: self.owner.clone().or_else(|| cur.owner.clone()),
            group: self.group.clone().or_else(|| cur.group.clone()),
            mode: self.mode.or(cur.mode).or(Some(default_mode)),
            ..FileFact::missing()
        }
    }
}

fn parent(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", _)) => Some("/".into()),
        Some((dir, _)) => Some(dir.to_string()),
        None => None,
    }
}

fn must_be_absolute(op: &'static str, path: &str) -> OpResult<()> {
    match path.starts_with('/') {
        true => Ok(()),
        false => Err(OpError::invalid(op, format!("path {path:?} must be absolute"))),
    }
}

/// What guards a write of a file's content (`h.file`, `h.template`, `h.line`, `h.upload`):
/// `validate` checks the new content before it lands, `reload` makes it take effect (and is
/// undone with the file when it fails), `confirm` undoes both unless a new SSH login works
/// afterwards.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Safeguards {
    /// A command that must accept the new content, `%s` its temporary file.
    pub validate: Option<String>,
    /// Run after the file changed; again after the file is put back.
    pub reload: Option<String>,
    /// How long the change stands unless a new SSH login confirms it.
    #[serde(deserialize_with = "super::args::opt_duration_text")]
    pub confirm: Option<Duration>,
    /// Whose new login confirms it (same address, port and key); default runbook's own.
    pub confirm_user: Option<String>,
    /// Reached over SSH (not the controller itself): only then can a change lock runbook out.
    pub over_ssh: bool,
}

impl Safeguards {
    pub fn check(&self, op: &'static str) -> OpResult<()> {
        if let Some(cmd) = &self.validate {
            validate::check(op, cmd)?;
        }
        if self.reload.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(OpError::invalid(op, "`reload` is an empty command"));
        }
        if self.confirm_user.is_some() && self.confirm.is_none() {
            return Err(OpError::invalid(
                op,
                "`confirm_user` names whose new login confirms the change: give `confirm` too (true or a duration)",
            ));
        }
        Ok(())
    }

    /// `write` (the script that writes new content into `$t` and renames it into place),
    /// with the content validated first when asked.
    pub fn write(&self, write: Action) -> Action {
        match &self.validate {
            Some(command) => Action::Validated {
                command: command.clone(),
                write: Box::new(write),
            },
            None => write,
        }
    }

    /// The shell text to run between writing the temporary file `file` (shell text) and
    /// renaming it into place.
    pub fn check_step(&self, file: &str) -> Option<String> {
        self.validate.as_deref().map(|cmd| validate::step(cmd, file))
    }

    /// Adds to a plan that changes `path` the reload, the guard and their words in the
    /// summary (`content` when the content changes: only then is it validated).
    pub fn finish(&self, mut plan: Plan, path: &str, content: bool) -> Plan {
        let mut words = Vec::new();
        if let Some(cmd) = self.validate.as_ref().filter(|_| content) {
            words.push(format!("validated by `{cmd}`"));
        }
        if let Some(r) = &self.reload {
            words.push(format!("then `{r}`"));
            plan.actions.push(Action::Script {
                script: r.clone(),
                stdin: None,
            });
        }
        // Only a host reached over SSH can be lost; on the controller `confirm` is moot.
        let confirm = self.confirm.filter(|c| self.over_ssh && !c.is_zero());
        if let Some(c) = confirm {
            let who = self
                .confirm_user
                .as_ref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default();
            words.push(format!(
                "kept only if a new SSH login{who} works (else undone within {})",
                humantime::format_duration(c)
            ));
        }
        if confirm.is_some() || self.reload.is_some() {
            let login_as = self.confirm_user.clone().filter(|_| confirm.is_some());
            plan.guard = Some(confirm::file(path, self.reload.as_deref(), confirm, login_as));
        }
        if !words.is_empty() {
            plan.summary = format!("{}, {}", plan.summary, words.join(", "));
        }
        plan
    }
}

/// What `h.read` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Missing,
    Text(String),
    /// A dry run edits a file a planned package brings: known only after apply.
    Pending,
}

/// `h.read(path)`: a file's text as it is now, or as earlier operations of a dry run would
/// have left it (so a module that edits a file twice plans the second edit on top of the
/// first).
pub fn read(look: &dyn Look, path: &str, who: &Become) -> OpResult<Read> {
    must_be_absolute("read", path)?;
    // Nothing known about the file yet (no planned write, no probe this step): one round
    // trip answers both whether it is a file and what it holds.
    let Some(cur) = look.file_known(path) else {
        return read_unknown(look, path, who);
    };
    if cur.content_unknown {
        return Ok(Read::Pending);
    }
    if cur.kind == FileKind::Missing && cur.content.is_none() {
        return Ok(Read::Missing);
    }
    if cur.kind != FileKind::File {
        let why = format!("it is a {:?}, not a file", cur.kind);
        return Err(OpError::refused(look.host_name(), "read", path, why));
    }
    let bytes = content_of(look, path, &cur, who)?;
    Ok(Read::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `read` in one command: a marker line (file, missing, denied, or something else), then
/// the content of a file.
fn read_unknown(look: &dyn Look, path: &str, who: &Become) -> OpResult<Read> {
    let q = quote(path);
    let script = format!(
        "if [ -f {q} ]; then echo file && exec cat -- {q}; elif [ -e {q} ]; then echo other; \
         elif LC_ALL=C stat -- {q} 2>&1 | grep -q 'Permission denied'; then echo denied; else echo missing; fi"
    );
    let out = look.query(&script, who)?;
    let text = out.stdout_text();
    let (marker, content) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let refused = |why: String| Err(OpError::refused(look.host_name(), "read", path, why));
    match (out.code, marker) {
        (0, "file") => Ok(Read::Text(content.to_string())),
        (0, "missing") => Ok(Read::Missing),
        (0, "denied") => refused("cannot tell whether it exists: permission denied (look with sudo)".into()),
        (0, _) => refused("it is not a regular file".into()),
        _ => refused(format!("cannot read it: {}", out.stderr_text().trim())),
    }
}

/// The current content of a file: predicted (dry run) or read from the host.
fn content_of(look: &dyn Look, path: &str, cur: &FileFact, who: &Become) -> OpResult<Vec<u8>> {
    if let Some(c) = &cur.content {
        return Ok(c.as_ref().clone());
    }
    // Not on the host yet (a dry run's edit of a file a planned package brings): a write
    // over it diffs against nothing.
    if cur.content_unknown || cur.kind != FileKind::File {
        return Ok(Vec::new());
    }
    Ok(look.content(path, who)?)
}

fn unified_diff(path: &str, old: &[u8], new: &[u8], existed: bool) -> String {
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(o), Ok(n)) if o.len() + n.len() < (1 << 20) => similar::TextDiff::from_lines(o, n)
            .unified_diff()
            .context_radius(3)
            .header(if existed { path } else { "/dev/null" }, path)
            .to_string(),
        _ => format!(
            "binary content of {path} differs ({} → {} bytes)\n",
            old.len(),
            new.len()
        ),
    }
}

/// `h.file`, and `h.template` once rendered: `path` is a regular file with exactly
/// `content` and the given attributes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    pub path: String,
    #[serde(deserialize_with = "super::args::bytes_of_text")]
    pub content: Vec<u8>,
    #[serde(default)]
    pub attrs: Attrs,
    #[serde(default)]
    pub safeguards: Safeguards,
    #[serde(default)]
    pub who: Become,
}

/// Plans making `a.path` a regular file with exactly `a.content` (`op` names the operation
/// in the plan and in errors: `file`, `template`, `line`).
pub fn content(look: &dyn Look, op: &'static str, a: &Content) -> OpResult<Option<Plan>> {
    let (path, who) = (a.path.as_str(), &a.who);
    must_be_absolute(op, path)?;
    a.safeguards.check(op)?;
    let parent = parent(path).ok_or_else(|| OpError::invalid(op, format!("{path:?} has no directory")))?;
    let facts = look.facts(&[FactKey::File(path.into()), FactKey::File(parent.clone())], who)?;
    let (Fact::File(cur), Fact::File(dir)) = (&facts[0], &facts[1]) else {
        unreachable!("file probes give file facts")
    };
    let refused = |why: String| Err(OpError::refused(look.host_name(), op, path, why));
    match cur.kind {
        FileKind::File | FileKind::Missing => {}
        k => return refused(format!("it is a {k:?}, not a file; refusing to replace it")),
    }
    // A dry run cannot know the directories that planned packages will bring.
    let dir_may_come = dir.kind == FileKind::Missing && !look.packages_pending().is_empty();
    match dir.kind {
        // A link to a directory (`current` → a release) is written through.
        FileKind::Dir | FileKind::Link => {}
        FileKind::Missing if dir_may_come => {}
        FileKind::Missing => {
            return refused(format!(
                "directory {parent} does not exist (create it first with h.dir)"
            ));
        }
        k => return refused(format!("{parent} is a {k:?}, not a directory")),
    }

    let content = &a.content;
    let sha = hex::encode(Sha256::digest(content));
    let existed = cur.kind == FileKind::File;
    let same_content = existed && cur.sha256.as_deref() == Some(sha.as_str());
    let (fixes, fix_cmds) = match existed {
        true => a.attrs.fixes(cur, path),
        false => (vec![], vec![]),
    };
    let mut after = a.attrs.applied(cur, FileKind::File, 0o644);
    after.sha256 = Some(sha);
    after.size = Some(content.len() as u64);
    if same_content && fixes.is_empty() {
        return Ok(None);
    }
    let (summary, script, stdin, diff) = if same_content {
        (fixes.join(", "), fix_cmds.join(" && "), None, None)
    } else {
        let diff = match look.show_diff() {
            true => Some(unified_diff(path, &content_of(look, path, cur, who)?, content, existed)),
            false => None,
        };
        let mode = after.mode.unwrap_or(0o644);
        // The temporary file's name is chosen here, at random (no one can plant a link
        // there ahead), and one `install` writes it with its mode: never readable by more
        // than the mode allows, and no `mktemp`, `cat` and `chmod` of its own.
        let mut steps = vec![format!("install -m {mode:o} /dev/stdin \"$t\"")];
        // An existing file keeps its owner unless told otherwise.
        let owner = a.attrs.owner.clone().or_else(|| cur.owner.clone().filter(|_| existed));
        let group = a.attrs.group.clone().or_else(|| cur.group.clone().filter(|_| existed));
        if let Some(o) = &owner {
            steps.push(format!("chown {} \"$t\"", quote(o)));
        }
        if let Some(g) = &group {
            steps.push(format!("chgrp {} \"$t\"", quote(g)));
        }
        steps.extend(a.safeguards.check_step("\"$t\""));
        steps.push(format!("mv -f -- \"$t\" {}", quote(path)));
        let script = format!(
            "t={tmp} && {steps} || {{ rm -f -- \"$t\"; exit 1; }}",
            tmp = quote(&temp_name(&parent)),
            steps = steps.join(" && "),
        );
        let mut what = vec![match existed {
            true => format!("content ({} bytes)", content.len()),
            false => format!("create, mode {mode:04o}"),
        }];
        what.extend(fixes);
        (what.join(", "), script, Some(content.clone()), diff)
    };
    after.content = Some(Arc::new(content.clone()));
    let write = Action::Script { script, stdin };
    let plan = Plan {
        op,
        target: path.to_string(),
        summary,
        become_: who.clone(),
        actions: vec![match same_content {
            true => write,
            false => a.safeguards.write(write),
        }],
        diff,
        effects: vec![Effect::Predict(FactKey::File(path.into()), Fact::File(after))],
        guard: None,
    };
    Ok(Some(a.safeguards.finish(plan, path, !same_content)))
}

/// `h.line(path, line, #{ regex, state })`: one line in a file. With `regex`, the last
/// matching line is replaced (or, absent, every matching line removed); without, the exact
/// line is looked for. A missing file is created when a line must be present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub path: String,
    pub line: String,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub state: Presence,
    #[serde(default)]
    pub attrs: Attrs,
    #[serde(default)]
    pub safeguards: Safeguards,
    #[serde(default)]
    pub who: Become,
}

/// `state: "present" | "absent"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

impl Presence {
    pub fn parse(op: &'static str, state: Option<&str>) -> OpResult<Presence> {
        match state {
            None | Some("present") => Ok(Presence::Present),
            Some("absent") => Ok(Presence::Absent),
            Some(s) => Err(OpError::invalid(
                op,
                format!("state must be \"present\" or \"absent\", not {s:?}"),
            )),
        }
    }
}

pub fn line(look: &dyn Look, a: &Line) -> OpResult<Option<Plan>> {
    let (path, wanted, who) = (a.path.as_str(), a.line.as_str(), &a.who);
    if wanted.contains(['\n', '\r']) {
        // One line is matched and replaced; a block would be appended again on every run.
        return Err(OpError::invalid(
            "line",
            format!(
                "{wanted:?} is more than one line: give each line its own h.line, or write the whole file with h.file or h.template"
            ),
        ));
    }
    let present = a.state == Presence::Present;
    let regex = match &a.regex {
        Some(r) => {
            Some(regex::Regex::new(r).map_err(|e| OpError::invalid("line", format!("invalid regex {r:?}: {e}")))?)
        }
        None => None,
    };
    must_be_absolute("line", path)?;
    a.safeguards.check("line")?;
    let cur = look.file(path, who)?;
    // In a dry run, a file that a planned package brings (or one already edited so) holds
    // what is known only after apply: the edit is planned, its result unknown, never a guess
    // from an empty file (a wrong checksum for `h.fact`, wrong text for `h.read`).
    let from_package = cur.kind == FileKind::Missing && look.maybe_from_package(path);
    if cur.content_unknown || (from_package && present) {
        let mut after = a.attrs.applied(&cur, FileKind::File, 0o644);
        after.content_unknown = true;
        let what = match (present, &regex) {
            (true, _) => format!("set {wanted:?}"),
            (false, Some(r)) => format!("remove lines matching {:?}", r.as_str()),
            (false, None) => format!("remove {wanted:?}"),
        };
        let plan = Plan {
            op: "line",
            target: path.into(),
            summary: format!("{what} in what the packages being installed bring (content known after apply)"),
            become_: who.clone(),
            actions: Vec::new(),
            diff: None,
            effects: vec![Effect::Predict(FactKey::File(path.into()), Fact::File(after))],
            guard: None,
        };
        return Ok(Some(a.safeguards.finish(plan, path, true)));
    }
    if cur.kind == FileKind::Missing && !present {
        return Ok(None);
    }
    if !matches!(cur.kind, FileKind::File | FileKind::Missing) {
        // Not even for `absent`: "no change" would claim a link's target was looked into.
        let why = format!("it is a {:?}, not a file", cur.kind);
        return Err(OpError::refused(look.host_name(), "line", path, why));
    }
    let old = String::from_utf8(content_of(look, path, &cur, who)?)
        .map_err(|_| OpError::refused(look.host_name(), "line", path, "it is not a text file"))?;
    let is_match = |l: &str| match &regex {
        Some(r) => r.is_match(l),
        None => l == wanted,
    };
    let before: Vec<&str> = old.lines().collect();
    let mut lines: Vec<String> = before.iter().map(|l| l.to_string()).collect();
    if present {
        match lines.iter().rposition(|l| is_match(l)) {
            Some(i) => lines[i] = wanted.to_string(),
            None => lines.push(wanted.to_string()),
        }
    } else {
        lines.retain(|l| !is_match(l));
    }
    // A file with CRLF line ends keeps them.
    let eol = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let mut new = lines.join(eol);
    if !lines.is_empty() {
        new.push_str(eol);
    }
    if lines == before {
        // No line to change (the file is left as it is, a missing final newline too); the
        // attributes asked for may still differ.
        if a.attrs.is_empty() {
            return Ok(None);
        }
        new = old;
    }
    let write = Content {
        path: path.into(),
        content: new.into_bytes(),
        attrs: a.attrs.clone(),
        safeguards: a.safeguards.clone(),
        who: a.who.clone(),
    };
    content(look, "line", &write)
}

/// A new file's temporary name in `dir`: `.runbook-` and 16 random hex digits, which no
/// one can guess ahead, and no file left by a killed run takes again.
pub fn temp_name(dir: &str) -> String {
    format!("{}/.runbook-{:016x}", dir.trim_end_matches('/'), fastrand::u64(..))
}

/// `h.dir(path, #{ mode, owner, group })`: a directory (and its parents).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dir {
    pub path: String,
    #[serde(default)]
    pub attrs: Attrs,
    #[serde(default)]
    pub who: Become,
}

pub fn dir(look: &dyn Look, a: &Dir) -> OpResult<Option<Plan>> {
    let (path, attrs, who) = (a.path.as_str(), &a.attrs, &a.who);
    must_be_absolute("dir", path)?;
    let cur = look.file(path, who)?;
    let q = quote(path);
    let (summary, script) = match cur.kind {
        FileKind::Dir => {
            let (what, cmds) = attrs.fixes(&cur, path);
            if what.is_empty() {
                return Ok(None);
            }
            (what.join(", "), cmds.join(" && "))
        }
        // A package about to be installed brings this directory (dry run).
        FileKind::Missing if look.maybe_from_package(path) && attrs.is_empty() => {
            return Ok(None);
        }
        FileKind::Missing => {
            // The mode with `mkdir -m` (exact, whatever the umask): no `chmod` of its own.
            let mode = attrs.mode.map(|m| format!("-m {m:o} ")).unwrap_or_default();
            let mut cmds = vec![format!("mkdir -p {mode}-- {q}")];
            let owners = Attrs {
                mode: None,
                ..attrs.clone()
            };
            cmds.extend(owners.fixes(&FileFact::missing(), path).1);
            ("create".to_string(), cmds.join(" && "))
        }
        k => {
            let why = format!("it exists as a {k:?}, not a directory");
            return Err(OpError::refused(look.host_name(), "dir", path, why));
        }
    };
    let after = attrs.applied(&cur, FileKind::Dir, 0o755);
    let mut plan =
        Plan::script("dir", path, summary, who.clone(), script).predicts(FactKey::File(path.into()), Fact::File(after));
    // `mkdir -p` makes the missing parents too. A dry run reads which are missing, so that
    // later operations plan against the parents as they will be (not a guessed mode or owner
    // for one already there); a real run only forgets what it knew of them.
    if cur.kind == FileKind::Missing {
        let mut ancestors = Vec::new();
        let mut p = parent(path);
        while let Some(dir) = p.filter(|d| d != "/") {
            p = parent(&dir);
            ancestors.push(FactKey::File(dir));
        }
        let is_missing = |f: &Fact| matches!(f, Fact::File(f) if f.kind == FileKind::Missing);
        let missing: Vec<bool> = match look.dry_run() {
            true => look.facts(&ancestors, who)?.iter().map(is_missing).collect(),
            false => ancestors
                .iter()
                .map(|k| look.known(k).is_none_or(|f| is_missing(&f)))
                .collect(),
        };
        let made = FileFact {
            kind: FileKind::Dir,
            mode: Some(0o755),
            ..FileFact::missing()
        };
        for (key, missing) in ancestors.into_iter().zip(missing) {
            if missing {
                plan = plan.predicts(key, Fact::File(made.clone()));
            }
        }
    }
    Ok(Some(plan))
}

/// `h.symlink(target, link)`: `link` points to `target`, switched atomically (a new link
/// renamed over the old one), so readers never see it missing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symlink {
    pub target: String,
    pub link: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub who: Become,
}

pub fn symlink(look: &dyn Look, a: &Symlink) -> OpResult<Option<Plan>> {
    let (target, link, who) = (a.target.as_str(), a.link.as_str(), &a.who);
    must_be_absolute("symlink", link)?;
    let cur = look.file(link, who)?;
    let summary = match cur.kind {
        FileKind::Link if cur.link_target.as_deref() == Some(target) => return Ok(None),
        FileKind::Link => format!("{} → {target}", cur.link_target.clone().unwrap_or_default()),
        FileKind::Missing => format!("create → {target}"),
        k => {
            let why = format!("it is a {k:?}; refusing to replace it with a link");
            return Err(OpError::refused(look.host_name(), "symlink", link, why));
        }
    };
    let tmp = format!("{}.runbook-new", link.trim_end_matches('/'));
    let mut cmds = vec![format!("ln -sfn -- {} {}", quote(target), quote(&tmp))];
    if let Some(o) = &a.owner {
        cmds.push(format!("chown -h {} -- {}", quote(o), quote(&tmp)));
    }
    if let Some(g) = &a.group {
        cmds.push(format!("chgrp -h {} -- {}", quote(g), quote(&tmp)));
    }
    cmds.push(format!("mv -Tf -- {} {}", quote(&tmp), quote(link)));
    let after = FileFact {
        kind: FileKind::Link,
        link_target: Some(target.into()),
        ..FileFact::missing()
    };
    Ok(Some(
        Plan::script("symlink", link, summary, who.clone(), cmds.join(" && "))
            .predicts(FactKey::File(link.into()), Fact::File(after)),
    ))
}

/// `h.absent(path)`: no file, link or directory (recursively) at `path`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Absent {
    pub path: String,
    #[serde(default)]
    pub who: Become,
}

pub fn absent(look: &dyn Look, a: &Absent) -> OpResult<Option<Plan>> {
    let (path, who) = (a.path.as_str(), &a.who);
    must_be_absolute("absent", path)?;
    if path.trim_end_matches('/').is_empty() {
        return Err(OpError::invalid("absent", "refusing to remove /"));
    }
    let cur = look.file(path, who)?;
    let from_package = cur.kind == FileKind::Missing && look.maybe_from_package(path);
    if cur.kind == FileKind::Missing && !from_package {
        return Ok(None);
    }
    let kind = match from_package {
        true => "what the packages being installed bring".to_string(),
        false if cur.kind == FileKind::Other => "special file".to_string(),
        false => format!("{:?}", cur.kind).to_lowercase(),
    };
    let mut plan = Plan::script(
        "absent",
        path,
        format!("remove {kind}"),
        who.clone(),
        format!("rm -rf -- {}", quote(path)),
    );
    plan.effects.push(Effect::RemovedUnder(path.into()));
    Ok(Some(plan))
}
