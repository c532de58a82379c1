//! The run journal on the local connection: crash consistency under SIGKILL, resume after
//! failures and edits, the lock, Ctrl-C, history, `--state`, and secrets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Kind, Output, Project, Test};

mod shared;
mod store;

const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

fn project(kind: Kind, playbook: &str) -> (Project, String) {
    let p = Project::with_store(kind);
    p.local_inventory(&[("web", &HOSTS)]);
    p.write("site.rhai", playbook);
    std::fs::create_dir_all(p.path("out")).unwrap();
    let out = format!("out={}", p.path("out").display());
    (p, out)
}

/// `runbook play site.rhai -i local --var out=…` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, out: &str) -> Test<'a> {
    Test::in_project(p).play("site.rhai").on("local").args(&["--var", out])
}

/// Starts `runbook play` without waiting; its output goes to `out/<log>`.
fn spawn(p: &Project, out: &str, extra: &[&str], log: &str) -> Child {
    let file = std::fs::File::create(p.path(&format!("out/{log}"))).unwrap();
    play(p, out)
        .args(extra)
        .process()
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Waits (up to 20 s) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exists(p: &Project, rel: &str) -> bool {
    p.path(rel).exists()
}

/// Commands a killed runbook left running (they run in their own process groups) are
/// waited for, so they cannot race with the resume.
fn wait_for_orphans(p: &Project) {
    let marker = p.path("out").display().to_string();
    wait_for("commands of the killed run to end", || {
        std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| !String::from_utf8_lossy(&c).contains(&marker))
                .unwrap_or(true)
        })
    });
}

fn db(p: &Project) -> rusqlite::Connection {
    assert_eq!(p.store_kind(), Kind::Sqlite);
    rusqlite::Connection::open(p.path(".runbook/state.db")).unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", o.all()))
}

/// How many times each step ran on `host`, from its execution log.
fn exec_counts(p: &Project, host: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(p.path(&format!("out/{host}.exec"))) {
        for l in text.lines() {
            *counts.entry(l.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

// ---------------------------------------------------------------------------------------
// Crash consistency

/// Ten steps; each appends its name to the host's execution log, then adds its own line to
/// the host's config file idempotently.
fn ten_steps() -> String {
    let mut s = String::from("let out = var(\"out\");\n");
    for k in 1..=10 {
        s.push_str(&format!(
            "step(\"s{k}\", hosts(\"all\"), |h| {{\n    h.run(`echo s{k} >> ${{out}}/${{h.name}}.exec; \
             grep -qx 'line {k}' ${{out}}/${{h.name}}.conf || echo 'line {k}' >> ${{out}}/${{h.name}}.conf`);\n}});\n"
        ));
    }
    s
}

/// (step, host) pairs the journal holds as done.
fn journaled_done(p: &Project) -> BTreeSet<(String, String)> {
    // Killed before the tables were created: nothing is journaled.
    let Ok(rows) = p.try_db_rows("SELECT step_name, host FROM results WHERE status IN ('ok', 'changed')") else {
        return BTreeSet::new();
    };
    rows.into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect()
}

fn last_outcome(p: &Project) -> Option<String> {
    p.try_db_rows("SELECT outcome FROM runs ORDER BY id DESC LIMIT 1")
        .ok()?
        .into_iter()
        .next()
        .and_then(|r| r[0].clone())
}

/// A pseudo-random sequence (xorshift), seeded from the clock; the seed is in messages.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

enum Kill {
    /// SIGKILL from inside, right after the k-th journal commit (the test hook).
    AfterCommits(usize),
    /// `kill -9` from outside, this long after the start.
    After(Duration),
}

fn a_run_killed_at_any_moment_resumes_to_the_same_end_state(kind: Kind) {
    // The reference: one uninterrupted run.
    let (reference, out) = project(kind, &ten_steps());
    let started = Instant::now();
    play(&reference, &out).run();
    let full_run = started.elapsed();
    let expected: Vec<String> = HOSTS.iter().map(|h| reference.read(&format!("out/{h}.conf"))).collect();
    assert_eq!(expected[0], (1..=10).map(|k| format!("line {k}\n")).collect::<String>());

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    // 30 records in a whole run (10 steps × 3 hosts): kill after 15 of those counts, and 5
    // times at a random moment.
    let mut kills: Vec<Kill> = [1, 2, 3, 5, 7, 9, 11, 13, 15, 17, 20, 23, 26, 29, 30]
        .into_iter()
        .map(Kill::AfterCommits)
        .collect();
    for _ in 0..5 {
        let ms = rng.next(full_run.as_millis() as u64);
        kills.push(Kill::After(Duration::from_millis(ms)));
    }

    for mut kill in kills {
        let (mut p, mut out) = project(kind, &ten_steps());
        let what = match &mut kill {
            Kill::AfterCommits(k) => {
                let o = play(&p, &out)
                    .env("RUNBOOK_TEST_KILL_AFTER_COMMITS", &k.to_string())
                    .any_code()
                    .run();
                assert_eq!(o.code, -1, "killed by the hook after {k} commits: {}", o.all());
                format!("SIGKILL after {k} commits")
            }
            Kill::After(t) => loop {
                let mut child = spawn(&p, &out, &[], "killed.log");
                std::thread::sleep(*t);
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    if last_outcome(&p).as_deref() != Some("ok") {
                        break format!("kill -9 after {t:?} (seed {seed})");
                    }
                }
                // The run had finished when it was killed: try again, sooner.
                child.wait().unwrap();
                *t /= 2;
                (p, out) = project(kind, &ten_steps());
            },
        };
        wait_for_orphans(&p);
        let done_before = journaled_done(&p);
        if let Kill::AfterCommits(k) = kill {
            assert_eq!(done_before.len(), k, "{what}: every commit is in the journal");
        }
        let counts_before: Vec<_> = HOSTS.iter().map(|h| exec_counts(&p, h)).collect();

        let mut attempts = 0;
        loop {
            let o = play(&p, &out).args(&["--resume"]).any_code().run();
            attempts += 1;
            if o.code == 0 {
                break;
            }
            assert!(attempts < 3, "{what}: resume keeps failing: {}", o.all());
        }

        for (i, h) in HOSTS.iter().enumerate() {
            assert_eq!(
                p.read(&format!("out/{h}.conf")),
                expected[i],
                "{what}: {h} must end like an uninterrupted run"
            );
            let counts = exec_counts(&p, h);
            let mut twice = Vec::new();
            for k in 1..=10 {
                let step = format!("s{k}");
                let n = counts.get(&step).copied().unwrap_or(0);
                let journaled = done_before.contains(&(step.clone(), h.to_string()));
                assert!((1..=2).contains(&n), "{what}: {step} ran {n} times on {h}");
                if journaled {
                    assert_eq!(
                        Some(&n),
                        counts_before[i].get(&step),
                        "{what}: {step} was journaled done on {h}, yet ran again"
                    );
                }
                if n == 2 {
                    twice.push(step);
                }
            }
            assert!(
                twice.len() <= 1,
                "{what}: only the step in flight at the kill may run twice on {h}: {twice:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Resume after failures and edits

/// Six steps. `one` returns a timestamp (a value that differs every time it runs), and so
/// does the controller step `pick`; `four` needs the "package" nginx-extra in the
/// repository `repo/`; `six` writes the earlier values out.
const SIX: &str = r#"
let out = var("out");
let stamps = step("one", hosts("all"), |h| {
    h.run(`echo one >> ${out}/${h.name}.exec`);
    let s = h.run("date +%s%N", #{ readonly: true }).stdout;
    s.trim();
    s
});
let lucky = step("pick", || {
    // Rhai has no random numbers; the time a loop takes differs from run to run.
    let t = timestamp();
    let x = 0;
    for i in 0..2000 { x += i; }
    t.elapsed.to_string()
});
step("two", hosts("all"), |h| { h.run(`echo two >> ${out}/${h.name}.exec`); });
step("three", hosts("all"), |h| { h.run(`echo three >> ${out}/${h.name}.exec`); });
step("four", hosts("all"), #{ any_errors_fatal: true }, |h| {
    h.run(`echo four >> ${out}/${h.name}.exec`);
    if h.name == "h2" {
        h.run(`test -e ${out}/repo/nginx-extra || { echo 'E: Unable to locate package nginx-extra' >&2; exit 100; }`);
    }
});
step("five", hosts("all"), |h| { h.run(`echo five >> ${out}/${h.name}.exec`); });
step("six", hosts("all"), |h| {
    h.run(`echo six >> ${out}/${h.name}.exec; echo ${stamps[h.name]} ${lucky} > ${out}/${h.name}.values`);
});
"#;

fn six() -> String {
    SIX.to_string()
}

fn exec_log(p: &Project, h: &str) -> Vec<String> {
    p.read(&format!("out/{h}.exec")).lines().map(str::to_string).collect()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn history_run(p: &Project, id: &str) -> Value {
    let o = p.runbook(&["history", id, "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    json(&o)
}

fn resume_after_a_failure_continues_the_failed_host_and_returns_journaled_values(kind: Kind) {
    let (p, out) = project(kind, &six());
    play(&p, &out)
        .code(2)
        .stdout_contains("run 1 is recorded as failed; to continue it where it stopped: runbook play site.rhai")
        .run();
    for h in HOSTS {
        assert_eq!(exec_log(&p, h), words("one two three four"), "{h}");
    }
    let first = history_run(&p, "1");
    assert_eq!(first["run"]["outcome"], "failed");
    let stamps: BTreeMap<&str, String> = HOSTS
        .iter()
        .map(|h| (*h, first["steps"][0]["hosts"][h]["value"].as_str().unwrap().to_string()))
        .collect();
    let lucky = first["steps"][1]["hosts"]["(controller)"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first["steps"][4]["hosts"]["h2"]["status"], "failed");
    assert!(
        first["steps"][4]["hosts"]["h2"]["error"]
            .as_str()
            .unwrap()
            .contains("Unable to locate package nginx-extra"),
        "{first}"
    );

    // The fix: the package appears in the repository. The playbook is unchanged.
    p.write("out/repo/nginx-extra", "");
    let o = play(&p, &out).args(&["--resume"]).run();
    assert!(o.stdout.contains("resuming run 1 (failed"), "{}", o.all());
    assert!(o.stdout.contains("skipped  h1  (done in run 1)"), "{}", o.all());
    // h2 continues at its failed step; the others skip one to four.
    assert_eq!(exec_log(&p, "h2"), words("one two three four four five six"));
    for h in ["h1", "h3"] {
        assert_eq!(exec_log(&p, h), words("one two three four five six"), "{h}");
    }
    // Later code saw the values the skipped steps returned the first time.
    for h in HOSTS {
        assert_eq!(
            p.read(&format!("out/{h}.values")).trim(),
            format!("{} {lucky}", stamps[h]),
            "{h}"
        );
    }
    let second = history_run(&p, "2");
    assert_eq!(second["run"]["resumes"], 1);
    assert_eq!(second["run"]["outcome"], "ok");
    let four = &second["steps"][4];
    assert_eq!(four["name"], "four");
    assert_eq!(four["hosts"]["h1"]["status"], "skipped");
    assert_eq!(four["hosts"]["h1"]["done_in"], 1);
    assert_eq!(four["hosts"]["h2"]["status"], "changed");
}

fn an_edited_step_runs_again_on_resume_and_the_output_says_why(kind: Kind) {
    // The failure is fixed by editing step four's closure: it now installs the package.
    let (p, out) = project(kind, &six());
    play(&p, &out).code(2).run();
    let fixed = six().replace(
        "h.run(`test -e ${out}/repo/nginx-extra",
        "h.run(`mkdir -p ${out}/repo; touch ${out}/repo/nginx-extra`);\n        h.run(`test -e ${out}/repo/nginx-extra",
    );
    assert_ne!(fixed, six());
    p.write("site.rhai", &fixed);
    play(&p, &out)
        .args(&["--resume"])
        .stdout_contains("step `four` runs again on h1, h3: its closure or captured values changed since it ran there")
        .run();
    // Steps one to three are unchanged and skipped everywhere; four reruns everywhere.
    assert_eq!(exec_log(&p, "h1"), words("one two three four four five six"));
    assert_eq!(exec_log(&p, "h2"), words("one two three four four five six"));

    // Closures and functions passed by name are fingerprinted by their body.
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        fn greet(h) { h.run(`echo fn-v1 >> ${h.name}.exec`, #{ cwd: h.var("out") }); }
        let mark = |h| { h.run(`echo closure-v1 >> ${out}/${h.name}.exec`); };
        step("by_fn", hosts("all"), Fn("greet"));
        step("by_closure", hosts("all"), mark);
        step("fail", hosts("h1"), |h| { h.run(`test -e ${out}/ok`); });
        "#,
    );
    std::fs::write(
        p.path("inventory/local.toml"),
        p.read("inventory/local.toml")
            .replace("team = \"ops\"", &format!("out = {:?}", p.path("out"))),
    )
    .unwrap();
    play(&p, &out).code(2).run();
    assert_eq!(exec_log(&p, "h1"), words("fn-v1 closure-v1"));
    p.write("out/ok", "");
    let site = p.read("site.rhai");
    p.write("site.rhai", &site.replace("fn-v1", "fn-v2"));
    let o = play(&p, &out)
        .args(&["--resume"])
        .stdout_contains("step `by_fn` runs again on h1, h2, h3")
        .run();
    assert!(!o.stdout.contains("step `by_closure` runs again"), "{}", o.all());
    p.write("site.rhai", &site.replace("closure-v1", "closure-v2"));
    let o = play(&p, &out)
        .args(&["--resume", "1"])
        .any_code()
        .stdout_contains("step `by_closure` runs again on h1, h2, h3")
        .run();
    assert!(
        !o.stdout.contains("step `by_fn` runs again"),
        "same as in run 1: {}",
        o.all()
    );
    assert_eq!(exec_log(&p, "h1"), words("fn-v1 closure-v1 fn-v2 closure-v2"));

    // A changed captured value is a changed step too: `tag` is captured by `mark`.
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        let tag = var("tag");
        step("mark", hosts("all"), |h| { h.run(`echo ${tag} >> ${out}/${h.name}.exec`); });
        step("fail", hosts("h1"), |h| { h.run(`test -e ${out}/ok`); });
        "#,
    );
    play(&p, &out).args(&["--var", "tag=v1"]).code(2).run();
    p.write("out/ok", "");
    let o = play(&p, &out).args(&["--var", "tag=v1", "--resume"]).run();
    assert!(!o.stdout.contains("runs again"), "{}", o.all());
    assert_eq!(exec_log(&p, "h1"), words("v1"));
    // Resuming the first run again with another value: `mark` reruns and says so.
    play(&p, &out)
        .args(&["--var", "tag=v2", "--resume", "1"])
        .stdout_contains("step `mark` runs again on h1, h2, h3: its closure or captured values changed")
        .run();
    assert_eq!(exec_log(&p, "h1"), words("v1 v2"));
}

fn adding_lines_above_steps_does_not_make_them_run_again(kind: Kind) {
    let (p, out) = project(kind, &six());
    play(&p, &out).code(2).run();
    p.write("site.rhai", &format!("// the release playbook\n\n{}", six()));
    p.write("out/repo/nginx-extra", "");
    let o = play(&p, &out).args(&["--resume"]).run();
    assert!(!o.stdout.contains("runs again"), "{}", o.all());
    assert_eq!(exec_log(&p, "h1"), words("one two three four five six"));
}

fn fingerprints_are_the_same_in_every_process(kind: Kind) {
    let (p, out) = project(kind, &six());
    play(&p, &out).any_code().run();
    play(&p, &out).any_code().run();
    let fingerprints = |run: &str| -> Vec<(Value, Value)> {
        let doc = history_run(&p, run);
        let steps = doc["steps"].as_array().unwrap();
        steps
            .iter()
            .flat_map(|s| {
                let hosts = s["hosts"].as_object().unwrap();
                hosts
                    .values()
                    .map(|h| (s["key"].clone(), h["fingerprint"].clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let first = fingerprints("1");
    assert_eq!(
        first.len(),
        3 * 4 + 1,
        "one, two, three and four on 3 hosts, pick: {first:?}"
    );
    assert_eq!(first, fingerprints("2"));
    let distinct: BTreeSet<String> = first.iter().map(|(_, f)| f.to_string()).collect();
    assert_eq!(distinct.len(), 5, "one per step: {first:?}");
}

fn steps_in_a_loop_and_steps_sharing_a_name_are_journaled_one_by_one(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        for i in 0..3 {
            step("deploy", hosts("all"), |h| {
                if i == 1 { h.run(`test -e ${out}/ok`); }
                h.run(`echo deploy${i} >> ${out}/${h.name}.exec`);
            });
        }
        step("deploy", hosts("all"), |h| { h.run(`echo last >> ${out}/${h.name}.exec`); });
        "#,
    );
    play(&p, &out).code(2).run();
    assert_eq!(exec_log(&p, "h1"), words("deploy0"));
    p.write("out/ok", "");
    play(&p, &out).args(&["--resume"]).run();
    assert_eq!(exec_log(&p, "h1"), words("deploy0 deploy1 deploy2 last"));
    let keys: Vec<Value> = history_run(&p, "2")["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].clone())
        .collect();
    assert_eq!(keys, ["deploy#0", "deploy#1", "deploy#2", "deploy#3"]);
}

fn an_unfinished_last_run_is_pointed_out_with_the_command_to_resume_it(kind: Kind) {
    let (p, out) = project(kind, &six());
    play(&p, &out).code(2).run();
    let o = play(&p, &out).any_code().run();
    let command = format!("runbook play site.rhai -i local --var {out} --resume");
    assert!(
        o.stdout.contains(&format!(
            "the last run of site.rhai on inventory local (run 1) did not finish (failed); this run starts from \
             the beginning. To continue that one instead: {command}"
        )),
        "{}",
        o.all()
    );
    // The printed command works.
    p.write("out/repo/nginx-extra", "");
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let o = p.runbook(&args);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("resuming run 2"), "{}", o.all());
    // Nothing left to resume: --resume runs the whole playbook and says so.
    let o = play(&p, &out).args(&["--resume"]).run();
    assert!(
        o.stdout
            .contains("nothing to resume: the last run of site.rhai on inventory local (run 3) finished ok")
    );
}

// ---------------------------------------------------------------------------------------
// Lock

const BLOCKING: &str = r#"
let out = var("out");
step("hold", hosts("h1"), |h| {
    h.run(`echo start >> ${out}/order; touch ${out}/started; while [ ! -e ${out}/release ]; do sleep 0.02; done; echo end >> ${out}/order`);
});
"#;

fn a_second_run_fails_at_once_while_the_first_holds_the_lock(kind: Kind) {
    let (p, out) = project(kind, BLOCKING);
    let mut first = spawn(&p, &out, &[], "first.log");
    wait_for("the first run to start its step", || exists(&p, "out/started"));
    let o = play(&p, &out).code(3).run();
    assert!(
        o.stderr.contains(&format!(
            "inventory local is locked by another run: pid {} (",
            first.id()
        )),
        "{}",
        o.all()
    );
    assert!(o.stderr.contains("--wait-lock"), "{}", o.all());

    // With --wait-lock the second run waits for the first to end, then runs.
    let mut second = spawn(&p, &out, &["--wait-lock", "60s"], "second.log");
    std::thread::sleep(Duration::from_millis(300));
    p.write("out/release", "");
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(second.wait().unwrap().code(), Some(0), "{}", p.read("out/second.log"));
    assert_eq!(p.read("out/order"), "start\nend\nstart\nend\n");
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// A lock of inventory `local` as a run of `user@controller`, process `pid`, left it. On
/// PostgreSQL the lock is held while the returned session lives when `live` (the store
/// knows liveness from the session, not the pid); otherwise it is a row nobody holds. On
/// SQLite the row is all there is: its holder is alive if its process is.
fn fake_lock(p: &Project, pid: i64, user: &str, controller: &str, live: bool) -> Option<::postgres::Client> {
    match p.store_kind() {
        Kind::Sqlite => {
            db(p)
                .execute(
                    "INSERT OR REPLACE INTO locks (inventory, pid, proc_start, user, controller, started_ms)
                     VALUES ('local', ?1, NULL, ?2, ?3, 1700000000000)",
                    rusqlite::params![pid, user, controller],
                )
                .unwrap();
            None
        }
        Kind::Postgres => {
            let mut c = p.pg().client();
            let backend: i32 = if live {
                let key = runbook::journal::postgres::lock_key("local");
                c.execute("SELECT pg_advisory_lock($1)", &[&key]).unwrap();
                c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
            } else {
                1 // no session: the postmaster's children never have pid 1
            };
            c.execute(
                r#"INSERT INTO locks (inventory, pid, proc_start, "user", controller, started_ms, backend_pid)
                   VALUES ('local', $1, NULL, $2, $3, 1700000000000, $4)
                   ON CONFLICT (inventory) DO UPDATE SET pid = EXCLUDED.pid, "user" = EXCLUDED."user",
                     controller = EXCLUDED.controller, started_ms = EXCLUDED.started_ms,
                     backend_pid = EXCLUDED.backend_pid"#,
                &[&pid, &user, &controller, &backend],
            )
            .unwrap();
            Some(c)
        }
    }
}

fn a_stale_lock_of_a_dead_process_is_taken_over(kind: Kind) {
    let (p, out) = project(kind, "step(\"x\", hosts(\"all\"), |h| { h.run(\"true\"); });");
    play(&p, &out).run();

    // A live holder (this test process) keeps the lock, and is named.
    let holder = fake_lock(&p, std::process::id() as i64, "ghost", &hostname(), true);
    play(&p, &out)
        .code(3)
        .stderr_contains(&format!(
            "locked by another run: pid {} (ghost@{}, since 2023-11-14 22:13:20Z)",
            std::process::id(),
            hostname()
        ))
        .run();

    // A dead one loses it.
    drop(holder);
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id() as i64;
    gone.wait().unwrap();
    fake_lock(&p, dead, "ghost", &hostname(), false);
    let o = play(&p, &out).run();
    assert!(
        o.stdout.contains(&format!(
            "took over the lock of inventory local from pid {dead} (ghost@{}",
            hostname()
        )),
        "{}",
        o.all()
    );
    let left = p.db_value("SELECT count(*) FROM locks");
    assert_eq!(left.as_deref(), Some("0"), "the lock is released at the end");
}

// ---------------------------------------------------------------------------------------
// Ctrl-C and SIGTERM

const SLOW: &str = r#"
let out = var("out");
step("one", hosts("all"), |h| {
    h.run(`touch ${out}/${h.name}.started; while [ ! -e ${out}/go ]; do sleep 0.02; done; echo one >> ${out}/${h.name}.exec`);
});
step("two", hosts("all"), |h| { h.run(`echo two >> ${out}/${h.name}.exec`); });
"#;

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn all_started(p: &Project) -> bool {
    HOSTS.iter().all(|h| exists(p, &format!("out/{h}.started")))
}

fn ctrl_c_lets_running_commands_finish_and_the_run_resumes(kind: Kind) {
    for (sig, name) in [(libc::SIGINT, "Ctrl-C"), (libc::SIGTERM, "SIGTERM")] {
        let (p, out) = project(kind, SLOW);
        let mut child = spawn(&p, &out, &[], "run.log");
        wait_for("every host to start step one", || all_started(&p));
        signal(&child, sig);
        wait_for("the interruption note", || {
            p.read("out/run.log").contains(&format!("{name}: letting"))
        });
        p.write("out/go", "");
        let status = child.wait().unwrap();
        let log = p.read("out/run.log");
        assert_eq!(status.code(), Some(130), "{log}");
        for h in HOSTS {
            assert_eq!(
                exec_log(&p, h),
                words("one"),
                "{name}: {h} finishes step one only\n{log}"
            );
        }
        assert!(log.contains("run 1 is recorded as interrupted"), "{log}");
        assert_eq!(history_run(&p, "1")["run"]["outcome"], "interrupted");

        play(&p, &out).args(&["--resume"]).run();
        for h in HOSTS {
            assert_eq!(exec_log(&p, h), words("one two"), "{name}: {h}");
        }
    }
}

fn a_second_ctrl_c_aborts_at_once(kind: Kind) {
    let (p, out) = project(kind, SLOW);
    let mut child = spawn(&p, &out, &[], "run.log");
    wait_for("every host to start step one", || all_started(&p));
    signal(&child, libc::SIGINT);
    wait_for("the interruption note", || {
        p.read("out/run.log").contains("Ctrl-C: letting")
    });
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", p.read("out/run.log"));
    // It did not wait for the commands: they are still waiting for `go`.
    for h in HOSTS {
        assert!(
            !exists(&p, &format!("out/{h}.exec")),
            "{h} must still be running step one"
        );
    }
    assert_eq!(history_run(&p, "1")["run"]["outcome"], "killed");
    p.write("out/go", "");
    wait_for_orphans(&p);
    // The run was cut short: it counts as killed and resumes.
    let o = play(&p, &out).args(&["--resume"]).run();
    assert!(o.stdout.contains("resuming run 1 (killed"), "{}", o.all());
    assert_eq!(exec_log(&p, "h1"), words("one one two"));
}

// ---------------------------------------------------------------------------------------
// History, --state, secrets

fn history_lists_runs_and_shows_steps_by_hosts(kind: Kind) {
    let (p, out) = project(kind, &six());
    play(&p, &out).code(2).run();
    p.write("out/repo/nginx-extra", "");
    play(&p, &out).args(&["--resume"]).run();

    let o = p.runbook(&["history"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        words(lines[0]),
        words("RUN PLAYBOOK INVENTORY OUTCOME STARTED DURATION CHANGES")
    );
    assert!(
        lines[1].starts_with("1    site.rhai  local      failed"),
        "{}",
        o.stdout
    );
    assert!(
        lines[1].ends_with(" 12"),
        "one to four changed on 3 hosts: {}",
        o.stdout
    );
    assert!(
        lines[2].starts_with("2    site.rhai  local      ok (resumes 1)"),
        "{}",
        o.stdout
    );
    assert!(
        lines[2].ends_with(" 8"),
        "four on h2 (2), five and six on 3 hosts: {}",
        o.stdout
    );

    let list = json(&p.runbook(&["history", "-o", "json", "--inventory", "local"]));
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(list[1]["changes"], 8);
    assert!(list[1]["duration_ms"].as_i64().is_some());
    let none = json(&p.runbook(&["history", "-o", "json", "-i", "inventory/prod.toml"]));
    assert_eq!(none, serde_json::json!([]));

    let o = p.runbook(&["history", "1"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let grid: Vec<Vec<String>> = o
        .stdout
        .lines()
        .skip(3)
        .take_while(|l| !l.is_empty())
        .map(words)
        .collect();
    assert_eq!(grid[0], words("STEP h1 h2 h3 (controller)"));
    assert_eq!(grid[1], words("one changed 1 changed 1 changed 1 -"));
    assert_eq!(grid[2], words("pick - - - ok"));
    assert_eq!(grid[5], words("four changed 1 FAILED changed 1 -"));
    assert_eq!(grid.len(), 6, "nothing after four: {}", o.stdout);
    assert!(
        o.stdout
            .contains("ERRORS\n  four on h2:\n    h2: command exited with code 100"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("E: Unable to locate package nginx-extra"),
        "{}",
        o.stdout
    );

    let o = p.runbook(&["history", "2"]);
    assert!(o.stdout.contains("resumes run 1"), "{}", o.stdout);
    assert!(
        words(&o.stdout).join(" ").contains("two done in 1 done in 1 done in 1"),
        "{}",
        o.stdout
    );

    let o = p.runbook(&["history", "9"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(&format!("no run 9 in {}", p.store_label())),
        "{}",
        o.all()
    );
}

#[test]
fn state_moves_the_journal() {
    let kind = Kind::Sqlite;
    let (p, out) = project(kind, &six());
    let state = p.path("elsewhere/journal.db");
    let state = state.to_str().unwrap();
    play(&p, &out).args(&["--state", state]).code(2).run();
    assert!(!exists(&p, ".runbook/state.db"));
    assert!(Path::new(state).exists());
    let o = p.runbook(&["history"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("no run journal at .runbook/state.db"), "{}", o.all());
    let o = p.runbook(&["history", "--state", state, "-o", "json"]);
    assert_eq!(json(&o)[0]["outcome"], "failed");
    // Resume finds the run in that store, also when started from another directory.
    p.write("out/repo/nginx-extra", "");
    std::fs::create_dir_all(p.path("sub")).unwrap();
    let o = Test::in_project(&p)
        .current_dir("sub")
        .play("../site.rhai")
        .on("../inventory/local.toml")
        .args(&["--var", &out, "--state", state, "--resume"])
        .stdout_contains("resuming run 1")
        .run();
    assert!(!o.stdout.contains("runs again"), "{}", o.stdout);
    assert_eq!(exec_log(&p, "h1"), words("one two three four five six"));
}

fn secrets_never_reach_the_journal_in_clear(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        let pw = secret("db_password");
        step("show", hosts("all"), |h| { h.run(`echo ${pw}`).stdout });
        step("leak", hosts("h1"), |h| { h.run(`echo "auth failed for ${pw}" >&2; exit 3`); });
        "#,
    );
    let secret = "hunter2-Zq9";
    play(&p, &out).env("DB_PASSWORD", secret).code(2).run();
    let stored: Vec<(String, Vec<u8>)> = match kind {
        // Every file of the store (the database, its write-ahead log).
        Kind::Sqlite => std::fs::read_dir(p.path(".runbook"))
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                (path.display().to_string(), std::fs::read(&path).unwrap())
            })
            .collect(),
        // Every table, as pg_dump writes the database.
        Kind::Postgres => vec![("the database's dump".to_string(), p.pg().dump())],
    };
    for (what, bytes) in &stored {
        assert!(bytes.windows(9).any(|w| w == b"site.rhai"), "{what} holds the runs");
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} holds the secret"
        );
    }
    let run = history_run(&p, "1");
    assert_eq!(run["steps"][0]["hosts"]["h1"]["value"], "***\n");
    assert!(
        run["steps"][1]["hosts"]["h1"]["error"]
            .as_str()
            .unwrap()
            .contains("auth failed for ***"),
        "{run}"
    );
}

/// A step that returned hosts gives the same hosts back on resume (journaled by name), and
/// a template sees a host as a map of its name and addresses, never as nothing.
fn hosts_returned_by_a_step_come_back_as_hosts_on_resume(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        let picked = step("pick", || #{ first: hosts("web")[0], all: hosts("web") });
        step("use", hosts("web"), |h| {
            if h.name == "h2" && local::run(["test", "-e", `${out}/go`], #{ check: false, readonly: true }).code != 0 {
                throw "not yet";
            }
            picked.first.run(["sh", "-c", `echo ${h.name} >> ${out}/used-${picked.first.name}`]);
            h.file(`${out}/${h.name}.txt`, #{ content: `${picked.all.len()} ${picked.all[1].name}` + "\n" });
        });
        step("render", hosts("web"), |h| {
            h.template(`${out}/first.j2`, `${out}/${h.name}.first`, #{ first: picked.first });
        });
        "#,
    );
    p.write("out/first.j2", "{{ first.name }} {{ first.address }}");
    let first = play(&p, &out).any_code().run();
    assert_eq!(first.code, 2, "h2 fails the first time: {}", first.all());
    std::fs::write(p.path("out/go"), "").unwrap();
    let resumed = play(&p, &out)
        .args(&["--resume"])
        .stdout_contains("done in run 1")
        .run();
    assert_eq!(p.read("out/h2.txt"), "3 h2\n");
    assert_eq!(
        p.read("out/used-h1").lines().count(),
        3,
        "the host came back: {}",
        resumed.all()
    );
    assert_eq!(
        p.read("out/h3.first"),
        "h1 h1",
        "the local test hosts are addressed by name"
    );
}

/// A multi-line secret (a PEM key) and one with JSON-special characters never appear, in
/// any form, in the JSON events or the journal; a step named from a secret is stored masked.
fn secrets_in_every_form_stay_out_of_output_and_journal(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
        let key = secret("deploy_key");
        let pw = secret("db_pw");
        step(`use ${pw}`, hosts("web"), |h| {
            h.file(`${var("out")}/${h.name}.key`, #{ content: key });
            h.run(["sh", "-c", "printf '%s' \"$1\" >&2; exit 3", "x", pw], #{ check: false });
            key
        });
        "#,
    );
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBuC2secretline\n-----END OPENSSH PRIVATE KEY-----\n";
    p.write("inventory/secrets/deploy_key", key);
    let pw = r#"Pa"ss\wo$rd'<x>"#;
    p.write("inventory/secrets/db_pw", &format!("{pw}\n"));
    let o = play(&p, &out).json().args(&["--diff"]).run();
    let journal = p
        .db_rows("SELECT step_name || step_id || coalesce(value, '') || coalesce(error, '') FROM results")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for (what, text) in [("output", o.all()), ("journal", journal)] {
        for leak in [
            "b3BlbnNzaC1rZXktdjEAAAAA",
            "QyNTUxOQAAACBuC2secretline",
            "ss\\\\wo$rd",
            "Pa\\\"ss",
            "wo$rd",
        ] {
            assert!(!text.contains(leak), "{leak:?} leaked into the {what}:\n{text}");
        }
    }
    assert_eq!(
        p.read("out/h1.key"),
        key.trim_end(),
        "the host got the real key (a secret file loses its final newline)"
    );
}

/// One Ctrl-C stops script code that loops without end inside a step, within a few
/// seconds: the run is recorded as interrupted, the step is not done, and a resume runs it.
fn ctrl_c_stops_a_step_that_loops_forever(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
        let out = var("out");
        step("spin", hosts("all"), |h| {
            h.run(`touch ${out}/${h.name}.started`);
            let n = 0;
            while local::run(["test", "-e", `${out}/go`], #{ readonly: true, check: false }).code != 0 {
                n += 1;
            }
            h.run(`echo spun >> ${out}/${h.name}.exec`);
        });
        "#,
    );
    // Script code without end: the loop only reads a file that never appears in the first run.
    let mut child = spawn(&p, &out, &[], "run.log");
    wait_for("every host to start spinning", || all_started(&p));
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still spinning after Ctrl-C: {}",
            p.read("out/run.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = p.read("out/run.log");
    assert_eq!(status.code(), Some(130), "{log}");
    assert_eq!(history_run(&p, "1")["run"]["outcome"], "interrupted", "{log}");
    assert!(log.contains("skipped  h1  (interrupted)"), "{log}");
    p.write("out/go", "");
    play(&p, &out).args(&["--resume"]).run();
    for h in HOSTS {
        assert_eq!(
            exec_log(&p, h),
            words("spun"),
            "{h}: the interrupted step ran again and finished"
        );
    }
}

/// A lock held from another machine cannot be checked from here: the error says how a
/// person clears it, and `runbook unlock` does, after asking (or with --yes).
fn a_lock_from_another_machine_is_cleared_by_a_person(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"step("one", hosts("all"), |h| h.run("true", #{ readonly: true }));"#,
    );
    play(&p, &out).run();
    let mut holder = fake_lock(&p, 4242, "ci", "build-box-7", true);
    let o = play(&p, &out).code(3).run();
    assert!(
        o.stderr.contains("locked by another run: pid 4242 (ci@build-box-7"),
        "{}",
        o.all()
    );
    let hint = match kind {
        Kind::Sqlite => {
            "if that run is gone (its machine is off), a person who knows can remove the lock: runbook unlock -i local"
        }
        // A holder whose machine is gone loses the lock with its session: this one is live.
        Kind::Postgres => {
            "if that run is stuck, a person who knows can end it and take the lock: runbook unlock -i local"
        }
    };
    assert!(o.stderr.contains(hint), "{}", o.all());
    let o = p.runbook(&["unlock", "-i", "local"]);
    assert_ne!(o.code, 0, "no terminal, no --yes: nothing removed\n{}", o.all());
    assert!(o.stderr.contains("pass --yes"), "{}", o.all());
    let o = p.runbook(&["unlock", "-i", "local", "--yes"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(
        o.stdout.contains("locked by pid 4242 (ci@build-box-7") && o.stdout.contains("lock removed"),
        "{}",
        o.all()
    );
    if let Some(session) = &mut holder {
        // Its session was ended with it.
        assert!(
            session.simple_query("SELECT 1").is_err(),
            "the holder's session still works"
        );
    }
    play(&p, &out).run();
    let o = p.runbook(&["unlock", "-i", "local"]);
    assert!(o.stdout.contains("inventory local is not locked"), "{}", o.all());
}

/// A journal that becomes unwritable mid-run: the play stops, and runbook says the record
/// is incomplete (exit 1, the journal's code) instead of claiming it is recorded as failed.
fn a_journal_unwritable_mid_run_is_reported_as_such(kind: Kind) {
    let (p, out) = project(
        kind,
        r#"
step("one", || 1);
step("two", || 2);
step("three", || 3);
"#,
    );
    let o = play(&p, &out)
        .env("RUNBOOK_TEST_READONLY_AFTER_COMMITS", "1")
        .code(1)
        .run();
    let failure = match kind {
        Kind::Sqlite => "attempt to write a readonly database",
        Kind::Postgres => "cannot execute INSERT in a read-only transaction",
    };
    let want = format!(
        "the run journal could not be written (run journal {}: {failure}); run 1 is not recorded as failed: its \
         record may still say `running`",
        p.store_label()
    );
    assert!(o.all().contains(&want), "{}", o.all());
    assert!(!o.all().contains("is recorded as failed"), "{}", o.all());
    assert!(!o.all().contains("STEP three"), "the play stops: {}", o.all());
    let outcome = p.db_value("SELECT outcome FROM runs WHERE id = 1");
    assert_eq!(outcome.as_deref(), Some("running"));
}

/// `.runbook/` deleted (or moved away) while a play runs: SQLite would go on writing into
/// the deleted file and every result would be lost without a word. Instead the next result
/// is refused: the play stops there, says what happened and that nothing of the run is
/// recorded, and exits 1 (the journal's code); no panic. The next run starts afresh.
#[test]
fn the_journal_deleted_mid_run_stops_the_play_with_a_journal_error() {
    const WAITING: &str = r#"
let out = var("out");
step("one", hosts("all"), |h| h.run(`echo one >> ${out}/${h.name}.exec`));
step("wait", hosts("all"), |h| {
    h.run(`touch ${out}/${h.name}.waiting; while [ ! -e ${out}/go ]; do sleep 0.02; done; echo wait >> ${out}/${h.name}.exec`);
});
step("two", hosts("all"), |h| h.run(`echo two >> ${out}/${h.name}.exec`));
"#;
    for (how, gone) in [("deleted", None), ("moved away", Some(".runbook-moved"))] {
        let (p, out) = project(Kind::Sqlite, WAITING);
        let mut child = spawn(&p, &out, &[], "run.log");
        wait_for("every host to wait in step `wait`", || {
            HOSTS.iter().all(|h| exists(&p, &format!("out/{h}.waiting")))
        });
        match gone {
            None => std::fs::remove_dir_all(p.path(".runbook")).unwrap(),
            Some(to) => std::fs::rename(p.path(".runbook"), p.path(to)).unwrap(),
        }
        p.write("out/go", "");
        let status = child.wait().unwrap();
        let log = p.read("out/run.log");
        assert_eq!(status.code(), Some(1), "{how}: {log}");
        assert!(
            log.contains(
                "error: run journal .runbook/state.db was deleted (its directory .runbook is gone) while this run \
                 was going on: SQLite would go on writing into the deleted file, so nothing of this run is recorded \
                 any more, not even its results before. The play stopped at the first result it could not record; \
                 run 1 cannot be resumed (the next run starts from the beginning): what it changed is in the output above"
            ),
            "{how}: {log}"
        );
        assert!(!log.contains("STEP two") && !log.contains("panicked"), "{how}: {log}");
        for h in HOSTS {
            assert_eq!(exec_log(&p, h), words("one wait"), "{how}: {h}: {log}");
        }
        assert!(!exists(&p, ".runbook"), "{how}: not made again behind the user's back");
        // Nothing to resume: the next run starts from the beginning, in a new journal.
        let o = play(&p, &out).args(&["--resume"]).run();
        assert!(
            o.stdout.contains("nothing to resume: no run of site.rhai"),
            "{how}: {}",
            o.all()
        );
        assert_eq!(p.db_value("SELECT count(*) FROM runs").as_deref(), Some("1"));
    }
    // Replaced by another file: the same, in its words.
    let (p, out) = project(Kind::Sqlite, WAITING);
    let mut child = spawn(&p, &out, &[], "run.log");
    wait_for("every host to wait in step `wait`", || {
        HOSTS.iter().all(|h| exists(&p, &format!("out/{h}.waiting")))
    });
    std::fs::copy(p.path(".runbook/state.db"), p.path("copy.db")).unwrap();
    std::fs::rename(p.path("copy.db"), p.path(".runbook/state.db")).unwrap();
    p.write("out/go", "");
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let log = p.read("out/run.log");
    assert!(
        log.contains("error: run journal .runbook/state.db was replaced by another file while this run was going on"),
        "{log}"
    );
}

/// `--state` at something that is not a runbook journal: one clear line, never a hang.
#[test]
fn a_state_path_that_is_no_journal_is_refused_in_one_line() {
    let kind = Kind::Sqlite;
    let (p, out) = project(kind, "step(\"one\", || 1);\n");
    let other = p.path("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE runs (x TEXT); CREATE TABLE users (name TEXT);")
        .unwrap();
    std::fs::create_dir_all(p.path("adir")).unwrap();
    let fifo = p.path("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (state, want) in [
        (
            "other.db",
            "other.db is not a runbook journal (an SQLite database with other tables): give --state (or RUNBOOK_STATE) another path",
        ),
        (
            "adir",
            "run journal adir is a directory: give --state (or RUNBOOK_STATE) the path of a file",
        ),
        (
            "fifo",
            "run journal fifo is not a regular file (a FIFO, socket or device)",
        ),
    ] {
        let o = play(&p, &out).args(&["--state", state]).any_code().run();
        assert_eq!(o.code, 1, "{state}: {}", o.all());
        assert!(o.stderr.contains(want), "{state}: {}", o.all());
        assert_eq!(o.stderr.trim().lines().count(), 1, "{state}: {}", o.all());
    }
    // The other program's database is left as it was (not switched to WAL).
    let mode: String = rusqlite::Connection::open(&other)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

/// Every test above that takes a store runs against both: SQLite, runbook's default, and
/// PostgreSQL (the test server of `scripts/postgres.sh`).
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(crate::support::Kind::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(crate::support::Kind::Postgres) } )*
        }
    };
}

on_both_stores!(
    a_run_killed_at_any_moment_resumes_to_the_same_end_state,
    resume_after_a_failure_continues_the_failed_host_and_returns_journaled_values,
    an_edited_step_runs_again_on_resume_and_the_output_says_why,
    adding_lines_above_steps_does_not_make_them_run_again,
    fingerprints_are_the_same_in_every_process,
    steps_in_a_loop_and_steps_sharing_a_name_are_journaled_one_by_one,
    an_unfinished_last_run_is_pointed_out_with_the_command_to_resume_it,
    a_second_run_fails_at_once_while_the_first_holds_the_lock,
    a_stale_lock_of_a_dead_process_is_taken_over,
    ctrl_c_lets_running_commands_finish_and_the_run_resumes,
    a_second_ctrl_c_aborts_at_once,
    history_lists_runs_and_shows_steps_by_hosts,
    secrets_never_reach_the_journal_in_clear,
    hosts_returned_by_a_step_come_back_as_hosts_on_resume,
    secrets_in_every_form_stay_out_of_output_and_journal,
    ctrl_c_stops_a_step_that_loops_forever,
    a_lock_from_another_machine_is_cleared_by_a_person,
    a_journal_unwritable_mid_run_is_reported_as_such,
);
