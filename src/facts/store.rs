//! Per-host fact state: the step's cache of probed facts and the dry run's overlay of what
//! earlier operations would have made them.

use std::collections::HashMap;
use std::sync::Mutex;

use super::types::{Fact, FactKey, FileFact};

#[derive(Default)]
pub struct FactStore {
    cache: Mutex<HashMap<FactKey, Fact>>,
    overlay: Mutex<HashMap<FactKey, Fact>>,
    /// A dry run planned package installs: files those packages bring cannot be predicted.
    packages_pending: Mutex<Vec<String>>,
}

impl FactStore {
    /// A new step reads the host afresh (the overlay of a dry run stays: it is the plan).
    pub fn begin_step(&self) {
        self.cache.lock().unwrap().clear();
    }

    /// Predicted, else probed this step; `None` when it must be probed.
    pub fn known(&self, key: &FactKey) -> Option<Fact> {
        if let Some(f) = self.overlay.lock().unwrap().get(key) {
            return Some(f.clone());
        }
        self.cache.lock().unwrap().get(key).cloned()
    }

    pub fn probed(&self, facts: impl IntoIterator<Item = (FactKey, Fact)>) {
        self.cache.lock().unwrap().extend(facts);
    }

    /// After an operation: in a dry run the predicted fact goes into the overlay; in a real
    /// run the cached fact is dropped, to be read again when next needed.
    pub fn predict(&self, dry_run: bool, key: FactKey, fact: Fact) {
        if dry_run {
            self.overlay.lock().unwrap().insert(key, fact);
        } else {
            self.forget(&key);
        }
    }

    /// Packages a dry run plans to install (empty in a real run).
    pub fn packages_pending(&self) -> Vec<String> {
        self.packages_pending.lock().unwrap().clone()
    }

    pub fn note_packages_pending(&self, names: &[String]) {
        self.packages_pending.lock().unwrap().extend(names.iter().cloned());
    }

    /// Forgets what is known of `key`: it is read again when next needed (a change that
    /// failed half-way left it unknown).
    pub fn forget(&self, key: &FactKey) {
        self.cache.lock().unwrap().remove(key);
    }

    /// Forgets everything known about files under `path` (after `absent`, `unpack`, …).
    pub fn forget_files_under(&self, dry_run: bool, path: &str) {
        let under = |k: &FactKey| matches!(k, FactKey::File(p) if at_or_below(p, path));
        self.cache.lock().unwrap().retain(|k, _| !under(k));
        if !dry_run {
            self.overlay.lock().unwrap().retain(|k, _| !under(k));
        }
    }

    /// Predicts nothing below `path` in a dry run (after `absent` of a directory).
    pub fn removed_under(&self, dry_run: bool, path: &str) {
        if !dry_run {
            return self.forget_files_under(dry_run, path);
        }
        let mut overlay = self.overlay.lock().unwrap();
        for (k, f) in overlay.iter_mut() {
            if matches!(k, FactKey::File(p) if at_or_below(p, path)) {
                *f = Fact::File(FileFact::missing());
            }
        }
        overlay.insert(FactKey::File(path.to_string()), Fact::File(FileFact::missing()));
    }
}

/// Whether `path` is `dir` or lies below it.
pub fn at_or_below(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether a path that is missing now may be brought by one of `pending` (packages a dry run
/// is about to install): it lies under a directory named after the package (`/etc/nginx/…`
/// for nginx). Debian packages keep their files under such directories, so this is where a
/// dry run must not assume "missing".
pub fn maybe_from_package(pending: &[String], path: &str) -> bool {
    let dirs: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let in_dir = |name: &str| dirs.iter().take(dirs.len().saturating_sub(1)).any(|d| *d == name);
    pending
        .iter()
        .any(|p| in_dir(p) || p.strip_suffix("-common").is_some_and(in_dir))
}

#[cfg(test)]
mod tests {
    use super::at_or_below;

    #[test]
    fn a_path_is_at_or_below_a_directory_by_whole_components() {
        for (path, dir, want) in [
            ("/srv/app", "/srv/app", true),
            ("/srv/app/x/y", "/srv/app", true),
            ("/srv/app/x", "/srv/app/", true),
            ("/srv/apple", "/srv/app", false),
            ("/srv", "/srv/app", false),
            ("/etc/motd", "/", true),
        ] {
            assert_eq!(at_or_below(path, dir), want, "{path} under {dir}");
        }
    }
}
