//! `local::pack`: an application directory as a deterministic `.tar.gz`, so the same tree
//! gives the same bytes and sha256 on every controller and every run (uploads and unpacks
//! then skip by checksum).
//!
//! The archive has no top-level directory: `src/index.js` is stored as `src/index.js`, so
//! `h.unpack(archive, "/opt/apps/releases/app-1.2")` puts it at `…/app-1.2/src/index.js`.
//! Entries are sorted byte-wise per directory, depth first; every entry has mtime 0, owner
//! root:root (uid/gid 0), mode 0755 (directories and files with an exec bit) or 0644, and
//! no pax/atime/ctime headers; symlinks stay symlinks with their target as written. The
//! gzip header has mtime 0 and no file name.
//!
//! Left out: what `.runbookignore` in the directory (gitignore syntax) and the `exclude`
//! patterns match, the controller's own `.runbook/` directory (journal, builds, secrets)
//! and the output file itself.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// Where `local::pack` writes when the name has no `/`, relative to the directory runbook
/// runs in.
pub const BUILD_DIR: &str = ".runbook/build";
pub const IGNORE_FILE: &str = ".runbookignore";

#[derive(Debug, Default, Clone)]
pub struct PackOptions {
    /// Gitignore-style patterns, relative to the packed directory.
    pub exclude: Vec<String>,
    /// A shell command run in the directory first (`npm ci --omit=dev`).
    pub prepare: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// As given or under `.runbook/build/`, relative to the working directory.
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The archive's entries in order (directories end with `/`).
    pub entries: Vec<String>,
}

/// Where a tarball named `name` goes: `NAME` when it contains a `/`, else `.runbook/build/NAME`.
pub fn output_path(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name.ends_with('/') {
        return Err(format!("pack: the tarball name {name:?} must name a file"));
    }
    Ok(if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new(BUILD_DIR).join(name)
    })
}

pub fn pack(dir: &Path, name: &str, opts: &PackOptions) -> Result<Packed, String> {
    let out = output_path(name)?;
    if !dir.is_dir() {
        return Err(format!("pack: {} is not a directory", dir.display()));
    }
    if let Some(cmd) = &opts.prepare {
        prepare(dir, cmd)?;
    }
    let ignore = matcher(dir, &opts.exclude)?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("pack: cannot create {}: {e}", parent.display()))?;
    let file_name = out.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let tmp_name = format!(".{file_name}.tmp-{}", std::process::id());
    let tmp = parent.join(&tmp_name);
    // Never pack our own state or the archive being written (when packing ".").
    let parent_abs = parent
        .canonicalize()
        .map_err(|e| format!("pack: {}: {e}", parent.display()))?;
    let mut skip = vec![parent_abs.join(&file_name), parent_abs.join(&tmp_name)];
    skip.extend(Path::new(".runbook").canonicalize().ok());

    let written = write_archive(dir, &tmp, &ignore, &skip);
    let (sha256, size, entries) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("pack {}: {e}", dir.display()));
        }
    };
    std::fs::rename(&tmp, &out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("pack: cannot move the tarball to {}: {e}", out.display())
    })?;
    Ok(Packed {
        path: out,
        sha256,
        size,
        entries,
    })
}

/// Runs the prepare command in `dir`; its failure names the command and its output's tail.
fn prepare(dir: &Path, cmd: &str) -> Result<(), String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("pack: cannot start the prepare command {cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let msg = crate::connection::failure::ExecFailure::Exited {
        host: "local".into(),
        command: cmd.into(),
        code: crate::connection::local::exit_code(&out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Err(format!("pack: the prepare command failed in {}\n{msg}", dir.display()))
}

/// `.runbookignore` in `dir` plus the `exclude` patterns, one gitignore.
fn matcher(dir: &Path, exclude: &[String]) -> Result<Gitignore, String> {
    let mut b = GitignoreBuilder::new(dir);
    let file = dir.join(IGNORE_FILE);
    if file.is_file()
        && let Some(e) = b.add(&file)
    {
        return Err(format!("pack: {}: {e}", file.display()));
    }
    for pattern in exclude {
        b.add_line(None, pattern)
            .map_err(|e| format!("pack: exclude pattern {pattern:?}: {e}"))?;
    }
    b.build().map_err(|e| format!("pack: {e}"))
}

/// Counts and hashes what goes to the file, so the sha256 costs no second read.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_archive(
    dir: &Path,
    tmp: &Path,
    ignore: &Gitignore,
    skip: &[PathBuf],
) -> io::Result<(String, u64, Vec<String>)> {
    let file = File::create(tmp)?;
    let sink = HashingWriter {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        size: 0,
    };
    let gz = GzBuilder::new().mtime(0).write(sink, Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut entries = Vec::new();
    add_dir(&mut tar, dir, Path::new(""), ignore, skip, &mut entries)?;
    let gz = tar.into_inner()?;
    let mut sink = gz.finish()?;
    sink.flush()?;
    let file = sink.inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((hex::encode(sink.hash.finalize()), sink.size, entries))
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    // Names fit the GNU header fields; they cannot fail.
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

fn add_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    ignore: &Gitignore,
    skip: &[PathBuf],
    entries: &mut Vec<String>,
) -> io::Result<()> {
    let here = root.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    // Byte order, not locale order: the same on every machine.
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        if ignore.matched(&rel, meta.is_dir()).is_ignore() {
            continue;
        }
        // Only a name that matches is worth resolving.
        let maybe_skipped = skip.iter().any(|s| s.file_name() == Some(name.as_os_str()));
        if maybe_skipped && path.canonicalize().is_ok_and(|p| skip.contains(&p)) {
            continue;
        }
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&path)?;
            tar.append_link(&mut header(EntryType::Symlink, 0o777, 0), &rel, &target)?;
            entries.push(rel.display().to_string());
        } else if ft.is_dir() {
            tar.append_data(&mut header(EntryType::Directory, 0o755, 0), &rel, io::empty())?;
            entries.push(format!("{}/", rel.display()));
            add_dir(tar, root, &rel, ignore, skip, entries)?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            // At most the size in the header, should the file grow while we read it.
            let f = io::Read::take(File::open(&path)?, meta.len());
            tar.append_data(&mut header(EntryType::Regular, mode, meta.len()), &rel, f)?;
            entries.push(rel.display().to_string());
        } else {
            return Err(io::Error::other(format!(
                "{} is not a file, directory or symlink (a socket or device cannot be packed; exclude it)",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, s: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        w("package.json", "{}\n");
        w("src/index.js", "console.log(1)\n");
        w("bin/start", "#!/bin/sh\n");
        w("node_modules/x/index.js", "x\n");
        w("logs/today.log", "log\n");
        w(".git/HEAD", "ref\n");
        std::fs::set_permissions(d.path().join("bin/start"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("src/index.js", d.path().join("main.js")).unwrap();
        d
    }

    fn pack_to(dir: &Path, out: &Path, exclude: &[&str]) -> Packed {
        let opts = PackOptions {
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            prepare: None,
        };
        pack(dir, out.to_str().unwrap(), &opts).unwrap()
    }

    #[test]
    fn same_tree_same_bytes_and_modes_are_normalised() {
        let src = tree();
        let out = tempfile::tempdir().unwrap();
        let a = pack_to(src.path(), &out.path().join("a.tar.gz"), &[]);
        // New mtimes and another umask's modes do not change the archive.
        std::fs::set_permissions(src.path().join("package.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let f = File::options()
            .append(true)
            .open(src.path().join("src/index.js"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        let b = pack_to(src.path(), &out.path().join("b.tar.gz"), &[]);
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap(),
            "byte for byte"
        );
        assert_eq!(a.size, std::fs::metadata(&a.path).unwrap().len());

        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&a.path).unwrap()));
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let p = e.path().unwrap().display().to_string();
            assert_eq!(
                (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
                (0, 0, 0),
                "{p}"
            );
            assert_eq!(h.username().unwrap(), Some("root"));
            let want = match p.as_str() {
                "main.js" => 0o777,
                "bin/start" => 0o755,
                _ if h.entry_type().is_dir() => 0o755,
                _ => 0o644,
            };
            assert_eq!(h.mode().unwrap(), want, "{p}");
            if p == "main.js" {
                assert!(h.entry_type().is_symlink());
                assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("src/index.js"));
            }
        }
    }

    #[test]
    fn one_changed_byte_changes_the_sha256() {
        let src = tree();
        let out = tempfile::tempdir().unwrap();
        let a = pack_to(src.path(), &out.path().join("a.tgz"), &[]);
        std::fs::write(src.path().join("src/index.js"), "console.log(2)\n").unwrap();
        let b = pack_to(src.path(), &out.path().join("a.tgz"), &[]);
        assert_ne!(a.sha256, b.sha256);
    }

    #[test]
    fn runbookignore_and_exclude_leave_entries_out() {
        let src = tree();
        std::fs::write(src.path().join(IGNORE_FILE), "# comment\n*.log\nnode_modules/\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let p = pack_to(src.path(), &out.path().join("a.tgz"), &[".git", "/bin"]);
        assert_eq!(
            p.entries,
            [
                ".runbookignore",
                "logs/",
                "main.js",
                "package.json",
                "src/",
                "src/index.js"
            ]
        );
    }

    #[test]
    fn a_failing_prepare_names_the_command_and_its_stderr() {
        let src = tree();
        let out = tempfile::tempdir().unwrap();
        let opts = PackOptions {
            exclude: vec![],
            prepare: Some("echo building; echo 'npm ERR! missing script' >&2; exit 3".into()),
        };
        let target = out.path().join("a.tgz");
        let e = pack(src.path(), target.to_str().unwrap(), &opts).unwrap_err();
        assert!(e.contains("prepare command failed"), "{e}");
        assert!(e.contains("code 3") && e.contains("npm ERR! missing script"), "{e}");
        assert!(!target.exists(), "no tarball after a failed prepare");
    }

    #[test]
    fn names_without_a_slash_go_to_the_build_dir() {
        assert_eq!(output_path("app-1.tgz").unwrap(), Path::new(".runbook/build/app-1.tgz"));
        assert_eq!(output_path("dist/app.tgz").unwrap(), Path::new("dist/app.tgz"));
        assert!(output_path("").is_err() && output_path("dist/").is_err());
    }
}
