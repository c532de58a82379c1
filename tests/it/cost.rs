//! What an inventory costs a month and what a plan changes about it, through the binary:
//! against the fake DigitalOcean API (its sizes are the documented example's: s-1vcpu-1gb
//! at $5.00), and with the docker provider on the real engine, priced from its copy of
//! DigitalOcean's sizes (s-1vcpu-1gb at $6.00).

use serde_json::{Value, json};

use crate::cloud_docker::{docker, docker_project, engine_scope};
use crate::support::Project;
use crate::support::fake_do::{FakeDo, TOKEN};
use crate::support::testbed::client_key;

/// A project whose inventory `cloud` uses the fake API, with `extra` appended.
fn project(fake: &FakeDo, extra: &str) -> Project {
    let p = Project::new();
    p.write(
        "inventory/cloud.toml",
        &format!(
            "[cloud]\nprovider = \"digitalocean\"\ntag = \"runbook:test\"\nendpoint = \"{}\"\ntoken_secret = \"do_token\"\n{extra}",
            fake.url()
        ),
    );
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
    p
}

/// The shipped `examples/inventory/prod.toml`, pointed at the fake API.
fn prod_project(fake: &FakeDo) -> Project {
    let p = Project::new();
    let prod = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/inventory/prod.toml")).unwrap();
    let prod = prod.replacen("[cloud]\n", &format!("[cloud]\nendpoint = \"{}\"\n", fake.url()), 1);
    // Host steps run on this controller host only: the fake's droplets are not reachable.
    p.write(
        "inventory/prod.toml",
        &format!("{prod}\n[hosts.ctl]\nconnection = \"local\"\n"),
    );
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
    p.write("inventory/secrets/db_password", "not printed\n");
    p.write("inventory/secrets/replication_password", "not printed either\n");
    p
}

/// A droplet of the fake with the tags, at a documentation address.
fn droplet(fake: &FakeDo, name: &str, tags: &[&str], n: u8) -> i64 {
    let mut st = fake.state();
    let id = st.add_droplet(name, tags);
    let d = st.droplets.last_mut().unwrap();
    d["networks"] = json!({"v4": [
        {"ip_address": format!("10.110.0.{n}"), "netmask": "255.255.240.0", "gateway": "nil", "type": "private"},
        {"ip_address": format!("203.0.113.{n}"), "netmask": "255.255.255.0", "gateway": "203.0.113.1", "type": "public"},
    ], "v6": []});
    id
}

fn snapshot(fake: &FakeDo, name: &str, droplet: i64, gigabytes: f64) {
    let mut st = fake.state();
    let id = 9000 + st.snapshots.len() as i64;
    st.snapshots.push(
        json!({"id": id, "name": name, "droplet_id": droplet, "created_at": "2020-07-28T16:47:44Z",
                             "size_gigabytes": gigabytes, "min_disk_size": 25}),
    );
}

fn cost_event(out: &crate::support::Output) -> Value {
    out.events()
        .into_iter()
        .find(|e| e["event"] == "cost")
        .unwrap_or_else(|| panic!("no cost event\n{}", out.all()))
}

#[test]
fn an_inventorys_monthly_cost_lists_its_droplets_snapshots_and_dns() {
    let fake = FakeDo::start();
    let web1 = droplet(&fake, "web1", &["runbook:test", "role:web"], 11);
    droplet(&fake, "db1", &["runbook:test", "role:db"], 12);
    let other = droplet(&fake, "other", &["someone-else"], 13);
    snapshot(&fake, "web1-base", web1, 2.34);
    snapshot(&fake, "other-base", other, 20.0);
    let p = project(&fake, "");

    let o = p.runbook(&["cost", "-i", "cloud"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<Vec<&str>> = o.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    for want in [
        vec!["droplet", "db1", "s-1vcpu-1gb", "$5.00"],
        vec!["droplet", "web1", "s-1vcpu-1gb", "$5.00"],
        vec!["snapshot", "web1-base", "2.34", "GB", "$0.14"],
        vec!["dns", "DigitalOcean", "DNS", "not", "billed", "free"],
        vec!["total", "$10.14"],
    ] {
        assert!(lines.contains(&want), "missing {want:?}\n{}", o.all());
    }
    assert!(
        !o.stdout.contains("other"),
        "another inventory's droplet and snapshot\n{}",
        o.all()
    );
    assert!(!o.all().contains(TOKEN));

    let json = p.runbook(&["cost", "-i", "cloud", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.all());
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (doc["currency"].as_str(), doc["total_cents"].as_i64()),
        (Some("USD"), Some(1014))
    );
    let cents: Vec<i64> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["monthly_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(cents, [500, 500, 14, 0]);

    // Over a budget: said, and exit 2 for CI.
    let over = p.runbook(&["cost", "-i", "cloud", "--budget", "10"]);
    assert_eq!(over.code, 2, "{}", over.all());
    assert!(
        over.stdout.contains("OVER the budget of $10.00 by $0.14"),
        "{}",
        over.all()
    );
    assert_eq!(
        fake.requests("GET", "/v2/sizes").len(),
        3,
        "sizes asked once per command"
    );
    fake.assert_no_violations();
}

/// The recipe's two plans on DigitalOcean: provision adds three droplets; replicate three
/// snapshots (estimated from the droplets' disks) and three droplets more.
#[test]
fn provision_and_replicate_plans_end_with_the_monthly_cost_before_and_after() {
    let fake = FakeDo::start();
    let p = prod_project(&fake);
    let pb = |name: &str| format!("{}/playbooks/{name}.rhai", env!("CARGO_MANIFEST_DIR"));

    let o = p.runbook(&["play", &pb("provision"), "-i", "prod", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    for role in ["app", "web", "db"] {
        let line = format!("  + droplet ace-{role}1 (s-1vcpu-1gb)  +$5.00");
        assert!(o.stdout.contains(&line), "missing {line:?}\n{}", o.all());
    }
    assert!(
        o.stdout
            .contains("monthly cost would go from $0.00 to $15.00 (+$15.00)"),
        "{}",
        o.all()
    );
    let json = p.runbook(&["play", &pb("provision"), "-i", "prod", "--dry-run", "-o", "json"]);
    let e = cost_event(&json);
    assert_eq!(
        (
            &e["before_cents"],
            &e["after_cents"],
            &e["difference_cents"],
            &e["currency"]
        ),
        (&json!(0), &json!(1500), &json!(1500), &json!("USD"))
    );
    assert_eq!(e["changes"].as_array().unwrap().len(), 3);

    // Provisioned (made here as the API would have them), replicate plans the copies.
    for (n, role) in ["app", "web", "db"].iter().enumerate() {
        droplet(
            &fake,
            &format!("ace-{role}1"),
            &["runbook:ace", &format!("role:{role}")],
            21 + n as u8,
        );
    }
    let o = p.runbook(&["play", &pb("replicate"), "-i", "prod", "--dry-run", "--limit", "ctl"]);
    assert_eq!(o.code, 0, "{}", o.all());
    for role in ["app", "web", "db"] {
        for line in [
            format!("  + snapshot ace-{role}1-base (25 GB, the disk of s-1vcpu-1gb (estimate))  ~+$1.50"),
            format!("  + droplet ace-{role}2 (s-1vcpu-1gb)  +$5.00"),
        ] {
            assert!(o.stdout.contains(&line), "missing {line:?}\n{}", o.all());
        }
    }
    assert!(
        o.stdout
            .contains("monthly cost would go from $15.00 to $34.50 (+$19.50)"),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("an estimate"), "{}", o.all());
    let json = p.runbook(&[
        "play",
        &pb("replicate"),
        "-i",
        "prod",
        "--dry-run",
        "--limit",
        "ctl",
        "-o",
        "json",
    ]);
    let e = cost_event(&json);
    assert_eq!(
        (&e["before_cents"], &e["after_cents"], &e["estimate"]),
        (&json!(1500), &json!(3450), &json!(true))
    );
    assert_eq!(fake.droplet_names(), ["ace-app1", "ace-db1", "ace-web1"]);
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "a dry run only reads"
    );
    assert!(!o.all().contains(TOKEN) && !o.all().contains("not printed"));
    fake.assert_no_violations();
}

const SNAPSHOT: &str = r#"
step("make", || {
    let d = cloud::droplet("web1", #{ size: "s-2vcpu-4gb", image: "ubuntu-20-04-x64", region: "nyc3" });
    cloud::snapshot(d, "web1-base");
});
"#;

/// A snapshot is planned at its droplet's disk and billed, once taken, by the
/// `size_gigabytes` the API reports; deleting it and the droplet takes them off.
#[test]
fn snapshots_are_priced_by_their_size_once_taken() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    fake.state().snapshot_gigabytes = json!(10.5);
    // A size of the API's list besides the documented one: $24.00, an 80 GB disk.
    fake.state().add_size("s-2vcpu-4gb", 2, 4096, 80, 24.0);
    let p = project(&fake, "");
    p.write("snapshot.rhai", SNAPSHOT);
    p.write(
        "remove.rhai",
        "step(\"remove\", || { cloud::delete_snapshot(\"web1-base\"); cloud::destroy(\"web1\"); });\n",
    );

    let plan = p.runbook(&["play", "snapshot.rhai", "-i", "cloud", "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(plan.stdout.contains("from $0.00 to $28.80 (+$28.80)"), "{}", plan.all());
    let estimate = "  + snapshot web1-base (80 GB, the disk of s-2vcpu-4gb (estimate))  ~+$4.80";
    assert!(plan.stdout.contains(estimate), "{}", plan.all());

    let run = p.runbook(&["play", "snapshot.rhai", "-i", "cloud"]);
    assert_eq!(run.code, 0, "{}", run.all());
    // 10.5 GB at $0.06: $0.63, not the $4.80 its 80 GB disk would be.
    assert!(
        run.stdout.contains("  + snapshot web1-base (10.5 GB)  +$0.63"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("monthly cost went from $0.00 to $24.63 (+$24.63)"),
        "{}",
        run.all()
    );
    let o = p.runbook(&["cost", "-i", "cloud"]);
    assert!(
        o.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["snapshot", "web1-base", "10.5", "GB", "$0.63"]),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("total $24.63"), "{}", o.all());

    let gone = p.runbook(&["play", "remove.rhai", "-i", "cloud", "--budget", "1"]);
    assert_eq!(gone.code, 0, "taking things off is never refused\n{}", gone.all());
    for line in [
        "  - snapshot web1-base (10.5 GB)  -$0.63",
        "  - droplet web1 (s-2vcpu-4gb)  -$24.00",
        "monthly cost went from $24.63 to $0.00 (-$24.63)",
    ] {
        assert!(gone.stdout.contains(line), "missing {line:?}\n{}", gone.all());
    }
    fake.assert_no_violations();
}

const THREE: &str = r#"
step("droplets", || {
    for n in ["web1", "web2", "db1"] {
        cloud::droplet(n, #{ size: "s-1vcpu-1gb", image: "ubuntu-20-04-x64", region: "nyc3" });
    }
});
"#;

/// A budget refuses a plan that would exceed it (the dry run fails naming the total and the
/// items), and a real run refuses each change that would, before making it.
#[test]
fn a_budget_refuses_a_plan_and_a_run_makes_nothing_over_it() {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    let p = project(&fake, "\n[cost]\nbudget_monthly = 12\n");
    p.write("three.rhai", THREE);

    let plan = p.runbook(&["play", "three.rhai", "-i", "cloud", "--dry-run"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(
        plan.stderr.contains(
            "the plan is refused by the budget: the monthly cost would be $15.00, over the budget of $12.00 by $3.00: \
             droplet web1 (s-1vcpu-1gb) $5.00, droplet web2 (s-1vcpu-1gb) $5.00, droplet db1 (s-1vcpu-1gb) $5.00"
        ),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout.contains("OVER the budget of $12.00 by $3.00"),
        "{}",
        plan.all()
    );
    let json = p.runbook(&["play", "three.rhai", "-i", "cloud", "--dry-run", "-o", "json"]);
    assert_eq!(json.code, 2);
    let e = cost_event(&json);
    assert_eq!((&e["budget_cents"], &e["over_budget"]), (&json!(1200), &json!(true)));
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "a dry run only reads"
    );

    // A real run under a budget below the first droplet creates nothing.
    let none = p.runbook(&["play", "three.rhai", "-i", "cloud", "--budget", "4"]);
    assert_eq!(none.code, 2, "{}", none.all());
    assert!(
        none.all().contains(
            "cloud::droplet(\"web1\"): refused by the budget, nothing was made: the monthly cost would be $5.00, \
             over the budget of $4.00 by $1.00: droplet web1 (s-1vcpu-1gb) $5.00"
        ),
        "{}",
        none.all()
    );
    assert!(fake.droplet_names().is_empty());
    assert!(fake.requests("POST", "/v2/droplets").is_empty());

    // Within the inventory's $12: the changes that fit are made, the one that does not is not.
    let some = p.runbook(&["play", "three.rhai", "-i", "cloud"]);
    assert_eq!(some.code, 2, "{}", some.all());
    assert!(
        some.all().contains("cloud::droplet(\"db1\"): refused by the budget"),
        "{}",
        some.all()
    );
    assert_eq!(fake.droplet_names(), ["web1", "web2"]);
    assert!(!some.all().contains(TOKEN));
    fake.assert_no_violations();
}

#[test]
fn cost_settings_mistakes_are_reported_where_they_are() {
    let fake = FakeDo::start();
    let p = project(&fake, "\n[cost]\nbudget_montly = 40\n");
    let o = p.runbook(&["cost", "-i", "cloud"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr
            .contains("unknown key `budget_montly` in [cost]; did you mean `budget_monthly`?"),
        "{}",
        o.all()
    );
    assert!(o.stderr.contains("inventory/cloud.toml:8:1"), "{}", o.all());

    for (bad, says) in [
        (
            "budget_monthly = \"forty\"",
            "[cost] budget_monthly must be an amount a month (a number like 40 or 0.06), not \"forty\"",
        ),
        (
            "budget_monthly = 39.999",
            "[cost] budget_monthly: 39.999 has more than 2 decimals",
        ),
        (
            "currency = \"dollars\"",
            "[cost] currency: \"dollars\" is not a currency code",
        ),
    ] {
        p.write(
            "inventory/cloud.toml",
            &format!("[cloud]\nprovider = \"digitalocean\"\ntag = \"t\"\n\n[cost]\n{bad}\n"),
        );
        let o = p.runbook(&["play", "x.rhai", "-i", "cloud", "--dry-run"]);
        assert_eq!(o.code, 1, "{}", o.all());
        assert!(o.stderr.contains(says), "missing {says:?}\n{}", o.all());
        assert!(o.stderr.contains("inventory/cloud.toml:6:"), "{}", o.all());
    }
    let o = p.runbook(&["cost", "-i", "cloud", "--budget", "forty"]);
    assert_eq!(o.code, 1, "a usage error\n{}", o.all());
    assert!(o.stderr.contains("\"forty\" is not an amount"), "{}", o.all());
}

/// The shipped local inventory on the docker provider: its plans and `runbook cost` show the
/// prices of the DigitalOcean droplets it stands in for.
#[test]
fn the_docker_provider_prices_the_local_inventory_as_digitalocean_would() {
    let (prefix, _network, _cleanup) = engine_scope("rbq", &["app1-base"]);
    let p = docker_project(&prefix);
    let local = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/inventory/local.toml")).unwrap();
    let local = local
        .replace("tag = \"runbook:local\"", &format!("tag = \"runbook:{prefix}\""))
        .replace(
            "~/.cache/runbook-testbed/id_ed25519",
            &client_key().display().to_string(),
        )
        .replace("known_hosts.local", "known_hosts");
    p.write(
        &format!("inventory/{prefix}.toml"),
        &format!("{local}\n[hosts.ctl]\nconnection = \"local\"\n"),
    );
    p.write("inventory/secrets/db_password", "not printed\n");
    p.write("inventory/secrets/replication_password", "not printed either\n");
    p.write(
        "droplets.rhai",
        "import \"recipe\" as recipe;\nstep(\"droplets\", || {\n    let names = recipe::droplet_names(1);\n    \
         for role in recipe::roles() { cloud::droplet(names[role], recipe::droplet_spec(role)); }\n});\n",
    );
    p.write(
        "snapshot.rhai",
        &format!("step(\"snap\", || cloud::snapshot(\"{prefix}-app1\", \"{prefix}-app1-base\"));\n"),
    );
    p.write(
        "typo.rhai",
        &format!("step(\"x\", || cloud::droplet(\"{prefix}-x\", #{{ size: \"s-1cpu-1gb\" }}));\n"),
    );
    let name = format!("name={prefix}");
    let play = |args: &[&str]| {
        let mut all = vec!["play"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-i", &prefix, "--var", &name]);
        p.runbook(&all)
    };
    let pb = |name: &str| format!("{}/playbooks/{name}.rhai", env!("CARGO_MANIFEST_DIR"));

    let plan = play(&[&pb("provision"), "--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("  + droplet {prefix}-db1 (s-1vcpu-1gb)  +$6.00")),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout
            .contains("monthly cost would go from $0.00 to $18.00 (+$18.00)"),
        "{}",
        plan.all()
    );

    let made = play(&["droplets.rhai"]);
    assert_eq!(made.code, 0, "{}", made.all());
    assert!(
        made.stdout.contains("monthly cost went from $0.00 to $18.00 (+$18.00)"),
        "{}",
        made.all()
    );
    let label = docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"runbook.size\"}}",
        &format!("{prefix}-web1"),
    ]);
    assert_eq!(label.trim(), "s-1vcpu-1gb");

    // Replicate's plan: three snapshots at the 25 GB disk, three droplets more.
    let plan = play(&[&pb("replicate"), "--dry-run", "--limit", "ctl"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("monthly cost would go from $18.00 to $40.50 (+$22.50)"),
        "{}",
        plan.all()
    );

    let snap = play(&["snapshot.rhai"]);
    assert_eq!(snap.code, 0, "{}", snap.all());
    let o = p.runbook(&["cost", "-i", &prefix]);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<Vec<&str>> = o.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    for role in ["app", "web", "db"] {
        let want = format!("droplet {prefix}-{role}1 s-1vcpu-1gb $6.00");
        assert!(
            lines.iter().any(|l| l.join(" ") == want),
            "missing {want:?}\n{}",
            o.all()
        );
    }
    let snapshot_line = format!("snapshot {prefix}-app1-base 25 GB, the disk of s-1vcpu-1gb (estimate) ~$1.50");
    assert!(
        lines.iter().any(|l| l.join(" ") == snapshot_line),
        "missing {snapshot_line:?}\n{}",
        o.all()
    );
    assert!(o.stdout.contains("total $19.50"), "{}", o.all());

    // A size the table does not know is an error naming the known ones; nothing is made.
    let typo = play(&["typo.rhai"]);
    assert_eq!(typo.code, 2, "{}", typo.all());
    assert!(
        typo.all().contains("unknown droplet size `s-1cpu-1gb`") && typo.all().contains("s-1vcpu-1gb, s-1vcpu-2gb"),
        "{}",
        typo.all()
    );
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={prefix}-x")])
            .trim()
            .is_empty()
    );
}

const HEALTH_CHECKED: &str = r#"
step("dns", || dns::a_record("example.com", "app", ["192.0.2.10", "192.0.2.11"], #{
    health_check: #{ type: "HTTP", port: 80, path: "/health" },
}));
"#;

/// Route 53 bills its hosted zones and health checks: the plan prices the checks it adds,
/// `runbook cost` the zones of `[cost] dns_zones` with their checks, at the table's prices
/// or the inventory's.
#[test]
fn route53_zones_and_health_checks_are_priced() {
    use crate::support::fake_route53::{ACCESS_KEY, FakeRoute53, SECRET_KEY};
    let fake = FakeRoute53::start();
    let p = Project::new();
    p.write(
        "inventory/r53.toml",
        &format!(
            "[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n\n[cost]\ndns_zones = [\"example.com\"]\n",
            fake.url()
        ),
    );
    p.write("dns.rhai", HEALTH_CHECKED);
    let env = [("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)];

    let plan = p.runbook_env(&["play", "dns.rhai", "-i", "r53", "--dry-run"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("  + health check app.example.com 192.0.2.10 (Route 53 health check)  +$0.75"),
        "{}",
        plan.all()
    );
    assert!(
        plan.stdout.contains("would go from $0.50 to $2.00 (+$1.50)"),
        "{}",
        plan.all()
    );
    assert!(fake.state().health_checks.is_empty(), "a dry run makes none");

    let refused = p.runbook_env(&["play", "dns.rhai", "-i", "r53", "--budget", "1.50"], &env);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused.all().contains("refused by the budget, nothing was made"),
        "{}",
        refused.all()
    );
    assert!(fake.state().health_checks.is_empty() && fake.state().sets.is_empty());

    let run = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(run.code, 0, "{}", run.all());
    let o = p.runbook_env(&["cost", "-i", "r53"], &env);
    assert_eq!(o.code, 0, "{}", o.all());
    let lines: Vec<String> = o
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for want in [
        "dns zone example.com Route 53 hosted zone $0.50",
        "health check app.example.com 192.0.2.10 Route 53 health check $0.75",
        "health check app.example.com 192.0.2.11 Route 53 health check $0.75",
        "total $2.00",
    ] {
        assert!(lines.iter().any(|l| l == want), "missing {want:?}\n{}", o.all());
    }
    assert!(!o.all().contains(SECRET_KEY));

    // The inventory's own prices.
    p.write(
        "inventory/r53.toml",
        &format!(
            "[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n\n[cost]\ndns_zones = [\"example.com\"]\n\
             route53_zone_month = 0.4\nroute53_health_check_month = 1\ncurrency = \"EUR\"\n",
            fake.url()
        ),
    );
    let o = p.runbook_env(&["cost", "-i", "r53"], &env);
    assert!(o.stdout.contains("total €2.40"), "{}", o.all());
    fake.assert_no_violations();
}
