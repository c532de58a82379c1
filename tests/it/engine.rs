//! The engine on the local connection: steps, parallelism, batches, failures, output, errors.

use serde_json::Value;

use crate::support::Project;

/// (start, end) nanosecond timestamps each host wrote around a short sleep.
fn intervals(p: &Project, hosts: &[&str]) -> Vec<(u128, u128)> {
    hosts
        .iter()
        .map(|h| {
            let text = p.read(&format!("out/{h}.times"));
            let t: Vec<u128> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
            assert_eq!(t.len(), 2, "{h}: {text}");
            (t[0], t[1])
        })
        .collect()
}

const TIMED: &str = r#"
let out = var("out");
step("timed", hosts("all"), |h| {
    h.run(`date +%s%N >> ${out}/${h.name}.times; sleep 0.3; date +%s%N >> ${out}/${h.name}.times`);
});
"#;

fn timed_project() -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1", "h2", "h3"])]);
    p.write("site.rhai", TIMED);
    std::fs::create_dir_all(p.path("out")).unwrap();
    p
}

#[test]
fn a_step_runs_its_hosts_in_parallel() {
    let p = timed_project();
    let out_dir = format!("out={}", p.path("out").display());
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir]);
    assert_eq!(o.code, 0, "{}", o.all());
    let iv = intervals(&p, &["h1", "h2", "h3"]);
    let last_start = iv.iter().map(|i| i.0).max().unwrap();
    let first_end = iv.iter().map(|i| i.1).min().unwrap();
    assert!(last_start < first_end, "all three should be running at once: {iv:?}");
}

#[test]
fn forks_1_runs_hosts_one_after_another() {
    let p = timed_project();
    let out_dir = format!("out={}", p.path("out").display());
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--forks", "1", "--var", &out_dir]);
    assert_eq!(o.code, 0, "{}", o.all());
    let iv = intervals(&p, &["h1", "h2", "h3"]);
    assert!(
        iv[0].1 <= iv[1].0 && iv[1].1 <= iv[2].0,
        "must not overlap, in inventory order: {iv:?}"
    );
}

#[test]
fn serial_batches_run_one_batch_after_another() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1", "h2", "h3", "h4"])]);
    p.write(
        "site.rhai",
        &TIMED.replace("hosts(\"all\"), |h|", "hosts(\"all\"), #{ serial: 2 }, |h|"),
    );
    std::fs::create_dir_all(p.path("out")).unwrap();
    let out_dir = format!("out={}", p.path("out").display());
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir]);
    assert_eq!(o.code, 0, "{}", o.all());
    let iv = intervals(&p, &["h1", "h2", "h3", "h4"]);
    let overlap = |a: (u128, u128), b: (u128, u128)| a.0 < b.1 && b.0 < a.1;
    assert!(
        overlap(iv[0], iv[1]) && overlap(iv[2], iv[3]),
        "a batch runs together: {iv:?}"
    );
    let batch1_end = iv[0].1.max(iv[1].1);
    assert!(
        batch1_end <= iv[2].0.min(iv[3].0),
        "batch 2 starts after batch 1 ends: {iv:?}"
    );
}

const FAILING: &str = r#"
let out = var("out");
step("one", hosts("all"), OPTS |h| {
    h.run(`echo one >> ${out}/${h.name}.log`);
    if h.name == "h2" { h.run("echo 'no such package: nginx-extra' >&2; exit 100"); }
});
step("two", hosts("all"), |h| {
    h.run(`echo two >> ${out}/${h.name}.log`);
});
"#;

fn failing_project(opts: &str) -> (Project, String) {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1", "h2", "h3"])]);
    p.write("site.rhai", &FAILING.replace("OPTS", opts));
    std::fs::create_dir_all(p.path("out")).unwrap();
    let out_dir = format!("out={}", p.path("out").display());
    (p, out_dir)
}

fn recap(events: &[Value]) -> &Value {
    let r = events.last().unwrap();
    assert_eq!(r["event"], "recap");
    &r["hosts"]
}

#[test]
fn by_default_a_failed_host_drops_out_and_the_others_go_on() {
    let (p, out_dir) = failing_project("");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir, "-o", "json"]);
    assert_eq!(o.code, 2, "a failed host fails the run: {}", o.all());
    assert_eq!(p.read("out/h1.log"), "one\ntwo\n");
    assert_eq!(p.read("out/h3.log"), "one\ntwo\n");
    assert_eq!(p.read("out/h2.log"), "one\n", "h2 dropped out");
    let events = o.events();
    let h2_two = events
        .iter()
        .find(|e| e["event"] == "host_result" && e["host"] == "h2" && e["step"] == "two")
        .unwrap();
    assert_eq!(h2_two["reason"], "failed in an earlier step", "{}", o.all());
}

#[test]
fn any_errors_fatal_stops_the_play_after_the_step() {
    let (p, out_dir) = failing_project("#{ any_errors_fatal: true },");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir, "-o", "json"]);
    assert_eq!(o.code, 2, "{}", o.all());
    for h in ["h1", "h2", "h3"] {
        assert_eq!(p.read(&format!("out/{h}.log")), "one\n", "step two must not run on {h}");
    }
    assert!(
        o.stdout
            .contains("step `one`: 1 host(s) failed and any_errors_fatal is set; the play stopped"),
        "{}",
        o.all()
    );
    let events = o.events();
    let failure = events
        .iter()
        .find(|e| e["event"] == "host_result" && e["status"] == "failed")
        .unwrap();
    assert_eq!(failure["host"], "h2");
    assert_eq!(failure["step"], "one");
    let err = failure["error"].as_str().unwrap();
    assert!(err.contains("h2: command exited with code 100"), "{err}");
    assert!(
        err.contains("command: echo 'no such package: nginx-extra' >&2; exit 100"),
        "{err}"
    );
    assert!(err.contains("no such package: nginx-extra"), "{err}");
    assert_eq!(recap(&events)["h2"]["failed"], 1);
}

#[test]
fn with_max_fail_the_play_goes_on_without_the_failed_host() {
    let (p, out_dir) = failing_project("#{ max_fail: 1 },");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir, "-o", "json"]);
    assert_eq!(o.code, 2, "a failed host still fails the run: {}", o.all());
    assert_eq!(p.read("out/h1.log"), "one\ntwo\n");
    assert_eq!(p.read("out/h3.log"), "one\ntwo\n");
    assert_eq!(
        p.read("out/h2.log"),
        "one\n",
        "the failed host is left out of later steps"
    );
    let events = o.events();
    let skip = events
        .iter()
        .find(|e| e["event"] == "host_result" && e["step"] == "two" && e["host"] == "h2")
        .unwrap();
    assert_eq!(skip["status"], "skipped");
    let r = recap(&events);
    assert_eq!(
        r["h1"],
        serde_json::json!({"ok": 2, "changed": 2, "failed": 0, "skipped": 0})
    );
    assert_eq!(
        r["h2"],
        serde_json::json!({"ok": 0, "changed": 1, "failed": 1, "skipped": 1})
    );
}

#[test]
fn json_events_describe_the_run_and_nothing_else_is_on_stdout() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1", "w2"]), ("db", &["d1"])]);
    p.write(
        "site.rhai",
        r#"
        print("starting");
        let names = step("names", hosts("web"), |h| h.name + "!");
        step("use", hosts("db"), |h| { h.run("true", #{ changed: false }); names });
        "#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let events = o.events();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "run_start",
            "log",
            "step_start",
            "host_result",
            "host_result",
            "step_end",
            "step_start",
            "host_result",
            "step_end",
            "recap"
        ]
    );
    assert_eq!(events[0]["hosts"], 3);
    assert_eq!(events[2]["hosts"], serde_json::json!(["w1", "w2"]));
    assert_eq!(events[5]["ok"], 2);
    assert_eq!(events[8]["ok"], 1);
    assert_eq!(
        recap(&events)["d1"],
        serde_json::json!({"ok": 1, "changed": 0, "failed": 0, "skipped": 0})
    );
    assert_eq!(events[9]["exit_code"], 0);
}

#[test]
fn steps_return_values_by_host_and_controller_steps_run_once() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1", "w2"])]);
    p.write(
        "site.rhai",
        r#"
        let n = step("count", || 40 + 2);
        let r = step("ask", hosts("web"), |h| { let s = h.run(`echo ${h.name}-${n}`).stdout; s.trim(); s });
        print(`${r.w1} ${r.w2} ${r.keys()}`);
        "#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("w1-42 w2-42 [\"w1\", \"w2\"]"), "{}", o.all());
}

#[test]
fn local_commands_get_stdin_env_cwd_and_a_timeout() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write(
        "site.rhai",
        r#"
        step("io", hosts("all"), |h| {
            let r = h.run("cat; echo \"[$GREETING]\"; pwd; echo err >&2", #{ stdin: "in\n", env: #{ GREETING: "it's $HOME" }, cwd: "/tmp" });
            print(r.stdout + "|" + r.stderr + "|" + r.code);
            let r = h.run("exit 7", #{ check: false });
            print(`code=${r.code}`);
            h.run("sleep 30", #{ timeout: "500ms" });
        });
        "#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("in\n[it's $HOME]\n/tmp\n|err\n|0"), "{}", o.all());
    assert!(o.stdout.contains("code=7"), "{}", o.all());
    assert!(o.stdout.contains("command timed out after 500ms"), "{}", o.all());
}

#[test]
fn hostile_values_in_argv_commands_are_only_data() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    let marker = p.path("pwned");
    p.write(
        "site.rhai",
        r#"step("echo", hosts("all"), |h| { print(h.run(["printf", "%s|", var("evil"), "b"]).stdout); });"#,
    );
    let evil = format!(
        "evil=; touch {m} $(touch {m}) `touch {m}` ' \" \n ☃",
        m = marker.display()
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &evil]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(!marker.exists(), "nothing but printf ran");
    assert!(
        o.stdout.contains(&format!("{}|b|", &evil["evil=".len()..])),
        "{}",
        o.all()
    );
}

// ---- errors: the exact messages a user sees ----

fn error_project(playbook: &str) -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write("site.rhai", playbook);
    p
}

#[test]
fn parse_errors_point_at_the_line() {
    let p = error_project("let x = 1;\nstep(\"a\", hosts(\"web\"), |h| {\n    h.run(\"true\"\n});\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "error: syntax error: Expecting ',' to separate the arguments to function call 'run'\n  --> site.rhai:4:1\n   |\n 4 | });\n   | ^\n"
    );
    let o = p.runbook(&["check", "site.rhai"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--> site.rhai:4:1"), "{}", o.all());
}

#[test]
fn runtime_errors_in_imported_modules_point_into_the_module() {
    let p = error_project(
        "import \"tools\" as tools;\n\nstep(\"setup\", hosts(\"web\"), |h| {\n    tools::install(h, \"nginx\");\n});\n",
    );
    p.write(
        "tools.rhai",
        "fn install(h, pkg) {\n    let cmd = `apt-get install ${pkg}`;\n    h.run(comand);\n}\n",
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "-o", "json"]);
    assert_eq!(o.code, 2, "{}", o.all());
    let events = o.events();
    let failure = events.iter().find(|e| e["status"] == "failed").unwrap();
    assert_eq!(
        failure["error"].as_str().unwrap(),
        "Variable not found: comand\n  --> tools.rhai:3:11\n   |\n 3 |     h.run(comand);\n   |           ^^^^^^\n  = note: in `install`, called at site.rhai:4:12\n  = note: in closure, called at site.rhai:3:1"
    );
}

/// A queued operation fails when the queue is carried out, after the module function that
/// called it has returned: its error still names the way there, as an error raised at once
/// does (the test above), and nothing queued after it is carried out.
#[test]
fn a_queued_operation_failing_later_names_the_functions_it_was_called_through() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    let out = p.path("out");
    std::fs::create_dir(&out).unwrap();
    let out = out.display().to_string();
    p.write(
        "site.rhai",
        &format!(
            "import \"tools\" as tools;\n\nstep(\"setup\", hosts(\"web\"), |h| {{\n    tools::install(h, \"nginx\");\n    h.dir(\"{out}/after\");\n}});\n"
        ),
    );
    let file_call = format!("h.file(`{out}/missing/${{pkg}}.conf`, #{{ content: \"x\" }});");
    p.write(
        "tools.rhai",
        &format!("fn install(h, pkg) {{\n    h.dir(`{out}/${{pkg}}`);\n    {file_call}\n}}\n"),
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "-o", "json"]);
    assert_eq!(o.code, 2, "{}", o.all());
    let events = o.events();
    let failure = events.iter().find(|e| e["status"] == "failed").unwrap();
    assert_eq!(
        failure["error"].as_str().unwrap(),
        format!(
            "w1: file {out}/missing/nginx.conf: directory {out}/missing does not exist (create it first with h.dir)\n  --> tools.rhai:3:7\n   |\n 3 |     {file_call}\n   |       ^^^^\n  = note: in `install`, called at site.rhai:4:12\n  = note: in closure, called at site.rhai:3:1"
        )
    );
    assert!(
        std::path::Path::new(&out).join("nginx").is_dir(),
        "the directory queued before the failure is made"
    );
    assert!(
        !std::path::Path::new(&out).join("after").exists(),
        "nothing queued after the failure is carried out"
    );
}

#[test]
fn unknown_groups_are_named_with_the_known_ones() {
    let p = error_project("step(\"a\", hosts(\"wbe\"), |h| {});\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with(
            "error: hosts(\"wbe\"): unknown group or host `wbe` (groups: all, web; hosts: w1)\n  --> site.rhai:1:11\n   |\n 1 | step(\"a\", hosts(\"wbe\"), |h| {});\n   |           ^^^^^\n"
        ),
        "{}",
        o.all()
    );
}

#[test]
fn missing_vars_say_where_to_set_them() {
    let p = error_project("let v = var(\"version\");\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "error: variable `version` is not defined: set it in [vars] of inventory/local.toml, or pass --var version=…, or use var(\"version\", default)\n  --> site.rhai:1:9\n   |\n 1 | let v = var(\"version\");\n   |         ^^^\n"
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", "version=1.2"]);
    assert_eq!(o.code, 0, "{}", o.all());
}

#[test]
fn missing_files_and_bad_inventories_are_one_paragraph_errors() {
    let p = error_project("");
    let o = p.runbook(&["play", "nope.rhai", "-i", "local"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "error: playbook nope.rhai does not exist\n")
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "staging"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("error: inventory `staging` not found"),
        "{}",
        o.all()
    );
    p.write("inventory/bad.toml", "[hosts.a]\nport = \"22\"\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "bad"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--> inventory/bad.toml:2:8"), "{}", o.all());
}

#[test]
fn steps_cannot_nest_and_options_are_checked() {
    let p = error_project("step(\"outer\", hosts(\"web\"), |h| { step(\"inner\", || 1); });\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stdout.contains("step(\"inner\") is called inside another step"),
        "{}",
        o.all()
    );
    let p = error_project("step(\"a\", hosts(\"web\"), #{ serail: 1 }, |h| {});\n");
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(
            "step: unknown option `serail`; did you mean `serial`? (known: serial, max_fail, any_errors_fatal, tags, handlers)"
        ),
        "{}",
        o.all()
    );
}

#[test]
fn limit_narrows_every_step() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1", "w2"]), ("db", &["d1"])]);
    p.write(
        "site.rhai",
        "let r = step(\"a\", hosts(\"all\"), |h| h.name);\nprint(r.keys());\n",
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--limit", "all,!w2"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("[\"d1\", \"w1\"]"), "w2 is left out: {}", o.all());
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--limit", "nothing*"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--limit \"nothing*\" matches no host"), "{}", o.all());
}

#[test]
fn inventory_command_shows_groups_and_merged_vars() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"]), ("db", &["d1"])]);
    let o = p.runbook(&["inventory", "-i", "local", "--json", "--var", "team=dev"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let doc: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(doc["hosts"]["w1"]["groups"], serde_json::json!(["all", "web"]));
    assert_eq!(doc["hosts"]["d1"]["vars"]["team"], "dev");
    let o = p.runbook(&["inventory", "-i", "local", "--graph"]);
    assert_eq!(o.stdout, "@all:\n  |--@web:\n  |  |--w1\n  |--@db:\n  |  |--d1\n");
}

#[test]
fn unknown_flags_get_suggestions() {
    let p = Project::new();
    let o = p.runbook(&["play", "x.rhai", "-i", "local", "--dry-rn"]);
    assert_eq!(o.code, 1, "a usage error: {}", o.all());
    assert!(
        o.stderr.contains("tip: a similar argument exists: '--dry-run'"),
        "{}",
        o.all()
    );
    let o = p.runbook(&["paly"]);
    assert!(
        o.stderr.contains("tip: a similar subcommand exists: 'play'"),
        "{}",
        o.all()
    );
}

/// A host captured outside a parallel step is used by every host's closure at once: no
/// "Data race detected", each call's command ran, one at a time on that host, and the
/// changes count for the hosts whose closures made them.
#[test]
fn a_captured_host_is_shared_by_a_parallel_step() {
    let p = Project::new();
    p.local_inventory(&[("app", &["a1", "a2", "a3"]), ("db", &["d1"])]);
    let log = p.path("d1.log");
    p.write(
        "site.rhai",
        &format!(
            r#"
        let db = hosts("db")[0];
        let dbs = hosts("db");
        let tiers = #{{ primary: db }};
        step("use the db", hosts("app"), |h| {{
            db.run(["sh", "-c", `echo start ${{h.name}} >> {log}; sleep 0.2; echo end ${{h.name}} >> {log}`]);
            dbs[0].run("true", #{{ readonly: true }});
            tiers.primary.run("true", #{{ readonly: true }});
        }});
        "#,
            log = log.display()
        ),
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let text = p.read("d1.log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for pair in lines.chunks(2) {
        // Serialised on the shared host: each start is followed by its own end.
        assert_eq!(pair[0].replace("start", "end"), pair[1], "{text}");
    }
    o.assert_counts_agree();
    let recap = o.events().into_iter().last().unwrap();
    for h in ["a1", "a2", "a3"] {
        assert_eq!(recap["hosts"][h]["changed"], 1, "{}", o.all());
    }
    // `history` counts the same: the run's changes, and each host's in the grid.
    let list = p.runbook(&["history", "-o", "json"]);
    let runs: Value = serde_json::from_str(&list.stdout).unwrap_or_else(|e| panic!("{e}: {}", list.all()));
    assert_eq!(runs[0]["changes"], recap["changes"], "{}", list.all());
    let grid = p.runbook(&["history", "1", "-o", "json"]);
    let grid: Value = serde_json::from_str(&grid.stdout).unwrap();
    for h in ["a1", "a2", "a3"] {
        assert_eq!(grid["steps"][0]["hosts"][h]["changes"], 1, "{grid}");
    }
}

/// Values that are not text (an unset `()`, a map) are refused where a command word, a
/// package or an environment value is expected, instead of becoming `""` or `#{…}`; a host
/// named twice in a step's targets runs once.
#[test]
fn values_that_are_not_text_are_refused_where_text_is_expected() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    for (script, want) in [
        (
            r#"h.run(["echo", var("missing", ())])"#,
            "run: the command's words: item 1 of the list is (), not text",
        ),
        (
            r#"h.run("true", #{ env: #{ A: #{ b: 1 } } })"#,
            "run: option `env`: `A` must be text or a number, not map",
        ),
        (
            r#"h.apt(["curl", ()])"#,
            "apt: the packages: item 1 of the list is (), not text",
        ),
    ] {
        p.write(
            "site.rhai",
            &format!("step(\"s\", hosts(\"web\"), |h| {{ {script}; }});"),
        );
        let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
        assert_eq!(o.code, 2, "{}", o.all());
        assert!(o.stdout.contains(want), "{script}: want {want:?}\n{}", o.all());
    }
    p.write(
        "site.rhai",
        "let r = step(\"s\", hosts(\"web\") + hosts(\"w1\"), |h| h.run([\"echo\", 7, true], #{ readonly: true }).stdout);\nprint(r);",
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let results = o.events().iter().filter(|e| e["event"] == "host_result").count();
    assert_eq!(results, 1, "{}", o.all());
    assert!(o.stdout.contains("7 true"), "{}", o.all());
}

/// Rhai's "Function not found: …" for the usual slips, in runbook's words, with the nearest
/// valid name and how the built-in is called.
#[test]
fn common_script_mistakes_are_explained() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    for (script, want) in [
        (
            r#"step("a", |h| h.run("true"));"#,
            "a step without hosts runs its closure once, on the controller",
        ),
        (
            r#"step("a", hosts("web"), |h| h.run("true"), #{ serial: 1 });"#,
            "step: the options map goes before the closure",
        ),
        (
            r#"step("a", hosts("web"), |h| h.copy("a", "b"));"#,
            "hosts have no method `copy`.\n        host methods: var, var_int, var_bool, run, file,",
        ),
        (
            r#"step("a", hosts("web"), |h| h.fiel("/tmp/x"));"#,
            "hosts have no method `fiel`. Did you mean `file`?",
        ),
        (
            r#"stpe("a", hosts("web"), |h| 1);"#,
            "unknown function `stpe` (called with string, list, closure); did you mean `step`?",
        ),
        (
            r#"step("a", || cloud::droplett("x"));"#,
            "did you mean `cloud::droplet`?",
        ),
        (
            r#"step("a", hosts("web"), |h| h.file(1));"#,
            "h.file cannot be called with (integer): it is h.file(path, [#{ options }])",
        ),
        (
            r#"step("a", hosts("web"), |h| h.file("/tmp/x", #{ contnet: "a" }));"#,
            "file: unknown option `contnet`; did you mean `content`?",
        ),
        (
            r#"hosts("web")[0].run("true");"#,
            "h.run() on w1 is called outside a step",
        ),
    ] {
        p.write("site.rhai", script);
        let o = p.runbook(&["play", "site.rhai", "-i", "local", "--dry-run"]);
        assert_ne!(o.code, 0, "{script}\n{}", o.all());
        assert!(o.all().contains(want), "{script}: want {want:?}\n{}", o.all());
    }
}

/// Modules that import each other (or themselves) are an import cycle named file by file,
/// in `play` and in `check`, not a stack overflow.
#[test]
fn import_cycles_are_reported_with_their_chain() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write("a.rhai", "import \"b\" as b;\nfn f() { 1 }\n");
    p.write("b.rhai", "import \"a\" as a;\nfn g() { 2 }\n");
    p.write("site.rhai", "import \"a\" as a;\nprint(a::f());\n");
    p.write("me.rhai", "import \"me\" as me;\n");
    for args in [&["play", "site.rhai", "-i", "local"][..], &["check", "site.rhai"]] {
        let o = p.runbook(args);
        assert_eq!(o.code, 1, "{}", o.all());
        assert!(
            o.stderr.contains("import cycle: a.rhai imports b.rhai imports a.rhai"),
            "{}",
            o.all()
        );
    }
    let o = p.runbook(&["check", "me.rhai"]);
    assert!(
        o.stderr.contains("import cycle: me.rhai imports me.rhai"),
        "{}",
        o.all()
    );
}

/// Runaway recursion inside a step ends with Rhai's clean error at the recursive call, on
/// the host that ran it, as it does at top level: the step thread's stack is big enough for
/// Rhai's call-depth limit to speak first.
#[test]
fn deep_recursion_in_a_step_is_a_clean_error() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write(
        "site.rhai",
        "fn down(n) { if n == 0 { 0 } else { 1 + down(n - 1) } }\nstep(\"deep\", hosts(\"web\"), |h| down(100000));\n",
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "a failed host, not a crash: {}", o.all());
    assert!(o.stdout.contains("FAILED   w1"), "{}", o.all());
    assert!(
        o.stdout
            .contains("function calls nested too deep (more than 64 levels)"),
        "{}",
        o.all()
    );
}

/// Durations too long to add to the clock are refused where they are written, not a panic.
#[test]
fn absurd_durations_are_refused() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write(
        "site.rhai",
        "step(\"w\", || wait::until_true(|| true, #{ timeout: \"500000000000y\" }));\n",
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--wait-lock", "500000000000y"]);
    assert_eq!(o.code, 1, "a usage error: {}", o.all());
    assert!(
        o.stderr.contains(
            "'--wait-lock <DURATION>': duration 500000000000years is longer than runbook takes (at most 1year)"
        ),
        "{}",
        o.all()
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert!(
        o.stdout
            .contains("option `timeout`: duration 500000000000years is longer than runbook takes"),
        "{}",
        o.all()
    );
    assert!(!o.all().contains("panicked"), "{}", o.all());
}

/// Inputs that used to give raw or misleading errors (or none): each gets runbook's own
/// message, and a configuration mistake inside a wait fails at once instead of after the
/// wait's timeout.
#[test]
fn odd_inputs_get_clear_errors() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    let out = p.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "step(\"l\", hosts(\"web\"), |h| h.line(\"{}/f\", \"a\\nb\"));",
                out.display()
            ),
            "line: \"a\\nb\" is more than one line",
        ),
        (
            "step(\"w\", || wait::cloud_active(\"web1\", \"10m\"));".into(),
            "no [cloud] table in inventory",
        ),
        (
            "step(\"w\", || wait::http(\"http://127.0.0.1:1/\", #{ statsu: 200 }));".into(),
            "wait::http(\"http://127.0.0.1:1/\"): unknown option `statsu`; did you mean `status`?",
        ),
        (
            "let pw = secret(\"dir_secret\");".into(),
            "is a directory, not a file holding the secret",
        ),
    ];
    std::fs::create_dir_all(p.path("inventory/secrets/dir_secret")).unwrap();
    for (script, want) in cases {
        p.write("site.rhai", &script);
        let started = std::time::Instant::now();
        let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
        assert_ne!(o.code, 0, "{script}\n{}", o.all());
        assert!(o.all().contains(want), "{script}: want {want:?}\n{}", o.all());
        assert!(!o.all().contains("): wait::http("), "doubled prefix: {}", o.all());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{script} took {:?}",
            started.elapsed()
        );
    }
    // A byte-order mark is accepted; a NUL byte and a directory are named.
    p.write("bom.rhai", "\u{feff}print(\"with a BOM\");\n");
    let o = p.runbook(&["play", "bom.rhai", "-i", "local"]);
    assert_eq!(o.code, 0, "{}", o.all());
    p.write("nul.rhai", "print(1);\n\0\n");
    let o = p.runbook(&["check", "nul.rhai"]);
    assert!(
        o.stderr.contains("a NUL byte: a playbook is text") && o.stderr.contains("nul.rhai:2:1"),
        "{}",
        o.all()
    );
    let o = p.runbook(&["check", "inventory"]);
    assert!(o.stderr.contains("playbook inventory is a directory"), "{}", o.all());
    let o = p.runbook(&["play", "bom.rhai", "-i", "inventory"]);
    assert!(o.stderr.contains("inventory inventory is a directory"), "{}", o.all());
}

#[test]
fn max_fail_as_a_share_and_serial_batches_stop_the_play() {
    // 1 of 3 is over 25%: the play stops after `one`.
    let (p, out_dir) = failing_project("#{ max_fail: \"25%\" },");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir, "-o", "json"]);
    assert_eq!(p.read("out/h1.log"), "one\n", "{}", o.all());
    assert!(
        o.stdout.contains("1 of 3 host(s) failed, more than max_fail = 25%"),
        "{}",
        o.all()
    );
    // 1 of 3 is not over 50%: the others go on.
    let (p, out_dir) = failing_project("#{ max_fail: \"50%\" },");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir]);
    assert_eq!(p.read("out/h3.log"), "one\ntwo\n", "{}", o.all());
    // A rolling step stops before its next batch once a batch had a failure.
    let (p, out_dir) = failing_project("#{ serial: 1 },");
    let o = p.runbook(&["play", "site.rhai", "-i", "local", "--var", &out_dir, "-o", "json"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(!p.path("out/h3.log").exists(), "batch 3 never started: {}", o.all());
    assert!(o.stdout.contains("a host failed in batch 2 of 3"), "{}", o.all());
}

/// Five hosts, one of them unreachable: the four others finish the play, and the run exits 4
/// (only unreachable hosts failed); with `any_errors_fatal` they stop after the first step.
#[test]
fn an_unreachable_host_drops_out_and_the_four_others_finish() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (opts, finished) in [("", true), ("#{ any_errors_fatal: true },", false)] {
        let p = Project::new();
        let mut inv = format!("[ssh]\nconnect_timeout = 3\n\n[hosts.gone]\naddress = \"127.0.0.1\"\nport = {closed}\n");
        for h in ["h1", "h2", "h3", "h4"] {
            inv.push_str(&format!("\n[hosts.{h}]\nconnection = \"local\"\n"));
        }
        p.write("inventory/local.toml", &inv);
        std::fs::create_dir_all(p.path("out")).unwrap();
        p.write(
            "site.rhai",
            &format!(
                r#"step("one", hosts("all"), {opts} |h| h.run(`echo one >> {out}/${{h.name}}`));
                step("two", hosts("all"), |h| h.run(`echo two >> {out}/${{h.name}}`));"#,
                out = p.path("out").display()
            ),
        );
        let o = crate::support::Test::in_project(&p)
            .play("site.rhai")
            .on("local")
            .code(4)
            .run();
        for h in ["h1", "h2", "h3", "h4"] {
            let want = if finished { "one\ntwo\n" } else { "one\n" };
            assert_eq!(p.read(&format!("out/{h}")), want, "{h} with {opts:?}: {}", o.all());
        }
        assert!(o.stdout.contains("  unreachable: gone"), "{}", o.all());
    }
}

/// `--max-operations N` (or `RUNBOOK_MAX_OPERATIONS`, or `max_operations` in runbook.toml)
/// stops script code that runs on without end: the host fails with an error at the line the
/// loop reached (not at the `step(` call), naming the limit and how to raise it; the play
/// goes no further. Without a limit, and under a high one, the same script finishes.
#[test]
fn max_operations_stops_an_endless_loop_at_the_line_it_reached() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1"])]);
    p.write(
        "site.rhai",
        r#"fn count_to(n) {
    let i = 0;
    while i < n { i += 1; }
    i
}
step("count", hosts("all"), |h| {
    print(`counted to ${count_to(parse_int(var("n")))}`);
});
step("after", hosts("all"), |h| print("after ran"));
"#,
    );
    let play = |n: &str| {
        crate::support::Test::in_project(&p)
            .play("site.rhai")
            .on("local")
            .args(&["--var", &format!("n={n}")])
    };
    // No limit by default: a long loop finishes.
    play("200000")
        .stdout_contains("counted to 200000")
        .stdout_contains("after ran")
        .run();
    let over = "the script ran more than 5000 operations (--max-operations 5000) and was stopped here: an endless loop? \
                Raise the limit with --max-operations N (RUNBOOK_MAX_OPERATIONS, or max_operations in runbook.toml; 0 for none)";
    // Where in the loop's line depends on the operation that went over.
    let at_the_loop = "--> site.rhai:3:";
    for (how, o) in [
        (
            "flag",
            play("1000000").args(&["--max-operations", "5000"]).code(2).run(),
        ),
        (
            "environment",
            play("1000000").env("RUNBOOK_MAX_OPERATIONS", "5000").code(2).run(),
        ),
    ] {
        assert!(o.stdout.contains(over), "{how}: {}", o.all());
        assert!(o.stdout.contains(at_the_loop), "{how}: {}", o.all());
        assert!(
            o.stdout.contains("in `count_to`, called at site.rhai:7:25"),
            "{how}: {}",
            o.all()
        );
        assert!(!o.stdout.contains("after ran"), "{how}: the play stops: {}", o.all());
    }
    // From runbook.toml, under the flag.
    p.write("runbook.toml", "max_operations = 5000\n");
    let o = play("1000000").code(2).run();
    assert!(o.stdout.contains(over) && o.stdout.contains(at_the_loop), "{}", o.all());
    play("100").stdout_contains("counted to 100").run();
    play("200000")
        .args(&["--max-operations", "0"])
        .stdout_contains("after ran")
        .run();
    // Outside any step too, and inside a wait::until_true closure (stopped, not retried).
    p.write("top.rhai", "let i = 0;\nwhile true { i += 1; }\n");
    crate::support::Test::in_project(&p)
        .play("top.rhai")
        .on("local")
        .code(1)
        .stderr_contains(over)
        .stderr_contains("--> top.rhai:2:")
        .run();
    p.write(
        "wait.rhai",
        "step(\"w\", || wait::until_true(|| { let i = 0; loop { i += 1; } }, #{ timeout: \"30s\" }));\n",
    );
    let start = std::time::Instant::now();
    let o = crate::support::Test::in_project(&p)
        .play("wait.rhai")
        .on("local")
        .code(2)
        .stdout_contains(over)
        .run();
    assert!(o.stdout.contains("in closure, called at wait.rhai:1:20"), "{}", o.all());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "not retried until the timeout"
    );
}
