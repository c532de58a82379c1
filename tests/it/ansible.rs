//! Ansible inventories on the command line (local connection, no Docker): `-i inventory.ini`
//! plays on the hosts it lists with the variables it sets, `-i NAME` finds
//! `inventory/NAME.yml`, and a key runbook cannot honour stops the run before anything runs.

use crate::support::Test;

const INVENTORY_INI: &str = r#"
[all:vars]
region=fra1

[web]
web[1:2] ansible_connection=local http_port=8080

[db]
db1 ansible_connection=local

[app:children]
web
db

[app:vars]
tier="back end"
"#;

/// Each host prints what the play sees of it and runs a command on the controller.
const SHOW: &str = r#"
print(`region ${var("region")}`);
step("show", hosts("app"), |h| {
    let echoed = h.run(["echo", h.var("tier")]).stdout;
    echoed.trim();
    print(`${h.name}: groups=${h.groups} http_port=${h.var("http_port", "none")} region=${h.var("region")} echoed=${echoed}`);
});
"#;

#[test]
fn an_ini_inventory_gives_the_play_its_hosts_groups_and_vars() {
    let o = Test::new()
        .file("inventory.ini", INVENTORY_INI)
        .playbook("site.rhai", SHOW)
        .on("inventory.ini")
        .stdout_contains("region fra1")
        .stdout_contains(r#"web1: groups=["all", "web", "app"] http_port=8080 region=fra1 echoed=back end"#)
        .stdout_contains(r#"web2: groups=["all", "web", "app"] http_port=8080 region=fra1 echoed=back end"#)
        .stdout_contains(r#"db1: groups=["all", "db", "app"] http_port=none region=fra1 echoed=back end"#)
        .run();
    assert!(!o.stdout.contains("ansible_connection"), "{}", o.all());
}

#[test]
fn a_name_finds_a_yaml_inventory_in_inventory_dir() {
    Test::new()
        .file(
            "inventory/stage.yml",
            "all:\n  vars:\n    region: ams3\n  children:\n    app:\n      hosts:\n        app1:\n          ansible_connection: local\n",
        )
        .playbook(
            "site.rhai",
            r#"step("show", hosts("app"), |h| print(`${h.name} in ${h.var("region")}`));"#,
        )
        .on("stage")
        .stdout_contains("app1 in ams3")
        .run();
}

#[test]
fn a_key_runbook_cannot_honour_stops_the_run_at_its_line() {
    Test::new()
        .file(
            "hosts.ini",
            "[web]\nweb1 ansible_connection=local\n\n[web:vars]\nansible_become_password=hunter2\n",
        )
        .playbook(
            "site.rhai",
            r#"step("never", hosts("web"), |h| h.run(["touch", "ran"]));"#,
        )
        .on("hosts.ini")
        .code(1)
        .stderr_contains(
            "`ansible_become_password` is an Ansible setting runbook cannot honour: runbook escalates per operation",
        )
        .stderr_contains("--> hosts.ini:5:1")
        .run();
}
