//! Files and directories: `file`, `line`, `dir`, `symlink`, `absent`. Content is written to
//! a temporary file beside the target and renamed over it, so the target is never
//! half-written; links are swapped the same way.

use std::sync::Arc;

use rhai::{Dynamic, Map};
use sha2::{Digest, Sha256};

use super::{OpResult, Plan, apply, options};
use crate::connection::ExecRequest;
use crate::facts::{Fact, FactKey, FileFact, FileKind};
use crate::host::Host;
use crate::playbook::convert::Opts;
use crate::shell::{Become, quote};

use super::command::become_of;

/// Owner, group and mode asked for (None: leave as is / default).
pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
}

impl Attrs {
    pub fn from(opts: &Opts) -> OpResult<Attrs> {
        Ok(Attrs {
            owner: opts.string("owner")?,
            group: opts.string("group")?,
            mode: opts.mode("mode")?,
        })
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

fn must_be_absolute(op: &str, path: &str) -> OpResult<()> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{op}: path {path:?} must be absolute"))
    }
}

/// `h.read(path, #{ sudo | user })`: a file's text as it is now, or as earlier operations of a
/// dry run would have left it (so a module that edits a file twice plans the second edit on
/// top of the first); `()` when there is no such file.
pub fn read(host: &Host, path: &str, opts: Map) -> OpResult<Dynamic> {
    must_be_absolute("read", path)?;
    let opts = Opts::declared("read", "h.read", opts)?;
    let who = become_of(&opts)?;
    // Nothing known about the file yet (no planned write, no probe this step): one round
    // trip answers both whether it is a file and what it holds.
    let Some(cur) = host.file_fact_known(path) else {
        return read_unknown(host, path, &who);
    };
    if cur.content_unknown {
        return Ok(Dynamic::from(crate::playbook::cloud_api::Pending));
    }
    if cur.kind == FileKind::Missing && cur.content.is_none() {
        return Ok(Dynamic::UNIT);
    }
    if cur.kind != FileKind::File {
        return Err(format!(
            "{}: read {path}: it is a {:?}, not a file",
            host.name(),
            cur.kind
        ));
    }
    let bytes = content_of(host, path, &cur, &who)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned().into())
}

/// `read` in one command: a marker line (file, missing, denied, or something else), then
/// the content of a file.
fn read_unknown(host: &Host, path: &str, who: &Become) -> OpResult<Dynamic> {
    let q = quote(path);
    let req = ExecRequest {
        script: format!(
            "if [ -f {q} ]; then echo file && exec cat -- {q}; elif [ -e {q} ]; then echo other; \
             elif LC_ALL=C stat -- {q} 2>&1 | grep -q 'Permission denied'; then echo denied; else echo missing; fi"
        ),
        become_: who.clone(),
        ..Default::default()
    };
    let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (marker, content) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    match (out.code, marker) {
        (0, "file") => Ok(content.to_string().into()),
        (0, "missing") => Ok(Dynamic::UNIT),
        (0, "denied") => Err(format!(
            "{}: cannot tell whether {path} exists: permission denied (look with sudo)",
            host.name()
        )),
        (0, _) => Err(format!("{}: read {path}: it is not a regular file", host.name())),
        _ => Err(format!(
            "{}: cannot read {path}: {}",
            host.name(),
            out.stderr_text().trim()
        )),
    }
}

/// The current content of a file: predicted (dry run) or read from the host.
fn content_of(host: &Host, path: &str, cur: &FileFact, who: &Become) -> OpResult<Vec<u8>> {
    if let Some(c) = &cur.content {
        return Ok(c.as_ref().clone());
    }
    // Not on the host yet (a dry run's edit of a file a planned package brings): a write
    // over it diffs against nothing.
    if cur.content_unknown {
        return Ok(Vec::new());
    }
    if cur.kind != FileKind::File {
        return Ok(Vec::new());
    }
    let req = ExecRequest {
        script: format!("cat -- {}", quote(path)),
        become_: who.clone(),
        ..Default::default()
    };
    let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
    if out.code != 0 {
        return Err(format!(
            "{}: cannot read {path}: {}",
            host.name(),
            out.stderr_text().trim()
        ));
    }
    Ok(out.stdout)
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

/// Makes `path` a regular file with exactly `content` and the given attributes.
pub fn ensure_content(
    host: &Host,
    op: &'static str,
    path: &str,
    content: Vec<u8>,
    attrs: &Attrs,
    who: &Become,
) -> OpResult<Map> {
    must_be_absolute(op, path)?;
    let parent = parent(path).ok_or_else(|| format!("{op}: {path:?} has no directory"))?;
    let facts = host.facts(&[FactKey::File(path.into()), FactKey::File(parent.clone())], who)?;
    let (Fact::File(cur), Fact::File(dir)) = (&facts[0], &facts[1]) else {
        unreachable!()
    };
    match cur.kind {
        FileKind::File | FileKind::Missing => {}
        k => {
            return Err(format!(
                "{}: {op} {path}: it is a {k:?}, not a file; refusing to replace it",
                host.name()
            ));
        }
    }
    // A dry run cannot know the directories that planned packages will bring.
    if dir.kind != FileKind::Dir && !(dir.kind == FileKind::Missing && host.packages_pending()) {
        return Err(format!(
            "{}: {op} {path}: directory {parent} does not exist (create it first with h.dir)",
            host.name()
        ));
    }

    let sha = hex::encode(Sha256::digest(&content));
    let existed = cur.kind == FileKind::File;
    let same_content = existed && cur.sha256.as_deref() == Some(sha.as_str());
    let (fixes, fix_cmds) = if existed {
        attrs.fixes(cur, path)
    } else {
        (vec![], vec![])
    };
    let mut after = attrs.applied(cur, FileKind::File, 0o644);
    after.sha256 = Some(sha.clone());
    after.size = Some(content.len() as u64);
    if same_content && fixes.is_empty() {
        return Ok(super::outcome(false, None));
    }
    let show_diff = host.run.settings.dry_run || host.run.settings.show_diff;
    let (summary, script, stdin, diff) = if same_content {
        (fixes.join(", "), fix_cmds.join(" && "), None, None)
    } else {
        let diff = if show_diff {
            Some(unified_diff(
                path,
                &content_of(host, path, cur, who)?,
                &content,
                existed,
            ))
        } else {
            None
        };
        let mode = after.mode.unwrap_or(0o644);
        let mut finish = vec![format!("chmod {mode:o} \"$t\"")];
        // An existing file keeps its owner unless told otherwise.
        let owner = attrs.owner.clone().or_else(|| cur.owner.clone().filter(|_| existed));
        let group = attrs.group.clone().or_else(|| cur.group.clone().filter(|_| existed));
        if let Some(o) = &owner {
            finish.push(format!("chown {} \"$t\"", quote(o)));
        }
        if let Some(g) = &group {
            finish.push(format!("chgrp {} \"$t\"", quote(g)));
        }
        let script = format!(
            "t=$(mktemp {tmpl}) && {{ cat > \"$t\" && {finish} && mv -f -- \"$t\" {q} || {{ rm -f -- \"$t\"; exit 1; }}; }}",
            tmpl = quote(&format!("{}/.runbook-XXXXXX", parent.trim_end_matches('/'))),
            finish = finish.join(" && "),
            q = quote(path),
        );
        let mut what = vec![if existed {
            format!("content ({} bytes)", content.len())
        } else {
            format!("create, mode {mode:04o}")
        }];
        what.extend(fixes);
        (what.join(", "), script, Some(content.clone()), diff)
    };
    after.content = Some(Arc::new(content));
    let plan = Plan {
        op,
        target: path.to_string(),
        summary,
        script,
        stdin,
        become_: who.clone(),
        diff,
        predicts: vec![(FactKey::File(path.into()), Fact::File(after))],
    };
    apply(host, Some(plan))
}

/// `h.file(path, #{ content | src, mode, owner, group })`
pub fn file(host: &Host, path: &str, opts: Map) -> OpResult<Map> {
    let opts = options("file", opts)?;
    let content = match (opts.string("content")?, opts.string("src")?) {
        (Some(c), None) => c.into_bytes(),
        (None, Some(src)) => {
            let p = super::template::find_local(host, &src, &["files"])?;
            std::fs::read(&p).map_err(|e| format!("file: cannot read {}: {e}", p.display()))?
        }
        (Some(_), Some(_)) => return Err("file: give either `content` or `src`, not both".into()),
        (None, None) => return Err("file: give the file's `content` or a local `src`".into()),
    };
    ensure_content(host, "file", path, content, &Attrs::from(&opts)?, &become_of(&opts)?)
}

/// `h.line(path, line, #{ regex, state: "present"|"absent" })`: one line in a file. With
/// `regex`, the last matching line is replaced (or, absent, every matching line removed);
/// without, the exact line is looked for. A missing file is created when a line must be
/// present.
pub fn line(host: &Host, path: &str, wanted: &str, opts: Map) -> OpResult<Map> {
    let opts = options("line", opts)?;
    let who = become_of(&opts)?;
    if wanted.contains(['\n', '\r']) {
        // One line is matched and replaced; a block would be appended again on every run.
        return Err(format!(
            "line: {wanted:?} is more than one line: give each line its own h.line, or write the whole file with h.file or h.template"
        ));
    }
    let present = match opts.string("state")?.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(s) => return Err(format!("line: state must be \"present\" or \"absent\", not {s:?}")),
    };
    let regex = match opts.string("regex")? {
        Some(r) => Some(regex::Regex::new(&r).map_err(|e| format!("line: invalid regex {r:?}: {e}"))?),
        None => None,
    };
    must_be_absolute("line", path)?;
    let cur = host.file_fact(path, &who)?;
    // In a dry run, a file that a planned package brings (or one already edited so) holds
    // what is known only after apply: the edit is planned, its result unknown, never a guess
    // from an empty file (a wrong checksum for `h.fact`, wrong text for `h.read`).
    let from_package = cur.kind == FileKind::Missing && host.maybe_from_package(path);
    if cur.content_unknown || (from_package && present) {
        let mut after = Attrs::from(&opts)?.applied(&cur, FileKind::File, 0o644);
        after.content_unknown = true;
        let what = match (present, &regex) {
            (true, _) => format!("set {wanted:?}"),
            (false, Some(r)) => format!("remove lines matching {:?}", r.as_str()),
            (false, None) => format!("remove {wanted:?}"),
        };
        let summary = format!("{what} in what the packages being installed bring (content known after apply)");
        super::report(host, "line", path, &summary, None, None);
        host.predict(FactKey::File(path.into()), Fact::File(after));
        return Ok(super::outcome(true, None));
    }
    if cur.kind == FileKind::Missing && !present {
        return Ok(super::outcome(false, None));
    }
    let old = String::from_utf8(content_of(host, path, &cur, &who)?)
        .map_err(|_| format!("{}: line: {path} is not a text file", host.name()))?;
    let is_match = |l: &str| match &regex {
        Some(r) => r.is_match(l),
        None => l == wanted,
    };
    let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
    if present {
        match lines.iter().rposition(|l| is_match(l)) {
            Some(i) => lines[i] = wanted.to_string(),
            None => lines.push(wanted.to_string()),
        }
    } else {
        lines.retain(|l| !is_match(l));
    }
    let mut new = lines.join("\n");
    if !lines.is_empty() {
        new.push('\n');
    }
    if new == old {
        return Ok(super::outcome(false, None));
    }
    ensure_content(host, "line", path, new.into_bytes(), &Attrs::from(&opts)?, &who)
}

/// `h.dir(path, #{ mode, owner, group })`: a directory (and its parents).
pub fn dir(host: &Host, path: &str, opts: Map) -> OpResult<Map> {
    let opts = options("dir", opts)?;
    let who = become_of(&opts)?;
    let attrs = Attrs::from(&opts)?;
    must_be_absolute("dir", path)?;
    let cur = host.file_fact(path, &who)?;
    let q = quote(path);
    let (summary, script) = match cur.kind {
        FileKind::Dir => {
            let (what, cmds) = attrs.fixes(&cur, path);
            if what.is_empty() {
                return Ok(super::outcome(false, None));
            }
            (what.join(", "), cmds.join(" && "))
        }
        // A package about to be installed brings this directory (dry run).
        FileKind::Missing if host.maybe_from_package(path) && attrs.mode.is_none() && attrs.owner.is_none() => {
            return Ok(super::outcome(false, None));
        }
        FileKind::Missing => {
            let mut cmds = vec![format!("mkdir -p -- {q}")];
            cmds.extend(attrs.fixes(&FileFact::missing(), path).1);
            ("create".to_string(), cmds.join(" && "))
        }
        k => {
            return Err(format!(
                "{}: dir {path}: it exists as a {k:?}, not a directory",
                host.name()
            ));
        }
    };
    let after = attrs.applied(&cur, FileKind::Dir, 0o755);
    let mut predicts = vec![(FactKey::File(path.into()), Fact::File(after))];
    // `mkdir -p` makes the parents too.
    let mut p = parent(path);
    while let Some(dir) = p.filter(|d| d != "/") {
        let ancestor = FileFact {
            kind: FileKind::Dir,
            mode: Some(0o755),
            ..FileFact::missing()
        };
        if cur.kind == FileKind::Missing && host.file_fact_known(&dir).is_none_or(|f| f.kind == FileKind::Missing) {
            predicts.push((FactKey::File(dir.clone()), Fact::File(ancestor)));
        }
        p = parent(&dir);
    }
    apply(
        host,
        Some(Plan {
            op: "dir",
            target: path.into(),
            summary,
            script,
            stdin: None,
            become_: who,
            diff: None,
            predicts,
        }),
    )
}

/// `h.symlink(target, link)`: `link` points to `target`, switched atomically (a new link
/// renamed over the old one), so readers never see it missing.
pub fn symlink(host: &Host, target: &str, link: &str, opts: Map) -> OpResult<Map> {
    let opts = options("symlink", opts)?;
    let who = become_of(&opts)?;
    must_be_absolute("symlink", link)?;
    let cur = host.file_fact(link, &who)?;
    let summary = match cur.kind {
        FileKind::Link if cur.link_target.as_deref() == Some(target) => return Ok(super::outcome(false, None)),
        FileKind::Link => format!("{} → {target}", cur.link_target.clone().unwrap_or_default()),
        FileKind::Missing => format!("create → {target}"),
        k => {
            return Err(format!(
                "{}: symlink {link}: it is a {k:?}; refusing to replace it with a link",
                host.name()
            ));
        }
    };
    let tmp = format!("{}.runbook-{}", link.trim_end_matches('/'), std::process::id());
    let mut cmds = vec![format!("ln -sfn -- {} {}", quote(target), quote(&tmp))];
    if let Some(o) = opts.string("owner")? {
        cmds.push(format!("chown -h {} -- {}", quote(&o), quote(&tmp)));
    }
    if let Some(g) = opts.string("group")? {
        cmds.push(format!("chgrp -h {} -- {}", quote(&g), quote(&tmp)));
    }
    cmds.push(format!("mv -Tf -- {} {}", quote(&tmp), quote(link)));
    let after = FileFact {
        kind: FileKind::Link,
        link_target: Some(target.into()),
        ..FileFact::missing()
    };
    apply(
        host,
        Some(Plan {
            op: "symlink",
            target: link.into(),
            summary,
            script: cmds.join(" && "),
            stdin: None,
            become_: who,
            diff: None,
            predicts: vec![(FactKey::File(link.into()), Fact::File(after))],
        }),
    )
}

/// `h.absent(path)`: no file, link or directory (recursively) at `path`.
pub fn absent(host: &Host, path: &str, opts: Map) -> OpResult<Map> {
    let opts = options("absent", opts)?;
    let who = become_of(&opts)?;
    must_be_absolute("absent", path)?;
    if path.trim_end_matches('/').is_empty() {
        return Err("absent: refusing to remove /".into());
    }
    let cur = host.file_fact(path, &who)?;
    let from_package = cur.kind == FileKind::Missing && host.maybe_from_package(path);
    if cur.kind == FileKind::Missing && !from_package {
        return Ok(super::outcome(false, None));
    }
    let kind = if from_package {
        "what the packages being installed bring".to_string()
    } else {
        format!("{:?}", cur.kind).to_lowercase()
    };
    let r = apply(
        host,
        Some(Plan {
            op: "absent",
            target: path.into(),
            summary: format!("remove {kind}"),
            script: format!("rm -rf -- {}", quote(path)),
            stdin: None,
            become_: who,
            diff: None,
            predicts: vec![],
        }),
    )?;
    host.predict_removed_under(path);
    Ok(r)
}
