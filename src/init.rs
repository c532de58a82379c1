//! `runbook init [DIR]`: a new project that `runbook check` accepts and that runs at once on
//! the local connection. The files are `scaffold/`, embedded; existing files are never
//! overwritten unless asked (`--force`).

use std::path::Path;

use crate::error::{Error, Result};

/// The project's files: path in the project, content. `PROJECT` in the README becomes the
/// directory's name.
const FILES: &[(&str, &str)] = &[
    ("site.rhai", include_str!("../scaffold/site.rhai")),
    ("templates/motd.j2", include_str!("../scaffold/templates/motd.j2")),
    ("inventory/local.toml", include_str!("../scaffold/inventory/local.toml")),
    (
        "inventory/docker.toml",
        include_str!("../scaffold/inventory/docker.toml"),
    ),
    ("runbook.toml", include_str!("../scaffold/runbook.toml")),
    (".gitignore", include_str!("../scaffold/gitignore")),
    ("README.md", include_str!("../scaffold/README.md")),
];

/// Directories made even when empty: where secret files go (git-ignored).
const DIRS: &[&str] = &["inventory/secrets"];

/// Writes the project into `dir` (made if missing); returns what to tell the user.
pub fn init(dir: &Path, force: bool) -> Result<String> {
    let existing: Vec<&str> = FILES
        .iter()
        .map(|(rel, _)| *rel)
        .filter(|rel| dir.join(rel).symlink_metadata().is_ok())
        .collect();
    if !existing.is_empty() && !force {
        return Err(Error::Usage(format!(
            "{} already has {}; nothing was written (--force overwrites them)",
            shown(dir),
            existing.join(", ")
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let name = project_name(dir);
    for (rel, content) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        let content = content.replace("PROJECT", &name);
        std::fs::write(&path, content).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    }
    for rel in DIRS {
        let path = dir.join(rel);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("cannot set the mode of {}", path.display()), e))?;
    }
    let files: Vec<&str> = FILES.iter().map(|(rel, _)| *rel).collect();
    let verb = if existing.is_empty() {
        "created"
    } else {
        "wrote (--force)"
    };
    let cd = match dir == Path::new(".") {
        true => String::new(),
        false => format!("  cd {}\n", shown(dir)),
    };
    Ok(format!(
        "{verb} project {name} in {}: {}, inventory/secrets/\n\nnext:\n{cd}  \
         runbook check site.rhai -i local\n  runbook play site.rhai -i local --dry-run\n  \
         runbook play site.rhai -i local",
        shown(dir),
        files.join(", ")
    ))
}

fn shown(dir: &Path) -> String {
    match dir.as_os_str().is_empty() {
        true => ".".into(),
        false => dir.display().to_string(),
    }
}

/// The directory's own name (`.` is the current directory's), once it exists.
fn project_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_the_files_and_refuses_to_overwrite_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("acme");
        let said = init(&dir, false).unwrap();
        assert!(said.starts_with("created project acme in "), "{said}");
        for (rel, _) in FILES {
            assert!(dir.join(rel).is_file(), "{rel}");
        }
        assert!(dir.join("inventory/secrets").is_dir());
        assert!(
            std::fs::read_to_string(dir.join("README.md"))
                .unwrap()
                .starts_with("# acme\n")
        );

        std::fs::write(dir.join("site.rhai"), "// mine\n").unwrap();
        std::fs::remove_file(dir.join("README.md")).unwrap();
        let err = init(&dir, false).unwrap_err().to_string();
        assert!(err.contains("already has site.rhai, templates/motd.j2,"), "{err}");
        assert!(!err.contains("README.md"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("site.rhai")).unwrap(), "// mine\n");
        assert!(!dir.join("README.md").exists(), "nothing was written");

        assert!(init(&dir, true).unwrap().starts_with("wrote (--force) project acme"));
        assert_ne!(std::fs::read_to_string(dir.join("site.rhai")).unwrap(), "// mine\n");
    }

    #[test]
    fn the_name_is_the_directory_s() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("infra/sub")).unwrap();
        assert_eq!(project_name(&tmp.path().join("infra/sub/..")), "infra");
    }
}
