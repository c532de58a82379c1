//! `h.upload(local, remote, opts)`: a local file (or the map `local::pack` returns) onto the
//! host. Skipped when the host already has those bytes with that mode and owner; otherwise
//! uploaded to a temporary name, verified by sha256, and renamed into place, so the target
//! is never half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Plan};
use crate::facts::{Fact, FactKey, FileFact, FileKind, Look};
use crate::shell::{Become, quote};

/// `h.upload(local, remote, #{ mode, owner, group })`, the local file already hashed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    pub local: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub remote: String,
    #[serde(default, deserialize_with = "super::args::mode_text")]
    pub mode: Option<u32>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub safeguards: super::files::Safeguards,
    #[serde(default)]
    pub who: Become,
}

pub fn upload(look: &dyn Look, a: &Upload) -> OpResult<Option<Plan>> {
    let (remote, who, sha) = (a.remote.as_str(), &a.who, a.sha256.as_str());
    let (mode, owner, group) = (a.mode, &a.owner, &a.group);
    if remote.is_empty() || remote.ends_with('/') {
        return Err(OpError::invalid(
            "upload",
            format!("the remote path {remote:?} must name a file"),
        ));
    }
    a.safeguards.check("upload")?;

    // Look: what the host has now, and its directory, in one round trip.
    let dir = Path::new(remote)
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| ".".into());
    let facts = look.facts(&[FactKey::File(remote.into()), FactKey::File(dir.clone())], who)?;
    let (Fact::File(cur), Fact::File(parent)) = (facts[0].clone(), &facts[1]) else {
        unreachable!("file probes give file facts")
    };
    let refused = |why: String| Err(OpError::refused(look.host_name(), "upload", remote, why));
    // (`remote`, not `dir`: a package brings the files under the directory named after it,
    // /etc/nginx/… for nginx, and that directory too.)
    if cur.kind == FileKind::Missing && parent.kind == FileKind::Missing && !look.maybe_from_package(remote) {
        return refused(format!(
            "the directory {dir} does not exist; make it first: h.dir({dir:?})"
        ));
    }
    match cur.kind {
        FileKind::File | FileKind::Missing => {}
        k => return refused(format!("it is a {k:?}, not a file; refusing to replace it")),
    }
    let content_ok = cur.sha256.as_deref() == Some(sha);
    let owner_ok = owner.is_none() || *owner == cur.owner;
    let group_ok = group.is_none() || *group == cur.group;
    let mode_ok = mode.is_none() || mode == cur.mode;
    if content_ok && owner_ok && group_ok && mode_ok {
        return Ok(None);
    }
    // A new file gets 0644 unless told otherwise, a replaced one keeps its mode, owner and
    // group (the staged copy is 0600 and ours while in flight).
    let final_mode = mode.or(if content_ok { None } else { cur.mode.or(Some(0o644)) });
    let kept =
        |given: &Option<String>, have: &Option<String>| given.clone().or_else(|| have.clone().filter(|_| !content_ok));
    let (owner, group) = (&kept(owner, &cur.owner), &kept(group, &cur.group));
    let after = FileFact {
        kind: FileKind::File,
        owner: owner.clone().or(cur.owner.clone()),
        group: group.clone().or(cur.group.clone()),
        mode: final_mode.or(cur.mode),
        size: Some(a.size),
        sha256: Some(sha.to_string()),
        ..FileFact::missing()
    };
    let summary = match content_ok {
        true => "owner/mode".to_string(),
        false => format!("{} (sha256 {})", a.local.display(), &sha[..12.min(sha.len())]),
    };

    let attrs_on = |f: &str| {
        let mut cmds = Vec::new();
        if let Some(o) = owner {
            cmds.push(format!("chown {} -- {f}", quote(o)));
        }
        if let Some(g) = group {
            cmds.push(format!("chgrp {} -- {f}", quote(g)));
        }
        if let Some(m) = final_mode {
            cmds.push(format!("chmod {m:o} -- {f}"));
        }
        cmds
    };
    // New bytes go to a temporary name beside the target, are checked by sha256, and are
    // renamed into place (atomic: same directory); the temporary file is never left behind.
    let check = |f: &str| format!("[ \"$(sha256sum < {f} | cut -c1-64)\" = {} ]", quote(sha));
    let target = quote(remote);
    let actions = if content_ok {
        vec![Action::Script {
            script: attrs_on(&target).join(" && "),
            stdin: None,
        }]
    } else if *who == Become::Me {
        // As the login user: sent over SFTP (streamed) to the staging name.
        let staged = match remote.rsplit_once('/') {
            Some((dir, name)) if !dir.is_empty() => format!("{dir}/.runbook-upload-{name}"),
            Some((_, name)) => format!("/.runbook-upload-{name}"),
            None => format!(".runbook-upload-{remote}"),
        };
        let s = quote(&staged);
        let mut finish = vec![check(&s)];
        finish.extend(attrs_on(&s));
        finish.extend(a.safeguards.check_step(&s));
        finish.push(format!("mv -f -- {s} {target}"));
        vec![
            Action::Upload {
                local: a.local.clone(),
                remote: staged.clone(),
                mode: 0o600,
            },
            Action::Script {
                script: format!("{{ {}; }} || {{ rm -f -- {s}; exit 1; }}", finish.join(" && ")),
                stdin: None,
            },
        ]
    } else {
        // As another user (sudo): SFTP writes as the login user only, and a file it leaves
        // in /tmp is neither readable nor movable by that user; so the bytes are piped to a
        // command running as `who`, which writes them beside the target.
        let mut finish = vec!["cat > \"$t\"".to_string(), check("\"$t\"")];
        finish.extend(attrs_on("\"$t\""));
        finish.extend(a.safeguards.check_step("\"$t\""));
        finish.push(format!("mv -f -- \"$t\" {target}"));
        let script = format!(
            "t=$(mktemp {tmpl}) && {{ {} || {{ rm -f -- \"$t\"; exit 1; }}; }}",
            finish.join(" && "),
            tmpl = quote(&format!("{}/.runbook-upload-XXXXXX", dir.trim_end_matches('/'))),
        );
        vec![Action::Pipe {
            local: a.local.clone(),
            script,
        }]
    };
    // The new bytes are validated (when asked) by the action that renames them into place.
    let actions = match content_ok {
        true => actions,
        false => {
            let mut actions = actions;
            let last = actions.pop().expect("a write");
            actions.push(a.safeguards.write(last));
            actions
        }
    };
    let plan = Plan {
        op: "upload",
        target: remote.into(),
        summary,
        become_: who.clone(),
        actions,
        diff: None,
        effects: vec![Effect::Predict(FactKey::File(remote.into()), Fact::File(after))],
        guard: None,
    };
    Ok(Some(a.safeguards.finish(plan, remote, !content_ok)))
}

/// The sha256 of a local file, computed once per run for every host that gets it (a 50 MB
/// tarball to 5 hosts is hashed once, not 5 times). Keyed by size and mtime too, so a file
/// rewritten during the run is hashed again.
pub fn local_sha256(path: &Path) -> Result<String, String> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    type Slot = Arc<Mutex<Option<String>>>;
    static CACHE: Mutex<Option<HashMap<Key, Slot>>> = Mutex::new(None);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = (
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        meta.len(),
        meta.modified().ok(),
    );
    let cell = CACHE
        .lock()
        .unwrap()
        .get_or_insert_default()
        .entry(key)
        .or_default()
        .clone();
    // Hosts asking at the same time wait for the one that hashes.
    let mut sha = cell.lock().unwrap();
    if sha.is_none() {
        *sha = Some(sha256_file(path)?);
    }
    Ok(sha.clone().expect("just set"))
}

pub fn sha256_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
