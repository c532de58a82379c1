//! `runbook check`: mistakes found without running the playbook or connecting anywhere.

use std::net::TcpListener;

use crate::support::{Project, Test};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/check");

/// Twelve different mistakes, twelve diagnostics with their carets, exit 1, and the host
/// of the inventory (a listener on loopback) never hears from runbook.
#[test]
fn twelve_mistakes_give_twelve_diagnostics_without_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = Test::new()
        .inventory(
            "test",
            &format!("[vars]\napp = \"ace\"\n\n[groups.web]\nhosts = [\"w1\"]\n\n[hosts.w1]\naddress = \"127.0.0.1\"\nport = {port}\n"),
        )
        .playbook(
            "site.rhai",
            &std::fs::read_to_string(format!("{FIXTURES}/twelve.rhai")).unwrap(),
        )
        .command(&["check"])
        .code(1)
        .run();
    let golden_path = format!("{FIXTURES}/twelve.stderr");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &o.stderr).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        o.stderr, golden,
        "stderr differs from {golden_path} (UPDATE_GOLDEN=1 rewrites it)"
    );
    assert_eq!(o.stderr.matches("\nerror: ").count() + 1, 12, "{}", o.stderr);
    let carets = o
        .stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('|'))
        .filter(|rest| rest.contains('^') && rest.chars().all(|c| c == ' ' || c == '^'))
        .count();
    assert_eq!(carets, 12, "a caret each: {}", o.stderr);
    assert!(o.stderr.ends_with("12 problem(s) found\n"), "{}", o.stderr);
    assert!(listener.accept().is_err(), "check connected to the inventory's host");
}

/// Every playbook, example and stdlib module runbook ships passes its own check.
#[test]
fn the_shipped_playbooks_pass_check() {
    let root = env!("CARGO_MANIFEST_DIR");
    let p = Project::new();
    let inventory = format!("{root}/examples/inventory/local.toml");
    // The example apps' playbooks too (examples/py-app/*.rhai).
    let apps = std::fs::read_dir(format!("{root}/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.strip_prefix(root).unwrap().display().to_string());
    let dirs: Vec<String> = ["playbooks", "examples", "stdlib"]
        .map(String::from)
        .into_iter()
        .chain(apps)
        .collect();
    for dir in dirs {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rhai") {
                continue;
            }
            let file = path.display().to_string();
            let o = p.runbook(&["check", &file, "-i", &inventory, "--var", "version=1.0.0"]);
            assert_eq!(o.code, 0, "{file}\n{}", o.all());
        }
    }
}

/// A misspelt field of a built-in's result is `()` at run time, without a word: `check`
/// names the fields that exist.
#[test]
fn misspelt_result_fields_are_found() {
    let o = Test::new()
        .playbook(
            "site.rhai",
            r#"step("a", hosts("all"), |h| {
    let r = h.run("uname", #{ readonly: true });
    print(r.stdot);
    print(r.stdout);
    print(h.run("id", #{ readonly: true }).stder);
});
let d = step("b", || cloud::droplet("x", #{ size: "s-1vcpu-1gb", image: "debian-12-x64" }));
let w = step("c", || cloud::droplet("x", #{ size: "s-1vcpu-1gb", image: "debian-12-x64" }).public_ipp);
"#,
        )
        .command(&["check"])
        .code(1)
        .run();
    assert!(
        o.stderr.contains(
            "h.run's result has no field `stdot`; did you mean `stdout`? (fields: stdout, stderr, code, changed)"
        ),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("no field `stder`; did you mean `stderr`?"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("no field `public_ipp`; did you mean `public_ip`?"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("3 problem(s) found"), "{}", o.stderr);
}

/// `runbook doc` lists every built-in, `runbook doc NAME` shows one from its declaration,
/// and a misspelt name gets the nearest one.
#[test]
fn doc_shows_the_declared_builtins() {
    let p = Project::new();
    let all = p.runbook(&["doc"]);
    assert_eq!(all.code, 0, "{}", all.all());
    for name in [
        "step(name, [targets], [#{ options }], closure)",
        "h.file(path, [#{ options }])",
        "cloud::droplet(name, #{ spec })",
        "wait::http(url, [#{ options }])",
    ] {
        assert!(all.stdout.contains(name), "{name}\n{}", all.stdout);
    }
    let file = p.runbook(&["doc", "h.file"]);
    assert_eq!(file.code, 0, "{}", file.all());
    assert!(
        file.stdout.contains("| `content` | string | none | the file's text |"),
        "{}",
        file.stdout
    );
    assert!(file.stdout.contains("| `changed` | bool |"), "{}", file.stdout);
    let typo = p.runbook(&["doc", "h.fiel"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr
            .contains("no built-in named `h.fiel`; did you mean `h.file`?"),
        "{}",
        typo.stderr
    );
    let markdown = p.runbook(&["doc", "--markdown"]);
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md")).unwrap();
    assert_eq!(
        markdown.stdout, committed,
        "docs/reference.md is what `runbook doc --markdown` prints"
    );
}
