//! `runbook.toml`: the project's default inventory, forks and journal, under the
//! environment's variables and the command line's flags.

use crate::support::{Project, Test};

/// `local` (hosts a and bb, group web) and `other` (host c), all on the local connection;
/// `site.rhai` prints where it runs; runbook.toml says `extra`.
fn project(extra: &str) -> Project {
    let p = Project::new();
    p.write(
        "inventory/local.toml",
        "[groups.web]\nhosts = [\"a\", \"bb\"]\n\n[hosts.a]\nconnection = \"local\"\n\n[hosts.bb]\nconnection = \"local\"\n",
    );
    p.write("inventory/other.toml", "[hosts.c]\nconnection = \"local\"\n");
    p.write(
        "site.rhai",
        r#"step("where", hosts("all"), |h| print(`on ${h.name} of ${inventory.name}`));"#,
    );
    p.write("runbook.toml", extra);
    p
}

#[test]
fn the_file_names_the_inventory_and_the_journal_under_env_and_flags() {
    let p = project("inventory = \"local\"\nstate = \"journal/runs.db\"\n");
    let play = || Test::in_project(&p).play("site.rhai");
    play()
        .stdout_contains("on a of local")
        .stdout_contains("on bb of local")
        .run();
    assert!(p.path("journal/runs.db").is_file());
    assert!(!p.path(".runbook").exists());
    // The environment over the file, the flag over both.
    play()
        .env("RUNBOOK_INVENTORY", "other")
        .stdout_contains("on c of other")
        .run();
    play()
        .env("RUNBOOK_INVENTORY", "other")
        .on("local")
        .stdout_contains("on a of local")
        .run();
    play()
        .env("RUNBOOK_STATE", "env.db")
        .args(&["--state", "flag.db"])
        .run();
    assert!(p.path("flag.db").is_file() && !p.path("env.db").exists());
    // Every command with an inventory takes the file's, and every journal reader its journal.
    Test::in_project(&p)
        .command(&["inventory", "--json"])
        .stdout_contains("\"name\": \"local\"")
        .run();
    Test::in_project(&p)
        .command(&["check", "site.rhai"])
        .stdout_contains("site.rhai: ok")
        .run();
    let o = Test::in_project(&p).command(&["history", "-o", "json"]).run();
    let runs: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let inventories: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["inventory"].as_str().unwrap())
        .collect();
    // The runs journaled in journal/runs.db (the one with --state went to flag.db).
    assert_eq!(inventories, ["local", "other", "local"], "{}", o.all());
    // --help shows the file's values as the defaults.
    Test::in_project(&p)
        .command(&["play", "--help"])
        .stdout_contains("[default: local]")
        .stdout_contains("[default: journal/runs.db]")
        .run();
}

#[test]
fn forks_from_the_file_under_env_and_flags() {
    let p = project("forks = 1\n");
    std::fs::create_dir_all(p.path("meet")).unwrap();
    // Both hosts must run at once to meet (each waits up to 2 s for the other's file).
    let meet = format!(
        "f=$(mktemp -p {0}); for i in $(seq 20); do [ $(ls {0} | wc -l) -ge 2 ] && exit 0; sleep 0.1; done; rm $f; exit 1",
        p.path("meet").display()
    );
    let run = || {
        std::fs::remove_dir_all(p.path("meet")).unwrap();
        std::fs::create_dir_all(p.path("meet")).unwrap();
        Test::in_project(&p)
            .command(&["run", "-i", "local", "web"])
            .args(&["--", &meet])
    };
    run().code(2).run();
    run().env("RUNBOOK_FORKS", "2").run();
    Test::in_project(&p)
        .command(&["run", "-i", "local", "web", "--forks", "2"])
        .env("RUNBOOK_FORKS", "1")
        .args(&["--", &meet])
        .run();
}

#[test]
fn a_mistake_in_the_file_is_shown_where_it_is() {
    let p = project("inventory = \"local\"\nforkz = 2\n");
    Test::in_project(&p)
        .play("site.rhai")
        .code(1)
        .stderr_contains("invalid runbook.toml: unknown field `forkz`")
        .stderr_contains("--> runbook.toml:2:1")
        .run();
    p.write("runbook.toml", "forks = 0\n");
    Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .code(1)
        .stderr_contains("forks must be at least 1")
        .run();
}

#[test]
fn the_file_sets_colours_under_the_environment() {
    let p = project("inventory = \"local\"\ncolor = \"always\"\n");
    let colour = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    let o = Test::in_project(&p).play("site.rhai").run();
    assert!(colour.is_match(&o.stdout), "colours even piped: {}", o.stdout);
    let o = Test::in_project(&p)
        .play("site.rhai")
        .env("RUNBOOK_COLOR", "never")
        .run();
    assert!(!colour.is_match(&o.stdout), "{}", o.stdout);
}
