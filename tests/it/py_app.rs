//! The second example app, `examples/py-app/` (a Python HTTP service run by a systemd unit
//! as its own user), with its own playbooks, on Docker hosts from nothing: provision, release
//! 1.0.0 → 2.0.0 → a broken 3.0.0 that must leave 2.0.0 serving → rollback. Every play's
//! dry run plans exactly what its real run then changes, and its second run changes nothing.
//! Once with the release module's `manager: "systemd"`, once with a custom restart command.

use crate::support::{Output, Project, Test, Testbed};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/py-app");
const ROOT: &str = "/opt/apps";

/// The project: the example's playbooks, template and app, as shipped, in `py-app/`.
fn project(tb: &Testbed) -> Project {
    let p = Project::new();
    p.use_testbed(tb, "");
    for file in [
        "provision.rhai",
        "release.rhai",
        "templates/pyapp.service.j2",
        "app/server.py",
    ] {
        let text = std::fs::read_to_string(format!("{EXAMPLE}/{file}")).unwrap();
        p.write(&format!("py-app/{file}"), &text);
    }
    p
}

/// A version that exits as it starts (systemd restarts it until it gives up).
fn break_app(p: &Project) {
    p.write("py-app/app/server.py", "raise SystemExit('pyapp: no configuration')\n");
}

/// Back to the example's own app.
fn fix_app(p: &Project) {
    p.write(
        "py-app/app/server.py",
        &std::fs::read_to_string(format!("{EXAMPLE}/app/server.py")).unwrap(),
    );
}

/// `runbook play py-app/PLAYBOOK -i test -o json --var group=test …`, any exit code.
fn play(p: &Project, playbook: &str, extra: &[&str]) -> Output {
    let o = Test::in_project(p)
        .play(&format!("py-app/{playbook}.rhai"))
        .on("test")
        .json()
        .args(&["--var", "group=test", "--var", "app_dir=py-app/app", "--var", "keep=2"])
        .args(&["--var", "health_timeout=8s"])
        .args(extra)
        .any_code()
        .run();
    o.assert_counts_agree();
    o
}

fn ok(p: &Project, playbook: &str, extra: &[&str]) -> Output {
    let o = play(p, playbook, extra);
    assert_eq!(o.code, 0, "{playbook} {extra:?}:\n{}", o.all());
    o
}

/// The host as a play may change it: files under /opt/apps, the unit, the app's user.
fn snapshot(tb: &Testbed) -> String {
    tb.sh(
        &tb.hosts[0],
        &format!(
            "find {ROOT} /etc/systemd/system -printf '%M %u %s %T@ %p %l\\n' 2>/dev/null | sort -k5; \
             systemctl is-active pyapp.service; systemctl show -p MainPID --value pyapp.service; getent passwd pyapp; true"
        ),
    )
}

/// The play's dry run, then the play: the dry run touches nothing and plans exactly the
/// changes the play then makes; then the play once more, which changes nothing.
fn planned_then_done(tb: &Testbed, p: &Project, playbook: &str, extra: &[&str]) -> Output {
    let before = snapshot(tb);
    let dry = ok(p, playbook, &[extra, &["--dry-run"]].concat());
    assert_eq!(
        snapshot(tb),
        before,
        "the dry run of {playbook} {extra:?} changed the host"
    );
    let real = ok(p, playbook, extra);
    assert!(real.total_changes() > 0, "{}", real.all());
    assert_eq!(
        dry.changes(),
        real.changes(),
        "{playbook} {extra:?}: the dry run's plan is what the run changed"
    );
    let again = ok(p, playbook, extra);
    assert_eq!(
        again.total_changes(),
        0,
        "{playbook} {extra:?} again changed {:?}",
        again.changes()
    );
    real
}

/// What the app answers on the host (on `port`: a process just started may not listen yet).
fn answer_on(tb: &Testbed, port: u16) -> String {
    tb.sh(
        &tb.hosts[0],
        &format!(
            "curl -sS -m 5 --retry 30 --retry-connrefused --retry-delay 0 --retry-max-time 10 http://127.0.0.1:{port}/"
        ),
    )
}

fn answer(tb: &Testbed) -> String {
    answer_on(tb, 8000)
}

fn main_pid(tb: &Testbed) -> String {
    tb.sh(&tb.hosts[0], "systemctl show -p MainPID --value pyapp.service")
        .trim()
        .to_string()
}

/// Release directories, the active link, the history, the release last restarted on.
fn layout(tb: &Testbed) -> String {
    tb.sh(
        &tb.hosts[0],
        &format!(
            "ls {ROOT}/releases; readlink {ROOT}/active/pyapp; echo history:; cat {ROOT}/releases/.history-pyapp; \
             echo restarted: $(cat {ROOT}/releases/.restarted-pyapp)"
        ),
    )
}

fn version(v: &str) -> String {
    format!("version={v}")
}

#[test]
fn py_app_releases_with_systemd_from_nothing_to_rollback() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = project(&tb);

    // Provision from nothing: the user, the directories, the unit enabled but not started
    // (there is no release to run yet).
    planned_then_done(&tb, &p, "provision", &[]);
    assert_eq!(
        tb.sh(h, "id -u pyapp >/dev/null && getent passwd pyapp | cut -d: -f7; systemctl is-enabled pyapp; systemctl is-active pyapp; true"),
        "/usr/sbin/nologin\nenabled\ninactive\n"
    );

    // 1.0.0: unpacked, switched, the unit started; it runs as pyapp.
    let v1 = planned_then_done(&tb, &p, "release", &["--var", &version("1.0.0")]);
    assert!(
        v1.changes()
            .contains(&("service".to_string(), "pyapp.service".to_string())),
        "restarted through h.service: {:?}",
        v1.changes()
    );
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");
    assert_eq!(tb.sh(h, &format!("ps -o user= -p {}", main_pid(&tb))), "pyapp\n");

    // Provision again with a release running: nothing to change, nothing restarted.
    let pid = main_pid(&tb);
    assert_eq!(ok(&p, "provision", &[]).total_changes(), 0);
    assert_eq!(main_pid(&tb), pid);

    // 2.0.0: a new process.
    planned_then_done(&tb, &p, "release", &["--var", &version("2.0.0")]);
    assert_eq!(answer(&tb), "pyapp 2.0.0\n");
    assert_ne!(main_pid(&tb), pid, "restarted");
    assert_eq!(
        layout(&tb),
        format!(
            "pyapp-1.0.0\npyapp-2.0.0\n{ROOT}/releases/pyapp-2.0.0\nhistory:\npyapp-2.0.0\npyapp-1.0.0\nrestarted: pyapp-2.0.0\n"
        )
    );

    // 3.0.0 crashes as it starts: its health check fails, 2.0.0 serves again (systemd gave
    // up restarting 3.0.0; the switch back starts 2.0.0 all the same).
    break_app(&p);
    let v3 = play(&p, "release", &["--var", &version("3.0.0")]);
    assert_eq!(v3.code, 2, "{}", v3.all());
    assert!(
        v3.stdout.contains(
            "release pyapp-3.0.0 failed its health check; switched back to pyapp-2.0.0, which is serving again"
        ),
        "{}",
        v3.all()
    );
    assert_eq!(answer(&tb), "pyapp 2.0.0\n");
    assert_eq!(
        layout(&tb),
        format!(
            "pyapp-1.0.0\npyapp-2.0.0\npyapp-3.0.0\n{ROOT}/releases/pyapp-2.0.0\nhistory:\npyapp-2.0.0\npyapp-1.0.0\nrestarted: pyapp-2.0.0\n"
        ),
        "3.0.0 unpacked, never in the history"
    );
    // Releasing 2.0.0 again: it serves already, nothing changes.
    fix_app(&p);
    assert_eq!(ok(&p, "release", &["--var", &version("2.0.0")]).total_changes(), 0);

    // Rollback to 1.0.0 by name; again: nothing to do.
    let back = planned_then_done(&tb, &p, "release", &["--var", "rollback=true", "--var", "to=1.0.0"]);
    assert!(
        back.stdout.contains("rolled back from pyapp-2.0.0 to pyapp-1.0.0"),
        "{}",
        back.all()
    );
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");
    assert_eq!(
        layout(&tb),
        format!(
            "pyapp-1.0.0\npyapp-2.0.0\npyapp-3.0.0\n{ROOT}/releases/pyapp-1.0.0\nhistory:\npyapp-1.0.0\nrestarted: pyapp-1.0.0\n"
        )
    );
    // A release not in the history is refused, nothing switched.
    let o = play(&p, "release", &["--var", "rollback=true", "--var", "to=3.0.0"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout
            .contains("cannot roll back pyapp to 3.0.0: pyapp-3.0.0 is not in the activation history"),
        "{}",
        o.all()
    );

    // Provision with another port while a release runs: the changed unit restarts the app.
    let pid = main_pid(&tb);
    let o = ok(&p, "provision", &["--var", "port=8001"]);
    let unit = o
        .events()
        .into_iter()
        .find(|e| e["op"] == "systemd_unit")
        .expect("the unit changed");
    assert!(
        unit["summary"]
            .as_str()
            .unwrap()
            .ends_with("daemon-reload, reenable (its [Install] section is read anew), restart (the unit changed)"),
        "{unit}"
    );
    assert_ne!(main_pid(&tb), pid);
    assert_eq!(answer_on(&tb, 8001), "pyapp 1.0.0\n");
    assert_eq!(ok(&p, "provision", &[]).total_changes(), 1, "back to port 8000");
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");

    // A unit that stopped (or crashed for good) is started again by activating the active
    // release: what runs is checked, not only what was switched.
    tb.sh(h, "systemctl stop pyapp");
    let o = ok(&p, "release", &["--var", &version("1.0.0")]);
    assert!(
        o.changes()
            .contains(&("service".to_string(), "pyapp.service".to_string())),
        "{}",
        o.all()
    );
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");
    assert_eq!(ok(&p, "release", &["--var", &version("1.0.0")]).total_changes(), 0);
}

/// The same sequence with `manager: #{ restart: "…" }` (the playbook's `--var restart`): the
/// command runs in the active release exactly when the release changes, and keep prunes.
#[test]
fn py_app_releases_with_a_custom_restart_command() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = project(&tb);
    // Logs the version it restarts on, then restarts the unit as systemd would.
    let restart = "restart=cat VERSION >> /var/log/pyapp-restarts && systemctl reset-failed pyapp.service; systemctl restart pyapp.service";
    let restarts = || tb.sh(h, "cat /var/log/pyapp-restarts");

    planned_then_done(&tb, &p, "provision", &[]);
    planned_then_done(&tb, &p, "release", &["--var", &version("1.0.0"), "--var", restart]);
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");
    planned_then_done(&tb, &p, "release", &["--var", &version("2.0.0"), "--var", restart]);
    assert_eq!(answer(&tb), "pyapp 2.0.0\n");
    assert_eq!(restarts(), "1.0.0\n2.0.0\n", "once each: not again on the second runs");

    break_app(&p);
    let o = play(&p, "release", &["--var", &version("3.0.0"), "--var", restart]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout.contains(
            "release pyapp-3.0.0 failed its health check; switched back to pyapp-2.0.0, which is serving again"
        ),
        "{}",
        o.all()
    );
    assert_eq!(answer(&tb), "pyapp 2.0.0\n");
    assert_eq!(
        restarts(),
        "1.0.0\n2.0.0\n3.0.0\n2.0.0\n",
        "restarted on 3.0.0, then on 2.0.0 again"
    );
    fix_app(&p);
    assert_eq!(
        ok(&p, "release", &["--var", &version("2.0.0"), "--var", restart]).total_changes(),
        0
    );

    // Rollback to the previous release; a second rollback would go further, so the second
    // run names it.
    let o = ok(&p, "release", &["--var", "rollback=true", "--var", restart]);
    assert!(
        o.stdout.contains("rolled back from pyapp-2.0.0 to pyapp-1.0.0"),
        "{}",
        o.all()
    );
    assert_eq!(answer(&tb), "pyapp 1.0.0\n");
    assert_eq!(
        ok(
            &p,
            "release",
            &["--var", "rollback=true", "--var", "to=1.0.0", "--var", restart]
        )
        .total_changes(),
        0
    );
    assert_eq!(restarts(), "1.0.0\n2.0.0\n3.0.0\n2.0.0\n1.0.0\n");

    // keep=2: two more releases, and the oldest of the history (1.0.0) goes, with its tarball.
    for v in ["4.0.0", "5.0.0"] {
        ok(&p, "release", &["--var", &version(v), "--var", restart]);
    }
    assert_eq!(answer(&tb), "pyapp 5.0.0\n");
    let kept = tb.sh(
        h,
        &format!("cat {ROOT}/releases/.history-pyapp; ls {ROOT}/releases {ROOT}/deploys | grep 1.0.0; true"),
    );
    assert_eq!(kept, "pyapp-5.0.0\npyapp-4.0.0\n", "1.0.0 pruned");
}
