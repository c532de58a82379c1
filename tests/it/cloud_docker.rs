//! The docker cloud provider end to end, on the real Docker engine, through playbooks run by
//! the binary: plan, create, discover, SSH with strict host keys, snapshot, create from the
//! snapshot, DNS in the hosts file, destroy. Every container, network and image the test
//! makes carries a unique prefix and is removed when the test ends, also when it fails.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::support::testbed::{IMAGE, TRIXIE_IMAGE, client_key};
use crate::support::{Output, Project, Test};

/// Removes what a test made on the engine: containers named with the prefix, the
/// inventory's network, snapshot images.
pub(crate) struct Cleanup {
    pub prefix: String,
    pub network: String,
    pub snapshots: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = docker(&["ps", "-aq", "--filter", &format!("name={}-", self.prefix)]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
        let _ = Command::new("docker").args(["network", "rm", &self.network]).output();
        for s in &self.snapshots {
            let images = docker(&["image", "ls", "-q", "--filter", &format!("label=runbook.snapshot={s}")]);
            for id in images.split_whitespace() {
                let _ = Command::new("docker").args(["rmi", "-f", id]).output();
            }
        }
    }
}

pub(crate) fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn ip_of(container: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ])
    .trim()
    .to_string()
}

fn host_key(container: &str) -> String {
    let k = docker(&["exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Names of the containers with the prefix, sorted.
fn containers(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={prefix}-"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect();
    names.sort();
    names
}

fn recap_changes(out: &Output) -> u64 {
    let events = out.events();
    let recap = events.iter().find(|e| e["event"] == "recap").expect("a recap");
    recap["changes"].as_u64().unwrap()
}

const PROVISION: &str = r#"
let p = var("prefix");
let made = step("droplets", || {
    let out = [];
    for n in ["web1", "web2", "db1"] {
        let role = if n.starts_with("web") { "role:web" } else { "role:db" };
        out.push(cloud::droplet(`${p}-${n}`, #{ tags: [role] }));
    }
    for d in out { print(`droplet ${d.name} at ${d.public_ip}`); }
    out
});
inventory::refresh();
step("dns", || dns::a_record(`${p}.test`, "www", hosts("web").map(|h| h.public_ip), #{ exact: true }));
step("ssh up", hosts("all"), |h| wait::ssh(h, "60s"));
step("who", hosts("web,db"), |h| {
    let r = h.run("hostname", #{ readonly: true });
    print(`on ${h.name} in ${h.groups}: ${r.stdout}`);
});
"#;

const GROW: &str = r#"
let p = var("prefix");
step("mark", hosts(`${p}-web1`), |h| h.run("echo from-the-snapshot > /root/snapshot-marker"));
step("clone", || {
    let s = cloud::snapshot(`${p}-web1`, `${p}-web1-base`);
    let d = cloud::droplet(`${p}-web3`, #{ image: s, tags: ["role:web"] });
    print(`web3 from ${d.image} = ${s.id}`);
    print(`web3 is ${wait::cloud_active(d, "30s").status}`);
    cloud::power_off(`${p}-web2`);
    print(`web2 is ${cloud::droplets().filter(|d| d.name == `${p}-web2`)[0].status}`);
    cloud::power_on(`${p}-web2`);
    print(`web2 is ${wait::cloud_active(`${p}-web2`).status} again`);
});
inventory::refresh();
step("after", hosts("web"), |h| {
    let r = h.run("cat /root/snapshot-marker 2>/dev/null || echo none", #{ readonly: true });
    print(`marker on ${h.name}: ${r.stdout}`);
});
"#;

const TEARDOWN: &str = r#"
step("down", || {
    for d in cloud::droplets() { cloud::destroy(d); }
    print(`left ${cloud::droplets().len()}`);
    let snap = `${var("prefix")}-web1-base`;
    print(`snapshot deleted ${cloud::delete_snapshot(snap)}, again ${cloud::delete_snapshot(snap)}`);
});
"#;

#[test]
fn docker_droplets_are_planned_created_discovered_snapshotted_and_destroyed() {
    let (prefix, network, _cleanup) = engine_scope("rbc", &["web1-base"]);
    let n = |s: &str| format!("{prefix}-{s}");

    let p = docker_project(&prefix);
    p.write("provision.rhai", PROVISION);
    p.write("grow.rhai", GROW);
    p.write("teardown.rhai", TEARDOWN);
    let play = |file: &str, extra: &[&str]| {
        let mut args = vec!["play", file, "-i", prefix.as_str()];
        args.extend_from_slice(extra);
        p.runbook(&args)
    };

    // A dry run on a fresh inventory plans everything and creates nothing.
    let dry = play("provision.rhai", &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    for line in [
        format!(
            "would create droplet {} (image {IMAGE}, tags role:web runbook:{prefix})",
            n("web1")
        ),
        format!("droplet {} at (known after apply)", n("db1")),
        format!("would set A www.{prefix}.test to (known after apply) (known after apply)"),
        format!(
            "changed  {}  1 planned  (host not created yet (known after apply))",
            n("web2")
        ),
    ] {
        assert!(dry.stdout.contains(&line), "missing {line:?}\n{}", dry.all());
    }
    assert!(
        !dry.stdout.contains(" in [\"all\""),
        "no step ran on a host: {}",
        dry.all()
    );
    assert!(containers(&prefix).is_empty(), "{:?}", containers(&prefix));
    assert!(
        docker(&["network", "ls", "-q", "--filter", &format!("name={network}")])
            .trim()
            .is_empty()
    );

    // The real run creates three droplets, finds them by role and logs in with the keys the
    // provider recorded (no --trust-new-hosts, nothing in ~/.ssh/known_hosts).
    let run = play("provision.rhai", &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(containers(&prefix), [n("db1"), n("web1"), n("web2")]);
    for (host, groups) in [
        ("web1", "[\"all\", \"web\"]"),
        ("web2", "[\"all\", \"web\"]"),
        ("db1", "[\"all\", \"db\"]"),
    ] {
        let line = format!("on {} in {groups}: {}\n", n(host), n(host));
        assert!(run.stdout.contains(&line), "missing {line:?}\n{}", run.all());
        let ip = ip_of(&n(host));
        assert!(
            run.stdout.contains(&format!("droplet {} at {ip}", n(host))),
            "{}",
            run.all()
        );
        let known = p.read("inventory/known_hosts");
        assert!(known.contains(&format!("{ip} {}", host_key(&n(host)))), "{ip}: {known}");
    }
    assert!(!p.path("home/.ssh/known_hosts").exists());
    let hosts_file = p.read(&format!("inventory/hosts.{prefix}"));
    for web in ["web1", "web2"] {
        let line = format!("{} www.{prefix}.test\n", ip_of(&n(web)));
        assert!(hosts_file.contains(&line), "{line:?} in {hosts_file}");
    }

    let inv = p.runbook(&["inventory", "-i", &prefix, "--json"]);
    assert_eq!(inv.code, 0, "{}", inv.all());
    let doc: Value = serde_json::from_str(&inv.stdout).unwrap();
    assert_eq!(doc["groups"]["web"]["hosts"], serde_json::json!([n("web1"), n("web2")]));
    assert_eq!(doc["groups"]["db"]["hosts"], serde_json::json!([n("db1")]));
    assert_eq!(doc["hosts"][n("db1")]["address"], ip_of(&n("db1")));
    assert_eq!(doc["hosts"][n("db1")]["private_ip"], ip_of(&n("db1")));

    // Again: the same names exist, nothing is created or changed.
    let ids = docker(&["ps", "-q", "--filter", &format!("name={prefix}-")]);
    let again = play("provision.rhai", &["--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(recap_changes(&again), 0, "{}", again.all());
    assert_eq!(docker(&["ps", "-q", "--filter", &format!("name={prefix}-")]), ids);

    // Snapshot web1 (powered off for it, then on again), make web3 from it: web3 has the
    // file written before the snapshot, and host keys of its own.
    let started = |c: &str| docker(&["inspect", "-f", "{{.State.StartedAt}}", c]);
    let web1_started = started(&n("web1"));
    let grow = play("grow.rhai", &[]);
    assert_eq!(grow.code, 0, "{}", grow.all());
    assert_ne!(started(&n("web1")), web1_started, "web1 was not powered off and on");
    assert!(
        grow.stdout.contains(&format!(
            "snapshot droplet {} as {} (power off, snapshot, power on)",
            n("web1"),
            n("web1-base")
        )),
        "{}",
        grow.all()
    );
    for (host, marker) in [
        ("web1", "from-the-snapshot"),
        ("web2", "none"),
        ("web3", "from-the-snapshot"),
    ] {
        let line = format!("marker on {}: {marker}\n", n(host));
        assert!(grow.stdout.contains(&line), "missing {line:?}\n{}", grow.all());
    }
    let snapshot_id = docker(&[
        "image",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=runbook.snapshot={}", n("web1-base")),
    ]);
    assert!(
        grow.stdout
            .contains(&format!("web3 from {0} = {0}", snapshot_id.trim())),
        "{snapshot_id}\n{}",
        grow.all()
    );
    for line in ["web3 is active\n", "web2 is off\n", "web2 is active again\n"] {
        assert!(grow.stdout.contains(line), "missing {line:?}\n{}", grow.all());
    }
    assert_ne!(host_key(&n("web3")), host_key(&n("web1")), "web3 kept web1's host keys");
    let known = p.read("inventory/known_hosts");
    assert!(
        known.contains(&format!("{} {}", ip_of(&n("web3")), host_key(&n("web3")))),
        "{known}"
    );

    // Destroy everything: no container, no network, no host keys left behind.
    let ips: Vec<String> = ["web1", "web2", "web3", "db1"].iter().map(|h| ip_of(&n(h))).collect();
    let down = play("teardown.rhai", &[]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(down.stdout.contains("left 0"), "{}", down.all());
    assert!(
        down.stdout.contains("snapshot deleted true, again false"),
        "{}",
        down.all()
    );
    let label = format!("label=runbook.snapshot={}", n("web1-base"));
    assert_eq!(
        docker(&["image", "ls", "-q", "--filter", &label]).trim(),
        "",
        "the image is gone"
    );
    assert!(containers(&prefix).is_empty(), "{:?}", containers(&prefix));
    assert!(
        docker(&["network", "ls", "-q", "--filter", &format!("name={network}")])
            .trim()
            .is_empty()
    );
    let known = p.read("inventory/known_hosts");
    for ip in ips {
        assert!(!known.contains(&format!("{ip} ")), "{ip} still in {known}");
    }
}

const PIN_UP: &str = r#"
let p = var("prefix");
step("droplets", || {
    for n in ["app", "db"] {
        let d = cloud::droplet(`${p}-${n}`, #{ tags: ["role:app"] });
        print(`droplet ${d.name} at ${d.public_ip}`);
    }
});
"#;

const PIN_OFF: &str = r#"
step("off", || cloud::power_off(`${var("prefix")}-app`));
"#;

const PIN_ON: &str = r#"
let p = var("prefix");
step("on", || {
    cloud::power_on(`${p}-app`);
    print(`app is ${wait::cloud_active(`${p}-app`, "60s").status} again`);
});
inventory::refresh();
step("login", hosts(`${p}-app`), |h| {
    let r = h.run("hostname", #{ readonly: true });
    print(`logged in to ${h.name} at ${h.public_ip}: ${r.stdout}`);
});
"#;

/// A droplet keeps its address across power off and on, like a real one, even when another
/// container joined the network while it was off (Docker would hand that container the
/// free address, and the droplet a new one when started again).
#[test]
fn docker_droplets_keep_their_address_across_power_cycles() {
    let (prefix, network, _cleanup) = engine_scope("rbp", &[]);
    let n = |s: &str| format!("{prefix}-{s}");
    let p = docker_project(&prefix);
    p.write("up.rhai", PIN_UP);
    p.write("off.rhai", PIN_OFF);
    p.write("on.rhai", PIN_ON);
    p.write("down.rhai", TEARDOWN);
    let play = |file: &str| p.runbook(&["play", file, "-i", prefix.as_str()]);

    let up = play("up.rhai");
    assert_eq!(up.code, 0, "{}", up.all());
    let app_ip = ip_of(&n("app"));
    assert!(!app_ip.is_empty() && app_ip != ip_of(&n("db")), "{}", up.all());
    assert!(
        up.stdout.contains(&format!("droplet {} at {app_ip}\n", n("app"))),
        "{}",
        up.all()
    );

    let off = play("off.rhai");
    assert_eq!(off.code, 0, "{}", off.all());
    assert_eq!(ip_of(&n("app")), "", "app is stopped");
    // A powered-off droplet still shows its address.
    let inv = p.runbook(&["inventory", "-i", &prefix, "--json"]);
    assert_eq!(inv.code, 0, "{}", inv.all());
    let doc: Value = serde_json::from_str(&inv.stdout).unwrap();
    assert_eq!(doc["hosts"][n("app")]["address"], app_ip.as_str(), "{}", inv.stdout);

    // An unrelated container joins the network while the droplet is off.
    let intruder = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &n("intruder"),
            "--network",
            &network,
            IMAGE,
            "sleep",
            "600",
        ])
        .output()
        .expect("docker runs");
    assert!(
        intruder.status.success(),
        "{}",
        String::from_utf8_lossy(&intruder.stderr)
    );
    let intruder_ip = ip_of(&n("intruder"));
    assert!(!intruder_ip.is_empty());
    assert_ne!(
        intruder_ip, app_ip,
        "the intruder got the address of the stopped droplet"
    );

    let on = play("on.rhai");
    assert_eq!(on.code, 0, "{}", on.all());
    assert_eq!(ip_of(&n("app")), app_ip, "{}", on.all());
    for line in [
        "app is active again\n".to_string(),
        format!("logged in to {0} at {app_ip}: {0}\n", n("app")),
    ] {
        assert!(on.stdout.contains(&line), "missing {line:?}\n{}", on.all());
    }

    // Destroying the droplets removes the network once the intruder is gone.
    let _ = Command::new("docker").args(["rm", "-f", &n("intruder")]).output();
    let down = play("down.rhai");
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(containers(&prefix).is_empty(), "{:?}", containers(&prefix));
    assert!(
        docker(&["network", "ls", "-q", "--filter", &format!("name={network}")])
            .trim()
            .is_empty()
    );
}

/// A project whose inventory `prefix` uses the docker provider.
/// A unique prefix for what a test makes on the engine, its inventory's network, and the
/// guard that removes both (and the named snapshots, `PREFIX-NAME`) when the test ends.
pub(crate) fn engine_scope(letters: &str, snapshots: &[&str]) -> (String, String, Cleanup) {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("{letters}{}x{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
    let network = format!("runbook-{prefix}");
    let cleanup = Cleanup {
        prefix: prefix.clone(),
        network: network.clone(),
        snapshots: snapshots.iter().map(|s| format!("{prefix}-{s}")).collect(),
    };
    assert!(
        !docker(&["image", "ls", "-q", IMAGE]).trim().is_empty(),
        "image {IMAGE} is missing: run scripts/testbed.sh setup"
    );
    (prefix, network, cleanup)
}

pub(crate) fn docker_project(prefix: &str) -> Project {
    let p = Project::new();
    p.write(
        &format!("inventory/{prefix}.toml"),
        &format!(
            "[vars]\nprefix = \"{prefix}\"\n\n[ssh]\nuser = \"root\"\nkey = \"{}\"\nknown_hosts = \"known_hosts\"\n\n\
             [cloud]\nprovider = \"docker\"\ntag = \"runbook:{prefix}\"\n",
            client_key().display()
        ),
    );
    p
}

/// A network made by an older version, without a subnet of its own, cannot pin addresses:
/// droplets are still created there, with the address Docker gives them.
#[test]
fn docker_droplets_are_created_unpinned_on_networks_of_older_versions() {
    let (prefix, network, _cleanup) = engine_scope("rbo", &[]);
    let made = Command::new("docker")
        .args([
            "network",
            "create",
            "--label",
            &format!("runbook.network={network}"),
            &network,
        ])
        .output()
        .expect("docker runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let p = docker_project(&prefix);
    p.write("up.rhai", PIN_UP);
    p.write("down.rhai", TEARDOWN);
    let up = p.runbook(&["play", "up.rhai", "-i", &prefix]);
    assert_eq!(up.code, 0, "{}", up.all());
    for host in ["app", "db"] {
        let name = format!("{prefix}-{host}");
        let ip = ip_of(&name);
        assert!(!ip.is_empty(), "{name}: {}", up.all());
        assert!(up.stdout.contains(&format!("droplet {name} at {ip}\n")), "{}", up.all());
    }
    let down = p.runbook(&["play", "down.rhai", "-i", &prefix]);
    assert_eq!(down.code, 0, "{}", down.all());
    assert!(containers(&prefix).is_empty(), "{:?}", containers(&prefix));
}

/// A unit sandboxed as Debian's own are (redis-server's options that failed in containers:
/// `PrivateUsers=` with `User=` under `ProtectProc=invisible`), reporting what it sees.
const SANDBOXED_UNIT: &str = r#"[Unit]
Description=runbook test: a sandboxed service

[Service]
Type=oneshot
RemainAfterExit=yes
User=nobody
PrivateUsers=true
ProtectSystem=strict
PrivateTmp=true
ProtectHome=true
ProtectProc=invisible
StateDirectory=sandboxed
ExecStart=/bin/sh -c 'echo private > /tmp/sandboxed-marker; { sed "s/^ *//; s/  */ /g" /proc/self/uid_map; touch /srv/open/written 2>&1; ls /home/shared 2>&1; true; } > /var/lib/sandboxed/report'
"#;

const SERVICES: &str = r#"
let p = var("prefix");
step("droplets", || {
    cloud::droplet(`${p}-bookworm`, #{ tags: ["role:svc"] });
    cloud::droplet(`${p}-trixie`, #{ image: "runbook/testhost:trixie", tags: ["role:svc"] });
});
inventory::refresh();
step("ssh", hosts("svc"), |h| wait::ssh(h, "60s"));
step("redis", hosts("svc"), |h| {
    h.apt("redis-server");
    h.service("redis-server", "started", #{ enabled: true });
});
step("sandboxed", hosts("svc"), |h| {
    // What the unit must not be able to touch: world-writable, but outside its writable paths.
    h.dir("/srv/open", #{ mode: "1777" });
    h.dir("/home/shared", #{ mode: "0755" });
    let unit = h.file("/etc/systemd/system/sandboxed.service", #{ src: "sandboxed.service" });
    if unit.changed { h.run("systemctl daemon-reload"); }
    h.service("sandboxed", "started");
});
"#;

/// The stand-in behaves like a droplet for ordinary Debian services that use systemd's
/// sandboxing, on both Debian releases: redis-server from Debian starts and answers, and a
/// unit with PrivateUsers=, ProtectSystem=strict, PrivateTmp=, ProtectHome= and
/// ProtectProc=invisible runs with each of them in force.
#[test]
fn docker_droplets_run_debian_services_under_systemd_sandboxing() {
    let (prefix, _network, _cleanup) = engine_scope("rbs", &[]);
    assert!(
        !docker(&["image", "ls", "-q", TRIXIE_IMAGE]).trim().is_empty(),
        "image {TRIXIE_IMAGE} is missing: run scripts/testbed.sh setup"
    );
    let p = docker_project(&prefix);
    p.write("services.rhai", SERVICES);
    p.write("sandboxed.service", SANDBOXED_UNIT);
    let play = || Test::in_project(&p).play("services.rhai").on(&prefix).json().run();
    let first = play();
    assert!(recap_changes(&first) > 0, "{}", first.all());

    for release in ["bookworm", "trixie"] {
        let c = format!("{prefix}-{release}");
        let sh = |cmd: &str| docker(&["exec", &c, "sh", "-c", cmd]);
        assert_eq!(sh(". /etc/os-release; echo $VERSION_CODENAME").trim(), release);
        assert_eq!(
            sh("systemctl is-active redis-server").trim(),
            "active",
            "{c}: {}",
            sh("journalctl -u redis-server --no-pager | tail -n 5")
        );
        assert_eq!(sh("redis-cli ping").trim(), "PONG", "{c}");

        assert_eq!(
            sh("systemctl is-active sandboxed").trim(),
            "active",
            "{c}: {}",
            sh("journalctl -u sandboxed --no-pager | tail -n 5")
        );
        let report = sh("cat /var/lib/sandboxed/report");
        // PrivateUsers=: only root and the service's user are mapped, not the whole range.
        let mapped: Vec<&str> = report.lines().take(2).collect();
        assert_eq!(mapped, ["0 0 1", "65534 65534 1"], "{c}: {report}");
        // ProtectSystem=strict: a world-writable directory outside its paths is read-only.
        assert!(
            report.contains("cannot touch '/srv/open/written': Read-only file system"),
            "{c}: {report}"
        );
        assert_eq!(sh("ls /srv/open").trim(), "", "{c}");
        // ProtectHome=: /home is not there for it.
        assert!(
            report.contains("ls: cannot access '/home/shared'")
                || report.contains("ls: cannot open directory '/home/shared'"),
            "{c}: {report}"
        );
        // PrivateTmp=: its /tmp is its own.
        assert_eq!(sh("ls /tmp/sandboxed-marker 2>/dev/null; true").trim(), "", "{c}");
    }

    let again = play();
    assert_eq!(recap_changes(&again), 0, "{}", again.all());
}

/// The test hosts of scripts/testbed.sh get what the provider grants its droplets.
#[test]
fn testbed_script_grants_what_the_docker_provider_grants() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed.sh")).unwrap();
    let start = script.find("\nRUN_FLAGS=(").expect("RUN_FLAGS in scripts/testbed.sh") + "\nRUN_FLAGS=(".len();
    let end = start + script[start..].find(')').unwrap();
    let flags: Vec<&str> = script[start..end].split_whitespace().collect();
    assert_eq!(flags, runbook::cloud::docker_grants::run_flags());
}

/// A Docker engine that accepts connections and never answers: the call gives up after
/// `[cloud] request_timeout` with an error that names the engine and the call, instead of
/// hanging (bollard alone waits two minutes for the start of an answer, and forever for
/// the rest of it).
#[test]
fn a_docker_engine_that_never_answers_is_an_error_within_the_timeout() {
    use crate::support::silent::Silent;
    let p = Project::new();
    let socket = p.path("docker.sock");
    let silent = Silent::unix(&socket);
    p.write(
        "inventory/local.toml",
        &format!(
            "[cloud]\nprovider = \"docker\"\ntag = \"runbook:hung\"\nendpoint = \"{}\"\nrequest_timeout = 1\nssh_public_key = \"{}.pub\"\n",
            silent.url,
            client_key().display()
        ),
    );
    p.write("site.rhai", "step(\"list\", || cloud::droplets());\n");
    let start = std::time::Instant::now();
    let o = p.runbook(&["play", "site.rhai", "-i", "local"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains(&format!(
            "docker: the engine at {} did not answer `GET /version` within 1s; is dockerd running and responsive? \
             ([cloud] request_timeout sets the limit)",
            silent.url
        )),
        "{}",
        o.all()
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(silent.accepted(), 1);
}
