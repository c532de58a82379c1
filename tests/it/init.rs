//! `runbook init`: a project that `runbook check` accepts and that runs at once on the local
//! connection (a second run changes nothing), whose example Docker inventory is valid once
//! uncommented, whose .gitignore keeps the journal, the secrets and the output out of git,
//! and that is never written over without `--force`.

use std::process::Command;

use crate::support::{Project, Test};

/// `runbook WORDS…` in the new project `acme/` of `p`.
fn in_acme<'a>(p: &'a Project, words: &[&str]) -> Test<'a> {
    Test::in_project(p).command(words).current_dir("acme")
}

#[test]
fn init_then_check_then_play_on_the_local_connection() {
    let p = Project::new();
    let made = Test::in_project(&p)
        .command(&["init", "acme"])
        .stdout_contains("created project acme in acme: site.rhai, templates/motd.j2, inventory/local.toml")
        .stdout_contains("runbook play site.rhai -i local --dry-run")
        .run();
    assert!(made.stdout.contains("  cd acme\n"), "{}", made.all());
    for dir in ["templates", "inventory/secrets"] {
        assert!(p.path(&format!("acme/{dir}")).is_dir(), "{dir}");
    }
    assert!(p.read("acme/README.md").starts_with("# acme\n"));

    in_acme(&p, &["check", "site.rhai", "-i", "local"])
        .stdout_contains("site.rhai: ok")
        .run();
    let changes = |words: &[&str]| {
        let o = in_acme(&p, words).json().run();
        o.assert_counts_agree();
        o.changes()
    };
    let here = std::fs::canonicalize(p.path("acme")).unwrap().display().to_string();
    let expected: Vec<(String, String)> = [
        ("dir", "out/localhost"),
        ("template", "out/localhost/motd"),
        ("file", "out/localhost/hosts"),
    ]
    .iter()
    .map(|(op, rel)| (op.to_string(), format!("{here}/{rel}")))
    .collect();
    let play = ["play", "site.rhai", "-i", "local"];
    assert_eq!(changes(&[&play[..], &["--dry-run"]].concat()), expected);
    assert!(!p.path("acme/out").exists(), "a dry run writes nothing");
    assert_eq!(changes(&play), expected);
    let motd = p.read("acme/out/localhost/motd");
    assert!(
        motd.starts_with("Hello from localhost (Linux ") && motd.ends_with("inventory local.\nGroups: all, web.\n"),
        "{motd}"
    );
    assert_eq!(p.read("acme/out/localhost/hosts"), "localhost\n");
    assert_eq!(changes(&play), vec![], "the second run changes nothing");
    // runbook.toml names the inventory: `-i local` may be left out.
    assert_eq!(changes(&play[..2]), vec![]);
    // The journal is in the project, and its history has both runs.
    in_acme(&p, &["history"]).stdout_contains("site.rhai").run();

    // The .gitignore keeps the journal, the secrets and the output out of git.
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(p.path("acme"))
            .output()
            .expect("git runs");
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert_eq!(git(&["init", "-q"]).0, Some(0));
    p.write("acme/inventory/secrets/db_password", "s3cret\n");
    let (_, tracked) = git(&["status", "--porcelain", "--untracked-files=all"]);
    let mut tracked: Vec<&str> = tracked.lines().map(|l| l.trim_start_matches("?? ")).collect();
    tracked.sort();
    assert_eq!(
        tracked,
        [
            ".gitignore",
            "README.md",
            "inventory/docker.toml",
            "inventory/local.toml",
            "runbook.toml",
            "site.rhai",
            "templates/motd.j2"
        ]
    );
}

#[test]
fn the_docker_example_is_a_valid_inventory_once_uncommented() {
    let p = Project::new();
    Test::in_project(&p).command(&["init", "acme"]).run();
    let example = p.read("acme/inventory/docker.toml");
    assert!(
        example.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "everything is commented out:\n{example}"
    );
    let uncommented: String = example
        .lines()
        .filter(|l| !l.starts_with("##"))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect();
    assert!(uncommented.contains("provider = \"docker\""), "{uncommented}");
    p.write("acme/inventory/docker.toml", &uncommented);
    in_acme(&p, &["check", "site.rhai", "-i", "docker"])
        .stdout_contains("site.rhai: ok")
        .run();
    // Its static hosts are SSH hosts in group web (the cloud's are found by asking Docker).
    let static_hosts = uncommented.split("[cloud]").next().unwrap();
    p.write("acme/inventory/static.toml", static_hosts);
    let o = in_acme(&p, &["inventory", "-i", "static", "--json"]).run();
    let doc: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(doc["groups"]["web"]["hosts"], serde_json::json!(["web1", "web2"]));
    assert_eq!(doc["hosts"]["web1"]["address"], "172.17.0.2");
}

#[test]
fn init_never_writes_over_files_without_force() {
    let p = Project::new();
    p.write("acme/site.rhai", "// mine\n");
    p.write("acme/.gitignore", "target/\n");
    let o = Test::in_project(&p).command(&["init", "acme"]).code(1).run();
    assert!(
        o.stderr
            .contains("acme already has site.rhai, .gitignore; nothing was written (--force overwrites them)"),
        "{}",
        o.all()
    );
    assert!(!p.path("acme/inventory").exists(), "nothing was written");
    assert_eq!(p.read("acme/site.rhai"), "// mine\n");

    // In the current directory, and with --force.
    in_acme(&p, &["init"])
        .code(1)
        .stderr_contains(". already has site.rhai")
        .run();
    in_acme(&p, &["init", "--force"])
        .stdout_contains("wrote (--force) project acme in .:")
        .run();
    assert_ne!(p.read("acme/site.rhai"), "// mine\n");
    in_acme(&p, &["check", "site.rhai", "-i", "local"]).run();
}
