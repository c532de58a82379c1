//! Writes that guard themselves, on real hosts: `validate` (the new content must pass a
//! command before it replaces the file), `reload` (run after a change; a failed reload puts
//! the previous file back) and `confirm` (commit-confirmed: a change that locks SSH out is
//! undone, at once over the open connection or by the host's own timer). Every outcome is
//! read back with `docker exec` and a plain `ssh`, not through runbook.

use crate::stdlib::ssh;
use crate::support::testbed::TestHost;
use crate::support::{Output, Project, Test, Testbed};

/// `runbook play PLAYBOOK -i test -o json` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, playbook: &str) -> Test<'a> {
    Test::in_project(p).play(playbook).on("test").json()
}

/// The error of the failed host, as the run reported it.
fn error_of(o: &Output) -> String {
    o.events()
        .into_iter()
        .find(|e| e["event"] == "host_result" && e["status"] == "failed")
        .and_then(|e| e["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no failed host\n{}", o.all()))
}

/// What a guarded change may leave behind: temporary files beside the target, saved
/// copies, restore timers.
fn leftovers(tb: &Testbed, h: &TestHost, dir: &str) -> String {
    tb.sh(
        h,
        &format!(
            "ls -A {dir} | grep '^\\.runbook-' || true; ls -A /var/lib/runbook 2>/dev/null || true; \
             systemctl list-units --all --no-legend 'runbook-revert-*'"
        ),
    )
    .trim()
    .to_string()
}

#[test]
fn validate_checks_the_new_content_before_it_replaces_the_file() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "sudoers.rhai",
        r#"
        step("sudoers", hosts("test"), |h| {
            h.file("/etc/sudoers.d/90-ops", #{ content: var("rule") + "\n", mode: "0440", validate: "visudo -cf %s" });
        });
        "#,
    );
    let good = "ops ALL=(ALL) NOPASSWD: /usr/bin/systemctl";
    tb.sh(h, "useradd ops");

    // A dry run says the write will be validated, and runs nothing.
    let dry = play(&p, "sudoers.rhai")
        .args(&["--var", &format!("rule={good}"), "--dry-run"])
        .run();
    let planned = dry.events().into_iter().find(|e| e["event"] == "change").unwrap();
    assert_eq!(
        planned["summary"], "create, mode 0440, validated by `visudo -cf %s`",
        "{planned}"
    );
    assert_eq!(
        tb.exec(h, "test -e /etc/sudoers.d/90-ops").0,
        1,
        "a dry run writes nothing"
    );

    let first = play(&p, "sudoers.rhai").args(&["--var", &format!("rule={good}")]).run();
    assert_eq!(first.changes(), dry.changes(), "{}", first.all());
    assert_eq!(
        tb.sh(h, "cat /etc/sudoers.d/90-ops; stat -c '%a %U' /etc/sudoers.d/90-ops"),
        format!("{good}\n440 root\n")
    );
    assert_eq!(
        tb.sh(h, "sudo -l -U ops | tail -n 1").trim(),
        "(ALL) NOPASSWD: /usr/bin/systemctl"
    );
    let again = play(&p, "sudoers.rhai").args(&["--var", &format!("rule={good}")]).run();
    assert_eq!(again.changes(), vec![], "{}", again.all());

    // A rule visudo refuses never reaches the live file (sudo would stop working for
    // everyone): the run fails with the command as it ran and visudo's own words.
    let bad = play(&p, "sudoers.rhai")
        .args(&["--var", "rule=ops ALL=(ALL) NOPASWD /usr/bin/systemctl"])
        .code(2)
        .run();
    let err = error_of(&bad);
    assert!(
        err.starts_with(&format!(
            "{}: file /etc/sudoers.d/90-ops: the new content failed validation, nothing changed: `visudo -cf /etc/sudoers.d/.runbook-",
            h.name
        )),
        "{err}"
    );
    assert!(err.contains("` exited with code 1:\n"), "{err}");
    assert!(err.contains("syntax error"), "visudo's message: {err}");
    assert!(err.contains("sudoers.rhai:3:15"), "the call: {err}");
    assert_eq!(
        tb.sh(h, "cat /etc/sudoers.d/90-ops"),
        format!("{good}\n"),
        "the live file is untouched"
    );
    assert_eq!(leftovers(&tb, h, "/etc/sudoers.d"), "", "the temporary file is gone");

    // A command that does not name the file would validate nothing new: refused.
    p.write(
        "nofile.rhai",
        r#"step("x", hosts("test"), |h| h.file("/etc/motd", #{ content: "hi\n", validate: "visudo -c" }));"#,
    );
    let o = play(&p, "nofile.rhai").code(2).run();
    assert!(
        error_of(&o).contains("file: `validate` must name the new content's temporary file as %s"),
        "{}",
        o.all()
    );
}

/// An sshd_config edit, validated by `sshd -t`, applied by a reload and confirmed by a new
/// login: a change that locks SSH out is put back (at once over the open connection, or by
/// the host's timer when that connection is gone too), a config sshd refuses never lands,
/// a reload that fails puts the previous file back, and a good change stands.
#[test]
fn an_sshd_config_change_that_locks_ssh_out_is_reverted_and_a_good_one_stands() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "sshd.rhai",
        r#"
        step("sshd", hosts("test"), |h| {
            h.line("/etc/ssh/sshd_config", var("line"), #{
                regex: var("regex"),
                validate: "sshd -t -f %s",
                reload: var("reload", "systemctl reload ssh"),
                confirm: "10s",
            });
        });
        "#,
    );
    let run = |line: &str, regex: &str, extra: &[&str]| {
        let mut args = vec![
            "--var".to_string(),
            format!("line={line}"),
            "--var".to_string(),
            format!("regex={regex}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let config = || tb.sh(h, "sha256sum /etc/ssh/sshd_config");
    let reloads = || {
        tb.sh(
            h,
            "journalctl -u ssh --no-pager -o cat | grep -c 'Received SIGHUP' || true",
        )
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    let original = config();
    let sshd = "/etc/ssh/sshd_config";

    // Locked out: only `nobody` may log in. The new login fails, the file is put back and
    // sshd reloaded over the connection still open, and the step fails saying so.
    let args = run("AllowUsers nobody", "^AllowUsers", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let locked = play(&p, "sshd.rhai").args(&args).code(2).run();
    let err = error_of(&locked);
    assert!(
        err.contains(&format!(
            "{}: line {sshd}: the change locked SSH out (a new connection failed: ",
            h.name
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "runbook reverted it at once, over the connection still open; {sshd} is as it was and SSH answers again"
        )),
        "{err}"
    );
    assert_eq!(config(), original, "the file is back");
    assert_eq!(
        ssh("root", &h.ip, &[], "echo in"),
        (0, "in\n".to_string()),
        "SSH answers again"
    );
    assert_eq!(leftovers(&tb, h, "/etc/ssh"), "", "the revert cleaned up after itself");

    // A config sshd refuses never lands, and nothing is reloaded.
    let before = reloads();
    let args = run("NoSuchOption yes", "^NoSuchOption", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = play(&p, "sshd.rhai").args(&args).code(2).run();
    let err = error_of(&refused);
    assert!(
        err.contains("the new content failed validation, nothing changed: `sshd -t -f /etc/ssh/.runbook-"),
        "{err}"
    );
    assert!(
        err.contains("Bad configuration option: NoSuchOption"),
        "sshd's message: {err}"
    );
    assert_eq!(config(), original);
    assert_eq!(reloads(), before, "nothing reloaded");
    assert_eq!(leftovers(&tb, h, "/etc/ssh"), "");

    // Without `validate`, the reload is what refuses it (ssh.service's ExecReload runs
    // `sshd -t`): the previous file is put back and reloaded, so the next run tries again.
    p.write(
        "reload.rhai",
        r#"step("sshd", hosts("test"), |h| h.line("/etc/ssh/sshd_config", "NoSuchOption yes", #{ reload: "systemctl reload ssh" }));"#,
    );
    let failed = play(&p, "reload.rhai").code(2).run();
    let err = error_of(&failed);
    assert!(err.contains("command: systemctl reload ssh"), "{err}");
    assert!(
        err.contains(&format!("runbook put {sshd} back as it was, at once")),
        "{err}"
    );
    assert_eq!(config(), original);
    assert_eq!(tb.sh(h, "systemctl is-active ssh").trim(), "active");
    assert_eq!(leftovers(&tb, h, "/etc/ssh"), "");

    // A good change: planned by a dry run (which touches nothing), then applied, reloaded
    // once and kept; the second run changes nothing and reloads nothing.
    let args = run("MaxAuthTries 4", "^#?MaxAuthTries", &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut dry_args = args.clone();
    dry_args.push("--dry-run");
    let dry = play(&p, "sshd.rhai").args(&dry_args).run();
    let planned = dry.events().into_iter().find(|e| e["event"] == "change").unwrap();
    assert!(
        planned["summary"].as_str().unwrap().ends_with(
            ", validated by `sshd -t -f %s`, then `systemctl reload ssh`, kept only if a new SSH login works (else undone within 10s)"
        ),
        "{planned}"
    );
    assert_eq!(config(), original, "a dry run changes nothing");
    let before = reloads();
    let good = play(&p, "sshd.rhai").args(&args).run();
    assert_eq!(good.changes(), dry.changes(), "{}", good.all());
    assert_eq!(tb.sh(h, "grep -c '^MaxAuthTries 4$' /etc/ssh/sshd_config").trim(), "1");
    assert_eq!(reloads(), before + 1, "reloaded once");
    assert_eq!(ssh("root", &h.ip, &[], "echo in"), (0, "in\n".to_string()));
    assert_eq!(
        leftovers(&tb, h, "/etc/ssh"),
        "",
        "a confirmed change leaves no restore behind"
    );
    let again = play(&p, "sshd.rhai").args(&args).run();
    assert_eq!(again.changes(), vec![], "{}", again.all());
    assert_eq!(reloads(), before + 1, "no second reload");
    let kept = config();

    // Locked out AND runbook's own connection gone (the reload ends every root session):
    // nothing can undo it over SSH, so the host's own timer does, after `confirm`.
    // (`nott[y]`: a pattern that does not match the shell running it)
    let reload = "systemctl reload ssh; pkill -f 'sshd: root@nott[y]'; true";
    let args = run(
        "AllowUsers nobody",
        "^AllowUsers",
        &["--var", &format!("reload={reload}")],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let lost = play(&p, "sshd.rhai").args(&args).code(2).run();
    let err = error_of(&lost);
    assert!(
        err.contains(&format!(
            "runbook put {sshd} back as it was, by the host's timer after 10s"
        )),
        "{err}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(10),
        "it waited for the timer"
    );
    assert_eq!(config(), kept, "the file is back");
    assert_eq!(
        ssh("root", &h.ip, &[], "echo in"),
        (0, "in\n".to_string()),
        "SSH answers again"
    );
    assert_eq!(leftovers(&tb, h, "/etc/ssh"), "");
}
