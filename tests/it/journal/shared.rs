//! One store shared by several controllers (two operators, a laptop and CI): PostgreSQL on
//! the test server. Each "machine" is a project directory of its own, with its own `$HOME`,
//! and the same `--state` URL; the hosts (the local connection's `out/` files) are shared, as
//! real servers would be.

use std::process::Child;
use std::time::{Duration, Instant};

use super::{
    BLOCKING, exec_log, history_run, hostname, json, play, project, six, spawn, wait_for, wait_for_orphans, words,
};
use crate::support::store::PgServer;
use crate::support::{Kind, Project, Test};

/// The same project (playbook, inventory) checked out on another machine sharing `a`'s store.
fn machine_b(a: &Project) -> Project {
    let b = Project::sharing_store_of(a);
    b.write("site.rhai", &a.read("site.rhai"));
    b.write("inventory/local.toml", &a.read("inventory/local.toml"));
    std::fs::create_dir_all(b.path("out")).unwrap();
    b
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Two runbooks started from two directories with one store URL: the second fails at once
/// naming the first, or waits with `--wait-lock`; `kill -9` of the first releases the lock
/// within seconds (its session ends with it) and the second takes over, marking the killed
/// run. The runs journal over TLS.
#[test]
fn two_machines_never_run_one_inventory_at_once() {
    let (a, a_out) = project(Kind::Postgres, BLOCKING);
    let b = machine_b(&a);
    let b_out = format!("out={}", b.path("out").display());
    b.write("out/release", ""); // b's own run of the step does not block

    let mut first = spawn(&a, &a_out, &[], "first.log");
    wait_for("the first run to start its step", || a.path("out/started").exists());
    let ssl = a.db_value(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity p USING (pid) WHERE p.application_name = 'runbook'",
    );
    assert_eq!(ssl.as_deref(), Some("t"), "runbook's session uses TLS");

    let started = Instant::now();
    let o = play(&b, &b_out).code(3).run();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not at once: {:?}",
        started.elapsed()
    );
    let named = format!(
        "inventory local is locked by another run: pid {} ({}@{}, since ",
        first.id(),
        runbook::journal::lock::user(),
        hostname()
    );
    assert!(o.stderr.contains(&named), "{}", o.all());
    assert!(
        o.stderr.contains("), run 1 of site.rhai (lock in postgres://runbook@"),
        "{}",
        o.all()
    );
    assert!(o.stderr.contains("--wait-lock"), "{}", o.all());

    let mut second = spawn(&b, &b_out, &["--wait-lock", "60s"], "second.log");
    std::thread::sleep(Duration::from_millis(500));
    assert!(second.try_wait().unwrap().is_none(), "the second run waits");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed = Instant::now();
    wait_for("the second run to take the lock", || {
        b.read("out/second.log").contains("took over the lock")
    });
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(5), "the lock was released after {took:?}");
    let status = second.wait().unwrap();
    let log = b.read("out/second.log");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains(&format!(
            "took over the lock of inventory local from pid {} (",
            first.id()
        )) && log.contains("run 1 of site.rhai, which is no longer running"),
        "{log}"
    );
    a.write("out/release", "");
    wait_for_orphans(&a);
    // Either machine reads the whole history.
    let list = json(&a.runbook(&["history", "-o", "json"]));
    let outcomes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["killed", "ok"]);
    println!("kill -9 to the lock taken on the other machine: {took:?}");
}

/// A run killed on machine A (here by the test hook, right after its 4th journal commit:
/// step `one` on three hosts and `pick`) is resumed from machine B, another directory and
/// `$HOME`: the steps done on A are skipped and return the values journaled there.
#[test]
fn a_run_killed_on_one_machine_is_resumed_on_another() {
    let (a, out) = project(Kind::Postgres, &six());
    let o = play(&a, &out)
        .env("RUNBOOK_TEST_KILL_AFTER_COMMITS", "4")
        .any_code()
        .run();
    assert_eq!(o.code, -1, "killed by the hook: {}", o.all());
    wait_for_orphans(&a);
    let b = machine_b(&a);
    let journaled = history_run(&b, "1");
    let stamps: Vec<String> = ["h1", "h2", "h3"]
        .iter()
        .map(|h| journaled["steps"][0]["hosts"][h]["value"].as_str().unwrap().to_string())
        .collect();
    let lucky = journaled["steps"][1]["hosts"]["(controller)"]["value"]
        .as_str()
        .unwrap()
        .to_string();

    // The package appears; B resumes with the same --var out (the hosts are the same).
    a.write("out/repo/nginx-extra", "");
    let o = Test::in_project(&b)
        .play("site.rhai")
        .on("local")
        .args(&["--var", &out, "--resume"])
        .stdout_contains("resuming run 1 (killed")
        .run();
    assert!(o.stdout.contains("skipped  h1  (done in run 1)"), "{}", o.all());
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(exec_log(&a, h), words("one two three four five six"), "{h}");
        assert_eq!(
            a.read(&format!("out/{h}.values")).trim(),
            format!("{} {lucky}", stamps[i]),
            "{h} got the values journaled on machine A"
        );
    }
    let second = history_run(&a, "2");
    assert_eq!(
        (second["run"]["resumes"].as_i64(), second["run"]["outcome"].as_str()),
        (Some(1), Some("ok"))
    );
}

/// A holder on a live connection that stopped making progress (SIGSTOP) keeps the lock:
/// waiting does not take it over; `--force-unlock RUN` by a person does, naming that run,
/// and the stopped run's next journal write fails when it continues.
#[test]
fn a_stuck_holder_is_taken_over_only_by_force_unlock() {
    let (a, a_out) = project(Kind::Postgres, BLOCKING);
    let b = machine_b(&a);
    let b_out = format!("out={}", b.path("out").display());
    b.write("out/release", "");
    let stuck = spawn(&a, &a_out, &[], "stuck.log");
    wait_for("the first run to start its step", || a.path("out/started").exists());
    signal(&stuck, libc::SIGSTOP);

    let o = play(&b, &b_out).args(&["--wait-lock", "2s"]).code(3).run();
    assert!(o.stderr.contains("run 1 of site.rhai"), "{}", o.all());
    assert!(
        o.stderr.contains(
            "if that run is stuck, a person who knows can end it and take the lock: --force-unlock 1 (or runbook \
             unlock -i local)"
        ),
        "{}",
        o.all()
    );
    play(&b, &b_out)
        .args(&["--force-unlock", "7"])
        .code(1)
        .stderr_contains("--force-unlock 7: the lock of inventory local is held by pid")
        .run();
    let o = play(&b, &b_out)
        .args(&["--force-unlock", "1"])
        .stdout_contains("ended the lock of inventory local held by pid")
        .run();
    assert!(
        o.stdout.contains("run 1 of site.rhai, as --force-unlock asked"),
        "{}",
        o.all()
    );

    signal(&stuck, libc::SIGCONT);
    a.write("out/release", "");
    let out = stuck.wait_with_output().unwrap();
    let log = a.read("out/stuck.log");
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("the run journal could not be written"), "{log}");
    assert!(log.contains("the connection to the server is closed"), "{log}");
    let runs = json(&b.runbook(&["history", "-o", "json"]));
    assert_eq!(runs[0]["outcome"], "killed", "{runs}");
    assert_eq!(runs[1]["outcome"], "ok", "{runs}");
}

const GATED: &str = r#"
let out = var("out");
for k in 1..=3 {
    step(`s${k}`, hosts("all"), |h| { h.run(`echo s${k} >> ${out}/${h.name}.exec`); });
}
step("gate", hosts("all"), |h| {
    h.run(`touch ${out}/${h.name}.started; while [ ! -e ${out}/go ]; do sleep 0.02; done; echo gate >> ${out}/${h.name}.exec`);
});
step("s4", hosts("all"), |h| { h.run(`echo s4 >> ${out}/${h.name}.exec`); });
"#;

/// The server restarts while a run waits in a step: the run's next write fails, the run
/// stops cleanly (exit 1, saying its record is incomplete), nothing committed is lost, and
/// a resume continues after the server is back.
#[test]
fn a_server_restart_mid_run_loses_nothing_committed() {
    let server = PgServer::private();
    let p = Project::on_database(server.database());
    p.local_inventory(&[("web", &["h1", "h2", "h3"])]);
    p.write("site.rhai", GATED);
    std::fs::create_dir_all(p.path("out")).unwrap();
    let out = format!("out={}", p.path("out").display());
    let mut run = spawn(&p, &out, &[], "run.log");
    wait_for("every host to wait at the gate", || {
        ["h1", "h2", "h3"]
            .iter()
            .all(|h| p.path(&format!("out/{h}.started")).exists())
    });
    let committed = p.db_rows("SELECT step_name, host FROM results ORDER BY step_name, host");
    assert_eq!(committed.len(), 9, "s1 to s3 on three hosts");

    server.ctl("restart");
    p.write("out/go", "");
    let status = run.wait().unwrap();
    let log = p.read("out/run.log");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("the play stopped because the run journal cannot be written")
            && log.contains("the connection to the server is closed"),
        "{log}"
    );
    assert!(!log.contains("STEP s4"), "the play stops: {log}");
    assert_eq!(
        p.db_rows("SELECT step_name, host FROM results ORDER BY step_name, host"),
        committed,
        "what was committed is there, and nothing after"
    );

    let o = play(&p, &out)
        .args(&["--resume"])
        .stdout_contains("resuming run 1 (killed")
        .run();
    for h in ["h1", "h2", "h3"] {
        assert_eq!(
            exec_log(&p, h),
            words("s1 s2 s3 gate gate s4"),
            "{h}: done steps are not run again; the step in flight is\n{}",
            o.all()
        );
    }
    drop(p);
}

/// A store written by a newer runbook is refused, an older one is brought up to date, a
/// database with other tables is not taken for a journal, and a store that needs a password
/// says where runbook looks for it.
#[test]
fn schemas_and_passwords() {
    let (p, out) = project(Kind::Postgres, "step(\"one\", || 1);\n");
    // An older store: schema 1, as a runbook before schema 2 left it, with a run.
    {
        let mut c = p.pg().client();
        c.batch_execute(runbook::journal::postgres::MIGRATIONS[0]).unwrap();
        c.batch_execute(
            r#"CREATE TABLE runbook_schema (version BIGINT NOT NULL);
               INSERT INTO runbook_schema VALUES (1);
               INSERT INTO runs (playbook, playbook_path, playbook_sha256, inventory, vars, "user", controller, pid,
                                 started_ms, outcome)
               VALUES ('old.rhai', '/old/old.rhai', 'abc', 'local', '{}', 'ann', 'box', 1, 5, 'ok');"#,
        )
        .unwrap();
    }
    play(&p, &out).run();
    assert_eq!(p.db_value("SELECT version FROM runbook_schema").as_deref(), Some("2"));
    let list = json(&p.runbook(&["history", "-o", "json"]));
    assert_eq!(
        (list[0]["playbook"].as_str(), list[1]["id"].as_i64()),
        (Some("old.rhai"), Some(2))
    );

    p.pg()
        .client()
        .batch_execute("UPDATE runbook_schema SET version = 99")
        .unwrap();
    play(&p, &out)
        .code(1)
        .stderr_contains(&format!(
            "run journal {}: written by a newer runbook (schema 99; this one knows 2): upgrade runbook",
            p.store_label()
        ))
        .run();
    p.pg()
        .client()
        .batch_execute("UPDATE runbook_schema SET version = 2")
        .unwrap();

    // Another application's database.
    let other = PgServer::shared().database();
    other.client().batch_execute("CREATE TABLE runs (x TEXT)").unwrap();
    let o = play(&p, &out).args(&["--state", &other.url()]).code(1).run();
    assert!(
        o.stderr.contains(&format!(
            "{} is not a runbook journal (a database with other tables)",
            other.url()
        )),
        "{}",
        o.all()
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.all());

    // No password, a wrong one.
    let o = Test::in_project(&p)
        .command(&["history"])
        .env("RUNBOOK_STATE_PASSWORD", "")
        .code(1)
        .run();
    assert!(
        o.stderr.contains(
            "the server asks for a password: set RUNBOOK_STATE_PASSWORD or the secret state_password \
             (.runbook/secrets/state_password)"
        ),
        "{}",
        o.all()
    );
    let o = Test::in_project(&p)
        .command(&["history"])
        .env("RUNBOOK_STATE_PASSWORD", "not-it")
        .code(1)
        .run();
    assert!(
        o.stderr.contains("password authentication failed for user \"runbook\""),
        "{}",
        o.all()
    );
    // From the secret's file, as documented.
    p.write(
        ".runbook/secrets/state_password",
        &format!("{}\n", p.pg().server.password),
    );
    Test::in_project(&p)
        .command(&["history"])
        .env("RUNBOOK_STATE_PASSWORD", "")
        .stdout_contains("old.rhai")
        .run();
    // A certificate runbook cannot verify is refused, with what to do.
    let url = p.store_label();
    let untrusted = &url[..url.find("&sslrootcert").unwrap()];
    let o = p.runbook(&["history", "--state", untrusted]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains("invalid peer certificate") && o.stderr.contains("?sslrootcert=PATH"),
        "{}",
        o.all()
    ); // Without TLS the same URL works: sslmode=disable turns it off.
    let plain = untrusted.replace("sslmode=require", "sslmode=disable");
    let o = p.runbook(&["history", "--state", &plain]);
    assert!(o.code == 0 && o.stdout.contains("old.rhai"), "{}", o.all());
}

/// A password written in the URL works, and is shown nowhere: not in output or errors, not
/// in any table.
#[test]
fn a_password_in_the_url_is_never_shown() {
    let (p, out) = project(Kind::Postgres, "step(\"one\", hosts(\"all\"), |h| h.run(\"false\"));\n");
    let password = p.pg().server.password.clone();
    let url = p.store_label().replacen("runbook@", &format!("runbook:{password}@"), 1);
    let masked = p.store_label().replacen("runbook@", "runbook:***@", 1);
    let mut printed = String::new();
    let o = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--var", &out, "--state", &url])
        .env("RUNBOOK_STATE_PASSWORD", "")
        .code(2)
        .run();
    printed.push_str(&o.all());
    let o = p.runbook_env(&["history", "9", "--state", &url], &[("RUNBOOK_STATE_PASSWORD", "")]);
    assert!(o.stderr.contains(&format!("no run 9 in {masked}")), "{}", o.all());
    printed.push_str(&o.all());
    let bad = url.replacen(&format!("/{}?", p.pg().name), "/no_such_db?", 1);
    let o = p.runbook_env(&["history", "--state", &bad], &[("RUNBOOK_STATE_PASSWORD", "")]);
    assert!(
        o.stderr.contains("runbook:***@") && o.stderr.contains("no_such_db"),
        "{}",
        o.all()
    );
    printed.push_str(&o.all());
    assert!(!printed.contains(&password), "{printed}");
    let dump = p.pg().dump();
    assert!(
        !dump.windows(password.len()).any(|w| w == password.as_bytes()),
        "the database holds the password"
    );
}

/// `runbook state migrate` copies an SQLite journal's history into PostgreSQL: the same
/// history there, the next run numbered after it, and a failed run resumed from the copy
/// with its journaled values.
#[test]
fn state_migrate_copies_the_history() {
    let (p, out) = project(Kind::Sqlite, &six());
    play(&p, &out).code(2).run();
    play(&p, &out).code(2).args(&["--resume"]).run();
    let db = PgServer::shared().database();
    let url = db.url();
    let env = [("RUNBOOK_STATE_PASSWORD", db.server.password.as_str())];
    let o = p.runbook_env(&["state", "migrate", "--from", ".runbook/state.db", "--to", &url], &env);
    assert_eq!(o.code, 0, "{}", o.all());
    let results = p.db_value("SELECT count(*) FROM results").unwrap();
    assert_eq!(
        o.stdout.trim(),
        format!("copied 2 run(s) and {results} result(s) from .runbook/state.db to {url}")
    );
    for args in [
        &["history", "-o", "json"][..],
        &["history", "1", "-o", "json"],
        &["history", "2"],
    ] {
        let sqlite = p.runbook(args);
        let pg = p.runbook_env(&[args, &["--state", &url][..]].concat(), &env);
        assert_eq!(sqlite.stdout, pg.stdout, "{args:?}");
    }
    let o = p.runbook_env(&["state", "migrate", "--from", ".runbook/state.db", "--to", &url], &env);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr
            .contains("already holds 2 run(s): runs are copied into an empty store only"),
        "{}",
        o.all()
    );

    // Resumed from the copy: run 3, continuing run 2 with the values of run 1.
    let stamp = history_run(&p, "1")["steps"][0]["hosts"]["h1"]["value"].clone();
    p.write("out/repo/nginx-extra", "");
    Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--var", &out, "--resume", "--state", &url])
        .envs(&env)
        .stdout_contains("resuming run 2 (failed")
        .run();
    assert_eq!(
        p.read("out/h1.values").split_whitespace().next(),
        stamp.as_str().map(str::trim),
        "the value journaled in run 1"
    );
    let o = p.runbook_env(&["history", "3", "-o", "json", "--state", &url], &env);
    assert_eq!(json(&o)["run"]["outcome"], "ok", "{}", o.all());
}
