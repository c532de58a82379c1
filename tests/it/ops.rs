//! Host operations on real hosts: every operation changes once and then reports no change,
//! the host state is read back with `docker exec`, and a dry run predicts the real run.

use serde_json::Value;

use crate::support::{Output, Project, Test, Testbed};

/// `runbook play PLAYBOOK -i test -o json` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, playbook: &str) -> Test<'a> {
    Test::in_project(p).play(playbook).on("test").json()
}

#[test]
fn file_operations_change_once_then_never() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("files/motd", "welcome\n");
    p.write("templates/upstream.conf.j2", "upstream app {\n{% for ip in ips %}    server {{ ip }}:3000;\n{% endfor %}}\n# {{ host.name }} {{ inventory.name }}\n");
    p.write(
        "site.rhai",
        r#"
        step("files", hosts("test"), |h| {
            h.dir("/srv/app/conf", #{ mode: "0750" });
            h.file("/srv/app/conf/a.txt", #{ content: "alpha\n", mode: "0600" });
            h.file("/etc/motd", #{ src: "motd" });
            h.template("upstream.conf.j2", "/srv/app/conf/upstream.conf", #{ ips: ["10.0.0.1", "10.0.0.2"] });
            h.line("/srv/app/conf/b.txt", "beta");
            h.line("/srv/app/conf/b.txt", "gamma=1", #{ regex: "^gamma" });
            h.line("/etc/hosts.allow", "sshd: ALL");
            h.symlink("/srv/app/conf", "/srv/app/current");
            h.absent("/srv/app/old");
            h.absent("/srv/app/never-there");
        });
        "#,
    );
    tb.sh(h, "mkdir -p /srv/app/old/sub && touch /srv/app/old/sub/f");
    let first = play(&p, "site.rhai").run();
    assert_eq!(
        first.changes(),
        [
            ("dir", "/srv/app/conf"),
            ("file", "/srv/app/conf/a.txt"),
            ("file", "/etc/motd"),
            ("template", "/srv/app/conf/upstream.conf"),
            ("line", "/srv/app/conf/b.txt"),
            ("line", "/srv/app/conf/b.txt"),
            ("line", "/etc/hosts.allow"),
            ("symlink", "/srv/app/current"),
            ("absent", "/srv/app/old"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(first.total_changes(), 9);
    assert_eq!(
        // (and no temporary file left beside them)
        tb.sh(h, "ls -A /srv/app/conf /etc | grep '^[.]runbook-'; stat -c '%a %U' /srv/app/conf /srv/app/conf/a.txt; cat /srv/app/conf/a.txt /srv/app/conf/b.txt /etc/motd /srv/app/conf/upstream.conf"),
        format!(
            "750 root\n600 root\nalpha\nbeta\ngamma=1\nwelcome\nupstream app {{\n    server 10.0.0.1:3000;\n    server 10.0.0.2:3000;\n}}\n# {} test\n",
            h.name
        )
    );
    assert_eq!(
        tb.sh(h, "readlink /srv/app/current; test -e /srv/app/old || echo gone"),
        "/srv/app/conf\ngone\n"
    );
    assert!(tb.sh(h, "cat /etc/hosts.allow").ends_with("sshd: ALL\n"));
    assert_eq!(
        tb.sh(h, "ls -A /srv/app/conf | grep -c runbook || true"),
        "0\n",
        "no temporary files left"
    );

    let second = play(&p, "site.rhai").run();
    assert_eq!(second.changes(), vec![], "second run changes nothing");

    // Drift is put back, and only what drifted is reported.
    tb.sh(
        h,
        "chmod 644 /srv/app/conf/a.txt && ln -sfn /tmp /srv/app/current && echo x >> /etc/motd",
    );
    let third = play(&p, "site.rhai").args(&["--diff"]).any_code().run();
    let ch = third.changes();
    assert_eq!(ch.len(), 3, "{ch:?}");
    let motd = third.events().into_iter().find(|e| e["target"] == "/etc/motd").unwrap();
    assert!(motd["diff"].as_str().unwrap().contains("-x\n"), "{motd}");
    assert_eq!(
        tb.sh(h, "stat -c %a /srv/app/conf/a.txt; readlink /srv/app/current"),
        "600\n/srv/app/conf\n"
    );
}

#[test]
fn system_operations_users_packages_services_firewall() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        step("system", hosts("test"), |h| {
            h.user("nodejs", #{ shell: "/bin/bash", groups: ["adm"] });
            h.user("svc", #{ system: true });
            h.apt(["nginx", "ufw"], #{ update: true });
            h.service("nginx", "stopped");
            h.service("nginx", "started", #{ enabled: true });
            h.ufw(#{ incoming: "deny", outgoing: "allow", rules: [#{ port: 22, proto: "tcp" }, #{ port: 80, proto: "tcp", from: "10.1.0.0/16" }], enabled: true });
            print("os=" + h.fact("os").id);
        });
        "#,
    );
    let first = play(&p, "site.rhai").run();
    let ops: Vec<String> = first.changes().into_iter().map(|c| c.0).collect();
    assert_eq!(
        ops,
        ["user", "user", "apt", "service", "service", "ufw"],
        "{}",
        first.all()
    );
    assert!(first.stdout.contains("os=debian"));
    assert_eq!(
        tb.sh(h, "getent passwd nodejs | cut -d: -f7; id -nG nodejs"),
        "/bin/bash\nnodejs adm\n"
    );
    let svc_uid: u32 = tb.sh(h, "getent passwd svc | cut -d: -f3").trim().parse().unwrap();
    assert!(svc_uid < 1000, "a system user: {svc_uid}");
    assert_eq!(
        tb.sh(h, "systemctl is-active nginx; systemctl is-enabled nginx"),
        "active\nenabled\n"
    );
    let ufw = tb.sh(h, "ufw status verbose");
    assert!(
        ufw.contains("Status: active") && ufw.contains("Default: deny (incoming), allow (outgoing)"),
        "{ufw}"
    );
    assert!(
        ufw.contains("80/tcp                     ALLOW IN    10.1.0.0/16"),
        "{ufw}"
    );

    let second = play(&p, "site.rhai").run();
    let ops: Vec<String> = second.changes().into_iter().map(|c| c.0).collect();
    // `stopped` then `started` is a deliberate stop/start pair on every run.
    assert_eq!(
        ops,
        ["service", "service"],
        "only the stop/start pair: {}",
        second.all()
    );

    // Changing the user's groups and shell is a change; `append` keeps the old groups.
    p.write(
        "site2.rhai",
        r#"step("u", hosts("test"), |h| { h.user("nodejs", #{ shell: "/bin/sh", groups: ["sudo"], append: true }); });"#,
    );
    let o = play(&p, "site2.rhai").any_code().run();
    assert_eq!(o.total_changes(), 1, "{}", o.all());
    assert_eq!(
        tb.sh(h, "getent passwd nodejs | cut -d: -f7; id -nG nodejs"),
        "/bin/sh\nnodejs adm sudo\n"
    );
}

#[test]
fn the_firewall_is_never_enabled_without_an_ssh_rule() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"step("fw", hosts("test"), |h| { h.apt(["ufw"], #{ update: true }); h.ufw(#{ rules: [#{ port: 80, proto: "tcp" }], enabled: true }); });"#,
    );
    play(&p, "site.rhai")
        .code(2)
        .stdout_contains("refusing to enable the firewall: no rule lets SSH (port 22) in")
        .run();
    assert!(tb.sh(h, "ufw status").contains("Status: inactive"));
    // the dry run refuses the same way
    play(&p, "site.rhai")
        .args(&["--dry-run"])
        .any_code()
        .stdout_contains("refusing to enable the firewall")
        .run();

    // A rule that lets SSH in only from elsewhere passes that check, and would lose the
    // host: the change undoes itself once a new login fails, and the step says so.
    p.write(
        "open.rhai",
        r#"step("fw", hosts("test"), |h| h.ufw(#{ incoming: "deny", rules: [#{ port: 22, proto: "tcp" }], exact: true, enabled: true }));"#,
    );
    p.write(
        "lock.rhai",
        r#"step("fw", hosts("test"), |h| h.ufw(#{ rules: [#{ port: 22, proto: "tcp", from: "203.0.113.7" }], exact: true, enabled: true }));"#,
    );
    play(&p, "open.rhai").run();
    let leftovers = "systemctl list-units --all --no-legend 'runbook-revert-*'; ls /var/lib/runbook";
    assert_eq!(
        tb.sh(h, leftovers).trim(),
        "",
        "a confirmed change leaves no restore behind"
    );
    play(&p, "lock.rhai")
        .code(2)
        .stdout_contains("ufw firewall: the change locked SSH out (a new connection failed")
        .stdout_contains("runbook reverted it at once, over the connection still open; the firewall is as it was and SSH answers again")
        .run();
    let rules = tb.sh(h, "ufw show added");
    assert!(
        rules.contains("ufw allow 22/tcp") && !rules.contains("203.0.113.7"),
        "{rules}"
    );
    assert!(tb.sh(h, "ufw status").contains("Status: active"));
    assert_eq!(tb.sh(h, leftovers).trim(), "", "the revert cleaned up after itself");
    let again = play(&p, "open.rhai").any_code().run();
    assert_eq!(again.code, 0, "SSH answers: {}", again.all());
    assert_eq!(again.total_changes(), 0, "the firewall is as it was: {}", again.all());
}

/// Every regular file outside the volatile places, with its checksum.
fn filesystem(tb: &Testbed, h: &crate::support::testbed::TestHost) -> String {
    tb.sh(
        h,
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/log \
         -o -path /var/lib/systemd -o -path /var/cache \\) -prune -o \\( -type f -o -type l -o -type d \\) -print0 \
         | sort -z | xargs -0 stat -c '%n %F %U %G %a %s' && \
         find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/log \
         -o -path /var/lib/systemd -o -path /var/cache \\) -prune -o -type f -print0 | sort -z | xargs -0 sha256sum",
    )
}

#[test]
fn a_dry_run_predicts_the_real_run_operation_by_operation_and_touches_nothing() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "templates/site.j2",
        "server {\n  listen {{ port }};\n  root /srv/www/{{ app }};\n}\n",
    );
    p.write(
        "site.rhai",
        r##"
        let app = "ace";
        step("base", hosts("test"), |h| {
            h.user("nodejs", #{ shell: "/bin/bash" });
            h.dir("/opt/apps");
            for d in ["active", "releases", "deploys", "bin"] {
                h.dir(`/opt/apps/${d}`, #{ owner: "nodejs", mode: "0755" });
            }
            h.file("/opt/apps/bin/start.sh", #{ content: "#!/bin/sh\nexec node server.js\n", mode: "0755", owner: "nodejs" });
            h.file("/opt/apps/releases/VERSION", #{ content: "1\n", owner: "nodejs" });
            h.symlink("/opt/apps/releases", "/opt/apps/active/ace");
            h.line("/opt/apps/.env", "PORT=3000");  // (creates the file)
            h.line("/opt/apps/.env", "NODE_ENV=production");  // (edits the planned file)
            h.line("/opt/apps/.env", "PORT=3000");                                     // (present: no change)
        });
        step("web", hosts("test"), |h| {
            h.apt(["nginx"], #{ update: true });
            h.dir("/srv/www/ace", #{ mode: "0755" });
            h.file("/srv/www/ace/index.html", #{ content: "<h1>ace</h1>\n" });
            h.template("site.j2", "/etc/nginx/sites-available/ace", #{ port: 8080, app: app });
            h.symlink("/etc/nginx/sites-available/ace", "/etc/nginx/sites-enabled/ace");
            h.absent("/etc/nginx/sites-enabled/default");
            h.line("/etc/nginx/nginx.conf", "# managed by runbook");
            // (a dry run knows the edited file only after apply: no checksum from a guess)
            let conf = h.fact("file", "/etc/nginx/nginx.conf");
            let text = h.read("/etc/nginx/nginx.conf");
            let read = if type_of(text) == "string" { `${text.contains("# managed by runbook")}` } else { `${text}` };
            print(`nginx.conf: sha256=${conf.sha256} size=${conf.size} read=${read}`);
            h.service("nginx", "started", #{ enabled: true });                         // (installed and started by Debian)
            h.service("nginx", "restarted");
            h.run("cat /etc/os-release", #{ readonly: true });                         // (reads only)
        });
        step("more", hosts("test"), |h| {
            for i in 1..=6 {
                h.file(`/opt/apps/deploys/note-${i}.txt`, #{ content: `note ${i}\n`, owner: "nodejs" });
            }
            h.dir("/var/lib/ace/data/cache", #{ owner: "nodejs" });
            h.file("/var/lib/ace/data/cache/seed", #{ content: "0\n" });
            h.symlink("/var/lib/ace/data", "/opt/apps/data");
            h.run("touch /root/ran-for-real");
            h.user("nodejs", #{ groups: ["www-data"] });
        });
        "##,
    );
    let before = filesystem(&tb, h);
    let dry = play(&p, "site.rhai").args(&["--dry-run"]).run();
    let after = filesystem(&tb, h);
    assert!(before == after, "the dry run changed the host");
    assert_eq!(tb.exec(h, "test -e /root/ran-for-real").0, 1);

    let real = play(&p, "site.rhai").run();
    let said = |o: &Output| -> String {
        o.events()
            .into_iter()
            .find_map(|e| {
                e["message"]
                    .as_str()
                    .filter(|m| m.starts_with("nginx.conf:"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no nginx.conf line\n{}", o.all()))
    };
    assert_eq!(
        said(&dry),
        "nginx.conf: sha256=(known after apply) size=(known after apply) read=(known after apply)"
    );
    let (sha, size) = {
        let out = tb.sh(
            h,
            "sha256sum /etc/nginx/nginx.conf | cut -c1-64; stat -c %s /etc/nginx/nginx.conf",
        );
        let mut l = out.lines();
        (l.next().unwrap().to_string(), l.next().unwrap().to_string())
    };
    assert_eq!(said(&real), format!("nginx.conf: sha256={sha} size={size} read=true"));
    let planned = dry.changes();
    assert!(planned.len() >= 30, "{planned:?}");
    assert_eq!(
        planned,
        real.changes(),
        "the dry run's plan is exactly what the real run changed"
    );
    assert_eq!(dry.total_changes(), real.total_changes());
    let recap = |o: &Output| -> Value { o.events().last().unwrap()["hosts"].clone() };
    assert_eq!(recap(&dry), recap(&real), "dry-run recap equals the real recap");
    assert!(
        dry.events()
            .iter()
            .any(|e| e["event"] == "change" && e["planned"] == true)
    );
    assert_eq!(
        tb.sh(h, "cat /opt/apps/.env; readlink /opt/apps/data"),
        "PORT=3000\nNODE_ENV=production\n/var/lib/ace/data\n"
    );
    assert_eq!(tb.sh(h, "curl -s localhost:8080"), "<h1>ace</h1>\n");

    // And now a dry run plans only the unconditional ones.
    let again = play(&p, "site.rhai").args(&["--dry-run"]).any_code().run();
    let ops: Vec<String> = again.changes().into_iter().map(|c| c.0).collect();
    assert_eq!(ops, ["service", "run"], "{}", again.all());
}

#[test]
fn errors_name_the_template_line_host_and_operation() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    tb.sh(h, "useradd -m deploy && mkdir -p ~deploy/.ssh && cp /root/.ssh/authorized_keys ~deploy/.ssh/ && chown -R deploy ~deploy/.ssh");
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("templates/bad.j2", "ok {{ app }}\nport {{ prot }}\n");
    p.write(
        "site.rhai",
        r#"step("t", hosts("test"), |h| { h.template("bad.j2", "/tmp/bad", #{ app: "x" }); });"#,
    );
    let o = play(&p, "site.rhai").code(2).run();
    let err = o.events().into_iter().find(|e| e["status"] == "failed").unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: template templates/bad.j2:2: undefined value", h.name)),
        "{err}"
    );
    assert!(err.contains("`prot`"), "{err}");
    assert!(err.contains("--> site.rhai:1:34"), "{err}");

    // Not root, no sudo: the operation, the path and the host's own words.
    p.write(
        "inventory/test.toml",
        &tb.inventory("").replace("user = \"root\"", "user = \"deploy\""),
    );
    p.write(
        "site.rhai",
        r#"step("f", hosts("test"), |h| { h.file("/etc/runbook.conf", #{ content: "x\n" }); });"#,
    );
    let o = play(&p, "site.rhai").code(2).run();
    let err = o.events().into_iter().find(|e| e["status"] == "failed").unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!(
            "{}: file /etc/runbook.conf: create, mode 0644: command exited with code 1",
            h.name
        )),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn secrets_are_masked_in_diffs_and_commands() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        let pw = secret("db_password");
        step("s", hosts("test"), |h| {
            h.file("/root/.pgpass", #{ content: "*:*:*:app:" + pw + "\n", mode: "0600" });
            h.run(`echo ${pw} > /dev/null`);
        });
        "#,
    );
    let text = || {
        Test::in_project(&p)
            .play("site.rhai")
            .on("test")
            .env("DB_PASSWORD", "s3cr3t-Pa55")
    };
    let o = text()
        .args(&["--dry-run"])
        .stdout_contains("+*:*:*:app:***")
        .stdout_contains("echo *** > /dev/null")
        .run();
    assert!(
        !o.stdout.contains("s3cr3t-Pa55") && !o.stderr.contains("s3cr3t-Pa55"),
        "{}",
        o.all()
    );
    let o = text().args(&["--diff"]).run();
    assert!(!o.stdout.contains("s3cr3t-Pa55"), "{}", o.all());
    assert_eq!(tb.sh(h, "cat /root/.pgpass"), "*:*:*:app:s3cr3t-Pa55\n");
}

/// `h.fact(kind, arg, #{ sudo | user })` looks as that user, and a path the user may not see
/// is an error, not "missing" (which would make a module redo its work).
#[test]
fn facts_as_another_user_and_paths_they_cannot_see() {
    let tb = Testbed::start(1);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "look.rhai",
        r#"
        step("as root", hosts("test"), |h| {
            print(`sudo: ${h.fact("file", "/root/.ssh/authorized_keys", #{ sudo: true }).kind}`);
            print(`nobody: ${h.fact("file", "/etc/hostname", #{ user: "nobody" }).kind}`);
        });
        step("as nobody", hosts("test"), |h| {
            h.fact("file", "/root/.ssh/authorized_keys", #{ user: "nobody" })
        });
        "#,
    );
    Test::in_project(&p)
        .play("look.rhai")
        .on("test")
        .code(2)
        .stdout_contains("sudo: file")
        .stdout_contains("nobody: file")
        .stdout_contains("cannot tell whether /root/.ssh/authorized_keys exists: permission denied (look with sudo)")
        .run();
}

/// `h.read`: the file as it is, `()` when missing, and in a dry run as earlier planned writes
/// would have left it.
#[test]
fn read_sees_the_host_and_in_a_dry_run_the_planned_content() {
    let tb = Testbed::start(1);
    let p = Project::new();
    p.use_testbed(&tb, "");
    tb.sh(&tb.hosts[0], "printf 'old\\n' > /srv/conf && chmod 600 /srv/conf");
    p.write(
        "read.rhai",
        r#"
        step("read", hosts("test"), |h| {
            print(`missing: ${h.read("/srv/none") == ()}`);
            print(`before: ${h.read("/srv/conf")}`);
            h.file("/srv/conf", #{ content: "new\n" });
            print(`after: ${h.read("/srv/conf", #{ sudo: true })}`);
        });
        "#,
    );
    let dry = play(&p, "read.rhai").args(&["--dry-run"]).run();
    for line in ["missing: true", "before: old", "after: new"] {
        assert!(dry.stdout.contains(line), "{line}: {}", dry.all());
    }
    assert_eq!(
        tb.sh(&tb.hosts[0], "cat /srv/conf"),
        "old\n",
        "a dry run writes nothing"
    );
    play(&p, "read.rhai").stdout_contains("after: new").run();
}
