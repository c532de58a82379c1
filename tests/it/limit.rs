//! `--limit` chooses where steps run, never what the playbook sees (Docker test hosts).

use crate::support::{Output, Project, Testbed};

/// A cache server's firewall admits every app server: the rules come from `hosts("app")`.
const FIREWALL: &str = r#"
let apps = hosts("app");
step("firewall", hosts("cache,web"), |h| {
    let rules = [#{ port: 22, proto: "tcp" }];
    if "cache" in h.groups {
        for a in apps { rules.push(#{ port: 6379, proto: "tcp", from: a.address }); }
    } else {
        rules.push(#{ port: 80, proto: "tcp" });
    }
    h.ufw(#{ incoming: "deny", rules: rules, enabled: true });
});
"#;

/// The planned ufw changes on `host`, as (summary, command) pairs.
fn planned_on(o: &Output, host: &str) -> Vec<(String, String)> {
    o.events()
        .iter()
        .filter(|e| e["event"] == "change" && e["host"] == host)
        .map(|e| (e["summary"].to_string(), e["command"].to_string()))
        .collect()
}

#[test]
fn a_limited_run_plans_for_its_host_what_an_unlimited_one_does() {
    let tb = Testbed::start(4);
    let p = Project::new();
    let n: Vec<&str> = tb.hosts.iter().map(|h| h.name.as_str()).collect();
    let groups = format!(
        "[groups.app]\nhosts = [{:?}, {:?}]\n\n[groups.cache]\nhosts = [{:?}]\n\n[groups.web]\nhosts = [{:?}]\n\n",
        n[0], n[1], n[2], n[3]
    );
    p.write("inventory/test.toml", &format!("{groups}{}", tb.inventory("")));
    p.write("home/.ssh/known_hosts", &tb.known_hosts());
    p.write(
        "setup.rhai",
        r#"step("ufw", hosts("cache,web"), |h| h.apt(["ufw"], #{ update: true }));"#,
    );
    p.write("firewall.rhai", FIREWALL);
    let setup = p.runbook(&["play", "setup.rhai", "-i", "test"]);
    assert_eq!(setup.code, 0, "{}", setup.all());

    let cache = n[2];
    let full = p.runbook(&["play", "firewall.rhai", "-i", "test", "--dry-run", "-o", "json"]);
    assert_eq!(full.code, 0, "{}", full.all());
    let limited = p.runbook(&[
        "play",
        "firewall.rhai",
        "-i",
        "test",
        "--dry-run",
        "-o",
        "json",
        "--limit",
        cache,
    ]);
    assert_eq!(limited.code, 0, "{}", limited.all());
    let plan = planned_on(&full, cache);
    assert!(
        plan.iter()
            .any(|(_, cmd)| cmd.contains(&tb.hosts[0].ip) && cmd.contains(&tb.hosts[1].ip)),
        "the unlimited plan admits both app servers: {plan:?}"
    );
    assert_eq!(planned_on(&limited, cache), plan, "{}", limited.all());
    assert!(planned_on(&limited, n[3]).is_empty(), "{}", limited.all());
    let start = limited
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_start")
        .unwrap();
    assert_eq!(start["hosts"], serde_json::json!([cache]));
    assert_eq!(start["left_out"], 1, "web is a target left out by --limit");
    limited.assert_counts_agree();
    let text = p.runbook(&["play", "firewall.rhai", "-i", "test", "--dry-run", "--limit", cache]);
    assert!(
        text.stdout.contains("STEP firewall (1 host(s), 1 left out by --limit)"),
        "{}",
        text.all()
    );

    // For real: the limited host gets its whole rule set, the others are untouched.
    let run = p.runbook(&["play", "firewall.rhai", "-i", "test", "--limit", cache]);
    assert_eq!(run.code, 0, "{}", run.all());
    let rules = tb.sh(&tb.hosts[2], "ufw show added");
    for app in &tb.hosts[..2] {
        assert!(
            rules.contains(&format!("allow from {} to any port 6379 proto tcp", app.ip)),
            "{rules}"
        );
    }
    assert!(tb.sh(&tb.hosts[2], "ufw status").contains("Status: active"));
    assert!(tb.sh(&tb.hosts[3], "ufw status").contains("Status: inactive"));
    assert!(
        !tb.sh(&tb.hosts[3], "ufw show added").contains("80"),
        "web was left alone"
    );
}
