//! Values from the command line reach playbooks as given (`--var` text, `--var-json` and
//! `--vars-file` typed), options that want numbers or flags take their text, and modes are
//! strings. All on the controller (local connection).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::support::{Output, Project, Test};

/// Prints `NAME=TYPE:VALUE` for each variable, outside steps and as host h1 sees it.
const SHOW: &str = r#"
for k in ["version", "n", "s", "f", "l", "m", "x", "y", "z", "w"] {
    let v = var(k, ());
    if v != () { print(`global ${k}=${type_of(v)}:${v}`); }
}
step("show", hosts("h1"), |h| {
    for k in ["version", "n", "s"] {
        let v = h.var(k, ());
        if v != () { print(`host ${k}=${type_of(v)}:${v}`); }
    }
});
"#;

fn project(playbook: &str) -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1", "h2"]), ("app", &[])]);
    p.write("site.rhai", playbook);
    p
}

/// `runbook play site.rhai -i local` in `p` (exit 0 unless said).
fn play(p: &Project) -> Test<'_> {
    Test::in_project(p).play("site.rhai").on("local")
}

/// A printed line (inside a step, after its `[host] ` prefix).
fn has(o: &Output, line: &str) {
    let text = |l: &str| {
        let l = l.trim();
        match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((_, rest)) => rest.to_string(),
            None => l.to_string(),
        }
    };
    assert!(
        o.stdout.lines().any(|l| text(l) == line),
        "no line {line:?} in\n{}",
        o.all()
    );
}

#[test]
fn var_values_are_text_exactly_as_given() {
    let p = project(SHOW);
    let o = play(&p)
        .args(&[
            "--var",
            "version=1.10",
            "--var",
            "n=007",
            "-e",
            "s=true",
            "--var",
            "f=\"1.10\"",
        ])
        .run();
    for line in [
        "global version=string:1.10",
        "global n=string:007",
        "global s=string:true",
        "global f=string:\"1.10\"",
        "host version=string:1.10",
        "host n=string:007",
        "host s=string:true",
    ] {
        has(&o, line);
    }
}

#[test]
fn var_json_values_are_typed_and_bad_json_is_a_clear_error() {
    let p = project(SHOW);
    let o = play(&p)
        .args(&[
            "--var-json",
            "n=7",
            "--var-json",
            "f=1.5",
            "--var-json",
            "s=true",
            "--var-json",
            "version=\"1.10\"",
            "--var-json",
            "l=[1, \"a\"]",
        ])
        .run();
    for line in [
        "global n=i64:7",
        "global f=f64:1.5",
        "global s=bool:true",
        "global version=string:1.10",
        "global l=array:[1, \"a\"]",
        "host n=i64:7",
    ] {
        has(&o, line);
    }
    let o = play(&p)
        .args(&["--var-json", "version=1.1x"])
        .code(1)
        .stderr_contains("--var-json 'version=\"1.1x\"', or pass it as --var version=1.1x")
        .run();
    assert!(
        o.stderr
            .starts_with("error: --var-json version: \"1.1x\" is not valid JSON: "),
        "{}",
        o.all()
    );
}

#[test]
fn vars_files_are_typed_toml_and_errors_point_at_the_line() {
    let p = project(SHOW);
    p.write(
        "vars/release.toml",
        "version = \"1.10\"\nn = 2\nf = 1.5\ns = false\nl = [\"10.0.0.5\"]\n[m]\nport = 5432\n",
    );
    let o = play(&p).args(&["--vars-file", "vars/release.toml"]).run();
    for line in [
        "global version=string:1.10",
        "global n=i64:2",
        "global f=f64:1.5",
        "global s=bool:false",
        "global l=array:[\"10.0.0.5\"]",
        "global m=map:#{\"port\": 5432}",
    ] {
        has(&o, line);
    }
    p.write("vars/bad.toml", "version = \"1.10\"\nn = = 2\n");
    let o = play(&p)
        .args(&["--vars-file", "vars/bad.toml"])
        .code(1)
        .stderr_contains("--> vars/bad.toml:2:5\n")
        .stderr_contains(" 2 | n = = 2\n")
        .run();
    assert!(
        o.stderr.starts_with("error: invalid vars file vars/bad.toml: "),
        "{}",
        o.all()
    );
    let o = play(&p).args(&["--vars-file", "vars/missing.toml"]).code(1).run();
    assert_eq!(o.stderr, "error: --vars-file vars/missing.toml does not exist\n");
}

#[test]
fn precedence_inventory_then_files_then_flags_in_order() {
    let p = project(SHOW);
    p.write(
        "inventory/local.toml",
        "[vars]\nx = \"inventory\"\ny = \"inventory\"\nz = \"inventory\"\nw = \"inventory\"\n\n\
         [groups.web]\nhosts = [\"h1\"]\n[hosts.h1]\nconnection = \"local\"\n",
    );
    p.write("one.toml", "y = 1\nz = 1\nw = 1\n");
    p.write("two.toml", "z = 2\nw = 2\n");
    let args = [
        "--var-json",
        "w=3",
        "--vars-file",
        "one.toml",
        "--var",
        "w=text",
        "--vars-file",
        "two.toml",
    ];
    let o = play(&p).args(&args).run();
    for line in [
        "global x=string:inventory",
        "global y=i64:1",
        "global z=i64:2",
        "global w=string:text",
    ] {
        has(&o, line);
    }
    // The other order of the two flags: the JSON one is last, and wins.
    let o = play(&p)
        .args(&["--var", "w=text", "--vars-file", "two.toml", "--var-json", "w=3"])
        .run();
    has(&o, "global w=i64:3");
    // `runbook inventory` merges the same way.
    let o = Test::in_project(&p)
        .command(&["inventory"])
        .on("local")
        .args(&[
            "--json",
            "--vars-file",
            "one.toml",
            "--var",
            "z=text",
            "--var-json",
            "w=[1]",
            "-e",
            "n=007",
        ])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        doc["hosts"]["h1"]["vars"],
        json!({"x": "inventory", "y": 1, "z": "text", "w": [1], "n": "007"})
    );
}

#[test]
fn numbers_and_flags_as_text_in_step_options_and_var_helpers() {
    let p = project(
        r#"
        let r = step("batched", hosts("web"), #{ serial: "2", max_fail: var("max_fail", "0") }, |h| h.name);
        print(`batched ${r.keys()}`);
        print(`serial ${var_int("serial", 1) + 1}`);
        if var_bool("rollback", false) { print("rolling back"); } else { print("releasing"); }
        step("flags", hosts("h1"), |h| print(`host ${h.var_int("serial", 1)} ${h.var_bool("rollback", false)}`));
        "#,
    );
    let o = play(&p).args(&["--var", "serial=3", "--var", "rollback=true"]).run();
    has(&o, "batched [\"h1\", \"h2\"]");
    has(&o, "serial 4");
    has(&o, "rolling back");
    has(&o, "host 3 true");
    let o = play(&p).args(&["--var", "rollback=false"]).run();
    has(&o, "releasing");
    has(&o, "serial 2");
    let o = play(&p)
        .args(&["--var-json", "rollback=true", "--var-json", "serial=5"])
        .run();
    has(&o, "rolling back");
    has(&o, "serial 6");

    let o = play(&p).args(&["--var", "rollback=yes"]).code(1).run();
    assert!(
        o.stderr
            .starts_with("error: variable `rollback` must be true or false, not \"yes\"\n"),
        "{}",
        o.all()
    );
    let o = play(&p).args(&["--var", "serial=1.5"]).code(1).run();
    assert!(
        o.stderr
            .starts_with("error: variable `serial` must be a whole number, not \"1.5\"\n"),
        "{}",
        o.all()
    );
    let o = play(&p).args(&["--var", "max_fail=x"]).code(1).run();
    assert!(
        o.stderr
            .starts_with("error: step: option `max_fail` must be a whole number, not \"x\"\n"),
        "{}",
        o.all()
    );
}

#[test]
fn a_serial_that_is_not_a_number_is_a_clear_error() {
    let p = project("step(\"a\", hosts(\"web\"), #{ serial: var(\"serial\") }, |h| {});\n");
    let o = play(&p).args(&["--var", "serial=x"]).code(1).run();
    assert!(
        o.stderr
            .starts_with("error: step: option `serial` must be a whole number, not \"x\"\n  --> site.rhai:1:1\n"),
        "{}",
        o.all()
    );
    play(&p)
        .args(&["--var", "serial=0"])
        .any_code()
        .stderr_contains("step: option `serial` must be at least 1, not 0")
        .run();
    play(&p).args(&["--var", "serial=1"]).run();
}

#[test]
fn ports_and_ttls_take_numeric_text() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let p = project(
        r#"
        step("port", || wait::port("127.0.0.1", var("port"), "5s"));
        step("dns", || dns::a_record("example.test", "www", ["10.0.0.1"], #{ ttl: var("ttl"), exact: var("exact") }));
        print("done");
        "#,
    );
    let inv = p.read("inventory/local.toml");
    p.write("inventory/local.toml", &format!("{inv}[dns]\nprovider = \"docker\"\n"));
    let port_var = format!("port={port}");
    let o = play(&p)
        .args(&["--var", &port_var, "--var", "ttl=300", "--var", "exact=true"])
        .run();
    has(&o, "done");
    assert!(p.read("inventory/hosts.local").contains("10.0.0.1"), "{}", o.all());

    play(&p)
        .args(&["--var", "port=http", "--var", "ttl=300", "--var", "exact=true"])
        .code(2)
        .stdout_contains("wait::port(127.0.0.1, \"http\"): the port must be a whole number, not \"http\"")
        .run();
    play(&p)
        .args(&["--var", &port_var, "--var", "ttl=5m", "--var", "exact=true"])
        .code(2)
        .stdout_contains("dns::a_record(\"example.test\", \"www\"): option `ttl` must be a whole number, not \"5m\"")
        .run();
    play(&p)
        .args(&["--var", &port_var, "--var", "ttl=300", "--var", "exact=yes"])
        .code(2)
        .stdout_contains("dns::a_record(\"example.test\", \"www\"): option `exact` must be true or false, not \"yes\"")
        .run();
    drop(listener);
}

#[test]
fn ufw_rule_ports_are_numbers_or_their_text() {
    // Refused while the rules are read, before the host is looked at (a dry run, all the same).
    let p = project(r#"step("fw", hosts("h1"), |h| h.ufw(#{ rules: [#{ port: var("port"), proto: "tcp" }] }));"#);
    play(&p)
        .args(&["--dry-run", "--var", "port=22.5"])
        .code(2)
        .stdout_contains(
            "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not \"22.5\"",
        )
        .run();
    play(&p)
        .args(&["--dry-run", "--var", "port=70000"])
        .any_code()
        .stdout_contains("ufw rule: option `port` 70000 is out of range (1-65535)")
        .run();
}

#[test]
fn stdlib_options_take_numbers_and_flags_as_text() {
    let p = project(
        r#"
        import "release" as release;
        let s = release::paths("ace", var("version"), #{ keep: var("keep", 5), restart: var("restart", true) });
        print(`keep ${type_of(s.keep)}:${s.keep} restart ${type_of(s.restart)}:${s.restart} tarball ${s.tarball}`);
        "#,
    );
    let o = play(&p)
        .args(&["--var", "version=1.10", "--var", "keep=3", "--var", "restart=false"])
        .run();
    has(
        &o,
        "keep i64:3 restart bool:false tarball /opt/apps/deploys/ace-1.10.tar.gz",
    );
    let o = play(&p)
        .args(&["--var", "version=1.10", "--var", "keep=three"])
        .code(1)
        .run();
    assert!(
        o.stderr
            .contains("release: option `keep` must be a whole number, not \"three\""),
        "{}",
        o.all()
    );

    // nginx's `ipv6` and unattended's `reboot` are checked before anything is looked at.
    let p = project(
        r#"
        import "nginx" as nginx;
        import "unattended" as unattended;
        step("web", hosts("h1"), |h| {
            if var("module") == "nginx" {
                nginx::site(h, #{ upstreams: ["10.0.0.5"], ipv6: var("flag") });
            } else {
                unattended::enable(h, #{ reboot: var("flag") });
            }
        });
        "#,
    );
    play(&p)
        .args(&["--dry-run", "--var", "module=nginx", "--var", "flag=no"])
        .code(2)
        .stdout_contains("nginx::site: option `ipv6` must be true or false, not \"no\"")
        .run();
    play(&p)
        .args(&["--dry-run", "--var", "module=unattended", "--var", "flag=1"])
        .code(2)
        .stdout_contains("unattended::enable: option `reboot` must be true or false, not \"1\"")
        .run();
}

/// `ls -l`'s permission column of a path.
fn perms(path: &std::path::Path) -> String {
    let out = std::process::Command::new("stat")
        .args(["-c", "%A"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn modes_are_strings_and_integers_are_refused_with_the_string_to_write() {
    let p = project(
        r#"
        let dir = var("dir");
        step("files", hosts("h1"), |h| {
            h.file(`${dir}/octal`, #{ content: "a\n", mode: "0644" });
            h.file(`${dir}/short`, #{ content: "b\n", mode: "600" });
            h.file(`${dir}/symbolic`, #{ content: "c\n", mode: "u=rw,g=r,o=" });
            h.dir(`${dir}/sub`, #{ mode: "0o750" });
            h.line(`${dir}/line`, "x = 1", #{ mode: "u=rw,go=r" });
            print(`fact ${h.fact("file", `${dir}/octal`).mode}`);
        });
        "#,
    );
    std::fs::create_dir_all(p.path("out")).unwrap();
    let dir = format!("dir={}", p.path("out").display());
    let o = play(&p).args(&["--var", &dir]).run();
    assert_eq!(perms(&p.path("out/octal")), "-rw-r--r--");
    assert_eq!(perms(&p.path("out/short")), "-rw-------");
    assert_eq!(perms(&p.path("out/symbolic")), "-rw-r-----");
    assert_eq!(perms(&p.path("out/sub")), "drwxr-x---");
    assert_eq!(perms(&p.path("out/line")), "-rw-r--r--");
    has(&o, "fact 0644");
    // A second run: nothing to change.
    let o = play(&p).args(&["--var", &dir, "-o", "json"]).run();
    assert_eq!(o.changes(), vec![], "{}", o.all());

    for (op, mode, want) in [
        (
            "file",
            "644",
            "file: option `mode` must be a string, not the integer 644: write mode: \"0644\"",
        ),
        (
            "file",
            "0o644",
            "file: option `mode` must be a string, not the integer 420: write mode: \"0644\"",
        ),
        (
            "dir",
            "755",
            "dir: option `mode` must be a string, not the integer 755: write mode: \"0755\"",
        ),
        (
            "template",
            "0o600",
            "template: option `mode` must be a string, not the integer 384: write mode: \"0600\"",
        ),
        (
            "upload",
            "640",
            "upload: option `mode` must be a string, not the integer 640: write mode: \"0640\"",
        ),
        (
            "file",
            "\"8644\"",
            "file: option `mode` \"8644\" is not a mode: write 3 or 4 octal digits like \"0644\"",
        ),
        (
            "file",
            "\"17777\"",
            "file: option `mode` \"17777\" is out of range: modes go up to \"7777\"",
        ),
    ] {
        let call = match op {
            "file" => format!("h.file(`${{dir}}/bad`, #{{ content: \"x\", mode: {mode} }})"),
            "dir" => format!("h.dir(`${{dir}}/bad`, #{{ mode: {mode} }})"),
            "template" => format!("h.template(\"t.j2\", `${{dir}}/bad`, #{{}}, #{{ mode: {mode} }})"),
            _ => format!("h.upload(\"t.j2\", `${{dir}}/bad`, #{{ mode: {mode} }})"),
        };
        p.write("t.j2", "hello\n");
        p.write(
            "bad.rhai",
            &format!("let dir = var(\"dir\");\nstep(\"bad\", hosts(\"h1\"), |h| {call});\n"),
        );
        let bad = Test::in_project(&p).play("bad.rhai").on("local");
        let o = bad.args(&["--var", &dir]).code(2).run();
        assert!(o.stdout.contains(want), "{op} {mode}: want {want:?} in\n{}", o.all());
        assert!(!p.path("out/bad").exists(), "{op} {mode}: nothing is written");
    }
    // Existing files keep their modes: the refused integer never became a chmod.
    let meta = std::fs::metadata(p.path("out/octal")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
}

#[test]
fn the_release_playbook_names_the_tarball_after_the_version_text() {
    let p = project("");
    let playbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/release.rhai")).unwrap();
    p.write("playbooks/release.rhai", &playbook);
    p.write("app/server.js", "// the app\n");
    // No app servers: the release is packed (also in a dry run), and no step has a host.
    let release = |extra: &[&str]| {
        Test::in_project(&p)
            .play("playbooks/release.rhai")
            .on("local")
            .args(&["--dry-run", "--var", "app=ace", "--var", "app_dir=app"])
            .args(extra)
    };
    let o = release(&["--var", "version=1.10", "--var", "serial=2", "--var", "keep=3"])
        .stdout_contains("into .runbook/build/ace-1.10.tar.gz")
        .run();
    assert!(p.path(".runbook/build/ace-1.10.tar.gz").is_file(), "{}", o.all());
    assert!(!p.path(".runbook/build/ace-1.1.tar.gz").exists(), "{}", o.all());
    assert_eq!(p.read("app/VERSION"), "1.10\n");

    let o = release(&["--var", "version=007"]).run();
    assert!(p.path(".runbook/build/ace-007.tar.gz").is_file(), "{}", o.all());

    // A number that has lost its digits is refused; a whole one is its text.
    release(&["--var-json", "version=1.10"])
        .code(1)
        .stderr_contains("version must be text, not the f64 1.1")
        .run();
    let o = release(&["--var-json", "version=2"]).run();
    assert!(p.path(".runbook/build/ace-2.tar.gz").is_file(), "{}", o.all());

    // rollback is a flag: "true" takes that branch, anything but true/false is an error.
    release(&["--var", "rollback=true"])
        .stdout_contains("STEP rollback")
        .run();
    release(&["--var", "rollback=yes", "--var", "version=1"])
        .code(1)
        .stderr_contains("variable `rollback` must be true or false, not \"yes\"")
        .run();
    release(&["--var", "version=1", "--var", "serial=two"])
        .code(1)
        .stderr_contains("variable `serial` must be a whole number, not \"two\"")
        .run();
}
