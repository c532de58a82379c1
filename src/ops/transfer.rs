//! `h.upload(local, remote, opts)`: a local file (or the map `local::pack` returns) onto the
//! host. Skipped when the host already has those bytes with that mode and owner; otherwise
//! uploaded to a temporary name, verified by sha256, and renamed into place, so the target
//! is never half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rhai::{Dynamic, Map};
use sha2::{Digest, Sha256};

use crate::connection::{ExecRequest, UploadSource};
use crate::facts::{Fact, FactKey, FileFact, FileKind};
use crate::host::Host;
use crate::playbook::convert::Opts;
use crate::shell::{Become, quote};

use super::OpResult;
use super::command::become_of;

pub fn upload(host: &Host, local: &Dynamic, remote: &str, opts: Map) -> OpResult<Map> {
    let path = local_path(local)?;
    let opts = Opts::declared("upload", "h.upload", opts)?;
    let who = become_of(&opts)?;
    let mode = opts.mode("mode")?;
    let owner = opts.string("owner")?;
    let group = opts.string("group")?;
    if remote.is_empty() || remote.ends_with('/') {
        return Err(format!("upload: the remote path {remote:?} must name a file"));
    }
    let sha = local_sha256(&path)?;

    // Look: what the host has now, and its directory, in one round trip.
    let dir = Path::new(remote)
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    let facts = host.facts(&[FactKey::File(remote.into()), FactKey::File(dir.clone())], &who)?;
    let (Fact::File(cur), Fact::File(parent)) = (facts[0].clone(), &facts[1]) else {
        unreachable!("file probes give file facts")
    };
    if cur.kind == FileKind::Missing && parent.kind == FileKind::Missing && !host.maybe_from_package(&dir) {
        return Err(format!(
            "{}: upload {remote}: the directory {dir} does not exist; make it first: h.dir({dir:?})",
            host.name()
        ));
    }
    match cur.kind {
        FileKind::File | FileKind::Missing => {}
        k => {
            return Err(format!(
                "{}: upload {remote}: it is a {k:?}, not a file; refusing to replace it",
                host.name()
            ));
        }
    }
    let content_ok = cur.sha256.as_deref() == Some(sha.as_str());
    let owner_ok = owner.is_none() || owner == cur.owner;
    let group_ok = group.is_none() || group == cur.group;
    let mode_ok = mode.is_none() || mode == cur.mode;
    // A new file gets 0644 unless told otherwise (the staged copy is 0600 while in flight).
    let final_mode = mode.or(if content_ok { None } else { Some(0o644) });
    let after = FileFact {
        kind: FileKind::File,
        owner: owner.clone().or(cur.owner.clone()),
        group: group.clone().or(cur.group.clone()),
        mode: final_mode.or(cur.mode),
        size: std::fs::metadata(&path).ok().map(|m| m.len()),
        sha256: Some(sha.clone()),
        ..FileFact::missing()
    };
    let mut result = Map::new();
    result.insert("sha256".into(), sha.clone().into());
    result.insert("path".into(), remote.into());
    if content_ok && owner_ok && group_ok && mode_ok {
        result.insert("changed".into(), false.into());
        return Ok(result);
    }
    result.insert("changed".into(), true.into());
    let summary = if content_ok {
        "owner/mode".to_string()
    } else {
        format!("{} (sha256 {})", path.display(), &sha[..12])
    };
    if host.dry_run() {
        super::report(host, "upload", remote, &summary, None, None);
        host.predict(FactKey::File(remote.to_string()), Fact::File(after));
        return Ok(result);
    }

    // Act: new bytes go to a temporary name first (beside the target when we write as
    // ourselves, so the rename is atomic; in /tmp when another user finishes the job).
    let target = quote(remote);
    let mut finish = Vec::new();
    let staged = if content_ok {
        remote.to_string()
    } else {
        let name = format!(".runbook-upload-{}-{}", std::process::id(), &sha[..16]);
        let tmp = match who {
            Become::Me => match remote.rsplit_once('/') {
                Some((dir, _)) if !dir.is_empty() => format!("{dir}/{name}"),
                Some(_) => format!("/{name}"),
                None => name,
            },
            _ => format!("/tmp/{name}"),
        };
        let conn = host.connection().map_err(|e| format!("{}: upload: {e}", host.name()))?;
        host.run
            .rt
            .block_on(conn.upload(&UploadSource::File(path.clone()), &tmp, Some(0o600)))
            .map_err(|e| format!("{}: upload of {} failed: {e}", host.name(), path.display()))?;
        tmp
    };
    let s = quote(&staged);
    if let Some(o) = &owner {
        finish.push(format!("chown {} -- {s}", quote(o)));
    }
    if let Some(g) = &group {
        finish.push(format!("chgrp {} -- {s}", quote(g)));
    }
    if let Some(m) = final_mode {
        finish.push(format!("chmod {m:o} -- {s}"));
    }
    if staged != remote {
        finish.push(format!("mv -f -- {s} {target}"));
    }
    let req = ExecRequest {
        script: finish.join(" && "),
        become_: who,
        ..Default::default()
    };
    let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
    if out.code != 0 {
        let _ = host.exec(&ExecRequest::new(format!("rm -f -- {s}")));
        return Err(super::command::failure(
            host.name(),
            &req.script,
            out.code,
            &out.stderr_text(),
            &out.stdout_text(),
        ));
    }
    super::report(host, "upload", remote, &summary, None, None);
    host.predict(FactKey::File(remote.to_string()), Fact::File(after));

    Ok(result)
}

/// A path string, or a map with `path` (what `local::pack` returns). Relative paths are
/// relative to the directory runbook runs in.
fn local_path(local: &Dynamic) -> OpResult<PathBuf> {
    let p = if local.is_string() {
        local.to_string()
    } else if let Some(m) = local.read_lock::<Map>() {
        m.get("path")
            .map(|p| p.to_string())
            .ok_or("upload: the map has no `path`")?
    } else {
        return Err(format!(
            "upload: the local file must be a path or a packed tarball, not {}",
            local.type_name()
        ));
    };
    let path = PathBuf::from(&p);
    if !path.is_file() {
        return Err(format!("upload: local file {p} does not exist"));
    }
    Ok(path)
}

/// The sha256 of a local file, computed once per run for every host that gets it (a 50 MB
/// tarball to 5 hosts is hashed once, not 5 times). Keyed by size and mtime too, so a file
/// rewritten during the run is hashed again.
fn local_sha256(path: &Path) -> OpResult<String> {
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

pub fn sha256_file(path: &std::path::Path) -> OpResult<String> {
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
