//! Secret values: looked up by name, remembered, and masked as `***` in everything runbook
//! prints or stores (reports, errors, diffs, the journal).

use std::sync::RwLock;

#[derive(Default)]
pub struct Secrets {
    values: RwLock<Vec<String>>,
}

impl Secrets {
    /// Remembers `value` so that it is masked from now on. Empty values are not masked
    /// (they would mask everything).
    pub fn remember(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut values = self.values.write().unwrap();
        // Also the forms it takes once quoted for a shell, so a secret with a `'` in it is
        // masked in printed commands too.
        let quoted = crate::shell::quote(value);
        let escaped = value.replace('\'', r"'\''");
        for form in [value.to_string(), quoted, escaped] {
            if !values.contains(&form) {
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
        out
    }
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
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        Some(text.trim_end_matches(['\n', '\r']).to_string())
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
    fn quoted_forms_are_masked_too() {
        let s = Secrets::default();
        s.remember("it's $ecret");
        let cmd = format!("echo {}", crate::shell::quote("it's $ecret"));
        assert_eq!(s.mask(&cmd), "echo ***");
    }
}
