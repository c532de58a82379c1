//! Handlers: a step's `handlers`, run once per host at its end when an operation that names
//! them (`notify`) changed something. On Docker test hosts: what runs where and in which
//! order, the dry run, a kill between a notifying change and its handler, the release
//! module's `notify`. On the local connection (nothing is reached): the errors, and that
//! every operation declared to report `changed` takes `notify`.

use std::time::{Duration, Instant};

use crate::support::{Kind, Output, Project, Test, Testbed};

/// Two handlers, declared restart first; the closure's operations notify them in the other
/// order, `restart app` three times; a command that reports no change notifies nothing.
/// `--var only=HOST` gives `a` and `b` to that host alone (the others keep "1").
const SITE: &str = r#"
step("app", hosts("test"), #{ handlers: [
    #{ name: "restart app", run: |h| h.run(["sh", "-c", "echo restart >> /root/handled"]) },
    #{ name: "reload proxy", run: |h| h.run(["sh", "-c", "echo reload >> /root/handled"]) },
] }, |h| {
    let mine = h.name == var("only", h.name);
    let a = if mine { var("a") } else { "1" };
    let b = if mine { var("b") } else { "1" };
    h.dir("/etc/app");
    h.file("/etc/app/a.conf", #{ content: a, notify: ["reload proxy", "restart app"] });
    h.line("/etc/app/b.conf", `b=${b}`, #{ regex: "^b=", notify: "restart app" });
    h.template("c.conf.j2", "/etc/app/c.conf", #{ b: b }, #{ notify: "restart app" });
    h.run(["true"], #{ changed: false, notify: "reload proxy" });
});
"#;

fn play<'a>(p: &'a Project, vars: &[&str]) -> Test<'a> {
    let mut t = Test::in_project(p).play("site.rhai").on("test");
    for v in vars {
        t = t.args(&["--var", v]);
    }
    t
}

/// (host, handler) of every handler result, in the order they came.
fn handlers_run(o: &Output) -> Vec<(String, String, String)> {
    o.events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["handler"].is_string())
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("host"), s("handler"), s("status"))
        })
        .collect()
}

#[test]
fn notified_handlers_run_once_per_host_in_order_only_where_something_changed() {
    let tb = Testbed::start(2);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("site.rhai", SITE);
    p.write("c.conf.j2", "b={{ b }}\n");
    let (h1, h2) = (tb.hosts[0].name.as_str(), tb.hosts[1].name.as_str());
    let handled = |i: usize| tb.exec(&tb.hosts[i], "cat /root/handled").1;

    // Everything is new on both hosts: each handler once, restart before reload as declared.
    let first = play(&p, &["a=1", "b=1"]).json().run();
    first.assert_counts_agree();
    let mut expected = vec![];
    for h in [h1, h2] {
        for name in ["restart app", "reload proxy"] {
            expected.push((h.to_string(), name.to_string(), "changed".to_string()));
        }
    }
    let mut got = handlers_run(&first);
    got.sort_by_key(|(h, ..)| h.clone()); // hosts finish in any order; a host's own are in order
    assert_eq!(got, expected, "{}", first.all());
    assert_eq!(handled(0), "restart\nreload\n");
    assert_eq!(handled(1), "restart\nreload\n");
    let rows = p.db_rows(
        "SELECT host, step_name, status FROM results WHERE step_key LIKE 'app#0/handler %' ORDER BY host, step_name",
    );
    let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.into_iter().flatten().collect()).collect();
    assert_eq!(
        rows,
        [
            [h1, "handler reload proxy", "changed"],
            [h1, "handler restart app", "changed"],
            [h2, "handler reload proxy", "changed"],
            [h2, "handler restart app", "changed"],
        ]
        .map(|r| r.map(String::from).to_vec())
    );

    // Nothing changes: no handler runs (the command notifies, but reports no change).
    let second = play(&p, &["a=1", "b=1"]).json().run();
    assert_eq!(second.total_changes(), 0, "{}", second.all());
    assert_eq!(handlers_run(&second), vec![], "{}", second.all());
    assert_eq!(handled(0), "restart\nreload\n");

    // Only h1's b changes: only `restart app` (notified twice there), only on h1; the dry
    // run says so and plans what the real run then does.
    let only = format!("only={h1}");
    let vars = ["a=1", "b=2", &only];
    let text = play(&p, &vars).args(&["--dry-run"]).run();
    assert!(
        text.stdout.contains(&format!(
            "would: [{h1}] run handler restart app (notified by h.line at site.rhai:11:7)"
        )),
        "{}",
        text.all()
    );
    assert!(
        text.stdout
            .contains(&format!("would: [{h1}] run sh -c 'echo restart >> /root/handled'")),
        "the handler's own plan: {}",
        text.all()
    );
    assert!(
        text.stdout
            .contains(&format!("changed  {h1}  handler restart app  1 planned")),
        "{}",
        text.all()
    );
    assert!(!text.stdout.contains("handler reload proxy"), "{}", text.all());
    assert!(!text.stdout.contains(&format!("would: [{h2}]")), "{}", text.all());
    assert!(!text.stdout.contains(&format!("{h2}  handler")), "{}", text.all());
    let dry = play(&p, &vars).args(&["--dry-run"]).json().run();
    dry.assert_counts_agree();
    assert_eq!(handled(0), "restart\nreload\n", "a dry run runs nothing");
    let real = play(&p, &vars).json().run();
    real.assert_counts_agree();
    assert_eq!(real.changes(), dry.changes(), "{}", real.all());
    let once = vec![(h1.to_string(), "restart app".to_string(), "changed".to_string())];
    assert_eq!(handlers_run(&dry), once, "{}", dry.all());
    assert_eq!(handlers_run(&real), once, "{}", real.all());
    assert_eq!(handled(0), "restart\nreload\nrestart\n");
    assert_eq!(handled(1), "restart\nreload\n");
    let after = play(&p, &vars).json().run();
    assert_eq!(after.total_changes(), 0, "{}", after.all());
}

/// A step whose notifier changes `/etc/app.conf`, then pauses: killed in the pause, the
/// handler has not run, and only the journal knows it is owed.
const PAUSING: &str = r#"
step("app", hosts("test"), #{ handlers: [
    #{ name: "restart app", run: |h| h.run(["sh", "-c", "echo restart >> /root/restarts"]) },
] }, |h| {
    h.file("/etc/app.conf", #{ content: var("conf"), notify: "restart app" });
    h.run(["sleep", var("pause", "0")], #{ changed: false });
});
"#;

fn a_handler_owed_at_a_kill_runs_once_on_resume(kind: Kind) {
    let tb = Testbed::start(1);
    let p = Project::with_store(kind);
    p.use_testbed(&tb, "");
    p.write("site.rhai", PAUSING);
    let h = &tb.hosts[0];
    let restarts = || tb.exec(h, "cat /root/restarts 2>/dev/null").1;
    let handler_rows = || -> Vec<String> {
        p.db_rows("SELECT status FROM results WHERE step_key = 'app#0/handler restart app' ORDER BY run_id")
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect()
    };

    // `kill -9` while the step pauses after its notifier changed the file.
    let mut child = play(&p, &["conf=1", "pause=60"])
        .process()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while p
        .try_db_rows("SELECT status FROM results WHERE status = 'notified'")
        .map_or(true, |r| r.is_empty())
    {
        assert!(Instant::now() < deadline, "no notification journaled");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(tb.sh(h, "cat /etc/app.conf"), "1");
    assert_eq!(restarts(), "", "killed before the handler");
    assert_eq!(handler_rows(), ["notified"]);
    let history = Test::in_project(&p).command(&["history", "1"]).run();
    assert!(
        history.stdout.contains("\nhandler restart app  notified"),
        "{}",
        history.all()
    );

    // The file is as wanted now, so nothing notifies; the journal says the handler is owed.
    let resumed = play(&p, &["conf=1"]).args(&["--resume"]).json().run();
    resumed.assert_counts_agree();
    assert_eq!(
        resumed.changes(),
        [("run".to_string(), "sh -c 'echo restart >> /root/restarts'".to_string())],
        "the handler's change alone: {}",
        resumed.all()
    );
    assert_eq!(
        handlers_run(&resumed),
        [(h.name.clone(), "restart app".into(), "changed".into())]
    );
    assert_eq!(restarts(), "restart\n");
    assert_eq!(handler_rows(), ["notified", "changed"]);

    // Killed right after the step's record, before its handler: the resume skips the step
    // (done) and runs the handler.
    let killed = play(&p, &["conf=2"])
        .env("RUNBOOK_TEST_KILL_AFTER_COMMITS", "2")
        .any_code()
        .run();
    assert_eq!(killed.code, -1, "{}", killed.all());
    assert_eq!(restarts(), "restart\n");
    let resumed = play(&p, &["conf=2"]).args(&["--resume"]).run();
    assert!(
        resumed.stdout.contains(&format!("skipped  {}  (done in run", h.name)),
        "{}",
        resumed.all()
    );
    assert!(
        resumed
            .stdout
            .contains(&format!("changed  {}  handler restart app  1 changed", h.name)),
        "{}",
        resumed.all()
    );
    assert_eq!(restarts(), "restart\nrestart\n");

    // Killed right after the handler's record: the resume runs nothing again.
    let killed = play(&p, &["conf=3"])
        .env("RUNBOOK_TEST_KILL_AFTER_COMMITS", "3")
        .any_code()
        .run();
    assert_eq!(killed.code, -1, "{}", killed.all());
    assert_eq!(restarts(), "restart\nrestart\nrestart\n");
    let resumed = play(&p, &["conf=3"]).args(&["--resume"]).json().run();
    assert_eq!(resumed.total_changes(), 0, "{}", resumed.all());
    assert_eq!(handlers_run(&resumed), vec![], "{}", resumed.all());
    assert_eq!(restarts(), "restart\nrestart\nrestart\n");

    // A second run: nothing.
    let again = play(&p, &["conf=3"]).json().run();
    assert_eq!(again.total_changes(), 0, "{}", again.all());
    assert_eq!(restarts(), "restart\nrestart\nrestart\n");
}

mod sqlite {
    #[test]
    fn a_handler_owed_at_a_kill_runs_once_on_resume() {
        super::a_handler_owed_at_a_kill_runs_once_on_resume(crate::support::Kind::Sqlite)
    }
}

mod postgres {
    #[test]
    fn a_handler_owed_at_a_kill_runs_once_on_resume() {
        super::a_handler_owed_at_a_kill_runs_once_on_resume(crate::support::Kind::Postgres)
    }
}

/// `release::activate` and `release::rollback` notify the step's handlers (`notify`), and
/// an activation that changes nothing notifies nothing.
#[test]
fn the_release_module_notifies_handlers() {
    let tb = Testbed::start(1);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("app/index.js", "console.log('hi');\n");
    p.write(
        "release.rhai",
        r#"
import "release" as release;
let v = var("version");
let t = local::pack("app", `app-${v}.tar.gz`);
let opts = #{ restart: false, user: "root", notify: "restart app" };
step("release", hosts("test"), #{ handlers: [
    #{ name: "restart app", run: |h| h.run(["sh", "-c", "readlink /opt/apps/active/app >> /root/restarts"]) },
] }, |h| {
    h.dir("/opt/apps/deploys", #{ sudo: true });
    h.upload(t, `/opt/apps/deploys/app-${v}.tar.gz`);
    if var("rollback", "no") == "yes" {
        release::rollback(h, "app", opts);
    } else {
        release::activate(h, "app", v, opts);
    }
});
"#,
    );
    let h = &tb.hosts[0];
    let release = |vars: &[&str]| {
        let mut t = Test::in_project(&p).play("release.rhai").on("test").json();
        for v in vars {
            t = t.args(&["--var", v]);
        }
        let o = t.run();
        o.assert_counts_agree();
        handlers_run(&o).len()
    };
    assert_eq!(release(&["version=1"]), 1);
    assert_eq!(release(&["version=1"]), 0, "the active version again changes nothing");
    assert_eq!(release(&["version=2"]), 1);
    assert_eq!(release(&["version=2", "rollback=yes"]), 1);
    assert_eq!(
        tb.sh(h, "cat /root/restarts"),
        "/opt/apps/releases/app-1\n/opt/apps/releases/app-2\n/opt/apps/releases/app-1\n"
    );
}

/// A local project whose step writes a file (to see that nothing ran) and declares a
/// handler `restart app`.
fn local_project(closure: &str) -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1"])]);
    p.write(
        "site.rhai",
        &format!(
            "step(\"app\", hosts(\"web\"), #{{ handlers: [\n    #{{ name: \"restart app\", run: |h| h.run([\"true\"]) }},\n] }}, |h| {{\n{closure}\n}});\n"
        ),
    );
    p
}

#[test]
fn a_literal_unknown_handler_fails_before_the_step_runs_with_the_nearest_name() {
    let p = local_project(
        "    h.run([\"touch\", \"ran\"]);\n    h.file(\"x\", #{ content: \"1\", notify: \"restrat app\" });",
    );
    let want = "notify: step \"app\" has no handler \"restrat app\"; did you mean \"restart app\"? (its handlers: restart app)";
    let o = Test::in_project(&p).play("site.rhai").on("local").code(1).run();
    assert!(o.stderr.contains(want), "{}", o.all());
    assert!(o.stderr.contains("--> site.rhai:5:42"), "{}", o.all());
    assert!(!p.path("ran").exists(), "nothing ran");
    let check = Test::in_project(&p)
        .command(&["check"])
        .play("site.rhai")
        .on("local")
        .code(1)
        .run();
    assert!(check.stderr.contains(want), "{}", check.all());
    assert!(check.stderr.contains("--> site.rhai:5:42"), "{}", check.all());
}

#[test]
fn a_computed_unknown_handler_fails_the_operation_before_it_acts() {
    let p = local_project("    let n = \"restrat\" + \" app\";\n    h.file(\"x\", #{ content: \"1\", notify: n });");
    let o = Test::in_project(&p).play("site.rhai").on("local").code(2).run();
    assert!(
        o.stdout.contains("did you mean \"restart app\"?") && o.stdout.contains("--> site.rhai:5:7"),
        "{}",
        o.all()
    );
    assert!(!p.path("x").exists(), "the file was not written");

    // A step without handlers, and one on the controller.
    p.write(
        "bare.rhai",
        "step(\"bare\", hosts(\"web\"), |h| h.notify(\"restart\"));\n",
    );
    let o = Test::in_project(&p).play("bare.rhai").on("local").code(1).run();
    assert!(o.stderr.contains("step \"bare\" declares no handlers"), "{}", o.all());
    p.write(
        "controller.rhai",
        "step(\"c\", #{ handlers: [#{ name: \"x\", run: || 1 }] }, || 1);\n",
    );
    let o = Test::in_project(&p).play("controller.rhai").on("local").code(1).run();
    assert!(o.stderr.contains("handlers belong to steps with hosts"), "{}", o.all());
}

/// Every host operation `runbook doc` shows with a `notify` option takes it through the one
/// wrapper: called with a handler name the step lacks, each fails with the handlers' error
/// (before it acts), none with an unknown option or an unhandled `notify`. An operation
/// added later is in the list without a word here.
#[test]
fn every_operation_that_reports_changed_takes_notify() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1"])]);
    let list = p.runbook(&["doc"]);
    let mut calls = Vec::new();
    for line in list.stdout.lines() {
        let Some(sig) = line.trim().strip_prefix("h.") else {
            continue;
        };
        let (name, args) = sig.split_once('(').unwrap();
        let doc = p.runbook(&["doc", &format!("h.{name}")]).stdout;
        if !doc.contains("| `notify` |") {
            continue;
        }
        let args: Vec<&str> = args
            .split(')')
            .next()
            .unwrap()
            .split(", ")
            .map(|a| a.trim_matches(|c| c == '[' || c == ']'))
            .filter(|a| !a.is_empty() && !a.contains("options"))
            .map(|a| if a == "vars" { "#{}" } else { "\"x\"" })
            .collect();
        let mut args = args.join(", ");
        if !args.is_empty() {
            args.push_str(", ");
        }
        calls.push(format!(
            "    try {{ h.{name}({args}#{{ notify: n }}); print(\"{name}: acted\"); }} catch (e) {{ print(`{name}: ${{e}}`); }}"
        ));
    }
    assert!(calls.len() >= 12, "{calls:#?}");
    p.write(
        "site.rhai",
        &format!(
            "let n = \"nope\";\nstep(\"ops\", hosts(\"web\"), #{{ handlers: [#{{ name: \"restart\", run: |h| 1 }}] }}, |h| {{\n{}\n}});\n",
            calls.join("\n")
        ),
    );
    let o = Test::in_project(&p).play("site.rhai").on("local").json().run();
    let lines: Vec<String> = o
        .events()
        .into_iter()
        .filter(|e| e["event"] == "log")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lines.len(), calls.len(), "{}", o.all());
    for l in &lines {
        assert!(
            l.contains("has no handler \"nope\""),
            "each fails on the name, before acting: {l}\n{}",
            o.all()
        );
    }
    assert_eq!(o.total_changes(), 0);
}

/// `serial: 1`: a host's handlers run before the next batch starts, so a rolling step
/// restarts one host at a time.
#[test]
fn in_a_serial_step_each_batch_runs_its_handlers_before_the_next() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1", "h2"])]);
    p.write(
        "site.rhai",
        r#"
step("roll", hosts("web"), #{ serial: 1, handlers: [
    #{ name: "restart", run: |h| h.run(`echo "restart ${h.name}" >> order`) },
] }, |h| {
    h.run(`echo "deploy ${h.name}" >> order`, #{ notify: "restart" });
});
"#,
    );
    Test::in_project(&p).play("site.rhai").on("local").run();
    assert_eq!(p.read("order"), "deploy h1\nrestart h1\ndeploy h2\nrestart h2\n");
}

/// A handler that fails fails its host (the host's later handlers do not run; exit 2); a
/// closure that fails after a notifying change runs none, and says so. Both notifications
/// are owed: `--resume` runs the handlers once the cause is fixed, though nothing changes then.
#[test]
fn failed_handlers_and_failed_closures_leave_their_handlers_to_the_resume() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1"])]);
    p.write(
        "site.rhai",
        r#"
step("app", hosts("web"), #{ handlers: [
    #{ name: "check", run: |h| h.run("test -e ready && echo check >> ran") },
    #{ name: "restart", run: |h| h.run("echo restart >> ran") },
] }, |h| {
    h.file(`${var("dir")}/app.conf`, #{ content: "1", notify: ["check", "restart"] });
});
step("db", hosts("web"), #{ handlers: [
    #{ name: "reload", run: |h| h.run("echo reload >> ran") },
] }, |h| {
    h.file(`${var("dir")}/db.conf`, #{ content: "1", notify: "reload" });
    h.run("test -e db-ok", #{ changed: false });
});
"#,
    );
    let dir = format!("dir={}", p.root().display());
    let play = || {
        Test::in_project(&p)
            .play("site.rhai")
            .on("local")
            .args(&["--var", &dir])
    };

    let failed = play().code(2).run();
    assert!(failed.stdout.contains("FAILED   h1  handler check"), "{}", failed.all());
    assert!(!p.path("ran").exists(), "restart did not run after check failed");

    p.write("ready", "");
    let resumed = play().args(&["--resume"]).code(2).run();
    assert_eq!(p.read("ran"), "check\nrestart\n", "{}", resumed.all());
    assert!(
        resumed.stdout.contains(
            "note: step `db` failed on h1: its notified handlers (reload) did not run there; --resume runs them once the step succeeds"
        ),
        "{}",
        resumed.all()
    );

    p.write("db-ok", "");
    let resumed = play().args(&["--resume"]).json().run();
    resumed.assert_counts_agree();
    assert_eq!(p.read("ran"), "check\nrestart\nreload\n", "{}", resumed.all());
    assert_eq!(
        resumed.changes(),
        [("run".to_string(), "echo reload >> ran".to_string())],
        "the files are as wanted: only the owed handler changes something"
    );
    let again = play().json().run();
    assert_eq!(again.total_changes(), 0, "{}", again.all());
}

/// A handler may notify those declared after it, not itself or earlier ones (they ran).
#[test]
fn a_handler_notifies_only_handlers_declared_after_it() {
    let p = Project::new();
    p.local_inventory(&[("web", &["h1"])]);
    let site = |second: &str| {
        format!(
            r#"
step("app", hosts("web"), #{{ handlers: [
    #{{ name: "first", run: |h| h.run("echo first >> ran", #{{ notify: "{second}" }}) }},
    #{{ name: "second", run: |h| h.run("echo second >> ran") }},
] }}, |h| {{
    h.run("true", #{{ notify: "first" }});
}});
"#
        )
    };
    p.write("site.rhai", &site("second"));
    Test::in_project(&p).play("site.rhai").on("local").run();
    assert_eq!(p.read("ran"), "first\nsecond\n");
    p.write("site.rhai", &site("first"));
    let o = Test::in_project(&p).play("site.rhai").on("local").code(2).run();
    assert!(
        o.stdout.contains(
            "handler \"first\" notifies handler \"first\", which is itself: a handler may notify only handlers declared after it"
        ),
        "{}",
        o.all()
    );
}

/// `h.template(src, dest, #{ notify: … })`: the third argument is the template's variables,
/// so an option's name there would be dropped without a word. One the template does not use
/// is refused, saying where options go; one it uses is a variable like any other.
#[test]
fn an_option_among_a_templates_variables_is_refused_unless_the_template_uses_it() {
    let out = std::env::temp_dir().join(format!("runbook-template-vars-{}", std::process::id()));
    let p = local_project(&format!(
        "    h.template(\"t.j2\", {:?}, #{{ notify: \"restart app\", name: \"a\" }});",
        out.display()
    ));
    p.write("templates/t.j2", "hello {{ name }}\n");
    let o = Test::in_project(&p).play("site.rhai").on("local").code(2).run();
    assert!(
        o.stdout.contains(
            "h.template(\"t.j2\", …, vars): the third argument is the template's variables, and t.j2 does not use `notify`, \
             which is h.template's option: give options as a fourth argument, h.template(src, dest, vars, #{ notify: … })"
        ),
        "{}",
        o.all()
    );
    assert!(!out.exists(), "nothing was written");

    p.write("templates/m.j2", "mode {{ mode }}\n");
    p.write(
        "m.rhai",
        &format!(
            "step(\"m\", hosts(\"web\"), |h| h.template(\"m.j2\", {:?}, #{{ mode: \"fast\" }}));\n",
            p.path("m.out").display()
        ),
    );
    let o = Test::in_project(&p).play("m.rhai").on("local").run();
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(std::fs::read_to_string(p.path("m.out")).unwrap(), "mode fast\n");
}
