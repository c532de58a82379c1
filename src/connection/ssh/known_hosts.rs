//! Host key verification against known_hosts files, as OpenSSH does it: `[host]:port`
//! names, hashed entries (`|1|salt|hash`), wildcard and negated patterns, `@revoked`
//! (always refused) and `@cert-authority` (never taken as the host's own key).
//!
//! russh's `check_known_hosts_path` misses wildcards, `@revoked` and `@cert-authority`,
//! hence this small matcher over `ssh_key`'s entry parser.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{HashAlg, PublicKey};

/// One parsed line, remembered with where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct KnownLine {
    pub file: PathBuf,
    pub line: usize,
    pub entry: Entry,
}

/// What the files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No entry for this host at all.
    Unknown,
    /// Entries exist for the host but none has this key.
    Changed {
        expected: Vec<(String, PathBuf, usize)>,
    },
    /// The key is listed as `@revoked`.
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    lines: Vec<KnownLine>,
}

impl KnownHosts {
    /// Reads every file that exists; unreadable lines are skipped (as OpenSSH does).
    pub fn load(files: &[PathBuf]) -> Self {
        let mut lines = Vec::new();
        for file in files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for (i, raw) in text.lines().enumerate() {
                let l = raw.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                if let Ok(entry) = l.parse::<Entry>() {
                    lines.push(KnownLine {
                        file: file.clone(),
                        line: i + 1,
                        entry,
                    });
                }
            }
        }
        KnownHosts { lines }
    }

    /// The algorithms of the keys known for this host, so the client can ask the server
    /// for a key type it can verify.
    pub fn known_algorithms(&self, host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
        let name = lookup_name(host, port);
        self.lines
            .iter()
            .filter(|l| l.entry.marker().is_none() && matches(l.entry.host_patterns(), &name))
            .map(|l| l.entry.public_key().algorithm())
            .collect()
    }

    pub fn verify(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = lookup_name(host, port);
        let for_host: Vec<&KnownLine> = self
            .lines
            .iter()
            .filter(|l| matches(l.entry.host_patterns(), &name))
            .collect();
        if let Some(r) = for_host
            .iter()
            .find(|l| l.entry.marker() == Some(&Marker::Revoked) && same_key(l.entry.public_key(), key))
        {
            return Verdict::Revoked {
                file: r.file.clone(),
                line: r.line,
            };
        }
        let plain: Vec<&&KnownLine> = for_host.iter().filter(|l| l.entry.marker().is_none()).collect();
        if plain.iter().any(|l| same_key(l.entry.public_key(), key)) {
            return Verdict::Known;
        }
        if plain.is_empty() {
            return Verdict::Unknown;
        }
        Verdict::Changed {
            expected: plain
                .iter()
                .map(|l| (fingerprint(l.entry.public_key()), l.file.clone(), l.line))
                .collect(),
        }
    }
}

/// OpenSSH looks hosts up as `host` on port 22 and `[host]:port` otherwise.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn matches(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.finalize().into_bytes().as_slice() == hash
        }
        HostPatterns::Patterns(list) => {
            let mut hit = false;
            for p in list {
                if let Some(neg) = p.strip_prefix('!') {
                    if wildcard(neg, name) {
                        return false;
                    }
                } else if wildcard(p, name) {
                    hit = true;
                }
            }
            hit
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, case-insensitive.
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Appends `[host]:port key` to `file` (trust on first use), creating it if needed.
pub fn learn(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let encoded = key.to_openssh().map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    writeln!(f, "{} {}", lookup_name(host, port), encoded)
}

/// Makes `keys` (`type base64` each) the only plain entries for `name` in `file`: lines that
/// name exactly `name` are dropped first. For hosts whose keys runbook reads from the
/// machine that owns them (the docker provider), not for keys seen on the network.
pub fn replace(file: &Path, name: &str, keys: &[String]) -> std::io::Result<()> {
    let _guard = REWRITE.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = without(file, name)?;
    for k in keys {
        text.push_str(&format!("{name} {}\n", k.trim()));
    }
    write_atomically(file, &text)
}

/// Drops the plain entries that name exactly `name` (like `ssh-keygen -R`, for plain names).
pub fn forget(file: &Path, name: &str) -> std::io::Result<()> {
    let _guard = REWRITE.lock().unwrap_or_else(|e| e.into_inner());
    if !file.exists() {
        return Ok(());
    }
    let text = without(file, name)?;
    write_atomically(file, &text)
}

/// Rewrites are read-modify-write: one at a time in this process.
static REWRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn without(file: &Path, name: &str) -> std::io::Result<String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut out = String::new();
    for line in text.lines() {
        let names = line.split_whitespace().next().unwrap_or("");
        if names.split(',').any(|n| n == name) && !line.starts_with('@') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

/// A hashed known_hosts name, as `ssh-keygen -H` writes it (for tests and users).
pub fn hashed_name(name: &str, salt: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).expect("any key length");
    mac.update(name.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("|1|{}|{}", b64.encode(salt), b64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMjPTvYwqekoRc0EhXlRy1Hh9WuTJPoQgIu4RlIKfLA";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINMFXd8sA3Tlc+GYw/vZ+TXf7yo3h2OKua7EbD3n/RL+";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn known(text: &str) -> (KnownHosts, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(&f, text).unwrap();
        (KnownHosts::load(&[f]), dir)
    }

    #[test]
    fn plain_ported_hashed_and_wildcard_entries() {
        let hashed = hashed_name("[10.0.0.9]:2222", b"0123456789abcdefghij");
        let text = format!(
            "# comment\n10.0.0.1 {KEY_A}\n[10.0.0.2]:2222 {KEY_A}\n{hashed} {KEY_A}\n*.example.com,!bad.example.com {KEY_A}\n"
        );
        let (kh, _d) = known(&text);
        let a = key(KEY_A);
        assert_eq!(kh.verify("10.0.0.1", 22, &a), Verdict::Known);
        assert_eq!(kh.verify("10.0.0.1", 2222, &a), Verdict::Unknown);
        assert_eq!(kh.verify("10.0.0.2", 2222, &a), Verdict::Known);
        assert_eq!(kh.verify("10.0.0.9", 2222, &a), Verdict::Known);
        assert_eq!(kh.verify("web.EXAMPLE.com", 22, &a), Verdict::Known);
        assert_eq!(kh.verify("bad.example.com", 22, &a), Verdict::Unknown);
    }

    #[test]
    fn changed_keys_name_the_expected_fingerprint_and_line() {
        let (kh, _d) = known(&format!("\n10.0.0.1 {KEY_A}\n"));
        match kh.verify("10.0.0.1", 22, &key(KEY_B)) {
            Verdict::Changed { expected } => {
                assert_eq!(expected[0].0, fingerprint(&key(KEY_A)));
                assert_eq!(expected[0].2, 2);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn revoked_keys_are_refused_and_ca_keys_are_not_host_keys() {
        let (kh, _d) = known(&format!(
            "@revoked * {KEY_A}\n10.0.0.1 {KEY_A}\n@cert-authority 10.0.0.2 {KEY_B}\n"
        ));
        assert!(matches!(
            kh.verify("10.0.0.1", 22, &key(KEY_A)),
            Verdict::Revoked { line: 1, .. }
        ));
        assert_eq!(kh.verify("10.0.0.2", 22, &key(KEY_B)), Verdict::Unknown);
    }

    #[test]
    fn learned_keys_are_known_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/known_hosts");
        learn(&f, "10.0.0.3", 2200, &key(KEY_B)).unwrap();
        assert_eq!(
            KnownHosts::load(&[f]).verify("10.0.0.3", 2200, &key(KEY_B)),
            Verdict::Known
        );
    }

    #[test]
    fn replaced_entries_drop_the_old_keys_of_that_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(
            &f,
            format!("10.0.0.1 {KEY_A}\n10.0.0.10 {KEY_A}\n@revoked 10.0.0.1 {KEY_B}\n"),
        )
        .unwrap();
        replace(&f, "10.0.0.1", &[KEY_B.to_string()]).unwrap();
        let kh = KnownHosts::load(std::slice::from_ref(&f));
        assert!(matches!(
            kh.verify("10.0.0.1", 22, &key(KEY_B)),
            Verdict::Revoked { .. }
        ));
        assert_eq!(kh.verify("10.0.0.10", 22, &key(KEY_A)), Verdict::Known);
        forget(&f, "10.0.0.10").unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("10.0.0.10 "), "{text}");
        assert!(text.contains(&format!("10.0.0.1 {KEY_B}")), "{text}");
    }
}
