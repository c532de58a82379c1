//! The whole lean-hosting recipe on the Docker provider, from nothing, with the shipped
//! playbooks: provision (killed part-way, then resumed) → harden → replicate → release v1 →
//! v2 → rollback. Then checked from outside the hosts, never through runbook: HTTPS through
//! each web server, traffic while app1 is down, the firewalls between tiers, replication,
//! password logins. Last, all four playbooks again change nothing. On Debian 12 (the default
//! image) and Debian 13, whose versions (PostgreSQL, nginx) the playbooks find on the hosts.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cloud_docker::{Cleanup, docker, ip_of};
use crate::stdlib::ssh;
use crate::support::testbed::{TRIXIE_IMAGE, client_key};
use crate::support::{Output, Project, Test};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
// Characters a URL, a shell and SQL each treat specially.
const DB_PASSWORD: &str = "p@ss w'rd/:%$x;";
const REPLICATION_PASSWORD: &str = "r3pl\"ic#a&tion";

struct Recipe {
    p: Project,
    prefix: String,
    outputs: Vec<Output>,
}

impl Recipe {
    fn play(&mut self, playbook: &str, extra: &[&str], env: &[(&str, &str)]) -> &Output {
        let started = Instant::now();
        let o = Test::in_project(&self.p)
            .play(&format!("{REPO}/playbooks/{playbook}.rhai"))
            .on("recipe")
            .json()
            .args(&["--var", &format!("app_dir={REPO}/examples/ace-app")])
            .args(extra)
            .envs(env)
            .any_code()
            .run();
        // Where the time goes (shown with --nocapture).
        eprintln!("{}: {playbook} {extra:?}: {:.1?}", self.prefix, started.elapsed());
        for secret in [DB_PASSWORD, REPLICATION_PASSWORD] {
            assert!(!o.all().contains(secret), "{playbook} printed a secret:\n{}", o.all());
        }
        self.outputs.push(o);
        self.outputs.last().unwrap()
    }

    fn ok(&mut self, playbook: &str, extra: &[&str]) -> &Output {
        let o = self.play(playbook, extra, &[]);
        assert_eq!(o.code, 0, "{playbook} {extra:?} failed:\n{}", o.all());
        o
    }

    fn host(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn ip(&self, name: &str) -> String {
        ip_of(&self.host(name))
    }

    /// Runs `cmd` in the container of `name` (as root); (exit code, stdout + stderr).
    fn exec(&self, name: &str, cmd: &str) -> (i32, String) {
        let out = Command::new("docker")
            .args(["exec", &self.host(name), "bash", "-c", cmd])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Whether `from` can open a TCP connection to `to`'s private address on `port`.
    fn reaches(&self, from: &str, to: &str, port: u16) -> bool {
        let ip = self.ip(to);
        self.exec(from, &format!("timeout 3 bash -c '</dev/tcp/{ip}/{port}'")).0 == 0
    }

    fn psql(&self, db: &str, sql: &str) -> (i32, String) {
        self.exec(db, &format!("cd / && sudo -u postgres psql -X -At -d ace -c \"{sql}\""))
    }
}

/// GET https://IP/PATH from here (the certificate is self-signed): (HTTP status, body).
fn https(ip: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg(format!("https://{ip}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// Both web servers answer `/` with `version` and `/healthcheck` with a healthy database.
fn assert_serves(r: &Recipe, version: &str) {
    for web in ["web1", "web2"] {
        let ip = r.ip(web);
        let (status, body) = https(&ip, "/");
        assert_eq!(status, 200, "{web} /: {body}");
        assert!(body.contains(&format!("\"version\":\"{version}\"")), "{web} /: {body}");
        let (status, body) = https(&ip, "/healthcheck");
        assert_eq!(status, 200, "{web} /healthcheck: {body}");
        assert!(body.contains("\"database\":\"ok\""), "{web} /healthcheck: {body}");
    }
}

/// On Debian 12 (bookworm), the default image: PostgreSQL 15.
#[test]
fn lean_hosting_recipe_from_nothing_to_replicated_releases() {
    recipe_on(None, "15");
}

/// The same on Debian 13 (trixie): PostgreSQL 17, OpenSSH 10, nginx 1.26 (the `http2`
/// directive), Node.js 20, each chosen by the playbooks from the host.
#[test]
fn lean_hosting_recipe_on_debian_13() {
    recipe_on(Some(TRIXIE_IMAGE), "17");
}

/// The whole recipe on droplets of `image` (the provider's default when None), whose
/// PostgreSQL the playbooks must find to be `pg`.
fn recipe_on(image: Option<&str>, pg: &str) {
    let started = Instant::now();
    let letter = if image.is_some() { "t" } else { "b" };
    let prefix = format!("rbe{}{letter}", std::process::id());
    let network = format!("runbook-{prefix}");
    let roles = ["app", "web", "db"];
    let _cleanup = Cleanup {
        prefix: prefix.clone(),
        network: network.clone(),
        snapshots: roles.iter().map(|r| format!("{prefix}-{r}1-base")).collect(),
    };
    let p = Project::new();
    p.write(
        "inventory/recipe.toml",
        &format!(
            "[vars]\napp = \"ace\"\nname = \"{prefix}\"\ndomain = \"ace.test\"\nadmin = \"deploy\"\nadmin_key = \"{key}.pub\"\n{image}\n\
             [ssh]\nuser = \"deploy\"\nbootstrap_user = \"root\"\nkey = \"{key}\"\nknown_hosts = \"known_hosts\"\n\n\
             [cloud]\nprovider = \"docker\"\ntag = \"runbook:{prefix}\"\nnetwork = \"{network}\"\n",
            key = client_key().display(),
            image = image.map(|i| format!("image = \"{i}\"\n")).unwrap_or_default(),
        ),
    );
    p.write("inventory/secrets/db_password", &format!("{DB_PASSWORD}\n"));
    p.write(
        "inventory/secrets/replication_password",
        &format!("{REPLICATION_PASSWORD}\n"),
    );
    let mut r = Recipe {
        p,
        prefix: prefix.clone(),
        outputs: Vec::new(),
    };

    // The plan, from nothing, touches nothing.
    let dry = r.ok("provision", &["--dry-run"]).stdout.clone();
    for role in roles {
        assert!(
            dry.contains(&format!("\"summary\":\"create droplet {prefix}-{role}1")),
            "{dry}"
        );
    }
    assert!(dry.contains("\"summary\":\"set A www.ace.test"), "{dry}");
    assert_eq!(docker(&["ps", "-aq", "--filter", &format!("name={prefix}-")]), "");

    // Provision, killed after the droplets and the SSH wait (4 journal commits), then resumed:
    // the droplets are not created twice and the resumed run skips what was done.
    let killed = r.play("provision", &[], &[("RUNBOOK_TEST_KILL_AFTER_COMMITS", "4")]);
    assert_eq!(killed.code, -1, "killed by the hook:\n{}", killed.all());
    let resumed = r.ok("provision", &["--resume"]).clone();
    let skipped: Vec<_> = resumed
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "skipped")
        .collect();
    assert!(skipped.len() >= 4, "droplets and ssh are skipped:\n{}", resumed.all());
    assert!(resumed.changes().iter().any(|(op, _)| op == "apt"), "{}", resumed.all());

    // The next two plays' plans, before they run: planned, nothing made.
    let plan = r.ok("harden", &["--dry-run"]).clone();
    assert!(plan.total_changes() > 0, "{}", plan.all());
    r.ok("harden", &[]);
    let plan = r.ok("replicate", &["--dry-run"]).stdout.clone();
    for role in roles {
        assert!(
            plan.contains(&format!("\"summary\":\"snapshot droplet {prefix}-{role}1")),
            "{plan}"
        );
        assert!(
            plan.contains(&format!("\"summary\":\"create droplet {prefix}-{role}2")),
            "{plan}"
        );
    }
    assert!(
        plan.contains("server (known after apply):3000"),
        "the new upstream: {plan}"
    );
    // pg_hba.conf gets two blocks in one step: the second is planned on top of the first.
    assert!(plan.contains("+host    ace    ace    (known after apply)/32"), "{plan}");
    assert!(
        !plan.contains("-host    ace    ace    (known after apply)/32"),
        "{plan}"
    );
    let made = docker(&["ps", "-q", "--filter", &format!("name={prefix}-")]);
    assert_eq!(made.lines().count(), 3, "a dry run makes nothing: {made}");

    // Replicate, killed once the snapshots and the copies were made, then resumed: the
    // resumed run skips both and builds on the journaled snapshots.
    let killed = r.play("replicate", &[], &[("RUNBOOK_TEST_KILL_AFTER_COMMITS", "2")]);
    assert_eq!(killed.code, -1, "killed by the hook:\n{}", killed.all());
    let made = docker(&["ps", "-q", "--filter", &format!("name={prefix}-")]);
    assert_eq!(
        made.lines().count(),
        6,
        "the copies run: {}",
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={prefix}-"),
            "--format",
            "{{.Names}} {{.Status}}"
        ])
    );
    let resumed = r.ok("replicate", &["--resume"]).clone();
    let skipped: Vec<String> = resumed
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["status"] == "skipped")
        .map(|e| e["step"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(skipped, ["snapshots", "droplets"], "{}", resumed.all());
    r.ok("release", &["--var", "version=1.0.0"]);
    assert_serves(&r, "1.0.0");
    r.ok("release", &["--var", "version=2.0.0"]);
    assert_serves(&r, "2.0.0");
    r.ok("release", &["--var", "rollback=true"]);
    assert_serves(&r, "1.0.0");

    // DNS: both web servers.
    let hosts_file = r.p.read("inventory/hosts.recipe");
    for web in ["web1", "web2"] {
        assert!(
            hosts_file.contains(&format!("{} www.ace.test", r.ip(web))),
            "{hosts_file}"
        );
    }

    // Each nginx upstream lists both app servers, and traffic keeps flowing with app1 down.
    let (app1, app2) = (r.ip("app1"), r.ip("app2"));
    for web in ["web1", "web2"] {
        let (_, conf) = r.exec(web, "cat /etc/nginx/sites-available/ace.conf");
        for ip in [&app1, &app2] {
            assert!(conf.contains(&format!("server {ip}:3000")), "{web}: {conf}");
        }
    }
    docker(&["stop", &r.host("app1")]);
    for i in 0..6 {
        for web in ["web1", "web2"] {
            let (status, body) = https(&r.ip(web), "/healthcheck");
            assert_eq!(status, 200, "request {i} through {web} with app1 down: {body}");
        }
    }
    docker(&["start", &r.host("app1")]);
    assert_eq!(
        r.ip("app1"),
        app1,
        "the stand-in keeps app1's address across a power cycle"
    );

    // Firewalls between the tiers (each check has its counterpart that must pass).
    for web in ["web1", "web2"] {
        assert!(!r.reaches(web, "db1", 5432), "{web} reaches db1:5432");
        assert!(r.reaches(web, "app2", 3000), "{web} cannot reach app2:3000");
    }
    for app in ["app1", "app2"] {
        assert!(r.reaches(app, "db1", 5432), "{app} cannot reach db1:5432");
    }
    for db in ["db1", "db2"] {
        assert!(!r.reaches(db, "app2", 3000), "{db} reaches app2:3000");
    }

    // Both databases admit both app servers (db2's entries wait for a promotion).
    for db in ["db1", "db2"] {
        let (_, hba) = r.exec(db, &format!("cat /etc/postgresql/{pg}/main/pg_hba.conf"));
        for ip in [&app1, &app2] {
            assert!(hba.contains(&format!("host    ace    ace    {ip}/32")), "{db}: {hba}");
        }
    }

    // Streaming replication: a row written on db1 is on db2 within 5 s; db2 refuses writes.
    let (code, out) = r.psql(
        "db1",
        "CREATE TABLE e2e (note text); INSERT INTO e2e VALUES ('from db1');",
    );
    assert_eq!(code, 0, "{out}");
    let start = Instant::now();
    loop {
        let (_, rows) = r.psql("db2", "SELECT note FROM e2e");
        if rows.contains("from db1") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not replicated within 5 s: {rows}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out) = r.psql("db2", "INSERT INTO e2e VALUES ('from db2');");
    assert_ne!(code, 0);
    assert!(out.contains("read-only transaction"), "{out}");
    // The release's own PostgreSQL serves both, and its nginx takes the site without a warning
    // (the http2 form its version wants).
    for db in ["db1", "db2"] {
        let (_, v) = r.psql(db, "SHOW server_version");
        assert!(v.starts_with(&format!("{pg}.")), "{db}: {v}");
    }
    for web in ["web1", "web2"] {
        let (code, out) = r.exec(web, "nginx -t");
        assert_eq!(code, 0, "{web}: {out}");
        assert!(!out.contains("[warn]"), "{web}: {out}");
    }

    // SSH: no password logins, no root; the admin logs in with the key.
    let password_only = [
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
    ];
    for name in ["app1", "web2", "db2"] {
        let ip = r.ip(name);
        let (code, out) = ssh("deploy", &ip, &password_only, "true");
        assert_ne!(code, 0);
        assert!(out.contains("Permission denied (publickey)"), "{name}: {out}");
        let (code, out) = ssh("root", &ip, &[], "true");
        assert_ne!(code, 0, "root logs in on {name}: {out}");
        let (code, out) = ssh("deploy", &ip, &[], "sudo -n true");
        assert_eq!(code, 0, "{name}: {out}");
    }

    // app1 is back (pm2 brought the app up at boot), and the four playbooks change nothing.
    for play in ["provision", "harden", "replicate"] {
        let o = r.ok(play, &[]).clone();
        assert_eq!(o.total_changes(), 0, "{play} changed {:?}", o.changes());
    }
    let o = r.ok("release", &["--var", "version=1.0.0"]).clone();
    assert_eq!(o.total_changes(), 0, "release changed {:?}", o.changes());
    assert_serves(&r, "1.0.0");
    eprintln!(
        "recipe on {}: {:.0?}",
        image.unwrap_or("the default image"),
        started.elapsed()
    );
}
