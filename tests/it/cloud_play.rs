//! Playbooks with `cloud::`, `dns::` and `inventory::refresh()` through the real binary,
//! against the fake DigitalOcean API.

use serde_json::Value;

use crate::support::Project;
use crate::support::fake_do::{FakeDo, TOKEN};

fn project(fake: &FakeDo) -> Project {
    let p = Project::new();
    p.write(
        "inventory/cloud.toml",
        &format!(
            "[cloud]\nprovider = \"digitalocean\"\ntag = \"runbook:test\"\nendpoint = \"{}\"\ntoken_secret = \"do_token\"\n\n\
             [groups.bastions]\nhosts = [\"bastion\"]\n\n[hosts.bastion]\naddress = \"192.0.2.1\"\n",
            fake.url()
        ),
    );
    // The token comes from a secret file beside the inventory.
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
    p.write(
        "provision.rhai",
        r#"
let spec = #{ size: "s-1vcpu-1gb", image: "ubuntu-20-04-x64", region: "nyc3" };
let made = step("droplets", || {
    let out = [];
    for n in ["web1", "web2", "db1"] {
        let role = if n.starts_with("web") { "role:web" } else { "role:db" };
        out.push(cloud::droplet(n, spec + #{ tags: [role] }));
    }
    for d in out { print(`${d.name} public=${d.public_ip} private=${d.private_ip}`); }
    out
});
step("dns", || {
    let web = made.filter(|d| d.name.starts_with("web")).map(|d| d.public_ip);
    dns::a_record("example.com", "www", web, #{ ttl: 300 });
});
"#,
    );
    p
}

/// The shipped `examples/inventory/prod.toml`, pointed at the fake API, with its secrets.
fn prod_project(fake: &FakeDo) -> Project {
    let p = Project::new();
    let prod = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/inventory/prod.toml")).unwrap();
    let prod = prod.replacen("[cloud]\n", &format!("[cloud]\nendpoint = \"{}\"\n", fake.url()), 1);
    p.write("inventory/prod.toml", &prod);
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
    p.write("inventory/secrets/db_password", "not printed\n");
    p
}

fn recap_changes(out: &crate::support::Output) -> u64 {
    let events = out.events();
    let recap = events.iter().find(|e| e["event"] == "recap").expect("a recap");
    recap["changes"].as_u64().unwrap()
}

#[test]
fn dry_run_plans_without_creating_then_the_play_creates_once() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    let p = project(&fake);

    let dry = p.runbook(&["play", "provision.rhai", "-i", "cloud", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.all());
    for line in [
        "would create droplet web1 (s-1vcpu-1gb, image ubuntu-20-04-x64, region nyc3, tags role:web runbook:test)",
        "would create droplet db1",
        "web1 public=(known after apply) private=(known after apply)",
        "would set A www.example.com to (known after apply) (known after apply)",
    ] {
        assert!(dry.stdout.contains(line), "missing {line:?}\n{}", dry.all());
    }
    assert!(fake.droplet_names().is_empty());
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "a dry run only reads"
    );

    let run = p.runbook(&["play", "provision.rhai", "-i", "cloud"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(fake.droplet_names(), ["db1", "web1", "web2"]);
    assert!(run.stdout.contains("web1 public=203.0.113."), "{}", run.all());
    assert!(
        run.stdout.contains("change A www.example.com: +203.0.113."),
        "{}",
        run.all()
    );
    let records = fake.state().records.len();
    assert_eq!(records, 2);

    // The same play again changes nothing, and a dry run now plans nothing.
    for args in [
        vec!["play", "provision.rhai", "-i", "cloud", "--output", "json"],
        vec!["play", "provision.rhai", "-i", "cloud", "--output", "json", "--dry-run"],
    ] {
        let again = p.runbook(&args);
        assert_eq!(again.code, 0, "{}", again.all());
        assert_eq!(recap_changes(&again), 0, "{}", again.all());
    }
    assert_eq!(fake.requests("POST", "/v2/droplets").len(), 3);
    for o in [&dry, &run] {
        assert!(!o.all().contains(TOKEN), "the token leaked:\n{}", o.all());
    }
    fake.assert_no_violations();
}

#[test]
fn discovered_droplets_join_groups_and_refresh_sees_new_ones() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    let p = project(&fake);
    let o = p.runbook(&["play", "provision.rhai", "-i", "cloud"]);
    assert_eq!(o.code, 0, "{}", o.all());

    let inv = p.runbook(&["inventory", "-i", "cloud", "--json"]);
    assert_eq!(inv.code, 0, "{}", inv.all());
    let doc: Value = serde_json::from_str(&inv.stdout).unwrap();
    assert_eq!(doc["groups"]["web"]["hosts"], serde_json::json!(["web1", "web2"]));
    assert_eq!(doc["groups"]["db"]["hosts"], serde_json::json!(["db1"]));
    assert_eq!(doc["groups"]["bastions"]["hosts"], serde_json::json!(["bastion"]));
    let web1 = &doc["hosts"]["web1"];
    assert!(web1["address"].as_str().unwrap().starts_with("203.0.113."), "{web1}");
    assert!(web1["private_ip"].as_str().unwrap().starts_with("10.110.0."), "{web1}");
    assert_eq!(web1["connection"], "ssh");

    p.write(
        "grow.rhai",
        r#"
step("before", || print(`web before: ${hosts("web").map(|h| h.name)}`));
step("clone", || {
    let s = cloud::snapshot("web1", "web1-base");
    let d = cloud::droplet("web3", #{ size: "s-1vcpu-1gb", image: s, region: "nyc3", tags: ["role:web"] });
    print(`web3 image ${d.image} = snapshot ${s.id}`);
});
inventory::refresh();
step("after", || {
    print(`web after: ${hosts("web").map(|h| h.name)}`);
    print(`web3 at ${hosts("web3")[0].address}`);
});
step("teardown", || {
    for d in cloud::droplets() { cloud::destroy(d); }
    print(`left: ${cloud::droplets().len()}`);
    print(`snapshot deleted: ${cloud::delete_snapshot("web1-base")}, again: ${cloud::delete_snapshot("web1-base")}`);
});
"#,
    );
    let o = p.runbook(&["play", "grow.rhai", "-i", "cloud"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains(r#"web before: ["web1", "web2"]"#), "{}", o.all());
    assert!(
        o.stdout.contains(r#"web after: ["web1", "web2", "web3"]"#),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("web3 at 203.0.113."), "{}", o.all());
    // The droplet was made from the snapshot's id (the snapshot is deleted by now).
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("web3 image "))
        .expect("web3's line");
    let ids: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(ids.len() == 2 && ids[0] == ids[1], "{line}");
    assert!(o.stdout.contains("left: 0"), "{}", o.all());
    assert!(o.stdout.contains("snapshot deleted: true, again: false"), "{}", o.all());
    assert!(fake.state().snapshots.is_empty());
    assert_eq!(fake.requests("DELETE", "/v2/snapshots/").len(), 1);
    assert!(fake.droplet_names().is_empty());
    fake.assert_no_violations();
}

#[test]
fn cloud_errors_stop_the_play_with_the_api_message() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    let p = project(&fake);
    fake.state().add_droplet("web1", &["someone-else"]);
    p.write(
        "bad.rhai",
        r#"
step("size", || cloud::droplet("web9", #{ size: "s-huge", image: "ubuntu-20-04-x64" }));
"#,
    );
    let o = p.runbook(&["play", "bad.rhai", "-i", "cloud"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.all().contains(r#"cloud::droplet("web9"): DigitalOcean API POST /v2/droplets: 422 unprocessable_entity: s-huge is not a valid size slug"#),
        "{}",
        o.all()
    );
    p.write(
        "taken.rhai",
        "step(\"taken\", || cloud::droplet(\"web1\", #{ size: \"s-1vcpu-1gb\", image: \"x\" }));\n",
    );
    let o = p.runbook(&["play", "taken.rhai", "-i", "cloud"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.all().contains("droplet `web1` (id ") && o.all().contains("without tag `runbook:test`"),
        "{}",
        o.all()
    );
    assert!(!o.all().contains(TOKEN));
    fake.assert_no_violations();
}

/// The shipped `examples/inventory/prod.toml` (pointed at the fake API) drives the recipe's
/// provision plan: droplet specs from its vars, DNS in its zone; a dry run only reads.
#[test]
fn the_prod_inventory_plans_the_recipe_on_digitalocean() {
    let fake = FakeDo::start();
    let p = prod_project(&fake);
    let playbook = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/provision.rhai");
    let o = p.runbook(&["play", playbook, "-i", "prod", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    for role in ["app", "web", "db"] {
        let line = format!(
            "would create droplet ace-{role}1 (s-1vcpu-1gb, image debian-12-x64, region nyc3, tags role:{role} runbook:ace)"
        );
        assert!(o.stdout.contains(&line), "missing {line:?}\n{}", o.all());
    }
    assert!(
        o.stdout.contains("would set A www.example.com to (known after apply)"),
        "{}",
        o.all()
    );
    assert!(fake.droplet_names().is_empty());
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "a dry run only reads"
    );
    assert!(
        !o.all().contains(TOKEN) && !o.all().contains("not printed"),
        "{}",
        o.all()
    );
    fake.assert_no_violations();
}

/// A dry run on a fresh inventory: the droplets it would create are hosts of the later
/// steps, each with its own recap row, and every count (step lines, `step_end`, `change`
/// events, the recap, the closing line) agrees in text and in JSON.
#[test]
fn a_fresh_inventory_dry_run_counts_the_same_everywhere() {
    let fake = FakeDo::start();
    let p = prod_project(&fake);
    let playbook = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/provision.rhai");

    let json = p.runbook(&["play", playbook, "-i", "prod", "--dry-run", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.all());
    json.assert_counts_agree();
    let events = json.events();
    let recap = &events.last().unwrap()["hosts"];
    for role in ["app", "web", "db"] {
        let row = &recap[format!("ace-{role}1")];
        assert!(
            row["changed"].as_u64().unwrap() >= 1,
            "ace-{role}1 plans changes: {row}\n{}",
            json.all()
        );
    }

    // The text of the same plan: each host's step lines add up to its recap row.
    let text = p.runbook(&["play", playbook, "-i", "prod", "--dry-run"]);
    assert_eq!(text.code, 0, "{}", text.all());
    let mut from_lines: std::collections::BTreeMap<String, u64> = Default::default();
    let mut rows: std::collections::BTreeMap<String, u64> = Default::default();
    let mut in_recap = false;
    for line in text.stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line == "RECAP" {
            in_recap = true;
        } else if in_recap && words.len() == 5 && words[0] != "host" {
            rows.insert(words[0].to_string(), words[2].parse().unwrap());
        } else if !in_recap
            && line.starts_with("  ")
            && matches!(words.first(), Some(&("ok" | "changed" | "FAILED" | "skipped")))
        {
            let planned = match words.get(3) {
                Some(&"planned") => words[2].parse().unwrap(),
                _ => 0,
            };
            assert_eq!(words[0] == "changed", planned > 0, "{line}\n{}", text.all());
            *from_lines.entry(words[1].to_string()).or_default() += planned;
        }
    }
    assert_eq!(rows, from_lines, "{}", text.all());
    let total: u64 = rows.values().sum();
    assert!(
        text.stdout
            .contains(&format!("{} hosts, {total} changes planned", rows.len() - 1)),
        "{}",
        text.all()
    );
    let recap_json: u64 = events.last().unwrap()["changes"].as_u64().unwrap();
    assert_eq!(total, recap_json);
}

/// Calls that cannot succeed are refused in the plan (a dry run) as in a real run, before
/// any request that changes something, with an error naming the call.
#[test]
fn impossible_calls_are_refused_in_dry_runs_and_before_any_change() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    let p = project(&fake);
    let spec = r#"#{ size: "s-1vcpu-1gb", image: "ubuntu-20-04-x64" }"#;
    let cases = [
        (
            r#"cloud::snapshot(5, "snap")"#.to_string(),
            r#"cloud::snapshot(5, "snap"): expects a droplet (as cloud::droplet returned it) or its name, not 5 (i64)"#,
        ),
        (
            r#"cloud::snapshot("ghost", "snap")"#.to_string(),
            r#"cloud::snapshot("ghost", "snap"): no droplet named `ghost`"#,
        ),
        (
            format!(r#"cloud::droplet("", {spec})"#),
            r#"cloud::droplet(""): the droplet name is empty"#,
        ),
        (
            format!(r#"cloud::droplet("ace_web3", {spec})"#),
            r#"cloud::droplet("ace_web3"): "ace_web3" is not a droplet name DigitalOcean accepts: use at most 255 letters, digits, `.` and `-`, ending in a letter or digit (e.g. "ace-web3")"#,
        ),
        (
            format!(r#"cloud::droplet("web-", {spec})"#),
            r#"cloud::droplet("web-"): "web-" is not a droplet name"#,
        ),
        (
            format!(r#"cloud::droplet("web1", {spec} + #{{ ssh_keys: ["keys/missing.pub"] }})"#),
            r#"cloud::droplet("web1"): ssh key keys/missing.pub: not an id, fingerprint or public key, and unreadable as a file (keys/missing.pub)"#,
        ),
    ];
    for (call, want) in &cases {
        p.write("bad.rhai", &format!("step(\"bad\", || {call});\n"));
        for dry in [true, false] {
            let mut args = vec!["play", "bad.rhai", "-i", "cloud"];
            if dry {
                args.push("--dry-run");
            }
            let o = p.runbook(&args);
            assert_eq!(o.code, 2, "{call} (dry run {dry}):\n{}", o.all());
            assert!(
                o.all().contains(want),
                "{call} (dry run {dry}): want {want:?}\n{}",
                o.all()
            );
            for planned in ["would create droplet", "would snapshot"] {
                assert!(!o.all().contains(planned), "{call} planned:\n{}", o.all());
            }
        }
    }
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "nothing was asked to change"
    );
    assert!(fake.droplet_names().is_empty());
    // A droplet this dry run would create can be snapshotted in the plan.
    p.write(
        "plan.rhai",
        &format!("step(\"s\", || {{ let d = cloud::droplet(\"web1\", {spec}); cloud::snapshot(d, \"snap\"); }});\n"),
    );
    let o = p.runbook(&["play", "plan.rhai", "-i", "cloud", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("would snapshot droplet web1 as snap"), "{}", o.all());
    fake.assert_no_violations();
}

/// Cloud and DNS APIs that accept connections and never answer: each request gives up after
/// `request_timeout` (set to 1 s here; 60 s by default), a GET is tried once more, and the
/// error names the service, the request, the limit and the tries. Nothing hangs: the whole
/// run ends within a few seconds (with the defaults: 2 tries of 60 s, 2½ minutes at most).
#[test]
fn apis_that_never_answer_fail_within_their_timeout_and_say_so() {
    use crate::support::silent::Silent;
    use std::time::{Duration, Instant};
    let silent = Silent::tcp();
    let p = Project::new();
    p.write(
        "inventory/cloud.toml",
        &format!(
            "[cloud]\nprovider = \"digitalocean\"\ntag = \"runbook:test\"\nendpoint = \"{}\"\ntoken_secret = \"do_token\"\nrequest_timeout = 1\n",
            silent.url
        ),
    );
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
    p.write("site.rhai", "step(\"list\", || cloud::droplets());\n");
    let start = Instant::now();
    let o = p.runbook(&["play", "site.rhai", "-i", "cloud"]);
    let took = start.elapsed();
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr.contains(
            "DigitalOcean did not answer GET /v2/droplets?tag_name=runbook%3Atest&per_page=200 within 1s (2 tries in "
        ) && o.stderr.contains("; giving up)"),
        "{}",
        o.all()
    );
    assert_eq!(silent.accepted(), 2, "one try and one more");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!o.all().contains(TOKEN));

    // Route 53 the same way, from a play's dns::a_record.
    let silent = Silent::tcp();
    p.write(
        "inventory/r53.toml",
        &format!(
            "[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\nrequest_timeout = 1\n\n[hosts.web1]\naddress = \"192.0.2.1\"\n",
            silent.url
        ),
    );
    p.write(
        "dns.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"www\", [\"192.0.2.1\"]));\n",
    );
    let start = Instant::now();
    let o = p.runbook_env(
        &["play", "dns.rhai", "-i", "r53"],
        &[
            ("AWS_ACCESS_KEY_ID", crate::support::fake_route53::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", crate::support::fake_route53::SECRET_KEY),
        ],
    );
    let took = start.elapsed();
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout.contains(
            "dns::a_record(\"example.com\", \"www\"): Route 53 did not answer GET /2013-04-01/hostedzonesbyname within 1s (2 tries in "
        ),
        "{}",
        o.all()
    );
    assert_eq!(silent.accepted(), 2, "asked once, not again for each use of the zone");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// SIGTERM while `cloud::power_off` waits for a graceful shutdown that never finishes: the
/// wait is abandoned at once, the forced `power_off` is never sent, the run is recorded as
/// interrupted with the action left in flight, and `--resume` (once the shutdown finished)
/// carries on from that step.
#[test]
fn sigterm_during_a_cloud_wait_stops_at_once_without_a_forced_power_off() {
    use std::time::{Duration, Instant};
    let fake = FakeDo::start();
    let p = project(&fake);
    let id = fake.state().add_droplet("web1", &["runbook:test"]);
    fake.state().stuck_actions.insert("shutdown".into());
    p.write(
        "off.rhai",
        "step(\"off\", || cloud::power_off(\"web1\"));\nstep(\"after\", || print(\"after ran\"));\n",
    );
    let log = p.path("run.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = crate::support::Test::in_project(&p)
        .play("off.rhai")
        .on("cloud")
        .process()
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    // The shutdown was sent and is being polled.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests("GET", "/v2/actions/").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no polling of the action: {}",
            p.read("run.log")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let action = fake.state().actions[0].json["id"].as_i64().unwrap();
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("still running 20 s after SIGTERM: {}", p.read("run.log"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    let out = p.read("run.log");
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(took < Duration::from_secs(3), "it took {took:?} to stop: {out}");
    let left = format!(
        "cloud::power_off(\"web1\"): DigitalOcean action {action} (shutdown) on droplet `web1` was still `in-progress` \
         when the run stopped waiting for it (DigitalOcean carries on with it)"
    );
    assert!(out.contains(&format!("note: stopped: {left}")), "{out}");
    assert!(out.contains("run 1 is recorded as interrupted"), "{out}");
    assert!(!out.contains("after ran"), "{out}");
    let types: Vec<String> = fake
        .requests("POST", &format!("/v2/droplets/{id}/actions"))
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&l.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["shutdown"], "no forced power_off");
    // The journal: interrupted, the step not done, with what it left in flight.
    let h = p.runbook(&["history", "1", "-o", "json"]);
    let h: Value = serde_json::from_str(&h.stdout).unwrap_or_else(|e| panic!("{e}: {}", h.all()));
    assert_eq!(h["run"]["outcome"], "interrupted", "{h}");
    let off = &h["steps"][0]["hosts"]["(controller)"];
    assert_eq!(h["steps"][0]["name"], "off", "{h}");
    assert_eq!(off["status"], "skipped", "{h}");
    assert_eq!(off["reason"], format!("interrupted; left in flight: {left}"), "{h}");

    // Later the shutdown has finished: the resume finds the droplet off and goes on.
    fake.state().finish_actions();
    let o = p.runbook(&["play", "off.rhai", "-i", "cloud", "--resume"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(
        o.stdout.contains("resuming run 1 (interrupted") && o.stdout.contains("after ran"),
        "{}",
        o.all()
    );
    assert_eq!(
        fake.requests("POST", &format!("/v2/droplets/{id}/actions")).len(),
        1,
        "nothing sent again"
    );
    fake.assert_no_violations();
}
