//! The live display: under a real pseudo-terminal (`script`), a running step shows a bar of
//! its hosts and a spinner per host with what it is doing; colours follow `--color` and
//! `NO_COLOR`; piped output has no escape codes at all.

use std::process::Command;

use crate::support::{Project, Test};

fn project() -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["alpha", "beta"])]);
    p.write(
        "site.rhai",
        r#"step("slow", hosts("web"), |h| {
            h.run("sleep 1.2");
            h.file(`${var("out")}/${h.name}.txt`, #{ content: "hi\n" });
        });"#,
    );
    std::fs::create_dir_all(p.path("out")).unwrap();
    p
}

/// Runs `runbook ARGS` under a pseudo-terminal; what the terminal received.
fn on_terminal(p: &Project, args: &str, env: &str) -> String {
    let runbook = env!("CARGO_BIN_EXE_runbook");
    let line = format!("{env} {runbook} {args}");
    let out = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(p.root())
        .env("HOME", p.home())
        .env_remove("NO_COLOR")
        .output()
        .expect("script(1) runs (util-linux)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_colour(text: &str) -> bool {
    regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().is_match(text)
}

#[test]
fn a_running_step_shows_each_host_and_what_it_does() {
    let p = project();
    let out_dir = p.path("out");
    let args = format!("play site.rhai -i local --var out={}", out_dir.display());
    let screen = on_terminal(&p, &args, "");
    assert!(
        screen.contains("slow [") && screen.contains("/2 hosts"),
        "the step's bar: {screen}"
    );
    for host in ["alpha", "beta"] {
        assert!(
            regex::Regex::new(&format!("{host} +run sleep 1.2"))
                .unwrap()
                .is_match(&screen),
            "{host}'s spinner says what it runs: {screen}"
        );
    }
    assert!(has_colour(&screen), "colours on a terminal: {screen}");
    // The finished screen: every result line and the recap.
    let plain = regex::Regex::new("\x1b\\[[0-9;]*[A-Za-z]")
        .unwrap()
        .replace_all(&screen, "");
    for line in [
        "changed: [alpha] run sleep 1.2: run",
        "changed: [beta] file ",
        "RECAP",
        "2 hosts, 4 changed, 0 failed",
    ] {
        assert!(plain.contains(line), "{line:?} in {plain}");
    }
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let p = project();
    let args = format!("play site.rhai -i local --var out={}", p.path("out").display());
    assert!(!has_colour(&on_terminal(&p, &format!("{args} --color never"), "")));
    assert!(!has_colour(&on_terminal(&p, &args, "NO_COLOR=1")));
    let piped = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&[
            "--var",
            &format!("out={}", p.path("out").display()),
            "--color",
            "always",
        ])
        .run();
    assert!(
        has_colour(&piped.stdout),
        "always colours, even piped: {}",
        piped.stdout
    );
}

#[test]
fn piped_output_has_no_escape_codes() {
    let p = project();
    let o = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--var", &format!("out={}", p.path("out").display())])
        .run();
    assert!(!o.stdout.contains('\x1b'), "{}", o.stdout);
    assert!(o.stdout.contains("changed  alpha  2 changed"), "{}", o.stdout);
}

#[test]
fn lines_printed_in_a_step_name_their_host() {
    let p = Project::new();
    p.local_inventory(&[("web", &["alpha", "beta"])]);
    let o = Test::in_project(&p)
        .playbook(
            "site.rhai",
            r#"print("before");
            step("hello", hosts("web"), |h| { print(`hello from ${h.name}`); log("logged"); });
            step("controller", || print("on the controller"));"#,
        )
        .on("local")
        .run();
    for line in [
        "  [alpha] hello from alpha",
        "  [beta] hello from beta",
        "  [alpha] logged",
        "  [beta] logged",
        "\n  before\n",
        "\n  on the controller\n",
    ] {
        assert!(o.stdout.contains(line), "{line:?} in {}", o.stdout);
    }
}

#[test]
fn verbose_shows_command_output_then_commands_and_probes() {
    let p = Project::new();
    p.local_inventory(&[("web", &["alpha"])]);
    p.write(".runbook/secrets/token", "s3cr3t-value\n");
    p.write(
        "site.rhai",
        &format!(
            r#"step("say", hosts("web"), |h| {{
                let t = secret("token");
                h.run(`echo made it; echo to-stderr >&2; echo ${{t}}`);
                h.file("{}/f.txt", #{{ content: "x\n" }});
            }});"#,
            p.root().display()
        ),
    );
    let play = |v: &[&str]| Test::in_project(&p).play("site.rhai").on("local").args(v).run();
    let quiet = play(&[]);
    assert!(!quiet.stdout.contains("[alpha] made it"), "{}", quiet.stdout);
    std::fs::remove_file(p.path("f.txt")).unwrap();
    let v = play(&["-v"]);
    for line in ["  [alpha] made it\n", "  [alpha] ! to-stderr\n", "  [alpha] ***\n"] {
        assert!(v.stdout.contains(line), "{line:?} in {}", v.stdout);
    }
    assert!(
        !v.stdout.contains("s3cr3t-value") && !v.stdout.contains("[alpha] $ "),
        "{}",
        v.stdout
    );
    std::fs::remove_file(p.path("f.txt")).unwrap();
    let vv = play(&["-vv"]);
    assert!(vv.stdout.contains("  [alpha] $ echo made it"), "{}", vv.stdout);
    assert!(
        vv.stdout.contains("  [alpha] $ ") && vv.stdout.contains("stat"),
        "the probe too: {}",
        vv.stdout
    );
    assert!(!vv.stdout.contains("s3cr3t-value"), "{}", vv.stdout);
}

#[test]
fn a_dry_run_plan_reads_host_by_host() {
    let p = Project::new();
    p.local_inventory(&[("web", &["alpha", "beta", "gamma"])]);
    let dir = p.root().display().to_string();
    let o = Test::in_project(&p)
        .playbook(
            "site.rhai",
            &format!(
                r#"step("files", hosts("web"), |h| {{
                    for i in 0..4 {{ h.file(`{dir}/${{h.name}}-${{i}}.txt`, #{{ content: "x\n" }}); h.run("sleep 0.05"); }}
                }});"#
            ),
        )
        .on("local")
        .args(&["--dry-run"])
        .run();
    // Each host's planned changes stand together, right above its result line.
    let lines: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("  would:") || l.starts_with("  changed  "))
        .collect();
    assert_eq!(lines.len(), 3 * (8 + 1), "{}", o.stdout);
    for block in lines.chunks(9) {
        let host = block[8].split_whitespace().nth(1).unwrap();
        assert!(block[8].trim_start().starts_with("changed  "), "{}", o.stdout);
        assert!(
            block[..8].iter().all(|l| l.contains(&format!("[{host}]"))),
            "{host}'s plan is not interleaved with another host's: {}",
            o.stdout
        );
    }
}
