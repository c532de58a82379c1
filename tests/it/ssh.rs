//! The ssh connection against real sshd in Docker test hosts.

use crate::support::{Project, Test, Testbed};

/// `runbook play site.rhai -i test` in `p` (exit 0 unless said).
fn play(p: &Project) -> Test<'_> {
    Test::in_project(p).play("site.rhai").on("test")
}

#[test]
fn commands_run_on_five_hosts_over_one_connection_each() {
    let tb = Testbed::start(5);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        let r = step("io", hosts("test"), |h| {
            let a = h.run("hostname");
            let b = h.run("cat; echo oops >&2; exit 3", #{ stdin: "from stdin", check: false });
            `${a.stdout.trim_end_ws()}|${b.stdout}|${b.stderr.trim_end_ws()}|${b.code}`
        });
        for k in r.keys() { print(`${k}=${r[k]}`); }
        step("many", hosts("test"), |h| {
            for i in 0..20 { h.run("true"); }
        });
        step("timeout", hosts("test"), #{ max_fail: 5 }, |h| {
            h.run("sleep 60; touch /tmp/not-killed", #{ timeout: "1s" });
        });
        "#
        .replace("trim_end_ws()", "to_string()")
        .as_str(),
    );
    let o = play(&p).any_code().run();
    assert_eq!(o.code, 2, "the timeout step fails every host: {}", o.all());
    for h in &tb.hosts {
        assert!(
            o.stdout
                .contains(&format!("{}={}\n|from stdin|oops\n|3", h.name, h.name)),
            "{}",
            o.all()
        );
        assert_eq!(tb.logins(h), 1, "one ssh login for the whole run on {}", h.name);
    }
    assert_eq!(
        o.stdout.matches("command stopped: command timed out after 1s").count(),
        5,
        "{}",
        o.all()
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    for h in &tb.hosts {
        let (_, procs) = tb.exec(h, "pgrep -a sleep || true");
        assert!(
            procs.trim().is_empty(),
            "the timed-out command was killed on {}: {procs}",
            h.name
        );
    }
}

#[test]
fn a_host_that_is_down_fails_fast_while_the_others_finish() {
    let tb = Testbed::start(3);
    let p = Project::new();
    p.use_testbed(&tb, "connect_timeout = 3");
    p.write(
        "site.rhai",
        r#"step("touch", hosts("test"), #{ max_fail: 1 }, |h| { h.run("touch /tmp/done"); });"#,
    );
    let down = &tb.hosts[1];
    std::process::Command::new("docker")
        .args(["stop", "-t", "0", &down.name])
        .output()
        .unwrap();
    let o = play(&p).json().code(4).run();
    let events = o.events();
    let failed: Vec<_> = events.iter().filter(|e| e["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["host"], down.name.as_str());
    let err = failed[0]["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("{}: cannot reach the host: cannot connect to", down.name)),
        "{err}"
    );
    for h in [&tb.hosts[0], &tb.hosts[2]] {
        assert_eq!(tb.exec(h, "test -e /tmp/done").0, 0, "{} finished its step", h.name);
    }
}

#[test]
fn host_keys_are_verified_against_known_hosts() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"step("who", hosts("test"), |h| { print("ran as " + h.run("id -un").stdout); });"#,
    );
    let known = p.home().join(".ssh/known_hosts");
    let other_key = std::fs::read_to_string(crate::support::testbed::client_key().with_extension("pub")).unwrap();
    let other_key: String = other_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");

    // accepted: the key is listed
    let o = play(&p).run();
    assert!(o.stdout.contains("ran as root"));

    // unknown: refused with the fingerprint and how to trust it; nothing recorded
    std::fs::write(&known, "").unwrap();
    let o = play(&p).code(4).run();
    assert!(
        o.stdout.contains(&format!("unknown host key for {} (SHA256:", h.ip)),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("--trust-new-hosts"), "{}", o.all());
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "");

    // trust on first use: recorded, then known
    play(&p).args(&["--trust-new-hosts"]).run();
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("{} {}\n", h.ip, h.host_key)
    );
    play(&p).run();

    // changed: refused even with --trust-new-hosts, naming both fingerprints and the line
    std::fs::write(&known, format!("# old\n{} {other_key}\n", h.ip)).unwrap();
    let o = play(&p)
        .args(&["--trust-new-hosts"])
        .code(4)
        .stdout_contains(&format!("HOST KEY CHANGED for {}", h.ip))
        .stdout_contains(&format!("{}:2", known.display()))
        .run();
    assert!(o.stdout.matches("SHA256:").count() >= 2, "{}", o.all());

    // revoked: refused although the key is also listed
    std::fs::write(&known, format!("{ip} {k}\n@revoked * {k}\n", ip = h.ip, k = h.host_key)).unwrap();
    play(&p).code(4).stdout_contains("is revoked").run();

    // a @cert-authority line is not taken for the host key
    std::fs::write(&known, format!("@cert-authority * {}\n", h.host_key)).unwrap();
    play(&p).any_code().stdout_contains("unknown host key").run();

    // hashed names and wildcards match like OpenSSH's
    let hashed = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "f=$(mktemp) && echo '{} {}' > $f && ssh-keygen -q -H -f $f >/dev/null 2>&1 && cat $f",
            h.ip, h.host_key
        ))
        .output()
        .unwrap();
    let hashed = String::from_utf8(hashed.stdout).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    std::fs::write(&known, &hashed).unwrap();
    assert_eq!(play(&p).any_code().run().code, 0, "hashed entry");
    let prefix: String = h.ip.rsplit_once('.').unwrap().0.to_string();
    std::fs::write(&known, format!("{prefix}.*,!10.9.9.9 {}\n", h.host_key)).unwrap();
    assert_eq!(play(&p).any_code().run().code, 0, "wildcard entry");

    // an inventory-local known_hosts file: read, and where new keys are recorded
    std::fs::write(&known, "").unwrap();
    p.write("inventory/test.toml", &tb.inventory("known_hosts = \"known_hosts\""));
    play(&p).args(&["--trust-new-hosts"]).run();
    assert!(p.read("inventory/known_hosts").contains(&h.host_key));
    assert_eq!(std::fs::read_to_string(&known).unwrap(), "");
    play(&p).run();
}

#[test]
fn jump_hosts_from_the_inventory_and_from_ssh_config() {
    let tb = Testbed::start(2);
    let (bastion, target) = (&tb.hosts[0], &tb.hosts[1]);
    // The target accepts root only from the bastion: a direct login cannot pass.
    tb.sh(
        target,
        &format!(
            "echo 'AllowUsers root@{}' >> /etc/ssh/sshd_config && systemctl restart ssh",
            bastion.ip
        ),
    );
    let p = Project::new();
    p.use_testbed(&tb, "");
    let script = format!(
        r#"step("where", hosts("{}"), |h| {{ print("on " + h.run("hostname").stdout); }});"#,
        target.name
    );
    p.write("site.rhai", &script);
    let o = play(&p).any_code().run();
    assert_eq!(o.code, 4, "direct login is refused: {}", o.all());
    assert!(o.stdout.contains("authentication failed for root@"), "{}", o.all());

    // [ssh] jump = "<inventory host>"
    p.write(
        "inventory/test.toml",
        &tb.inventory(&format!("jump = \"{}\"", bastion.name)),
    );
    play(&p).stdout_contains(&format!("on {}", target.name)).run();

    // ~/.ssh/config: an alias with HostName, User, IdentityFile and ProxyJump
    let key = crate::support::testbed::client_key();
    p.write(
        "home/.ssh/config",
        &format!(
            "Host box\n  HostName {}\n  User root\n  IdentityFile {}\n  ProxyJump root@{}\n\nHost {}\n  IdentityFile {}\n",
            target.ip,
            key.display(),
            bastion.ip,
            bastion.ip,
            key.display()
        ),
    );
    p.write("inventory/alias.toml", "[hosts.box]\n");
    let o = play(&p).on("alias").any_code().run();
    assert!(
        o.stderr.contains("unknown group or host"),
        "script targets the name of the testbed host"
    );
    p.write(
        "site2.rhai",
        r#"step("where", hosts("box"), |h| { print("on " + h.run("hostname").stdout); });"#,
    );
    Test::in_project(&p)
        .play("site2.rhai")
        .on("alias")
        .stdout_contains(&format!("on {}", target.name))
        .run();
}

#[test]
fn agent_keys_log_in_and_failures_list_what_was_tried() {
    let tb = Testbed::start(1);
    let p = Project::new();
    p.use_testbed(&tb, "");
    // No key in the inventory and none in ~/.ssh: only the agent can log in.
    let inv = tb.inventory("").replace(
        &format!("key = \"{}\"\n", crate::support::testbed::client_key().display()),
        "",
    );
    p.write("inventory/test.toml", &inv);
    p.write(
        "site.rhai",
        r#"step("who", hosts("test"), |h| { print("ran as " + h.run("id -un").stdout); });"#,
    );
    play(&p)
        .code(4)
        .stdout_contains("authentication failed for root@")
        .stdout_contains("default keys ~/.ssh/id_ed25519, id_ecdsa, id_rsa (none found)")
        .run();

    let sock = p.path("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let add = std::process::Command::new("ssh-add")
        .arg(crate::support::testbed::client_key())
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    play(&p)
        .env("SSH_AUTH_SOCK", sock.to_str().unwrap())
        .stdout_contains("ran as root")
        .run();
}

#[test]
fn sudo_and_user_switch_users_without_hanging_on_passwords() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    tb.sh(
        h,
        "useradd -m -s /bin/bash nodejs && useradd -m -s /bin/bash -G sudo deploy && echo 'deploy:secret' | chpasswd",
    );
    tb.sh(
        h,
        "mkdir -p ~deploy/.ssh && cp /root/.ssh/authorized_keys ~deploy/.ssh/ && chown -R deploy ~deploy/.ssh",
    );
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        step("users", hosts("test"), |h| {
            print("as=" + h.run("id -un", #{ user: "nodejs" }).stdout);
            print("home=" + h.run("echo $HOME", #{ user: "nodejs" }).stdout);
            print("root=" + h.run("id -un", #{ sudo: true }).stdout);
        });
        "#,
    );
    play(&p)
        .stdout_contains("as=nodejs\n")
        .stdout_contains("home=/home/nodejs\n")
        .stdout_contains("root=root\n")
        .run();

    // deploy's sudo wants a password: an error that says so, at once
    p.write(
        "inventory/test.toml",
        &tb.inventory("").replace("user = \"root\"", "user = \"deploy\""),
    );
    p.write(
        "site.rhai",
        r#"step("sudo", hosts("test"), |h| { h.run("id -un", #{ sudo: true, timeout: "20s" }); });"#,
    );
    play(&p)
        .code(2)
        .stdout_contains("sudo: a password is required")
        .stdout_contains("give this user NOPASSWD sudo")
        .run();
}

#[test]
fn hostile_values_reach_commands_and_paths_only_as_data() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("payload.txt", "payload\n");
    p.write(
        "site.rhai",
        r#"
        let evil = var("evil");
        step("hostile", hosts("test"), |h| {
            print("echo=" + h.run(["printf", "%s", evil]).stdout + "|");
            h.run(["mkdir", "-p", "/tmp/drop"]);
            let r = h.upload("payload.txt", "/tmp/drop/" + evil);
            print(`uploaded=${r.changed}`);
            let r = h.upload("payload.txt", "/tmp/drop/" + evil);
            print(`again=${r.changed}`);
        });
        "#,
    );
    // No `/`: the value is also used as a file name (a `/` would name a directory).
    let evil = "x; touch pwned1 $(touch pwned2) `touch pwned3` 'q\" \n ☃ ~ * $HOME ..";
    play(&p)
        .args(&["--var", &format!("evil={evil}")])
        .stdout_contains(&format!("echo={evil}|"))
        .stdout_contains("uploaded=true")
        .stdout_contains("again=false")
        .run();
    let pwned = tb.sh(h, "ls -A /root /tmp /tmp/drop / | grep -c '^pwned' || true");
    assert_eq!(pwned.trim(), "0", "no injected command ran");

    let listing = tb.sh(h, "ls -A /tmp/drop");
    assert_eq!(
        listing,
        format!("{evil}\n"),
        "exactly the one file, under exactly that name"
    );
    let content = tb.sh(h, &format!("cat /tmp/drop/{}", shell_quote(evil)));
    assert_eq!(content, "payload\n");
}

#[test]
fn uploads_set_mode_and_owner_and_skip_when_unchanged() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    tb.sh(h, "useradd -m nodejs");
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write("app.env", "PORT=3000\n");
    p.write(
        "site.rhai",
        r#"step("env", hosts("test"), |h| { h.upload("app.env", "/home/nodejs/.env", #{ mode: "0600", owner: "nodejs", group: "nodejs" }); });"#,
    );
    let o = play(&p).json().run();
    assert_eq!(o.events().last().unwrap()["changes"], 1);
    assert_eq!(
        tb.sh(h, "stat -c '%U %G %a' /home/nodejs/.env; cat /home/nodejs/.env"),
        "nodejs nodejs 600\nPORT=3000\n"
    );
    let o = play(&p).json().any_code().run();
    assert_eq!(
        o.events().last().unwrap()["changes"],
        0,
        "second run changes nothing: {}",
        o.all()
    );
    tb.sh(h, "chmod 644 /home/nodejs/.env");
    let o = play(&p).json().any_code().run();
    assert_eq!(o.events().last().unwrap()["changes"], 1, "a drifted mode is put back");
    assert_eq!(tb.sh(h, "stat -c '%a' /home/nodejs/.env"), "600\n");
    p.write("app.env", "PORT=4000\n");
    play(&p).run();
    assert_eq!(
        tb.sh(
            h,
            "cat /home/nodejs/.env; ls -A /home/nodejs | grep -c runbook-upload || true"
        ),
        "PORT=4000\n0\n"
    );

    // As another user: the bytes reach a file that user writes, beside the target (an
    // upload as the login user, left in /tmp, could not be read or moved by it).
    p.write(
        "as_user.rhai",
        r#"step("own", hosts("test"), |h| { h.upload("app.env", "/home/nodejs/own.env", #{ user: "nodejs", mode: "0640" }); });"#,
    );
    let as_user = || Test::in_project(&p).play("as_user.rhai").on("test").json().run();
    assert_eq!(as_user().total_changes(), 1);
    assert_eq!(
        tb.sh(h, "stat -c '%U %a' /home/nodejs/own.env; cat /home/nodejs/own.env; ls -A /home/nodejs /tmp | grep -c runbook-upload || true"),
        "nodejs 640\nPORT=4000\n0\n"
    );
    assert_eq!(as_user().total_changes(), 0, "the second run changes nothing");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn a_failed_run_on_real_hosts_resumes_where_it_stopped() {
    let tb = Testbed::start(3);
    let p = Project::new();
    p.use_testbed(&tb, "");
    let failing = &tb.hosts[1];
    // Step 3 needs a package that only the second host lacks: a real failure on a real host.
    let playbook = r#"
        let stamp = step("stamp", hosts("test"), |h| h.run("date +%s%N").stdout);
        step("conf", hosts("test"), |h| {
            h.dir("/etc/ace");
            h.file("/etc/ace/stamp", #{ content: stamp[h.name] });
        });
        step("tool", hosts("test"), #{ max_fail: 3 }, |h| {
            h.run("echo tool >> /root/steps.log");
            h.run("command -v TOOL");
        });
        step("after", hosts("test"), |h| { h.run("echo after >> /root/steps.log"); });
        print("stamps " + stamp.values());
    "#;
    tb.sh(failing, "rm -f /usr/bin/xxd /usr/bin/shred");
    p.write("site.rhai", &playbook.replace("TOOL", "shred"));
    let first = play(&p).code(2).run();
    assert_eq!(tb.sh(failing, "cat /root/steps.log"), "tool\n");
    let stamps_before: String = first
        .stdout
        .lines()
        .find(|l| l.contains("stamps"))
        .unwrap_or_default()
        .to_string();

    // The fix lands on the host outside the playbook; the resumed run goes on from step 3.
    tb.sh(failing, "cp /bin/true /usr/bin/shred");
    let resumed = play(&p).args(&["--resume"]).json().run();
    let events = resumed.events();
    let status = |step: &str, host: &str| {
        events
            .iter()
            .find(|e| e["event"] == "host_result" && e["step"] == step && e["host"] == host)
            .map(|e| e["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no result of {step} on {host}"))
    };
    for h in &tb.hosts {
        assert_eq!(status("stamp", &h.name), "skipped", "done before, on {}", h.name);
        assert_eq!(status("conf", &h.name), "skipped");
        assert_eq!(
            tb.sh(h, "cat /root/steps.log"),
            if h.name == failing.name {
                "tool\ntool\nafter\n"
            } else {
                "tool\nafter\n"
            }
        );
    }
    assert_eq!(status("tool", &tb.hosts[0].name), "skipped");
    assert_eq!(status("tool", &failing.name), "changed");
    // `step()` returned the journaled stamps: the same values, and the files agree.
    let log = events
        .iter()
        .find(|e| e["event"] == "log" && e["message"].as_str().unwrap().contains("stamps"))
        .unwrap();
    assert_eq!(format!("  {}", log["message"].as_str().unwrap()), stamps_before);
    for h in &tb.hosts {
        let file = tb.sh(h, "cat /etc/ace/stamp");
        assert!(
            stamps_before.contains(file.trim()),
            "{} has the journaled stamp",
            h.name
        );
    }
}

#[test]
fn encrypted_keys_are_unlocked_with_a_passphrase() {
    let tb = Testbed::start(1);
    let p = Project::new();
    let key = p.path("locked_key");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "open sesame", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    tb.sh(
        &tb.hosts[0],
        &format!("echo '{}' >> /root/.ssh/authorized_keys", pubkey.trim()),
    );
    p.use_testbed(&tb, "");
    let inv = tb.inventory("").replace(
        &format!("key = \"{}\"", crate::support::testbed::client_key().display()),
        &format!("key = \"{}\"", key.display()),
    );
    p.write("inventory/test.toml", &inv);
    p.write(
        "site.rhai",
        r#"step("who", hosts("test"), |h| { print("as " + h.run("id -un").stdout); });"#,
    );
    play(&p)
        .code(4)
        .stdout_contains("encrypted, and no passphrase: set RUNBOOK_SSH_PASSPHRASE")
        .run();
    play(&p)
        .env("RUNBOOK_SSH_PASSPHRASE", "wrong")
        .any_code()
        .stdout_contains("wrong passphrase")
        .run();
    play(&p)
        .env("RUNBOOK_SSH_PASSPHRASE", "open sesame")
        .stdout_contains("as root")
        .run();
}

/// `[ssh] bootstrap_user`: root while the admin does not exist, the admin once it does, and
/// both refusals in the error when neither may log in.
#[test]
fn the_bootstrap_user_logs_in_only_while_the_user_is_refused() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    let inventory = |bootstrap: &str| {
        tb.inventory("").replace(
            "user = \"root\"",
            &format!("user = \"deploy\"\nbootstrap_user = \"{bootstrap}\""),
        )
    };
    p.write("inventory/test.toml", &inventory("root"));
    p.write(
        "site.rhai",
        r#"step("who", hosts("test"), |h| { print("as " + h.run("whoami", #{ readonly: true }).stdout); });"#,
    );
    play(&p).stdout_contains("as root").run();

    tb.sh(
        h,
        "useradd -m -s /bin/bash deploy && install -d -o deploy -m 700 /home/deploy/.ssh \
         && install -o deploy -m 600 /root/.ssh/authorized_keys /home/deploy/.ssh/authorized_keys",
    );
    play(&p).stdout_contains("as deploy").run();

    tb.sh(h, "userdel -r deploy");
    p.write("inventory/test.toml", &inventory("operator"));
    play(&p)
        .code(4)
        .stdout_contains("authentication failed for deploy@")
        .stdout_contains("then as bootstrap user: authentication failed for operator@")
        .run();
}

/// A host killed (its container) in the middle of a step: its command fails with the lost
/// connection, the other hosts finish the step and the play (a failed host drops out), the
/// recap and the journal name it failed with the rest done; once it is started again,
/// `--resume` runs the step and the next one there, and nothing again on the others.
#[test]
fn a_host_killed_mid_step_drops_out_and_resume_finishes_it_when_it_is_back() {
    let mut tb = Testbed::start(3);
    let p = Project::new();
    p.use_testbed(&tb, "connect_timeout = 3");
    // Step one waits on every host until the test says go: the kill falls inside it.
    p.write(
        "site.rhai",
        r#"
step("one", hosts("test"), |h| {
    h.run("echo one >> /root/steps; touch /tmp/started; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo one-done >> /root/steps");
});
step("two", hosts("test"), |h| h.run("echo two >> /root/steps"));
"#,
    );
    let mut child = play(&p)
        .json()
        .process()
        .stdout(std::fs::File::create(p.path("run.log")).unwrap())
        .stderr(std::fs::File::create(p.path("err.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !tb.hosts.iter().all(|h| tb.exec(h, "test -e /tmp/started").0 == 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "step one did not start everywhere: {}",
            p.read("run.log")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dead = tb.hosts[1].name.clone();
    tb.kill(1);
    for h in [&tb.hosts[0], &tb.hosts[2]] {
        tb.sh(h, "touch /tmp/go");
    }
    let status = child.wait().unwrap();
    let out = crate::support::Output {
        code: status.code().unwrap_or(-1),
        stdout: p.read("run.log"),
        stderr: p.read("err.log"),
    };
    assert_eq!(out.code, 2, "{}", out.all());
    let events = out.events();
    let result = |step: &str, host: &str| {
        events
            .iter()
            .find(|e| e["event"] == "host_result" && e["step"] == step && e["host"] == host)
            .unwrap_or_else(|| panic!("no result of {step} on {host}: {}", out.stdout))
            .clone()
    };
    let failed = result("one", &dead);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("the ssh connection was lost during the command"),
        "{failed}"
    );
    assert_eq!(result("two", &dead)["status"], "skipped");
    for h in [&tb.hosts[0], &tb.hosts[2]] {
        assert_eq!(result("one", &h.name)["status"], "changed");
        assert_eq!(result("two", &h.name)["status"], "changed");
        assert_eq!(tb.sh(h, "cat /root/steps"), "one\none-done\ntwo\n", "{}", h.name);
    }
    let recap = events.iter().find(|e| e["event"] == "recap").unwrap();
    assert_eq!(recap["hosts"][&dead]["failed"], 1, "{recap}");
    // The journal says the same.
    let h = p.runbook(&["history", "1", "-o", "json"]);
    let h: serde_json::Value = serde_json::from_str(&h.stdout).unwrap_or_else(|e| panic!("{e}: {}", h.all()));
    assert_eq!(h["run"]["outcome"], "failed", "{h}");
    assert_eq!(h["steps"][0]["hosts"][&dead]["status"], "failed", "{h}");
    assert_eq!(h["steps"][1]["hosts"][&dead]["status"], "skipped", "{h}");
    for host in [&tb.hosts[0], &tb.hosts[2]] {
        assert_eq!(h["steps"][0]["hosts"][&host.name]["status"], "changed", "{h}");
        assert_eq!(h["steps"][1]["hosts"][&host.name]["status"], "changed", "{h}");
    }

    // Back (perhaps at another address): the resume finishes it there, and only there.
    tb.start_again(1);
    p.use_testbed(&tb, "connect_timeout = 3");
    tb.sh(&tb.hosts[1], "touch /tmp/go");
    let o = play(&p).args(&["--resume"]).run();
    assert!(o.stdout.contains("resuming run 1 (failed"), "{}", o.all());
    assert_eq!(
        tb.sh(&tb.hosts[1], "cat /root/steps"),
        "one\none\none-done\ntwo\n",
        "{}",
        o.all()
    );
    for h in [&tb.hosts[0], &tb.hosts[2]] {
        assert_eq!(
            tb.sh(h, "cat /root/steps"),
            "one\none-done\ntwo\n",
            "{} ran nothing again: {}",
            h.name,
            o.all()
        );
    }
}

/// The remote shell that finds the long-lived shell running this command: the ancestor
/// whose parent is sshd (with a channel per command, the command's own login shell).
const SESSION_SHELL_PID: &str = "p=$$; while :; do pp=$(ps -o ppid= -p $p | tr -d ' '); case $(ps -o comm= -p $pp) in sshd*) echo $p; break;; esac; p=$pp; done";

/// Commands run in long-lived remote shells (src/connection/ssh/session.rs) and mean what
/// a channel per command meant: stdout and stderr apart and exact, exit codes, stdin
/// (binary, large, or none), many commands in a row in one shell, timeouts that kill the
/// command, sudo and users, the login shell's environment, a command that kills its shell;
/// and on a host that cannot keep such a shell, a channel per command as before.
#[test]
fn commands_keep_their_meaning_in_a_persistent_remote_shell() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    assert_eq!(tb.sh(h, "getent passwd root | cut -d: -f7"), "/bin/bash\n");
    tb.sh(h, "sed -i '1i export FROM_BASHRC=yes' /root/.bashrc");
    let p = Project::new();
    p.use_testbed(&tb, "");
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::create_dir_all(p.path("files")).unwrap();
    std::fs::write(p.path("files/blob.bin"), &blob).unwrap();
    let blob_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&blob))
    };
    p.write(
        "site.rhai",
        &r#"
step("session", hosts("test"), |h| {
    let check = |what, got, want| { if got != want { throw `${what}: got ${got}, want ${want}`; } };
    let r = h.run("printf 'out\\nno newline'; printf 'err 1\\nerr 2' >&2", #{ check: false });
    check.call("stdout", r.stdout, "out\nno newline");
    check.call("stderr", r.stderr, "err 1\nerr 2");
    // Lines shaped like the markers, with another nonce: output like any other.
    let r = h.run("printf '0123456789abcdef\\n\\n0123456789abcdef 0\\n'; printf '\\n0123456789abcdef\\n' >&2");
    check.call("marker-like stdout", r.stdout, "0123456789abcdef\n\n0123456789abcdef 0\n");
    check.call("marker-like stderr", r.stderr, "\n0123456789abcdef\n");

    check.call("true", h.run("true").code, 0);
    check.call("code 3", h.run("sh -c 'exit 3'", #{ check: false }).code, 3);
    let r = h.run("echo a; exit 7; echo b", #{ check: false });
    check.call("exit 7", r.code, 7);
    check.call("exit 7 stdout", r.stdout, "a\n");
    check.call("pipeline", h.run("true | sh -c 'exit 5'", #{ check: false }).code, 5);

    let text = "";
    for i in 0..5000 { text += `line ${i} of stdin, "quoted" 'quoted' $HOME \ ` + "\n"; }
    let r = h.run("cat; printf end", #{ stdin: text });
    check.call("stdin length", r.stdout.len(), text.len() + 3);
    check.call("stdin", r.stdout == text + "end", true);
    h.file("/tmp/blob.bin", #{ src: "blob.bin" });
    check.call("after binary stdin", h.run("echo framed").stdout, "framed\n");

    // No stdin: end of file at once, and the next command is not eaten.
    check.call("no stdin", h.run("cat; read x || echo eof", #{ timeout: "20s" }).stdout, "eof\n");
    check.call("next", h.run("echo next").stdout, "next\n");

    let shell = h.run("SESSION_SHELL_PID").stdout;
    for i in 0..200 {
        check.call("in a row", h.run(`echo ${i}`).stdout, `${i}` + "\n");
    }
    check.call("the same shell after 200 commands", h.run("SESSION_SHELL_PID").stdout, shell);

    // The login shell (bash) starts the command as before: its ~/.bashrc exports reach
    // it, and the run's time limit (`timeout … sh -c`) hands it to /bin/sh, where `[[`
    // is unknown, as it always was in a play.
    check.call("bashrc", h.run("echo $FROM_BASHRC").stdout, "yes\n");
    let r = h.run("[[ 1 == 1 ]] && echo bash", #{ check: false });
    check.call("bash-ism in sh", [r.code, r.stderr.contains("[[: not found")], [127, true]);
    check.call("sudo", h.run("id -un", #{ sudo: true }).stdout, "root\n");
    check.call("user", h.run("id -un; echo $HOME", #{ user: "nobody" }).stdout, "nobody\n/nonexistent\n");
    check.call("env and cwd", h.run("echo $A; pwd", #{ env: #{ A: "a b" }, cwd: "/tmp" }).stdout, "a b\n/tmp\n");

    // The host's `timeout` kills the command; the shell stays.
    let t = "";
    try { h.run("sleep 60; touch /tmp/not-killed", #{ timeout: "1s" }); } catch (e) { t = `${e}`; }
    check.call("timeout", t.contains("timed out after 1s"), true);
    check.call("after the timeout", h.run("echo alive").stdout, "alive\n");
    // Something outside the host's `timeout` holds the output: the command still ends at
    // its time limit, and the next command works.
    let t = "";
    try { h.run("setsid sleep 30 & echo started", #{ timeout: "1s" }); } catch (e) { t = `${e}`; }
    check.call("held output", t.contains("timed out after 1s"), true);
    check.call("after giving up", h.run("echo fresh").stdout, "fresh\n");
    let shell2 = h.run("SESSION_SHELL_PID").stdout;
    // (The step's batch runs the command under the host's `timeout`, which ends what holds
    // its output in time: the shell may be the same one.)

    // In a play `$PPID` is the `timeout` that the run's time limit put around the
    // command: killed, it reports 128 + 9 as a shell does, and the command goes on.
    let r = h.run("echo before; kill -9 $PPID; sleep 0.2; echo after", #{ check: false });
    check.call("parent killed", [r.code, r.stdout], [137, "before\nafter\n"]);
    // The subshell that reports the code (the parent of `timeout`, which the user's shell
    // became): the code is lost, stderr says so, and the session shell goes on.
    let r = h.run("echo before; kill -9 $(ps -o ppid= -p $PPID); echo after", #{ check: false });
    check.call("code lost", [r.code, r.stdout], [-1, "before\nafter\n"]);
    check.call("code lost: stderr", r.stderr.contains("was killed; its exit code is unknown"), true);
    check.call("the same shell after a lost code", h.run("SESSION_SHELL_PID").stdout, shell2);
    // The session shell itself killed: the same, and the next command gets a new one.
    let r = h.run("echo before; pkill -9 -f 'runbook session shel[l]'; echo after", #{ check: false });
    // (The step's batch script around the command outlives the session shell and reports the
    // command's own code.)
    check.call("shell killed: code", r.code, 0);
    check.call("shell killed: stdout", r.stdout, "before\nafter\n");
    check.call("after the shell", h.run("echo again").stdout, "again\n");
    check.call("a new shell after the kill", h.run("SESSION_SHELL_PID").stdout != shell2, true);
    // An idle shell that died is not given a command.
    h.run("(sleep 1; pkill -9 -f 'runbook session shel[l]') >/dev/null 2>&1 &");
    local::run(["sleep", "3"]);
    check.call("after an idle shell died", h.run("echo new").stdout, "new\n");
    print("all checks passed");
});
"#
        .replace(
            "SESSION_SHELL_PID",
            &SESSION_SHELL_PID.replace('\\', "\\\\").replace('"', "\\\""),
        ),
    );
    let o = play(&p).stdout_contains("all checks passed").run();
    assert_eq!(
        tb.sh(h, "sha256sum < /tmp/blob.bin"),
        format!("{blob_sha}  -\n"),
        "{}",
        o.all()
    );
    assert_eq!(
        tb.exec(h, "test -e /tmp/not-killed").0,
        1,
        "the timed-out command was stopped"
    );
    assert_eq!(tb.sh(h, "pgrep -fc 'sleep 6[0]' || true"), "0\n", "and is gone");
    assert_eq!(tb.logins(h), 1, "one ssh login for all of it");

    // A host where the shell cannot start (no base64): a channel per command, as before.
    tb.sh(h, "mv /usr/bin/base64 /usr/bin/base64.off");
    p.write(
        "fallback.rhai",
        &r#"
step("fallback", hosts("test"), |h| {
    let check = |what, got, want| { if got != want { throw `${what}: got ${got}, want ${want}`; } };
    let r = h.run("cat; echo err >&2; exit 3", #{ stdin: "in", check: false });
    check.call("fallback stdout", r.stdout, "in");
    check.call("fallback stderr", r.stderr, "err\n");
    check.call("fallback code", r.code, 3);
    check.call("own shells", h.run("SESSION_SHELL_PID").stdout != h.run("SESSION_SHELL_PID").stdout, true);
    print("fallback checks passed");
});
"#
        .replace(
            "SESSION_SHELL_PID",
            &SESSION_SHELL_PID.replace('\\', "\\\\").replace('"', "\\\""),
        ),
    );
    Test::in_project(&p)
        .play("fallback.rhai")
        .on("test")
        .stdout_contains("fallback checks passed")
        .run();
    tb.sh(h, "mv /usr/bin/base64.off /usr/bin/base64");
}
