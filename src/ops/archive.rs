//! `h.unpack(archive, dest, opts)`: a `.tar.gz` already on the host, unpacked into a new
//! directory `dest`, once.
//!
//! `DEST/.runbook-archive` holds the sha256 of the archive that made it: the same archive
//! again is no change; a missing `dest` is unpacked into a temporary directory beside it,
//! marked, and renamed into place, so a half-unpacked tree never appears at `dest`; a
//! `dest` that holds another archive, or no marker, is an error and is left untouched
//! (a release directory is never overwritten with other content). Missing parent
//! directories are created. Files get the unpack time as mtime (`tar -m`), so web servers
//! do not serve a new file under an old ETag.

use serde::Deserialize;

use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Plan};
use crate::connection::failure::ExecFailure;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::facts::{Fact, FactKey, FileFact, FileKind, Look};
use crate::shell::{Become, quote};

/// The marker file inside an unpacked directory.
pub const MARKER: &str = ".runbook-archive";

/// What the host has at `dest`.
#[derive(Debug, PartialEq)]
enum Dest {
    Missing,
    /// Unpacked by runbook from the archive with this sha256.
    Marked(String),
    /// Something runbook did not unpack.
    Unmarked,
}

/// `h.unpack(archive, dest, #{ owner, group })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unpack {
    /// The archive's path on the host.
    pub archive: String,
    /// Its sha256 when known beforehand (what `h.upload` returned): a dry run plans with it
    /// before the archive is on the host.
    #[serde(default)]
    pub sha256: Option<String>,
    pub dest: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub who: Become,
}

/// The plan, and the sha256 of the archive at `dest` (unknown in a dry run whose archive is
/// still to be uploaded).
pub struct Unpacked {
    pub plan: Option<Plan>,
    pub sha256: Option<String>,
}

pub fn unpack(look: &dyn Look, u: &Unpack) -> OpResult<Unpacked> {
    let (archive, given_sha, who) = (u.archive.clone(), u.sha256.clone().filter(|s| is_sha256(s)), &u.who);
    let (owner, group) = (u.owner.clone(), u.group.clone());
    let dest = u.dest.trim_end_matches('/');
    if !dest.starts_with('/') || dest.split('/').any(|c| c == "..") {
        return Err(OpError::invalid(
            "unpack",
            format!(
                "the destination {:?} must be an absolute path below / without `..`",
                u.dest
            ),
        ));
    }
    let (parent, _) = dest.rsplit_once('/').expect("absolute path has a /");
    let parent = if parent.is_empty() { "/" } else { parent };
    let (a, d) = (quote(&archive), quote(dest));
    let m = quote(&format!("{dest}/{MARKER}"));

    // Look (read-only, also in dry-run).
    let probe = format!(
        "if [ -f {a} ]; then sha256sum < {a} | cut -c1-64; else echo none; fi; \
         if [ -f {m} ]; then echo marker $(head -n 1 {m}); elif [ -e {d} ] || [ -L {d} ]; then echo other; else echo missing; fi; \
         if [ -e {d} ]; then stat -c '%U %G' -- {d}; fi"
    );
    let out = look.query(&probe, who)?;
    if out.code != 0 {
        return Err(ExecFailure::exited(look.host_name(), &probe, &out).into());
    }
    let facts = out.stdout_text();
    let mut lines = facts.lines();
    let remote_sha = lines.next().filter(|s| is_sha256(s)).map(str::to_string);
    let second = lines.next().unwrap_or_default();
    let state = match second.strip_prefix("marker") {
        Some(sha) => Dest::Marked(sha.trim().to_string()),
        None if second == "other" => Dest::Unmarked,
        None => Dest::Missing,
    };
    let mut stat = lines.next().unwrap_or_default().split_whitespace();
    let (mut cur_owner, mut cur_group) = (stat.next().map(str::to_string), stat.next().map(str::to_string));
    // A dry run that planned this unpack earlier (another step: unpack, then activate) knows
    // the marker it would have written, and who would own the tree.
    let marker = format!("{dest}/{MARKER}");
    let mut state = state;
    if let Some(FileFact {
        content: Some(text),
        owner,
        group,
        ..
    }) = look.file_known(&marker).filter(|_| look.dry_run())
    {
        state = Dest::Marked(String::from_utf8_lossy(&text).trim().to_string());
        (cur_owner, cur_group) = (owner, group);
    }

    // In a dry run an earlier `upload` may not have sent the archive yet: its result
    // carries the sha256 the host would have, and so does what it predicted of the archive
    // (for an unpack given the archive's path).
    let planned = look
        .file_known(&archive)
        .filter(|_| look.dry_run())
        .and_then(|f| f.sha256);
    let sha = match (remote_sha, given_sha.or(planned)) {
        (remote, Some(given)) if look.dry_run() => Some(given).or(remote),
        (Some(s), _) => Some(s),
        (None, _) if look.dry_run() => None,
        (None, _) => {
            let why = format!("archive {archive} does not exist");
            return Err(OpError::refused(look.host_name(), "unpack", dest, why));
        }
    };
    let refused = |why: String| Err(OpError::refused(look.host_name(), "unpack", dest, why));

    let short = |s: &str| s.chars().take(12).collect::<String>();
    let fix_owner = match (&state, &sha) {
        (Dest::Unmarked, _) => {
            return refused(format!(
                "it already exists and was not unpacked by runbook (no {MARKER}); \
                 runbook never unpacks over an existing directory: choose a new destination"
            ));
        }
        (Dest::Marked(have), Some(want)) if have != want => {
            return refused(format!(
                "it already holds another archive (sha256 {}…), not {archive} (sha256 {}…); \
                 runbook never unpacks over an existing release of another content: use a new directory (a new version)",
                short(have),
                short(want)
            ));
        }
        (Dest::Marked(_), _) => {
            let owner_ok = owner.is_none() || owner == cur_owner;
            let group_ok = group.is_none() || group == cur_group;
            if owner_ok && group_ok {
                return Ok(Unpacked {
                    plan: None,
                    sha256: sha,
                });
            }
            true
        }
        (Dest::Missing, _) => false,
    };
    let chown = chown_of(owner.as_deref(), group.as_deref());

    // What changes, and the command that changes it (unknown in a dry run whose archive is
    // still to be uploaded: its sha256 goes into the marker).
    let (summary, script) = if fix_owner {
        let c = chown.clone().unwrap_or_default();
        (format!("owner {c}"), Some(format!("chown -R {c} -- {d}")))
    } else {
        let summary = match &sha {
            Some(s) => format!("from {archive} (sha256 {})", short(s)),
            None => format!("from {archive} (not on the host yet)"),
        };
        let script = sha.as_ref().map(|sha| {
            let mut s = format!(
                "set -e; mkdir -p -- {p}; t=$(mktemp -d {tmpl}); trap 'rm -rf -- \"$t\"' EXIT; \
                 tar -xzf {a} -C \"$t\" --no-same-owner -m; printf '%s\\n' {sha} > \"$t\"/{marker}; chmod 755 \"$t\"; ",
                p = quote(parent),
                tmpl = quote(&format!("{}/.runbook-unpack.XXXXXX", parent.trim_end_matches('/'))),
                marker = quote(MARKER),
            );
            if let Some(c) = &chown {
                s.push_str(&format!("chown -R {c} -- \"$t\"; "));
            }
            // Checked again just before the rename: never replace what appeared meanwhile.
            s.push_str(&format!(
                "if [ -e {d} ] || [ -L {d} ]; then echo \"unpack: \"{d}\" appeared meanwhile; left as it is\" >&2; exit 3; fi; \
                 mv -T -- \"$t\" {d}"
            ));
            s
        });
        (summary, script)
    };

    let plan = Plan {
        op: "unpack",
        target: dest.into(),
        summary,
        become_: who.clone(),
        // Unknown only in a dry run (the archive is still to be uploaded).
        actions: script
            .map(|script| Action::Script { script, stdin: None })
            .into_iter()
            .collect(),
        diff: None,
        effects: std::iter::once(Effect::ForgetUnder(dest.into()))
            .chain(sha.as_ref().map(|sha| {
                let text = format!("{sha}\n").into_bytes();
                let marked = FileFact {
                    kind: FileKind::File,
                    owner: owner.clone().or(cur_owner),
                    group: group.clone().or(cur_group),
                    mode: Some(0o644),
                    size: Some(text.len() as u64),
                    sha256: Some(hex::encode(Sha256::digest(&text))),
                    content: Some(Arc::new(text)),
                    ..FileFact::missing()
                };
                Effect::Predict(FactKey::File(marker), Fact::File(marked))
            }))
            .collect(),
        guard: None,
    };
    Ok(Unpacked {
        plan: Some(plan),
        sha256: sha,
    })
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `owner:group`, `owner` or `:group` for chown, quoted.
fn chown_of(owner: Option<&str>, group: Option<&str>) -> Option<String> {
    match (owner, group) {
        (None, None) => None,
        (Some(o), None) => Some(quote(o)),
        (o, Some(g)) => Some(quote(&format!("{}:{g}", o.unwrap_or("")))),
    }
}
