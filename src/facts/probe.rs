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
    if keys.iter().any(|k| matches!(k, FactKey::File(_))) {
        s.push_str(MISSING);
        s.push('\n');
    }
    for k in keys {
        s.push_str(&format!("echo '{MARK}'\n{}\n", snippet(k)));
    }
    s.push_str("exit 0\n");
    s
}

/// `rb_missing PATH`: whether a path `[ -e ]` does not see is missing, rather than hidden
/// from this user (a directory above it they cannot search: "permission denied"). The
/// nearest directory above it that exists decides; in the shell alone, as a path not there
/// yet (a first run) is the common case.
const MISSING: &str = "rb_missing() { d=$1; while :; do \
    case $d in */*) d=${d%/*}; [ -n \"$d\" ] || d=/;; *) d=.;; esac; \
    if [ -d \"$d\" ]; then [ -x \"$d\" ]; return; elif [ -e \"$d\" ] || [ \"$d\" = . ]; then return 0; fi; \
    done; }";

fn snippet(key: &FactKey) -> String {
    match key {
        FactKey::File(p) => {
            let q = quote(p);
            // As few processes as can be (each costs the host more than its work): a small
            // file's content comes with its facts, its sha256 taken here; a big one's sum
            // only; a missing path told from a hidden one by the shell alone.
            format!(
                "if [ -L {q} ]; then printf 'link %s\\n' \"$(readlink -- {q})\"; \
                 elif [ -d {q} ]; then printf 'dir %s\\n' \"$(stat -c '%U %G %a' -- {q})\"; \
                 elif [ -f {q} ]; then s=$(stat -c '%U %G %a %s' -- {q}); \
                 if [ \"${{s##* }}\" -le {CONTENT_MAX} ] 2>/dev/null && b=$(base64 -w0 < {q} 2>/dev/null); then printf 'file %s\\n%s\\n' \"$s\" \"$b\"; \
                 else h=$(sha256sum < {q} 2>/dev/null); printf 'file %s %s\\n' \"$s\" \"${{h%% *}}\"; fi; \
                 elif [ -e {q} ]; then echo other; \
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
    if sections.len() != keys.len() {
        return Err(format!(
            "reading facts: expected {} answers, got {}:\n{out}",
            keys.len(),
            sections.len()
        ));
    }
    keys.iter()
        .zip(sections)
        .map(|(k, lines)| parse_one(k, &lines))
        .collect()
}

fn parse_one(key: &FactKey, lines: &[&str]) -> Result<Fact, String> {
    let first = lines.first().copied().unwrap_or("");
    let bad = || format!("unexpected fact output for {key:?}: {lines:?}");
    Ok(match key {
        FactKey::File(_) => {
            let mut f = FileFact::missing();
            let w: Vec<&str> = first.split(' ').collect();
            match w[0] {
                "missing" => {}
                // Not "missing": a wrong guess there would redo (or undo) work.
                "denied" => {
                    let FactKey::File(p) = key else { unreachable!() };
                    return Err(format!(
                        "cannot tell whether {p} exists: permission denied (look with sudo)"
                    ));
                }
                "other" => f.kind = FileKind::Other,
                "link" => {
                    f.kind = FileKind::Link;
                    f.link_target = Some(first.strip_prefix("link ").unwrap_or("").to_string());
                }
                "dir" if w.len() >= 4 => {
                    f.kind = FileKind::Dir;
                    (f.owner, f.group, f.mode) =
                        (Some(w[1].into()), Some(w[2].into()), u32::from_str_radix(w[3], 8).ok());
                }
                "file" if w.len() >= 5 => {
                    f.kind = FileKind::File;
                    (f.owner, f.group, f.mode) =
                        (Some(w[1].into()), Some(w[2].into()), u32::from_str_radix(w[3], 8).ok());
                    f.size = w[4].parse().ok();
                    match (w.get(5), lines.get(1)) {
                        // A big file (or one that could not be read): its sum, if any.
                        (Some(sum), _) => f.sha256 = Some(sum.to_string()).filter(|s| s.len() == 64),
                        // A small one: its content, and so its sum and size.
                        (None, Some(b64)) => {
                            use base64::Engine as _;
                            let bytes = base64::engine::general_purpose::STANDARD
                                .decode(b64.trim())
                                .map_err(|e| format!("file content of {key:?}: {e}"))?;
                            f.sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
                            f.size = Some(bytes.len() as u64);
                            f.content = Some(std::sync::Arc::new(bytes));
                        }
                        (None, None) => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
            Fact::File(f)
        }
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
