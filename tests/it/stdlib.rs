//! The stdlib modules of the lean-hosting recipe on real hosts: each module changes the
//! host on the first run and nothing on the second, and the outcome is checked from outside
//! (`docker exec`, curl, psql, ssh), not through runbook. Modules share a host per test to
//! keep package installs (the slow part) few.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::http::FileServer;
use crate::support::testbed::run as tool;
use crate::support::testbed::{TRIXIE_IMAGE, client_key};
use crate::support::{Project, Test, Testbed};

/// `runbook play PLAYBOOK -i test -o json` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, playbook: &str) -> Test<'a> {
    Test::in_project(p).play(playbook).on("test").json()
}

/// Runs `cmd` on the host until it prints `want` (replication and reloads take a moment).
fn eventually(tb: &Testbed, h: &crate::support::testbed::TestHost, cmd: &str, want: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, out) = tb.exec(h, cmd);
        if out.trim() == want || Instant::now() > deadline {
            return out.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn node_pm2_and_nginx_site_with_self_signed_cert() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        import "node" as node;
        import "nginx" as nginx;
        step("node", hosts("test"), |h| {
            h.user("nodejs", #{ shell: "/bin/bash" });
            node::install(h, #{ user: "nodejs", home: "/home/nodejs" });
        });
        step("nginx", hosts("test"), |h| {
            nginx::site(h, #{ server_name: "ace.test", upstreams: ["127.0.0.1"], extra: var("extra", "") });
        });
        "#,
    );
    // The "app server": a tiny upstream on port 3000.
    tb.sh(
        h,
        "mkdir -p /srv/up && echo hello-upstream > /srv/up/hello.txt && cd /srv/up && (setsid nohup python3 -m http.server 3000 --bind 127.0.0.1 >/dev/null 2>&1 &)",
    );

    let first = play(&p, "site.rhai").run();
    let ch = first.changes();
    for want in [
        ("apt", "nodejs npm"),
        ("run", "npm install"),
        ("run", "pm2 startup"),
        ("run", "openssl req"),
        ("template", "/etc/nginx/sites-available/app.conf"),
        ("service", "nginx"),
    ] {
        assert!(
            ch.iter().any(|(op, t)| op == want.0 && t.contains(want.1)),
            "no change {want:?} in {ch:?}"
        );
    }
    assert!(tb.sh(h, "node -v").starts_with('v'));
    let pm2 = tb.sh(h, "pm2 --version");
    assert!(
        pm2.lines()
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_digit())),
        "{pm2}"
    );
    assert_eq!(
        tb.sh(
            h,
            "systemctl is-enabled pm2-nodejs; grep -c '^User=nodejs' /etc/systemd/system/pm2-nodejs.service"
        ),
        "enabled\n1\n"
    );
    let https = "curl -sk --max-time 5 https://localhost/hello.txt";
    assert_eq!(eventually(&tb, h, https, "hello-upstream", 10), "hello-upstream");
    assert_eq!(
        tb.sh(
            h,
            "curl -s -o /dev/null --max-time 5 -w '%{http_code} %{redirect_url}' http://localhost/a?b=1"
        ),
        "301 https://localhost/a?b=1"
    );
    // A self-signed certificate, made once: its fingerprint survives the second run.
    let cert = "openssl x509 -in /etc/nginx/tls/app.crt -noout -subject -fingerprint";
    let before = tb.sh(h, cert);
    assert!(before.contains("CN = ace.test"), "{before}");

    let second = play(&p, "site.rhai").run();
    assert_eq!(second.changes(), vec![], "second run changes nothing");
    assert_eq!(tb.sh(h, cert), before);

    // A config nginx refuses: the run fails with nginx's message, the live file is never
    // replaced (`validate`) and the site keeps serving.
    let broken = play(&p, "site.rhai")
        .args(&["--var", "extra=bogus_directive on;"])
        .code(2)
        .run();
    assert!(
        broken.all().contains("unknown directive \\\"bogus_directive\\\"")
            || broken.all().contains("unknown directive \"bogus_directive\""),
        "{}",
        broken.all()
    );
    assert!(
        broken.all().contains(
            "template /etc/nginx/sites-available/app.conf: the new content failed validation, nothing changed: \
             `/usr/local/lib/runbook/nginx-check-site app /etc/nginx/sites-available/.runbook-"
        ),
        "{}",
        broken.all()
    );
    assert_eq!(
        tb.exec(h, "grep -c bogus /etc/nginx/sites-available/app.conf").1.trim(),
        "0"
    );
    assert_eq!(
        tb.sh(
            h,
            "ls -A /etc/nginx/sites-available /etc/nginx/sites-enabled | grep -c runbook || true"
        )
        .trim(),
        "0",
        "no temporary file left"
    );
    tb.sh(h, "nginx -t -q");
    assert_eq!(tb.sh(h, https).trim(), "hello-upstream");
    let again = play(&p, "site.rhai").any_code().run();
    assert_eq!(again.changes(), vec![], "{}", again.all());
}

#[test]
fn postgres_database_and_streaming_replication() {
    let tb = Testbed::start(2);
    let (db1, db2) = (&tb.hosts[0], &tb.hosts[1]);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "db.rhai",
        &format!(
            r#"
        import "postgres" as pg;
        let db1 = hosts("{}")[0];
        let db2 = hosts("{}")[0];
        step("install", hosts("test"), |h| {{
            pg::install(h, #{{ listen: h.address }});
        }});
        step("primary", db1, |h| {{
            let clients = if var_bool("drop_client", false) {{ [] }} else {{ [db2.address] }};
            pg::database(h, #{{ role: "ace", password: secret("db_password"), database: "ace", clients: clients }});
            pg::primary(h, #{{ password: secret("repl_password"), standbys: [db2.address] }});
        }});
        step("standby", db2, |h| {{
            pg::standby(h, #{{ primary: db1.address, password: secret("repl_password") }});
        }});
        step("verify standby", db2, |h| {{ pg::verify_standby(h); }});
        step("verify primary", db1, |h| {{ pg::verify_primary(h, 1); }});
        "#,
            db1.name, db2.name
        ),
    );
    // Quotes and spaces: they must reach PostgreSQL intact, through psql variables.
    let (db_pw, repl_pw) = ("it's a \"secret\" $x;", "repl 'pw' \\n");
    let env = [("DB_PASSWORD", db_pw), ("REPL_PASSWORD", repl_pw)];

    let first = play(&p, "db.rhai").envs(&env).run();
    assert!(!first.changes().is_empty());
    // Not even shell-quoted: `$x;` is a piece of the password that quoting leaves intact.
    for pw in [db_pw, repl_pw, "$x;"] {
        assert!(!first.all().contains(pw), "a password was printed: {}", first.all());
    }

    // The app role logs in from the allowed client (db2), with its password…
    let psql = |from: &crate::support::testbed::TestHost, pw: &str| {
        let cmd = format!(
            "PGPASSWORD={} psql -h {} -U ace -d ace -Atc 'select current_user' 2>&1",
            shell_quote(pw),
            db1.ip
        );
        tb.exec(from, &cmd)
    };
    assert_eq!(psql(db2, db_pw), (0, "ace\n".to_string()));
    // …not with another password, and not from an address without an hba entry (db1's own).
    assert_ne!(psql(db2, "wrong").0, 0);
    let (code, out) = psql(db1, db_pw);
    assert_ne!(code, 0);
    assert!(out.contains("no pg_hba.conf entry"), "{out}");
    assert_eq!(
        tb.sh(db1, "su postgres -c \"psql -Atc 'show listen_addresses'\""),
        format!("localhost,{}\n", db1.ip)
    );

    // Streaming replication: a row written on the primary appears on the standby.
    tb.sh(
        db1,
        "su postgres -c \"psql -d ace -c 'create table t (x int); insert into t values (42)'\"",
    );
    let read = "su postgres -c \"psql -d ace -Atc 'select x from t'\" 2>&1";
    assert_eq!(eventually(&tb, db2, read, "42", 5), "42");
    let (code, out) = tb.exec(db2, "su postgres -c \"psql -d ace -c 'insert into t values (1)'\" 2>&1");
    assert_ne!(code, 0);
    assert!(out.contains("read-only transaction"), "{out}");

    let second = play(&p, "db.rhai").envs(&env).run();
    assert_eq!(second.changes(), vec![], "second run changes nothing");
    assert_eq!(
        tb.sh(db2, "su postgres -c \"psql -d ace -Atc 'select pg_is_in_recovery()'\""),
        "t\n"
    );

    // A client taken off the list loses access; replication is untouched.
    play(&p, "db.rhai")
        .args(&["--var", "drop_client=true"])
        .envs(&env)
        .run();
    let (code, out) = psql(db2, db_pw);
    assert_ne!(code, 0);
    assert!(out.contains("no pg_hba.conf entry"), "{out}");
    let hba = tb.sh(db1, "cat /etc/postgresql/15/main/pg_hba.conf");
    assert!(
        hba.contains(&format!("host    replication    replicator    {}/32", db2.ip)),
        "{hba}"
    );
    assert!(!hba.contains(&format!("host    ace    ace    {}/32", db2.ip)), "{hba}");
}

/// Without a `version`, the postgres module manages the host's PostgreSQL, the same in a dry
/// run: on Debian 13 the package apt would install (17); with no package lists yet (a fresh
/// image), the release's own (17 again); with a cluster already there (one kept from Debian
/// 12 through an upgrade), that cluster's version.
#[test]
fn postgres_version_comes_from_the_host() {
    let tb = Testbed::start_image(1, TRIXIE_IMAGE);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "pg.rhai",
        r#"
        import "postgres" as pg;
        step("install", hosts("test"), |h| { pg::install(h, #{ listen: h.address }); });
        "#,
    );
    let planned = || {
        let o = play(&p, "pg.rhai").args(&["--dry-run"]).run();
        let changes = o.changes();
        let package = changes.iter().find(|(op, _)| op == "apt").map(|(_, t)| t.clone());
        let conf = changes.iter().find(|(op, _)| op == "file").map(|(_, t)| t.clone());
        (package.unwrap_or_else(|| panic!("no apt change: {}", o.all())), conf)
    };
    let conf = |v: &str| Some(format!("/etc/postgresql/{v}/main/conf.d/10-runbook.conf"));

    assert_eq!(planned(), ("postgresql-17".to_string(), conf("17")));
    tb.sh(
        h,
        "mv /var/lib/apt/lists /var/lib/apt/lists.off && mkdir /var/lib/apt/lists",
    );
    assert_eq!(planned(), ("postgresql-17".to_string(), conf("17")));
    tb.sh(
        h,
        "rm -r /var/lib/apt/lists && mv /var/lib/apt/lists.off /var/lib/apt/lists",
    );
    tb.sh(h, "mkdir -p /etc/postgresql/15/main");
    assert_eq!(planned(), ("postgresql-15".to_string(), conf("15")));
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `ssh` from the controller with the test key; returns (exit code, stderr + stdout).
pub(crate) fn ssh(user: &str, ip: &str, extra: &[&str], cmd: &str) -> (i32, String) {
    let out = Command::new("ssh")
        .args(["-i"])
        .arg(client_key())
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(extra)
        .arg(format!("{user}@{ip}"))
        .arg(cmd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    )
}

#[test]
fn firewall_roles_unattended_upgrades_and_ssh_hardening() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "harden.rhai",
        r#"
        import "ufw" as fw;
        import "unattended" as unattended;
        import "ssh_hardening" as ssh;
        step("harden", hosts("test"), |h| {
            h.user("nodejs", #{ shell: "/bin/bash", sudo: true });
            fw::apply(h, #{ roles: ["db", "web"], app: var("app_ips").split(","), web: ["10.9.1.1"],
                            db: [h.address, "10.9.2.2"] });
            unattended::enable(h);
            ssh::apply(h, #{ admin: "admin", keys: [var("admin_key")], app_user: "nodejs" });
        });
        "#,
    );
    let key = std::fs::read_to_string(client_key().with_extension("pub")).unwrap();
    let key_var = format!("admin_key={}", key.trim());
    let vars = |apps: &str| {
        vec![
            "--var".to_string(),
            format!("app_ips={apps}"),
            "--var".to_string(),
            key_var.clone(),
        ]
    };

    // Before: a user with a password may log in with it.
    tb.sh(h, "useradd -m -s /bin/bash nodejs && echo 'nodejs:Passw0rd' | chpasswd");
    let pw_login = [
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
    ];
    let (code, out) = ssh("nodejs", &h.ip, &pw_login, "true");
    assert_ne!(code, 0);
    assert!(
        out.contains("(publickey,password)"),
        "password login is offered before: {out}"
    );

    let args = vars("10.9.0.1,10.9.0.2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = play(&p, "harden.rhai").args(&args).run();
    let ops: Vec<String> = first
        .changes()
        .into_iter()
        .map(|c| format!("{} {}", c.0, c.1))
        .collect();
    for want in [
        "ufw firewall",
        "file /etc/apt/apt.conf.d/52runbook-unattended",
        "file /etc/ssh/sshd_config.d/10-runbook-hardening.conf",
    ] {
        assert!(ops.iter().any(|o| o == want), "no {want:?} in {ops:?}");
    }

    let rules = |tb: &Testbed| tb.sh(h, "ufw show added | tail -n +2; ufw status | head -n 1");
    assert_eq!(
        rules(&tb),
        "ufw allow 22/tcp\nufw allow 80/tcp\nufw allow 443/tcp\n\
         ufw allow from 10.9.0.1 to any port 5432 proto tcp\n\
         ufw allow from 10.9.0.2 to any port 5432 proto tcp\n\
         ufw allow from 10.9.2.2 to any port 5432 proto tcp\n\
         Status: active\n"
    );
    assert_eq!(
        tb.sh(
            h,
            "grep -h 'Unattended-Upgrade \"1\"' /etc/apt/apt.conf.d/20auto-upgrades"
        ),
        "APT::Periodic::Unattended-Upgrade \"1\";\n"
    );
    assert_eq!(tb.sh(h, "systemctl is-enabled unattended-upgrades"), "enabled\n");
    assert_eq!(
        tb.sh(h, "apt-config dump | grep '^Unattended-Upgrade::Automatic-Reboot '"),
        "Unattended-Upgrade::Automatic-Reboot \"false\";\n"
    );

    // After: keys only, no root; the admin gets in with the key and has sudo.
    let (code, out) = ssh("nodejs", &h.ip, &pw_login, "true");
    assert_ne!(code, 0);
    assert!(
        out.contains("Permission denied (publickey)"),
        "password login still offered: {out}"
    );
    let (code, out) = ssh("root", &h.ip, &[], "true");
    assert_ne!(code, 0, "root logged in: {out}");
    assert_eq!(ssh("admin", &h.ip, &[], "sudo -n whoami"), (0, "root\n".to_string()));

    // From now on runbook logs in as the admin; the same playbook changes nothing, and
    // dropping an app server deletes its database rule (exact rule set).
    p.write(
        "inventory/test.toml",
        &tb.inventory("").replace("user = \"root\"", "user = \"admin\""),
    );
    let second = play(&p, "harden.rhai").args(&args).run();
    assert_eq!(second.changes(), vec![], "second run changes nothing");
    let args = vars("10.9.0.1");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let third = play(&p, "harden.rhai").args(&args).run();
    assert_eq!(third.changes(), vec![("ufw".to_string(), "firewall".to_string())]);
    assert!(!rules(&tb).contains("10.9.0.2"), "{}", rules(&tb));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// A NodeSource-style apt repository (suite `nodistro`, component `main`) in a temp dir,
/// with one fake `nodejs` whose version beats Debian's, and a throwaway GnuPG home holding
/// two signing keys: `GOOD_KEY`, served as `key.asc`, and `OTHER_KEY`.
struct AptRepo {
    dir: tempfile::TempDir,
}

const GOOD_KEY: &str = "runbook test repo";
const OTHER_KEY: &str = "impostor";
const FAKE_NODE: &str = "20.99.0-1nodesource1";

impl AptRepo {
    fn build(arch: &str) -> AptRepo {
        use std::os::unix::fs::PermissionsExt;
        let repo = AptRepo {
            dir: tempfile::Builder::new().prefix("runbook-aptrepo-").tempdir().unwrap(),
        };
        let root = repo.path("www");
        let write = |rel: &str, content: &[u8], mode: u32| {
            let p = repo.path(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };

        // The package: just /usr/bin/node, which prints its version (no npm: the test stubs pm2).
        write(
            "pkg/DEBIAN/control",
            format!(
                "Package: nodejs\nVersion: {FAKE_NODE}\nArchitecture: {arch}\n\
                 Maintainer: runbook tests <tests@runbook.invalid>\nDescription: fake Node.js\n"
            )
            .as_bytes(),
            0o644,
        );
        write("pkg/usr/bin/node", b"#!/bin/sh\necho v20.99.0\n", 0o755);
        let deb_rel = format!("pool/main/n/nodejs/nodejs_{FAKE_NODE}_{arch}.deb");
        std::fs::create_dir_all(root.join(&deb_rel).parent().unwrap()).unwrap();
        tool(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(repo.path("pkg"))
                .arg(root.join(&deb_rel)),
        );
        let deb = std::fs::read(root.join(&deb_rel)).unwrap();

        // The index apt reads, then the Release file that vouches for it by checksum.
        let packages = format!(
            "Package: nodejs\nVersion: {FAKE_NODE}\nArchitecture: {arch}\n\
             Maintainer: runbook tests <tests@runbook.invalid>\nFilename: {deb_rel}\n\
             Size: {}\nSHA256: {}\nDescription: fake Node.js\n",
            deb.len(),
            sha256_hex(&deb)
        );
        let packages_rel = format!("main/binary-{arch}/Packages");
        write(
            &format!("www/dists/nodistro/{packages_rel}"),
            packages.as_bytes(),
            0o644,
        );
        let date = tool(Command::new("date").arg("-Ru").env("LC_ALL", "C"));
        let release = format!(
            "Origin: runbook test\nLabel: runbook test\nSuite: nodistro\nCodename: nodistro\n\
             Date: {}\nArchitectures: {arch}\nComponents: main\nSHA256:\n {} {} {packages_rel}\n",
            date.trim(),
            sha256_hex(packages.as_bytes()),
            packages.len()
        );
        write("www/dists/nodistro/Release", release.as_bytes(), 0o644);

        // A throwaway GnuPG home (gpg wants it private), never the developer's keyring.
        std::fs::create_dir(repo.path("gnupg")).unwrap();
        std::fs::set_permissions(repo.path("gnupg"), std::fs::Permissions::from_mode(0o700)).unwrap();
        for uid in [GOOD_KEY, OTHER_KEY] {
            tool(&mut repo.gpg(&["--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"]));
        }
        let key = tool(&mut repo.gpg(&["--armor", "--export", GOOD_KEY]));
        write("www/key.asc", key.as_bytes(), 0o644);
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The document root to serve.
    fn www(&self) -> PathBuf {
        self.path("www")
    }

    fn gpg(&self, args: &[&str]) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.path("gnupg"))
            .args(["--batch", "--quiet"])
            .args(args);
        c
    }

    /// (Re)writes `InRelease`: the Release file clear-signed by the key with that user id.
    fn sign_with(&self, uid: &str) {
        let dists = self.www().join("dists/nodistro");
        tool(
            self.gpg(&["--yes", "--local-user", uid, "--clearsign", "--output"])
                .arg(dists.join("InRelease"))
                .arg(dists.join("Release")),
        );
    }
}

impl Drop for AptRepo {
    /// gpg started an agent for the throwaway home: stop it.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path("gnupg"))
            .args(["--kill", "all"])
            .output();
    }
}

#[test]
fn node_from_a_signed_nodesource_style_apt_repo() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let repo = AptRepo::build(tb.sh(h, "dpkg --print-architecture").trim());
    repo.sign_with(OTHER_KEY);
    let server = FileServer::start(&repo.www());
    let url = format!("http://{}:{}", tb.gateway(h), server.port);

    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "node.rhai",
        &format!(
            r#"
        import "node" as node;
        step("node", hosts("test"), |h| {{
            node::install(h, #{{ repo: #{{ url: "{url}", suite: "nodistro", component: "main",
                                        key_url: "{url}/key.asc" }} }});
        }});
        "#
        ),
    );
    // The fake nodejs has no npm: a pm2 already there keeps the module from running npm.
    tb.sh(
        h,
        "printf '#!/bin/sh\\necho 5.3.0\\n' > /usr/local/bin/pm2 && chmod 755 /usr/local/bin/pm2",
    );

    // Signed by a key other than the one at key_url: apt refuses the repository.
    let refused = play(&p, "node.rhai").any_code().run();
    assert_ne!(refused.code, 0, "{}", refused.all());
    assert!(refused.all().contains("NO_PUBKEY"), "{}", refused.all());
    assert_ne!(tb.exec(h, "dpkg-query -W nodejs").0, 0, "nodejs was installed");

    // The repository is re-signed with the right key, and the host's package cache is
    // recent (as on a server provisioned minutes ago): the rerun must still fetch the
    // repository's index, or apt would install Debian's older nodejs from its cache.
    repo.sign_with(GOOD_KEY);
    tb.sh(h, "touch /var/lib/apt/lists/*_Packages");
    let first = play(&p, "node.rhai").run();
    assert!(
        first.changes().iter().any(|(op, t)| op == "apt" && t == "nodejs"),
        "{:?}",
        first.changes()
    );
    assert!(
        tb.sh(h, "apt-cache madison nodejs").contains("18."),
        "Debian offers its own nodejs too"
    );
    assert_eq!(tb.sh(h, "dpkg-query -W -f '${Version}' nodejs"), FAKE_NODE);
    assert_eq!(tb.sh(h, "node --version"), "v20.99.0\n");
    assert_eq!(
        tb.sh(h, "cat /etc/apt/keyrings/nodesource.asc"),
        std::fs::read_to_string(repo.www().join("key.asc")).unwrap()
    );
    assert_eq!(
        tb.sh(h, "cat /etc/apt/sources.list.d/nodesource.list"),
        format!("deb [signed-by=/etc/apt/keyrings/nodesource.asc] {url} nodistro main\n")
    );

    let second = play(&p, "node.rhai").run();
    assert_eq!(second.total_changes(), 0, "{}", second.all());
}

/// nginx with `acme_email`: certbot gets a certificate by HTTP-01 from a real ACME server
/// (pebble, Let's Encrypt's test server, run on the web host itself, where the site's name
/// resolves to 127.0.0.1), and the site switches to it.
#[test]
fn nginx_site_with_a_certificate_from_an_acme_server() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    // pebble's own HTTPS listener needs a certificate the host trusts (certbot checks it).
    tb.sh(
        h,
        r#"set -e
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends pebble >/dev/null
        mkdir -p /etc/pebble && cd /etc/pebble
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=acme test CA' -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout key.pem -out req.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
        openssl x509 -req -in req.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out cert.pem 2>/dev/null
        cp ca.crt /usr/local/share/ca-certificates/acme-test-ca.crt && update-ca-certificates >/dev/null
        printf '{"pebble":{"listenAddress":"127.0.0.1:14000","managementListenAddress":"127.0.0.1:15000","certificate":"/etc/pebble/cert.pem","privateKey":"/etc/pebble/key.pem","httpPort":80,"tlsPort":5001}}\n' > config.json
        echo '127.0.0.1 www.ace.test' >> /etc/hosts
        (PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 setsid nohup pebble -config /etc/pebble/config.json >/var/log/pebble.log 2>&1 &)
        for i in $(seq 50); do curl -s -o /dev/null https://localhost:14000/dir && exit 0; sleep 0.2; done
        cat /var/log/pebble.log; exit 1"#,
    );
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"
        import "nginx" as nginx;
        step("nginx", hosts("test"), |h| {
            nginx::site(h, #{ name: "ace", server_name: "www.ace.test", upstreams: ["127.0.0.1"],
                              acme_email: "ops@ace.test", acme_server: "https://localhost:14000/dir" });
        });
        "#,
    );
    let first = play(&p, "site.rhai").any_code().run();
    assert_eq!(
        first.code,
        0,
        "{}\npebble: {}",
        first.all(),
        tb.sh(h, "cat /var/log/pebble.log")
    );
    assert!(first.changes().iter().any(|(op, _)| op == "run"), "{}", first.all());

    // nginx serves the certificate the ACME server issued, from certbot's live directory.
    let live = "/etc/letsencrypt/live/www.ace.test";
    let conf = tb.sh(h, "cat /etc/nginx/sites-available/ace.conf");
    assert!(
        conf.contains(&format!("ssl_certificate {live}/fullchain.pem;")),
        "{conf}"
    );
    let issuer = tb.sh(
        h,
        "openssl s_client -connect 127.0.0.1:443 -servername www.ace.test </dev/null 2>/dev/null | openssl x509 -noout -issuer -subject",
    );
    assert!(issuer.contains("Pebble"), "issued by pebble: {issuer}");
    assert!(issuer.contains("www.ace.test"), "{issuer}");
    // Still HTTP → HTTPS for everything but the challenges.
    let redirect = tb.sh(
        h,
        "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://www.ace.test/x",
    );
    assert_eq!(redirect, "301 https://www.ace.test/x");

    let second = play(&p, "site.rhai").run();
    assert_eq!(second.changes(), vec![], "second run changes nothing");
}
