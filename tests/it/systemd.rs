//! `h.systemd_unit` and `h.service`'s enabled-only form on real hosts (systemd as PID 1):
//! a unit and a drop-in written, daemon-reloaded, enabled and started; the dry run plans
//! exactly that; a second run changes nothing; a changed unit restarts the service; a run
//! stopped between writing and restarting is finished by the next; enabling without starting.

use crate::support::testbed::TestHost;
use crate::support::{Output, Project, Test, Testbed};

/// `runbook play PLAYBOOK -i test -o json` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, playbook: &str) -> Test<'a> {
    Test::in_project(p).play(playbook).on("test").json()
}

/// The service's state as systemd tells it, and what it answers on its port.
fn state(tb: &Testbed, h: &TestHost, unit: &str) -> String {
    tb.sh(
        h,
        &format!(
            "systemctl is-enabled {unit}; systemctl is-active {unit}; systemctl show -p NeedDaemonReload --value {unit}"
        ),
    )
}

fn main_pid(tb: &Testbed, h: &TestHost, unit: &str) -> String {
    tb.sh(h, &format!("systemctl show -p MainPID --value {unit}"))
        .trim()
        .to_string()
}

fn answer(tb: &Testbed, h: &TestHost, port: u16) -> String {
    tb.sh(
        h,
        &format!(
            "curl -sS -m 5 --retry 20 --retry-connrefused --retry-delay 0 --retry-max-time 10 http://127.0.0.1:{port}/"
        ),
    )
}

fn summaries(o: &Output) -> Vec<String> {
    o.events()
        .into_iter()
        .filter(|e| e["event"] == "change")
        .map(|e| {
            format!(
                "{} {}: {}",
                e["op"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["summary"].as_str().unwrap()
            )
        })
        .collect()
}

const SERVER: &str = r#"import http.server, os, pwd
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("GREETING", "hello") + " from " + pwd.getpwuid(os.getuid()).pw_name + "\n"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// The playbook: a system user, the app's script, its unit from a template (port from
/// `--var port`), a drop-in with its greeting, and a second unit enabled but not started.
fn project(tb: &Testbed) -> Project {
    let p = Project::new();
    p.use_testbed(tb, "");
    p.write("files/server.py", SERVER);
    p.write(
        "templates/hello.service.j2",
        "[Unit]\nDescription=hello on {{ port }}\n\n[Service]\nUser=hello\nEnvironment=PORT={{ port }}\nExecStart=/usr/bin/python3 /opt/hello/server.py\n\n[Install]\nWantedBy=multi-user.target\n",
    );
    p.write(
        "site.rhai",
        r#"
        let port = var_int("port", 8081);
        step("hello", hosts("test"), |h| {
            h.user("hello", #{ system: true, shell: "/usr/sbin/nologin" });
            h.dir("/opt/hello");
            h.file("/opt/hello/server.py", #{ src: "server.py" });
            h.systemd_unit("hello.service", #{ template: "hello.service.j2", vars: #{ port: port }, enabled: true, state: "started" });
            h.systemd_unit("hello.service", #{ drop_in: "10-greeting.conf", content: "[Service]\nEnvironment=GREETING=hi\n", state: "started" });
            // At boot only: written and enabled, not started.
            h.systemd_unit("hello-late.service", #{ content: "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n", enabled: true });
        });
        "#,
    );
    p
}

#[test]
fn units_and_drop_ins_are_written_reloaded_enabled_and_started_once() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = project(&tb);

    // The plan, from nothing: every write, daemon-reload, enable and start; nothing done.
    let dry = play(&p, "site.rhai").args(&["--dry-run"]).run();
    assert_eq!(
        tb.exec(h, "ls /etc/systemd/system/hello*").0,
        2,
        "a dry run writes no unit"
    );
    let planned = summaries(&dry);
    assert_eq!(
        planned[3..],
        [
            "systemd_unit hello.service: /etc/systemd/system/hello.service: create, mode 0644, daemon-reload, enable, start",
            "systemd_unit hello.service: /etc/systemd/system/hello.service.d/10-greeting.conf: create, mode 0644, daemon-reload, restart (the unit changed)",
            "systemd_unit hello-late.service: /etc/systemd/system/hello-late.service: create, mode 0644, daemon-reload, enable",
        ],
        "{}",
        dry.all()
    );
    assert!(
        dry.stdout.contains("systemctl daemon-reload"),
        "shows the commands: {}",
        dry.all()
    );

    // The real run does exactly that.
    let first = play(&p, "site.rhai").run();
    assert_eq!(
        summaries(&first),
        planned,
        "the dry run plans exactly what the run does"
    );
    assert_eq!(state(&tb, h, "hello.service"), "enabled\nactive\nno\n");
    assert_eq!(
        answer(&tb, h, 8081),
        "hi from hello\n",
        "runs as hello, with the drop-in's environment"
    );
    assert_eq!(
        tb.sh(
            h,
            "stat -c '%a %U' /etc/systemd/system/hello.service /etc/systemd/system/hello.service.d/10-greeting.conf"
        ),
        "644 root\n644 root\n"
    );
    assert_eq!(
        tb.exec(
            h,
            "systemctl is-enabled hello-late.service; systemctl is-active hello-late.service"
        )
        .1,
        "enabled\ninactive\n",
        "enabled, not started"
    );

    // Again: nothing to do, nothing restarted.
    let pid = main_pid(&tb, h, "hello.service");
    let again = play(&p, "site.rhai").run();
    assert_eq!(again.total_changes(), 0, "{:?}", again.changes());
    assert_eq!(main_pid(&tb, h, "hello.service"), pid);

    // A changed unit of a running service: reloaded, enabled anew, restarted; the new port answers.
    let plan = play(&p, "site.rhai").args(&["--dry-run", "--var", "port=8082"]).run();
    let moved = play(&p, "site.rhai").args(&["--var", "port=8082"]).run();
    assert_eq!(
        summaries(&moved),
        [
            "systemd_unit hello.service: /etc/systemd/system/hello.service: content (163 bytes), daemon-reload, reenable (its [Install] section is read anew), restart (the unit changed)"
        ],
        "{}",
        moved.all()
    );
    assert_eq!(summaries(&plan), summaries(&moved));
    assert_ne!(main_pid(&tb, h, "hello.service"), pid, "restarted");
    assert_eq!(answer(&tb, h, 8082), "hi from hello\n");
    assert_eq!(state(&tb, h, "hello.service"), "enabled\nactive\nno\n");

    // A run stopped after writing the unit, before daemon-reload and restart (the file put
    // there by hand, a second after the service started): the next run finishes the job.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let pid = main_pid(&tb, h, "hello.service");
    tb.sh(h, "sed -i 's/8082/8081/' /etc/systemd/system/hello.service");
    assert_eq!(state(&tb, h, "hello.service"), "enabled\nactive\nyes\n");
    let finished = play(&p, "site.rhai").args(&["--var", "port=8081"]).run();
    assert_eq!(
        summaries(&finished),
        ["systemd_unit hello.service: daemon-reload, restart (running since before its unit files were written)"],
        "{}",
        finished.all()
    );
    assert_ne!(main_pid(&tb, h, "hello.service"), pid, "restarted");
    assert_eq!(answer(&tb, h, 8081), "hi from hello\n");
    let again = play(&p, "site.rhai").args(&["--var", "port=8081"]).run();
    assert_eq!(again.total_changes(), 0, "{:?}", again.changes());
}

#[test]
fn service_enables_or_disables_without_starting_or_stopping() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    tb.sh(
        h,
        "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/idle.service && systemctl daemon-reload",
    );
    p.write(
        "enable.rhai",
        r#"step("enable", hosts("test"), |h| { h.service("idle.service", #{ enabled: var_bool("on") }); });"#,
    );
    let run = |on: &str| play(&p, "enable.rhai").args(&["--var", &format!("on={on}")]).run();

    let o = run("true");
    assert_eq!(summaries(&o), ["service idle.service: enable"]);
    assert_eq!(
        tb.exec(h, "systemctl is-enabled idle; systemctl is-active idle").1,
        "enabled\ninactive\n"
    );
    assert_eq!(run("true").total_changes(), 0);

    // Disabled while it runs: it keeps running.
    tb.sh(h, "systemctl start idle");
    let o = run("false");
    assert_eq!(summaries(&o), ["service idle.service: disable"]);
    assert_eq!(
        tb.exec(h, "systemctl is-enabled idle; systemctl is-active idle").1,
        "disabled\nactive\n"
    );
    assert_eq!(run("false").total_changes(), 0);

    // Neither a state nor `enabled`: refused at the call.
    p.write(
        "nothing.rhai",
        r#"step("x", hosts("test"), |h| { h.service("idle.service", #{}); });"#,
    );
    play(&p, "nothing.rhai")
        .code(2)
        .stdout_contains("give a state (\\\"started\\\", \\\"stopped\\\", \\\"restarted\\\", \\\"reloaded\\\") or `enabled: true|false`")
        .run();
}

/// Mistakes in a call are refused before anything is written: a unit name without its type,
/// a misspelt option, `vars` without a template.
#[test]
fn wrong_calls_name_the_fix() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    for (call, says) in [
        (
            r#"h.systemd_unit("hello", #{ content: "[Service]\n" })"#,
            r#"did you mean \"hello.service\"?"#,
        ),
        (
            r#"h.systemd_unit("hello.service", #{ content: "[Service]\n", stat: "started" })"#,
            "unknown option `stat`; did you mean `state`?",
        ),
        (
            r#"h.systemd_unit("hello.service", #{ content: "[Service]\n", vars: #{ a: 1 } })"#,
            "`vars` are a template's variables",
        ),
        (
            r#"h.systemd_unit("hello.service", #{ content: "[Service]\n", state: "running" })"#,
            "state must be started, stopped, restarted or reloaded",
        ),
    ] {
        p.write("bad.rhai", &format!("step(\"x\", hosts(\"test\"), |h| {{ {call}; }});"));
        play(&p, "bad.rhai").code(2).stdout_contains(says).run();
    }
    assert_eq!(tb.exec(h, "ls /etc/systemd/system/hello*").0, 2, "nothing written");
}

/// `runbook check` knows both forms of `h.service` and `h.systemd_unit`'s options.
#[test]
fn check_finds_misspelt_options_of_both() {
    Test::new()
        .inventory("local", "[hosts.w1]\nconnection = \"local\"\n")
        .playbook(
            "site.rhai",
            r#"step("x", hosts("w1"), |h| {
    h.service("idle.service", #{ enabeld: true });
    h.service("idle.service", "started", #{ enabled: true });
    h.systemd_unit("idle.service", #{ content: "", dropin: "a.conf" });
});
"#,
        )
        .command(&["check"])
        .code(1)
        .stderr_contains("h.service: unknown option `enabeld`; did you mean `enabled`?")
        .stderr_contains("h.systemd_unit: unknown option `dropin`; did you mean `drop_in`?")
        .stderr_contains("2 problem(s) found")
        .run();
}
