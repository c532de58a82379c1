//! Secret values: looked up by name, remembered, and masked as `***` in everything runbook
//! prints or stores (reports, errors, diffs, the journal).

use std::sync::RwLock;

/// Secrets shorter than this are not masked inside words: `pw = "ab"` must not turn
/// `p.rhai` into `p.rh***i`. `secret()` refuses them.
pub const MIN_LEN: usize = 4;

#[derive(Default)]
pub struct Secrets {
    /// Every form a secret can take in output, longest first.
    values: RwLock<Vec<String>>,
    /// Secrets shorter than `MIN_LEN`: masked only as whole words.
    short: RwLock<Vec<String>>,
}

impl Secrets {
    /// Remembers `value` so that it is masked from now on. Empty values are not masked
    /// (they would mask everything).
    pub fn remember(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        if value.chars().count() < MIN_LEN {
            let mut short = self.short.write().unwrap();
            if !short.iter().any(|v| v == value) {
                short.push(value.to_string());
            }
            return;
        }
        let mut values = self.values.write().unwrap();
        for form in forms(value) {
            if form.chars().count() >= MIN_LEN && !values.contains(&form) {
                values.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Replaces every remembered secret in `text` with `***`.
    pub fn mask(&self, text: &str) -> String {
        let values = self.values.read().unwrap();
        let mut out = text.to_string();
        for v in values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "***");
            }
        }
        for v in self.short.read().unwrap().iter() {
            out = mask_word(&out, v);
        }
        out
    }
}

/// The forms a secret takes where runbook prints or stores it: as it is; quoted for a
/// shell; JSON-escaped (the `--output json` events, the journal, a template's `tojson`);
/// and, for a multi-line secret (a PEM key), each of its lines, which diffs and command
/// output show one at a time.
fn forms(value: &str) -> Vec<String> {
    let mut whole = vec![
        value.to_string(),
        crate::shell::quote(value),
        value.replace('\'', r"'\''"),
    ];
    let lines: Vec<String> = value
        .lines()
        .map(str::trim)
        .filter(|l| l.len() < value.len())
        .map(str::to_string)
        .collect();
    whole.extend(lines);
    let mut out = Vec::new();
    for form in whole {
        let json = serde_json::to_string(&form).unwrap_or_default();
        let json = json[1..json.len().saturating_sub(1).max(1)].to_string();
        // minijinja's `tojson` also escapes the characters HTML treats specially.
        let html = json
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\'', "\\u0027");
        out.extend([form, json, html]);
    }
    out
}

/// Masks `word` where it stands alone: not inside a longer word or number.
fn mask_word(text: &str, word: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str("***");
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Finds the value of secret `name`: the environment variable `name` itself, or its
/// upper-case form (`db_password` → `DB_PASSWORD`), or the first line of `dir/name`.
pub fn lookup(name: &str, dirs: &[std::path::PathBuf]) -> Option<String> {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    for key in [name, upper.as_str()] {
        if let Ok(v) = std::env::var(key) {
            return Some(v);
        }
    }
    dirs.iter().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join(name))
            .ok()
            .filter(|t| !t.contains('\0'))?;
        Some(text.trim_end_matches(['\n', '\r']).to_string())
    })
}

/// Why a secret file that exists cannot be the secret (a directory, not text), if so:
/// "not set" would send the user looking in the wrong place.
pub fn unusable(name: &str, dirs: &[std::path::PathBuf]) -> Option<String> {
    dirs.iter().find_map(|dir| {
        let path = dir.join(name);
        if path.is_dir() {
            return Some(format!(
                "secret `{name}`: {} is a directory, not a file holding the secret",
                path.display()
            ));
        }
        match std::fs::read(&path) {
            Ok(bytes) if std::str::from_utf8(&bytes).is_err() => {
                Some(format!("secret `{name}`: {} is not text (UTF-8)", path.display()))
            }
            Ok(bytes) if bytes.contains(&0) => Some(format!("secret `{name}`: {} holds a NUL byte", path.display())),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first() {
        let s = Secrets::default();
        s.remember("hunter2");
        s.remember("hunter2-extra");
        s.remember("");
        assert_eq!(s.mask("pw=hunter2-extra and hunter2"), "pw=*** and ***");
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_masked() {
        let s = Secrets::default();
        s.remember("-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----\n");
        let diff = "+AAAAsecretline1\n+BBBBsecretline2\n";
        assert_eq!(s.mask(diff), "+***\n+***\n");
    }

    #[test]
    fn json_and_template_escaped_forms_are_masked() {
        let s = Secrets::default();
        s.remember(r#"Pa"ss\wo$rd<&>'"#);
        let event = serde_json::json!({ "message": r#"pw=Pa"ss\wo$rd<&>'"# }).to_string();
        assert_eq!(s.mask(&event), r#"{"message":"pw=***"}"#);
        let tojson = r#""Pa\"ss\\wo$rd\u003c\u0026\u003e\u0027""#;
        assert_eq!(s.mask(tojson), "\"***\"");
    }

    #[test]
    fn short_secrets_are_masked_only_as_whole_words() {
        let s = Secrets::default();
        s.remember("ab");
        assert_eq!(s.mask("p.rhai: pw=ab, abc, (ab)"), "p.rhai: pw=***, abc, (***)");
    }

    #[test]
    fn quoted_forms_are_masked_too() {
        let s = Secrets::default();
        s.remember("it's $ecret");
        let cmd = format!("echo {}", crate::shell::quote("it's $ecret"));
        assert_eq!(s.mask(&cmd), "echo ***");
    }
}
