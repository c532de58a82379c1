//! Releases: the stdlib `release` module through `playbooks/release.rhai`, on Docker hosts of
//! the node image (Node.js and pm2 installed): activate, keep, rollback, a failed health
//! check, a run killed between unpack and switch, dry run.

use crate::support::testbed::NODE_IMAGE;
use crate::support::{Output, Project, Testbed};

const ROOT: &str = "/opt/apps";

/// A test host for releases: the app user pm2 runs as.
fn start(n: usize) -> Testbed {
    let tb = Testbed::start_image(n, NODE_IMAGE);
    for h in &tb.hosts {
        tb.sh(h, "useradd -m nodejs");
    }
    tb
}

/// The project: the real release playbook and an app in `app/` that answers its version.
fn project(tb: &Testbed) -> Project {
    let p = Project::new();
    p.use_testbed(tb, "");
    let playbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/release.rhai")).unwrap();
    p.write("playbooks/release.rhai", &playbook);
    p
}

fn app(p: &Project, version: &str) {
    p.write(
        "app/server.js",
        &format!(
            "require('http').createServer((q, s) => s.end(q.url === '/healthcheck' ? 'ok' : 'ace {version}\\n'))\
             .listen(Number(process.env.PORT));\n"
        ),
    );
}

/// An app that exits as soon as it starts (pm2 restarts it until it gives up).
fn broken_app(p: &Project) {
    p.write(
        "app/server.js",
        "console.error('missing DATABASE_URL'); process.exit(1);\n",
    );
}

fn release(p: &Project, version: &str, extra: &[&str]) -> Output {
    let v = format!("version={version}");
    let mut args = vec![
        "play",
        "playbooks/release.rhai",
        "-i",
        "test",
        "-o",
        "json",
        "--var",
        "app=ace",
        "--var",
        "group=test",
        "--var",
        "app_dir=app",
        "--var",
        "keep=2",
        "--var",
        &v,
    ];
    args.extend_from_slice(extra);
    p.runbook(&args)
}

fn changes(o: &Output) -> u64 {
    let recap = o.events().into_iter().last().unwrap();
    assert_eq!(recap["event"], "recap", "{}", o.all());
    recap["changes"].as_u64().unwrap()
}

/// What the app answers on the host itself.
fn answer(tb: &Testbed, i: usize) -> String {
    tb.sh(&tb.hosts[i], "curl -sS -m 5 http://127.0.0.1:3000/")
}

/// Release directories (not hidden files), the active link and the history.
fn layout(tb: &Testbed, i: usize) -> String {
    tb.sh(
        &tb.hosts[i],
        &format!("ls {ROOT}/releases; readlink {ROOT}/active/ace; cat {ROOT}/releases/.history-ace"),
    )
}

#[test]
fn activate_three_keep_two_roll_back_and_activate_again_changes_nothing() {
    let tb = start(1);
    let p = project(&tb);

    for v in ["v1", "v2", "v3"] {
        app(&p, v);
        let o = release(&p, v, &[]);
        assert_eq!(o.code, 0, "{v}: {}", o.all());
        assert_eq!(answer(&tb, 0), format!("ace {v}\n"));
    }
    // keep=2: the active and the previous release, nothing older (also not its tarball).
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v2\nace-v3\n{ROOT}/releases/ace-v3\nace-v3\nace-v2\n")
    );
    assert_eq!(
        tb.sh(&tb.hosts[0], &format!("ls {ROOT}/deploys")),
        "ace-v2.tar.gz\nace-v3.tar.gz\n"
    );
    // pm2 runs the app as the app user, from the active release.
    let pid = tb.sh(&tb.hosts[0], "sudo -u nodejs -H pm2 pid ace | tail -n 1");
    assert_eq!(
        tb.sh(&tb.hosts[0], &format!("ps -o user= -p {}", pid.trim())),
        "nodejs\n"
    );

    // release::list: the releases there, the active one, the history.
    p.write(
        "list.rhai",
        r#"import "release" as release;
           step("list", hosts("test"), |h| { print("list=" + release::list(h, "ace").to_json()); });"#,
    );
    let o = p.runbook(&["play", "list.rhai", "-i", "test"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(
        o.stdout.contains(
            r#"list={"active":"ace-v3","history":["ace-v3","ace-v2"],"releases":[{"active":false,"name":"ace-v2","version":"v2"},{"active":true,"name":"ace-v3","version":"v3"}]}"#
        ),
        "{}",
        o.all()
    );

    // Rollback: to the release before the active one, by history; the history pops.
    let o = release(&p, "v3", &["--var", "rollback=true"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("rolled back from ace-v3 to ace-v2"), "{}", o.all());
    assert_eq!(answer(&tb, 0), "ace v2\n");
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v2\nace-v3\n{ROOT}/releases/ace-v2\nace-v2\n")
    );
    // Nothing before v2 any more: a clear failure, nothing switched.
    let o = release(&p, "v3", &["--var", "rollback=true"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("ace-v2 is the oldest release"), "{}", o.all());
    assert_eq!(answer(&tb, 0), "ace v2\n");

    // Activating the active release again: no change at all, no restart.
    let pid = tb.sh(&tb.hosts[0], "sudo -u nodejs -H pm2 pid ace | tail -n 1");
    app(&p, "v2");
    let o = release(&p, "v2", &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(changes(&o), 0, "{}", o.all());
    assert_eq!(
        tb.sh(&tb.hosts[0], "sudo -u nodejs -H pm2 pid ace | tail -n 1"),
        pid,
        "not restarted"
    );
    assert_eq!(answer(&tb, 0), "ace v2\n");
}

#[test]
fn failed_health_check_switches_back_and_leaves_the_next_server_untouched() {
    let tb = start(2);
    let p = project(&tb);
    app(&p, "v1");
    let o = release(&p, "v1", &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    let before: Vec<String> = (0..2).map(|i| layout(&tb, i)).collect();

    broken_app(&p);
    let o = release(&p, "v2", &["--var", "serial=1", "--var", "health_timeout=4s"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout
            .contains("release ace-v2 failed its health check; switched back to ace-v1, which is serving again"),
        "{}",
        o.all()
    );
    // The health check's last answer is in the message.
    let health = format!("http://127.0.0.1:3000/healthcheck on {}", tb.hosts[0].name);
    assert!(o.stdout.contains(&health), "{}", o.all());
    assert!(
        o.stdout.to_lowercase().contains("couldn't connect"),
        "the last answer: {}",
        o.all()
    );

    // The first server serves v1 again; v2 is unpacked there but not active, not in history.
    assert_eq!(answer(&tb, 0), "ace v1\n");
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v1\nace-v2\n{ROOT}/releases/ace-v1\nace-v1\n")
    );
    // The second one was never touched: still v1, no v2 directory (its tarball was uploaded).
    assert_eq!(answer(&tb, 1), "ace v1\n");
    assert_eq!(layout(&tb, 1), before[1]);
}

#[test]
fn killed_between_unpack_and_switch_resumes_to_the_new_release() {
    let tb = start(1);
    let p = project(&tb);
    app(&p, "v1");
    assert_eq!(release(&p, "v1", &[]).code, 0);

    // Commits: upload, unpack (one host); killed right after the unpack is journaled.
    app(&p, "v2");
    let v = "version=v2";
    let args = [
        "play",
        "playbooks/release.rhai",
        "-i",
        "test",
        "--var",
        "app=ace",
        "--var",
        "group=test",
        "--var",
        "app_dir=app",
        "--var",
        v,
    ];
    let o = p.runbook_env(&args, &[("RUNBOOK_TEST_KILL_AFTER_COMMITS", "2")]);
    assert_eq!(o.code, -1, "killed by the hook: {}", o.all());
    let marker = tb.sh(&tb.hosts[0], &format!("cat {ROOT}/releases/ace-v2/.runbook-archive"));
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v1\nace-v2\n{ROOT}/releases/ace-v1\nace-v1\n"),
        "unpacked, not switched"
    );
    assert_eq!(answer(&tb, 0), "ace v1\n");

    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = p.runbook(&resume);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("done in run"), "the unpack is skipped: {}", o.all());
    assert_eq!(answer(&tb, 0), "ace v2\n");
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v1\nace-v2\n{ROOT}/releases/ace-v2\nace-v2\nace-v1\n"),
        "one directory per release, each once in the history"
    );
    assert_eq!(
        tb.sh(
            &tb.hosts[0],
            &format!("cat {ROOT}/releases/ace-v2/.runbook-archive; ls -A {ROOT}/releases")
        ),
        format!("{marker}.history-ace\nace-v1\nace-v2\n"),
        "not unpacked again, no temporary directories"
    );
}

#[test]
fn dry_run_plans_upload_unpack_switch_and_restart_and_changes_nothing() {
    let tb = start(1);
    let p = project(&tb);
    app(&p, "v1");
    assert_eq!(release(&p, "v1", &[]).code, 0);
    let snapshot =
        format!("find {ROOT} -printf '%M %u %s %T@ %p %l\\n' | sort -k5; sudo -u nodejs -H pm2 pid ace | tail -n 1");
    let before = tb.sh(&tb.hosts[0], &snapshot);

    app(&p, "v2");
    let o = release(&p, "v2", &["--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    for planned in [
        format!("{ROOT}/deploys/ace-v2.tar.gz"),
        format!("{ROOT}/releases/ace-v1 → {ROOT}/releases/ace-v2"),
        "pm2 startOrReload".to_string(),
        "would wait for http://127.0.0.1:3000/healthcheck on".to_string(),
    ] {
        assert!(o.stdout.contains(&planned), "plans {planned:?}: {}", o.all());
    }
    assert!(
        o.changes()
            .contains(&("unpack".to_string(), format!("{ROOT}/releases/ace-v2"))),
        "plans the unpack: {}",
        o.all()
    );
    o.assert_counts_agree();
    assert!(changes(&o) >= 4, "{}", o.all());
    assert_eq!(tb.sh(&tb.hosts[0], &snapshot), before, "nothing changed");
    assert_eq!(answer(&tb, 0), "ace v1\n");
}

/// The sequence every process manager passes (tests/it/py_app.rs runs it with systemd and a
/// restart command): v1 → v2 → a broken v3 that leaves v2 serving → rollback to v1 by name;
/// each play's dry run plans exactly what it then changes, and its second run changes nothing.
#[test]
fn pm2_v1_v2_broken_v3_then_rollback_by_name_plans_exactly_and_repeats_as_no_change() {
    let tb = start(1);
    let p = project(&tb);
    let planned_then_done = |version: &str, extra: &[&str]| {
        let dry = release(&p, version, &[extra, &["--dry-run"]].concat());
        assert_eq!(dry.code, 0, "{}", dry.all());
        let real = release(&p, version, extra);
        assert_eq!(real.code, 0, "{}", real.all());
        assert!(!real.changes().is_empty(), "{}", real.all());
        assert_eq!(dry.changes(), real.changes(), "{version} {extra:?}: planned is done");
        let again = release(&p, version, extra);
        assert_eq!(again.code, 0, "{}", again.all());
        assert_eq!(changes(&again), 0, "{version} {extra:?} again: {:?}", again.changes());
    };
    for v in ["v1", "v2"] {
        app(&p, v);
        planned_then_done(v, &[]);
        assert_eq!(answer(&tb, 0), format!("ace {v}\n"));
    }
    broken_app(&p);
    let o = release(&p, "v3", &["--var", "health_timeout=4s"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout
            .contains("release ace-v3 failed its health check; switched back to ace-v2, which is serving again"),
        "{}",
        o.all()
    );
    assert_eq!(answer(&tb, 0), "ace v2\n");
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v1\nace-v2\nace-v3\n{ROOT}/releases/ace-v2\nace-v2\nace-v1\n")
    );
    app(&p, "v2");
    let o = release(&p, "v2", &[]);
    assert_eq!(changes(&o), 0, "v2 serves already: {:?}", o.changes());

    planned_then_done("v2", &["--var", "rollback=true", "--var", "to=v1"]);
    assert_eq!(answer(&tb, 0), "ace v1\n");
    assert_eq!(
        layout(&tb, 0),
        format!("ace-v1\nace-v2\nace-v3\n{ROOT}/releases/ace-v1\nace-v1\n")
    );
}
