//! The exit codes, one meaning each, on the local connection (no Docker): 0 ok, 1 what
//! runbook was given is wrong (clap's usage errors too), 2 some host failed, 3 the lock is
//! held, 4 only unreachable hosts failed, 130 interrupted. And the table `runbook --help`
//! prints is the README's.

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::{Project, Test};

/// A TCP port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `inventory/local.toml`: `ok` and `bad` on the controller, and `gone`, an SSH host at
/// 127.0.0.1 on a port where nothing listens.
fn project(playbook: &str) -> Project {
    let p = Project::new();
    p.write(
        "inventory/local.toml",
        &format!(
            "[ssh]\nconnect_timeout = 3\n\n[hosts.ok]\nconnection = \"local\"\n\n[hosts.bad]\nconnection = \"local\"\n\n\
             [hosts.gone]\naddress = \"127.0.0.1\"\nport = {}\n",
            closed_port()
        ),
    );
    p.write("site.rhai", playbook);
    p
}

/// `runbook play site.rhai -i local` in `p`.
fn play(p: &Project) -> Test<'_> {
    Test::in_project(p).play("site.rhai").on("local")
}

/// Fails on `bad`, succeeds on `ok`; `gone` cannot be reached.
const STEP: &str = r#"step("x", hosts(var("on")), #{ max_fail: 9 }, |h| { if h.name == "bad" { h.run("false"); } else { h.run("true"); } });"#;

/// The JSON recap's `exit_code` is the process's.
fn recap_code(o: &crate::support::Output) -> i64 {
    o.events().last().unwrap()["exit_code"].as_i64().unwrap()
}

#[test]
fn zero_when_every_host_succeeded() {
    let p = project(STEP);
    play(&p).args(&["--var", "on=ok"]).run();
}

#[test]
fn one_for_what_runbook_was_given_clap_usage_errors_included() {
    let p = project(STEP);
    // clap's usage errors: 1, not clap's own 2 (which means that a host failed).
    for args in [
        &["play"][..],
        &["bogus"],
        &["play", "site.rhai", "-i", "local", "--forks", "0"],
        &["play", "site.rhai", "-i", "local", "--no-such-flag"],
        &[],
    ] {
        let o = p.runbook(args);
        assert_eq!(o.code, 1, "runbook {args:?}\n{}", o.all());
        assert!(
            o.stderr.starts_with("error: ") || o.stderr.contains("Usage: runbook"),
            "{}",
            o.all()
        );
    }
    // Help and version are not errors.
    for args in [&["--help"][..], &["play", "--help"], &["--version"], &["help"]] {
        let o = p.runbook(args);
        assert_eq!(o.code, 0, "runbook {args:?}\n{}", o.all());
    }
    // An invalid playbook, a missing one, an invalid inventory, an unknown pattern.
    p.write("broken.rhai", "step(\"x\", hosts(\"all\"), |h| {\n");
    Test::in_project(&p).play("broken.rhai").on("local").code(1).run();
    Test::in_project(&p).play("missing.rhai").on("local").code(1).run();
    p.write("inventory/typo.toml", "[hosts.a]\nconection = \"local\"\n");
    let o = play(&p).on("typo").args(&["--var", "on=ok"]).code(1).run();
    // Nothing ran: the error alone, no recap table of zeros that reads as a run.
    assert!(o.stderr.contains("conection"), "{}", o.all());
    assert!(!o.stdout.contains("RECAP"), "{}", o.all());
    play(&p).args(&["--var", "on=ok", "--limit", "nobody"]).code(1).run();
}

#[test]
fn two_when_some_host_failed_even_beside_unreachable_ones() {
    let p = project(STEP);
    let o = play(&p).args(&["--var", "on=ok,bad"]).json().code(2).run();
    assert_eq!(recap_code(&o), 2);
    // An unreachable host beside a failed one: the failure is not only reaching hosts.
    play(&p).args(&["--var", "on=all"]).code(2).run();
    // A controller step that fails.
    p.write("controller.rhai", "step(\"x\", || local::run(\"false\"));\n");
    Test::in_project(&p).play("controller.rhai").on("local").code(2).run();
}

#[test]
fn four_when_the_only_failures_are_unreachable_hosts() {
    let p = project(STEP);
    let o = play(&p).args(&["--var", "on=ok,gone"]).json().code(4).run();
    assert_eq!(recap_code(&o), 4);
    let failed: Vec<_> = o
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", o.all());
    assert_eq!(failed[0]["host"], "gone");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("gone: cannot reach the host: "),
        "{}",
        o.all()
    );
    let recap = o.events().into_iter().last().unwrap();
    assert_eq!(recap["unreachable"], serde_json::json!(["gone"]), "{}", o.all());
    // It stays 4 when the unreachable host stops the play (all of its step's hosts failed),
    // and the recap names it apart from failed hosts.
    p.write(
        "strict.rhai",
        "step(\"x\", hosts(\"gone\"), |h| h.run(\"true\"));\nstep(\"y\", hosts(\"ok\"), |h| h.run(\"true\"));\n",
    );
    Test::in_project(&p)
        .play("strict.rhai")
        .on("local")
        .code(4)
        .stdout_contains("\n  unreachable: gone\n")
        .run();
}

/// Starts `runbook play` in the background, its output in `log`.
fn spawn(p: &Project, args: &[&str], log: &str) -> Child {
    let file = std::fs::File::create(p.path(log)).unwrap();
    play(p)
        .args(args)
        .process()
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Holds `ok` until the file `release` exists, having made `started`.
const BLOCKING: &str = r#"
let dir = var("dir");
step("hold", hosts("ok"), |h| {
    h.run(`touch ${dir}/started; while [ ! -e ${dir}/release ]; do sleep 0.02; done`);
});
"#;

#[test]
fn three_while_another_run_holds_the_lock() {
    let p = project(BLOCKING);
    let dir = format!("dir={}", p.root().display());
    let mut first = spawn(&p, &["--var", &dir], "first.log");
    wait_for("the first run to start its step", || p.path("started").exists());
    let o = play(&p)
        .args(&["--var", &dir])
        .json()
        .code(3)
        .stdout_contains("is locked by another run")
        .run();
    assert_eq!(recap_code(&o), 3);
    // `runbook unlock` refuses to take the lock of a run still running here: 3 too.
    Test::in_project(&p)
        .command(&["unlock"])
        .on("local")
        .args(&["--yes"])
        .code(3)
        .stderr_contains("still running here")
        .run();
    p.write("release", "");
    assert_eq!(first.wait().unwrap().code(), Some(0), "{}", p.read("first.log"));
}

#[test]
fn one_hundred_thirty_when_interrupted() {
    let p = project(BLOCKING);
    let dir = format!("dir={}", p.root().display());
    let mut child = spawn(&p, &["--var", &dir], "run.log");
    wait_for("the run to start its step", || p.path("started").exists());
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    wait_for("the interruption note", || {
        p.read("run.log").contains("Ctrl-C: letting")
    });
    p.write("release", "");
    assert_eq!(child.wait().unwrap().code(), Some(130), "{}", p.read("run.log"));
}

/// The codes `runbook --help` lists are the README's table, one for one.
#[test]
fn the_help_and_the_readme_list_the_same_codes() {
    let help = Project::new().runbook(&["--help"]);
    let table = help.stdout.split("Exit codes:\n").nth(1).expect("an exit code table");
    let from_help: Vec<String> = table
        .lines()
        .map_while(|l| l.strip_prefix("  "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("\n## Exit codes\n").nth(1).expect("README: ## Exit codes");
    let section = section.split("\n## ").next().unwrap();
    let from_readme: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.split('`').next().unwrap().to_string())
        .collect();
    assert_eq!(from_help, ["0", "1", "2", "3", "4", "130"]);
    assert_eq!(from_readme, from_help);
}
