use std::path::Path;

use serde_json::json;

use super::*;

const INV: &str = r#"
[vars]
app = "ace"
port = 1
region = "fra1"

[groups.web]
hosts = ["web1", "web2"]
[groups.web.vars]
port = 2
tier = "front"

[groups.app]
hosts = ["app1", "app2"]

[groups.db]
hosts = ["db1", "db2"]

[groups.backend]
children = ["app", "db"]
[groups.backend.vars]
tier = "back"
port = 3

[groups.app.vars]
port = 4

[hosts.web1]
address = "10.0.0.1"
[hosts.web1.vars]
port = 5
"#;

fn inv() -> Inventory {
    Inventory::parse("test", Path::new("inv.toml"), INV).unwrap()
}

fn inventory_error(text: &str) -> String {
    match Inventory::parse("test", Path::new("inv.toml"), text) {
        Err(Error::Inventory(d)) => d.render(),
        other => panic!("expected an inventory error, got {:?}", other.map(|i| i.name)),
    }
}

#[test]
fn variables_cascade_all_group_child_host_cli() {
    let inv = inv();
    let none = Vars::new();
    // host var beats group var beats [vars]
    assert_eq!(inv.host_vars("web1", &none)["port"], json!(5));
    assert_eq!(inv.host_vars("web2", &none)["port"], json!(2));
    // a child group (app) beats its parent (backend)
    assert_eq!(inv.host_vars("app1", &none)["port"], json!(4));
    assert_eq!(inv.host_vars("app1", &none)["tier"], json!("back"));
    assert_eq!(inv.host_vars("db1", &none)["port"], json!(3));
    // [vars] reach every host
    assert_eq!(inv.host_vars("db2", &none)["region"], json!("fra1"));
    // --var beats everything
    let mut cli = Vars::new();
    cli.insert("port".into(), json!(9));
    assert_eq!(inv.host_vars("web1", &cli)["port"], json!(9));
    assert_eq!(inv.global_vars(&cli)["port"], json!(9));
}

#[test]
fn hosts_default_their_address_to_their_name() {
    let inv = inv();
    assert_eq!(inv.hosts["web1"].address, "10.0.0.1");
    assert_eq!(inv.hosts["db2"].address, "db2");
    assert_eq!(inv.hosts["db2"].connection, ConnectionKind::Ssh);
}

#[test]
fn groups_of_follows_children() {
    assert_eq!(inv().groups_of("app2"), vec!["all", "app", "backend"]);
}

#[test]
fn patterns_select_in_inventory_order() {
    let inv = inv();
    let sel = |p: &str| inv.select(p).unwrap();
    assert_eq!(sel("web"), ["web1", "web2"]);
    assert_eq!(sel("db2"), ["db2"]);
    assert_eq!(sel("all").len(), 6);
    assert_eq!(sel("backend"), ["app1", "app2", "db1", "db2"]);
    assert_eq!(sel("*2"), ["web2", "app2", "db2"]);
    assert_eq!(sel("db,web1"), ["web1", "db1", "db2"]);
    assert_eq!(sel("backend,!db2"), ["app1", "app2", "db1"]);
    assert_eq!(sel("!web"), ["app1", "app2", "db1", "db2"]);
    assert_eq!(sel("all,&*1"), ["web1", "app1", "db1"]);
    assert_eq!(sel("web[2-9]"), ["web2"]);
    assert!(sel("nothing*").is_empty());
}

#[test]
fn unknown_names_in_patterns_are_errors() {
    let err = inv().select("web,dbb").unwrap_err();
    assert!(err.starts_with("unknown group or host `dbb`"), "{err}");
    assert!(err.contains("groups: all, web, app, db, backend"), "{err}");
}

#[test]
fn toml_syntax_errors_point_at_line_and_column() {
    let err = inventory_error("[vars]\napp = \"x\"\nport = = 3\n");
    assert!(err.contains("--> inv.toml:3:8"), "{err}");
    assert!(err.contains(" 3 | port = = 3"), "{err}");
}

#[test]
fn unknown_keys_are_rejected_with_their_location() {
    let err = inventory_error("[groups.web]\nhots = [\"a\"]\n");
    assert!(err.contains("unknown field `hots`"), "{err}");
    assert!(err.contains("inv.toml:2:1"), "{err}");
}

#[test]
fn unknown_child_groups_and_cycles_are_rejected() {
    let err = inventory_error("[groups.a]\nchildren = [\"b\"]\n");
    assert!(err.contains("group `a` has unknown child group `b`"), "{err}");
    assert!(err.contains("inv.toml:2:13"), "{err}");
    let err = inventory_error("[groups.a]\nchildren = [\"b\"]\n[groups.b]\nchildren = [\"a\"]\n");
    assert!(err.contains("groups contain each other: a → b → a"), "{err}");
}

#[test]
fn cli_vars_keep_simple_types() {
    assert_eq!(parse_var("rollback=true").unwrap(), ("rollback".into(), json!(true)));
    assert_eq!(parse_var("n=3").unwrap().1, json!(3));
    assert_eq!(parse_var("v=1.4.2").unwrap().1, json!("1.4.2"));
    assert_eq!(parse_var("s=").unwrap().1, json!(""));
    assert_eq!(parse_var("url=http://x?a=b").unwrap().1, json!("http://x?a=b"));
    assert!(parse_var("novalue").is_err());
}
