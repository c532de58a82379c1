//! The shell that reads facts, and the parser of what it prints. Several facts are read by
//! one command: each prints its section after a marker line.

use super::types::{Fact, FactKey, FileFact, FileKind, GroupFact, OsFact, PackageFact, ServiceFact, UfwFact, UserFact};
use crate::shell::quote;

const MARK: &str = "@@runbook-fact@@";

/// A regular file up to this size is read with its facts (base64): an edit (`h.line`)
/// needs its text, and a second round trip for it would cost more than the bytes.
pub const CONTENT_MAX: u64 = 64 * 1024;

pub fn script(keys: &[&FactKey]) -> String {
    let mut s = String::new();
    let files = keys.iter().any(|k| matches!(k, FactKey::File(_)));
    if files {
        s.push_str(&FILES.replace("CONTENT_MAX", &CONTENT_MAX.to_string()));
        s.push_str("\nrb_nl='\n'\nset --\n");
    }
    for k in keys {
        s.push_str(&format!("echo '{MARK}'\n{}\n", snippet(k)));
    }
    if files {
        // The paths listed by their sections, all in one go (see `FILES`).
        s.push_str(&format!(
            "echo '{MARK}'\nrb_k=0\nuntil rb_files \"$@\"; do rb_k=$((rb_k + 1)); [ $rb_k -lt 3 ] || {{ echo unsteady; break; }}; done\n"
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// The shell functions a probe of paths uses. Every process costs a host more than its
/// work here, so a path's own section only tells a link (its target), a missing path and
/// a hidden one apart, with builtins; the paths that exist are listed (`set -- "$@" P`), and
/// `rb_files` reads them all with one `stat`, and the small regular files' contents with
/// one `cat` (their sha256 taken here, from the content): a line per listed path, in
/// order, `HEXMODE OWNER GROUP MODE SIZE` and `c` (content in the last line, split by the
/// sizes), `h SUM` (a big file: its sum only) or `n` (no content: a directory, or a file
/// it cannot read), then the contents' base64. `gone`: the path went away between its
/// section and the `stat`. The contents are read between two `stat`s that agree on their
/// sizes (else it fails, and is run again up to three times), so no file's bytes are
/// split at a size they no longer have.
///
/// `rb_missing PATH`: whether a path `[ -e ]` does not see is missing, rather than hidden
/// from this user (a directory above it they cannot search: "permission denied"). The
/// nearest directory above it that exists decides; in the shell alone, as a path not there
/// yet (a first run) is the common case.
const FILES: &str = concat!(
    "rb_missing() { d=$1; while :; do \
    case $d in */*) d=${d%/*}; [ -n \"$d\" ] || d=/;; *) d=.;; esac; \
    if [ -d \"$d\" ]; then [ -x \"$d\" ]; return; elif [ -e \"$d\" ] || [ \"$d\" = . ]; then return 0; fi; \
    done; }\n",
    "rb_files() {\n",
    "  [ $# -gt 0 ] || { echo; return 0; }\n",
    // One `stat` for all; if one went away since its section, one each ("gone").
    "  if rb_st=$(stat -c '%f %U %G %a %s' -- \"$@\" 2>/dev/null); then rb_st=\"$rb_st$rb_nl\"; else\n",
    "    rb_st=; for rb_p; do rb_st=\"$rb_st$(stat -c '%f %U %G %a %s' -- \"$rb_p\" 2>/dev/null || echo gone)$rb_nl\"; done; fi\n",
    "  rb_out=; rb_z=; rb_n=$#\n",
    "  for rb_p; do\n",
    "    rb_x=${rb_st%%\"$rb_nl\"*}; rb_st=${rb_st#*\"$rb_nl\"}\n",
    "    case $rb_x in\n",
    "      8*) if [ \"${rb_x##* }\" -le CONTENT_MAX ] && [ -r \"$rb_p\" ]; then\n",
    "          rb_out=\"$rb_out$rb_x c$rb_nl\"; rb_z=\"$rb_z${rb_x##* }$rb_nl\"; set -- \"$@\" \"$rb_p\"\n",
    "        else rb_h=$(sha256sum < \"$rb_p\" 2>/dev/null); rb_out=\"$rb_out$rb_x h ${rb_h%% *}$rb_nl\"; fi;;\n",
    "      *) rb_out=\"$rb_out$rb_x n$rb_nl\";;\n",
    "    esac\n",
    "  done\n",
    "  shift $rb_n; rb_b=\n",
    "  if [ $# -gt 0 ]; then\n",
    "    rb_b=$(cat -- \"$@\" 2>/dev/null | base64 -w0)\n",
    "    [ \"$(stat -c %s -- \"$@\" 2>/dev/null)$rb_nl\" = \"$rb_z\" ] || return 1\n",
    "  fi\n",
    "  printf '%s%s\\n' \"$rb_out\" \"$rb_b\"\n",
    "}"
);

fn snippet(key: &FactKey) -> String {
    match key {
        FactKey::File(p) => {
            let q = quote(p);
            format!(
                "if [ -L {q} ]; then printf 'link %s\\n' \"$(readlink -- {q})\"; \
                 elif [ -e {q} ]; then echo listed; set -- \"$@\" {q}; \
                 elif rb_missing {q}; then echo missing; else echo denied; fi"
            )
        }
        FactKey::Package(n) => {
            format!("dpkg-query -W -f='${{db:Status-Status}} ${{Version}}\\n' -- {} 2>/dev/null || echo not-installed", quote(n))
        }
        FactKey::Service(u) => {
            let q = quote(u);
            // One property a line. When it became active, as Unix seconds (systemd prints it in
            // TZ's words; `--timestamp=unix` needs systemd 251); when its files in
            // /etc/systemd/system were last written (drop-ins: the glob after the quoted name).
            format!(
                "if [ -d /run/systemd/system ]; then \
                 TZ=UTC LC_ALL=C systemctl show -p LoadState -p ActiveState -p UnitFileState -p NeedDaemonReload -p ActiveEnterTimestamp -- {q} 2>/dev/null \
                 | while IFS= read -r l; do case \"$l\" in ActiveEnterTimestamp=?*) echo \"ActiveSince=$(date -u -d \"${{l#*=}}\" +%s 2>/dev/null)\";; \
                 ActiveEnterTimestamp=*) ;; *) echo \"$l\";; esac; done; \
                 w=0; for f in /etc/systemd/system/{q} /etc/systemd/system/{q}.d/*.conf; do \
                 if [ -f \"$f\" ]; then m=$(stat -c %Y -- \"$f\") && [ \"$m\" -gt \"$w\" ] && w=$m; fi; done; echo \"Written=$w\"; \
                 elif [ -x /etc/init.d/{q} ]; then echo 'LoadState=loaded'; echo 'UnitFileState=enabled'; \
                 if service {q} status >/dev/null 2>&1; then echo 'ActiveState=active'; else echo 'ActiveState=inactive'; fi; \
                 else echo 'LoadState=not-found'; fi"
            )
        }
        FactKey::User(n) => {
            let q = quote(n);
            format!("if e=$(getent passwd -- {q}); then printf '%s|%s\\n' \"$e\" \"$(id -nG -- {q})\"; else echo missing; fi")
        }
        FactKey::Group(n) => format!("getent group -- {} || echo missing", quote(n)),
        FactKey::Ufw => "if ! command -v ufw >/dev/null 2>&1; then echo not-installed; \
             elif [ \"$(id -u)\" != 0 ]; then echo need-root; \
             else grep -h '^ENABLED=\\|^DEFAULT_INPUT_POLICY=\\|^DEFAULT_OUTPUT_POLICY=' /etc/ufw/ufw.conf /etc/default/ufw; \
             ufw show added 2>/dev/null | grep '^ufw ' || true; fi"
            .to_string(),
        FactKey::Os => "cat /etc/os-release 2>/dev/null || true".to_string(),
        FactKey::Init => "if [ -d /run/systemd/system ]; then echo systemd; else echo sysv; fi".to_string(),
    }
}

pub fn parse(keys: &[&FactKey], out: &str) -> Result<Vec<Fact>, String> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in out.lines() {
        if line == MARK {
            sections.push(Vec::new());
        } else if let Some(s) = sections.last_mut() {
            s.push(line);
        }
    }
    let files = keys.iter().any(|k| matches!(k, FactKey::File(_)));
    let expected = keys.len() + usize::from(files);
    if sections.len() != expected {
        return Err(format!(
            "reading facts: expected {expected} answers, got {}:\n{out}",
            sections.len()
        ));
    }
    let mut listed = match files {
        true => Listed::new(sections.pop().unwrap_or_default(), keys)?,
        false => Listed::default(),
    };
    let facts = keys
        .iter()
        .zip(sections)
        .map(|(k, lines)| parse_one(k, &lines, &mut listed))
        .collect::<Result<Vec<Fact>, String>>()?;
    listed.finish()?;
    Ok(facts)
}

/// The paths `rb_files` read (see `FILES`): a line each, in order, and their contents.
#[derive(Default)]
struct Listed<'a> {
    lines: std::vec::IntoIter<&'a str>,
    contents: Vec<u8>,
    at: usize,
}

impl<'a> Listed<'a> {
    fn new(mut lines: Vec<&'a str>, keys: &[&FactKey]) -> Result<Self, String> {
        let blob = lines.pop().unwrap_or("");
        if blob == "unsteady" {
            let paths: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            return Err(format!(
                "files kept changing while they were read (three times), among {}",
                paths.join(", ")
            ));
        }
        use base64::Engine as _;
        let contents = base64::engine::general_purpose::STANDARD
            .decode(blob.trim())
            .map_err(|e| format!("file contents: {e}"))?;
        Ok(Listed {
            lines: lines.into_iter(),
            contents,
            at: 0,
        })
    }

    /// The next listed path's line, and its content when it came with one.
    fn next(&mut self, path: &str) -> Result<(Vec<&'a str>, Option<Vec<u8>>), String> {
        let line = self.lines.next().ok_or_else(|| format!("no stat line for {path}"))?;
        let w: Vec<&str> = line.split(' ').collect();
        let content = match (w.len(), w.last()) {
            (6, Some(&"c")) => {
                let size: usize = w[4].parse().map_err(|_| format!("bad size for {path}: {line}"))?;
                let bytes = self
                    .contents
                    .get(self.at..self.at + size)
                    .ok_or_else(|| format!("the contents read are shorter than the files' sizes ({path})"))?;
                self.at += size;
                Some(bytes.to_vec())
            }
            _ => None,
        };
        Ok((w, content))
    }

    fn finish(self) -> Result<(), String> {
        match (self.lines.len(), self.at == self.contents.len()) {
            (0, true) => Ok(()),
            _ => Err("more file facts came than paths were asked for".into()),
        }
    }
}

fn parse_file(path: &str, lines: &[&str], listed: &mut Listed) -> Result<Fact, String> {
    let first = lines.first().copied().unwrap_or("");
    let bad = |what: &dyn std::fmt::Debug| format!("unexpected fact output for {path}: {what:?}");
    let mut f = FileFact::missing();
    match first {
        "missing" => {}
        // Not "missing": a wrong guess there would redo (or undo) work.
        "denied" => {
            return Err(format!(
                "cannot tell whether {path} exists: permission denied (look with sudo)"
            ));
        }
        "listed" => {
            let (w, content) = listed.next(path)?;
            if w[0] == "gone" {
                return Ok(Fact::File(f));
            }
            let raw = w.first().and_then(|h| u32::from_str_radix(h, 16).ok());
            let (Some(raw), true) = (raw, w.len() >= 6) else {
                return Err(bad(&w));
            };
            let attrs = (Some(w[1].into()), Some(w[2].into()), u32::from_str_radix(w[3], 8).ok());
            match raw & 0o170000 {
                0o040000 => {
                    f.kind = FileKind::Dir;
                    (f.owner, f.group, f.mode) = attrs;
                }
                0o100000 => {
                    f.kind = FileKind::File;
                    (f.owner, f.group, f.mode) = attrs;
                    f.size = w[4].parse().ok();
                    match (w[5], content) {
                        // A small one: its content, and so its sum and size.
                        ("c", Some(bytes)) => {
                            f.sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
                            f.size = Some(bytes.len() as u64);
                            f.content = Some(std::sync::Arc::new(bytes));
                        }
                        // A big file (or one that could not be read): its sum, if any.
                        ("h", _) => f.sha256 = w.get(6).map(|s| s.to_string()).filter(|s| s.len() == 64),
                        ("n", _) => {}
                        _ => return Err(bad(&w)),
                    }
                }
                _ => f.kind = FileKind::Other,
            }
        }
        _ => match first.strip_prefix("link ") {
            Some(target) => {
                f.kind = FileKind::Link;
                f.link_target = Some(target.to_string());
            }
            None => return Err(bad(&lines)),
        },
    }
    Ok(Fact::File(f))
}

/// One key's facts from its section (a file's also from what `rb_files` read).
fn parse_one(key: &FactKey, lines: &[&str], listed: &mut Listed) -> Result<Fact, String> {
    let first = lines.first().copied().unwrap_or("");
    let bad = || format!("unexpected fact output for {key:?}: {lines:?}");
    Ok(match key {
        FactKey::File(p) => return parse_file(p, lines, listed),
        FactKey::Package(_) => {
            let (status, version) = first.split_once(' ').unwrap_or((first, ""));
            let installed = status == "installed";
            Fact::Package(PackageFact {
                installed,
                version: installed.then(|| version.to_string()),
            })
        }
        FactKey::Service(_) => {
            let prop = |name: &str| {
                lines
                    .iter()
                    .find_map(|l| l.trim().strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            };
            let seconds = |name: &str| prop(name).and_then(|v| v.parse::<u64>().ok()).filter(|s| *s > 0);
            let active = matches!(prop("ActiveState"), Some("active" | "reloading" | "activating"));
            Fact::Service(ServiceFact {
                exists: prop("LoadState").is_some_and(|s| s == "loaded"),
                active,
                enabled: matches!(
                    prop("UnitFileState"),
                    Some("enabled" | "enabled-runtime" | "static" | "alias")
                ),
                masked: prop("LoadState").is_some_and(|s| s == "masked")
                    || matches!(prop("UnitFileState"), Some("masked" | "masked-runtime")),
                need_reload: prop("NeedDaemonReload").is_some_and(|s| s == "yes"),
                active_since: seconds("ActiveSince").filter(|_| active),
                written: seconds("Written"),
            })
        }
        FactKey::User(_) => {
            if first == "missing" {
                Fact::User(UserFact {
                    exists: false,
                    uid: None,
                    home: None,
                    shell: None,
                    groups: vec![],
                })
            } else {
                let (passwd, groups) = first.split_once('|').ok_or_else(bad)?;
                let f: Vec<&str> = passwd.split(':').collect();
                if f.len() < 7 {
                    return Err(bad());
                }
                Fact::User(UserFact {
                    exists: true,
                    uid: f[2].parse().ok(),
                    home: Some(f[5].to_string()),
                    shell: Some(f[6].to_string()),
                    groups: groups.split_whitespace().map(str::to_string).collect(),
                })
            }
        }
        FactKey::Group(_) => {
            if first == "missing" {
                Fact::Group(GroupFact {
                    exists: false,
                    gid: None,
                })
            } else {
                Fact::Group(GroupFact {
                    exists: true,
                    gid: first.split(':').nth(2).and_then(|g| g.parse().ok()),
                })
            }
        }
        FactKey::Ufw => {
            if first == "need-root" {
                return Err("reading the firewall needs root: use `sudo: true` or log in as root".into());
            }
            let mut f = UfwFact {
                installed: first != "not-installed",
                enabled: false,
                default_incoming: "deny".into(),
                default_outgoing: "allow".into(),
                rules: vec![],
            };
            let policy = |v: &str| match v.trim_matches('"') {
                "ACCEPT" => "allow",
                "REJECT" => "reject",
                _ => "deny",
            };
            for l in lines {
                if let Some(v) = l.strip_prefix("ENABLED=") {
                    f.enabled = v == "yes";
                } else if let Some(v) = l.strip_prefix("DEFAULT_INPUT_POLICY=") {
                    f.default_incoming = policy(v).into();
                } else if let Some(v) = l.strip_prefix("DEFAULT_OUTPUT_POLICY=") {
                    f.default_outgoing = policy(v).into();
                } else if let Some(r) = l.strip_prefix("ufw ") {
                    f.rules.push(r.to_string());
                }
            }
            Fact::Ufw(f)
        }
        FactKey::Os => {
            let get = |k: &str| {
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                    .map(|v| v.trim_matches('"').to_string())
                    .unwrap_or_default()
            };
            Fact::Os(OsFact {
                id: get("ID"),
                version_id: get("VERSION_ID"),
                codename: get("VERSION_CODENAME"),
                pretty_name: get("PRETTY_NAME"),
            })
        }
        FactKey::Init => Fact::Init(first.trim().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_run_in_one_shell_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a b");
        std::fs::write(&f, "hi\n").unwrap();
        std::os::unix::fs::symlink(&f, dir.path().join("l")).unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let big: Vec<u8> = (0..CONTENT_MAX + 1).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let keys = [
            FactKey::File(f.display().to_string()),
            FactKey::File(dir.path().display().to_string()),
            FactKey::File(dir.path().join("l").display().to_string()),
            FactKey::File(dir.path().join("none").display().to_string()),
            FactKey::Init,
            FactKey::File(dir.path().join("empty").display().to_string()),
            FactKey::File(dir.path().join("big").display().to_string()),
            FactKey::File(dir.path().join("no/such/dirs/x").display().to_string()),
            FactKey::File(f.join("under-a-file").display().to_string()),
            FactKey::File("relative/none".into()),
        ];
        let refs: Vec<&FactKey> = keys.iter().collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(&refs))
            .output()
            .unwrap();
        let facts = parse(&refs, &String::from_utf8(out.stdout).unwrap()).unwrap();
        let Fact::File(file) = &facts[0] else { panic!() };
        assert_eq!(file.kind, FileKind::File);
        assert_eq!(file.size, Some(3));
        assert_eq!(
            file.sha256.as_deref(),
            Some("98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4")
        );
        let Fact::File(d) = &facts[1] else { panic!() };
        assert_eq!(d.kind, FileKind::Dir);
        let Fact::File(l) = &facts[2] else { panic!() };
        assert_eq!(l.link_target.as_deref(), Some(f.to_str().unwrap()));
        let Fact::File(m) = &facts[3] else { panic!() };
        assert_eq!(m.kind, FileKind::Missing);
        // A small file's content comes along; an empty one is known empty, not unknown.
        assert_eq!(file.content.as_deref(), Some(&b"hi\n".to_vec()));
        let Fact::File(e) = &facts[5] else { panic!() };
        assert_eq!(
            (e.kind, e.size, e.content.as_deref()),
            (FileKind::File, Some(0), Some(&vec![]))
        );
        assert_eq!(
            e.sha256.as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        for (i, fact) in facts.iter().enumerate().skip(7) {
            let Fact::File(m) = fact else { panic!() };
            assert_eq!(m.kind, FileKind::Missing, "key {i}");
        }
        // A big one only its sum.
        let Fact::File(b) = &facts[6] else { panic!() };
        let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&big));
        assert_eq!(
            (b.size, b.sha256.as_deref(), b.content.is_none()),
            (Some(CONTENT_MAX + 1), Some(want.as_str()), true)
        );
    }

    /// Runs a probe with `shims` (name, sh script) ahead of the real tools on PATH.
    fn probe_with(keys: &[&FactKey], shims: &[(&str, &str)]) -> Result<Vec<Fact>, String> {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().unwrap();
        for (name, body) in shims {
            let p = bin.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(keys))
            .env("PATH", path)
            .output()
            .unwrap();
        parse(keys, &String::from_utf8(out.stdout).unwrap())
    }

    #[test]
    fn files_are_read_together_and_a_race_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        std::fs::write(p("a"), "alpha\n").unwrap();
        std::fs::write(p("b"), "").unwrap();
        std::fs::write(p("c"), "gamma, the third\n").unwrap();
        std::fs::create_dir(p("d")).unwrap();
        let keys: Vec<FactKey> = ["a", "d", "b", "none", "c"]
            .iter()
            .map(|n| FactKey::File(p(n)))
            .collect();
        let refs: Vec<&FactKey> = keys.iter().collect();
        let content = |f: &Fact| match f {
            Fact::File(f) => f.content.as_deref().cloned(),
            _ => panic!(),
        };
        let together = probe_with(&refs, &[]).unwrap();
        let contents: Vec<Option<Vec<u8>>> = together.iter().map(content).collect();
        assert_eq!(
            contents,
            [
                Some(b"alpha\n".to_vec()),
                None,
                Some(vec![]),
                None,
                Some(b"gamma, the third\n".to_vec())
            ]
        );
        // A path gone between its test and the one `stat` for all: one `stat` each then, the
        // same facts.
        let one_each = format!(
            "case $2 in *%f*) [ $# -le 4 ] || exit 1;; esac; exec {} \"$@\"",
            which("stat")
        );
        assert_eq!(probe_with(&refs, &[("stat", &one_each)]).unwrap(), together);
        // A file that grows whenever it is read: never split at a stale size, an error.
        let grows = format!("{} \"$@\"; echo more >> {}", which("cat"), quote(&p("c")));
        let err = probe_with(&refs, &[("cat", &grows)]).unwrap_err();
        assert!(err.contains("kept changing"), "{err}");
    }

    fn which(tool: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn ufw_and_services_parse() {
        let ufw = parse_one(
            &FactKey::Ufw,
            &[
                "ENABLED=yes",
                "DEFAULT_INPUT_POLICY=\"DROP\"",
                "DEFAULT_OUTPUT_POLICY=\"ACCEPT\"",
                "ufw allow 22/tcp",
            ],
            &mut Listed::default(),
        )
        .unwrap();
        assert_eq!(
            ufw,
            Fact::Ufw(UfwFact {
                installed: true,
                enabled: true,
                default_incoming: "deny".into(),
                default_outgoing: "allow".into(),
                rules: vec!["allow 22/tcp".into()]
            })
        );
        let svc = parse_one(
            &FactKey::Service("nginx".into()),
            &[
                "LoadState=loaded",
                "ActiveState=active",
                "UnitFileState=enabled",
                "NeedDaemonReload=yes",
                "ActiveSince=1700000000",
                "Written=1700000100",
            ],
            &mut Listed::default(),
        )
        .unwrap();
        assert_eq!(
            svc,
            Fact::Service(ServiceFact {
                exists: true,
                active: true,
                enabled: true,
                masked: false,
                need_reload: true,
                active_since: Some(1700000000),
                written: Some(1700000100),
            })
        );
        // Inactive: when it was last active does not matter; no files in /etc: none.
        let svc = parse_one(
            &FactKey::Service("redis-server.service".into()),
            &[
                "LoadState=masked",
                "ActiveState=inactive",
                "UnitFileState=masked",
                "NeedDaemonReload=no",
                "ActiveSince=1700000000",
                "Written=0",
            ],
            &mut Listed::default(),
        )
        .unwrap();
        assert_eq!(
            svc,
            Fact::Service(ServiceFact {
                masked: true,
                ..ServiceFact::default()
            })
        );
    }
}
