use std::path::Path;

use serde_json::json;

use super::*;
use crate::error::Error;

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
    // Through every level of children, in the inventory's order, each group once.
    let mut i = inv();
    for (name, hosts, children) in [
        ("top", vec![], vec!["mid", "backend"]),
        ("mid", vec![], vec!["app"]),
        ("lone", vec!["app2"], vec![]),
    ] {
        i.groups.insert(
            name.into(),
            crate::inventory::Group {
                hosts: hosts.into_iter().map(String::from).collect(),
                children: children.into_iter().map(String::from).collect(),
                ..Default::default()
            },
        );
    }
    assert_eq!(i.groups_of("app2"), vec!["all", "app", "backend", "top", "mid", "lone"]);
    assert_eq!(i.groups_of("nobody"), vec!["all"]);
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
fn inventory_dates_are_text_and_unrepresentable_floats_are_errors() {
    let inv = Inventory::parse("inv", Path::new("inv.toml"), "[vars]\nsince = 2024-01-31\n").unwrap();
    assert_eq!(inv.vars["since"], json!("2024-01-31"));
    let err = inventory_error("[groups.web]\nhosts = [\"a\"]\n[groups.web.vars]\nratio = nan\n");
    assert_eq!(
        err,
        "invalid inventory inv.toml: [groups.web.vars]: variable `ratio` is NaN, which a variable cannot hold"
    );
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
fn cli_vars_are_always_text() {
    let cases: &[(&str, (&str, &str))] = &[
        ("version=1.10", ("version", "1.10")),
        ("n=007", ("n", "007")),
        ("n=3", ("n", "3")),
        ("rollback=true", ("rollback", "true")),
        ("f=false", ("f", "false")),
        ("v=1.4.2", ("v", "1.4.2")),
        ("big=1e400", ("big", "1e400")),
        ("quoted=\"1.10\"", ("quoted", "\"1.10\"")),
        ("s=", ("s", "")),
        ("sp= a b ", ("sp", " a b ")),
        (" key =x", ("key", "x")),
        ("url=http://x?a=b", ("url", "http://x?a=b")),
    ];
    for (arg, (k, v)) in cases {
        assert_eq!(parse_var(arg), Ok((k.to_string(), json!(v))), "{arg}");
    }
    let errors: &[(&str, &str)] = &[
        ("novalue", "--var \"novalue\" is not of the form key=value"),
        ("=x", "--var \"=x\" has an empty key"),
    ];
    for (arg, err) in errors {
        assert_eq!(parse_var(arg).unwrap_err(), *err, "{arg}");
    }
}

#[test]
fn var_json_values_keep_their_types() {
    let cases: &[(&str, (&str, serde_json::Value))] = &[
        ("n=7", ("n", json!(7))),
        ("n=-7", ("n", json!(-7))),
        ("f=1.5", ("f", json!(1.5))),
        ("b=true", ("b", json!(true))),
        ("s=\"1.10\"", ("s", json!("1.10"))),
        ("l=[1, \"a\"]", ("l", json!([1, "a"]))),
        ("m={\"a\": {\"b\": null}}", ("m", json!({"a": {"b": null}}))),
        ("eq={\"x\": \"a=b\"}", ("eq", json!({"x": "a=b"}))),
    ];
    for (arg, (k, v)) in cases {
        assert_eq!(parse_var_json(arg), Ok((k.to_string(), v.clone())), "{arg}");
    }
    let errors: &[(&str, &str)] = &[
        ("novalue", "--var-json \"novalue\" is not of the form key=value"),
        ("=1", "--var-json \"=1\" has an empty key"),
        (
            "v=abc",
            "--var-json v: \"abc\" is not valid JSON: expected value at line 1 column 1 \
             (text needs JSON quotes, --var-json 'v=\"abc\"', or pass it as --var v=abc)",
        ),
        (
            "v=",
            "--var-json v: \"\" is not valid JSON: EOF while parsing a value at line 1 column 0 (text needs JSON quotes, --var-json 'v=\"\"', or pass it as --var v=)",
        ),
        (
            "l=[1,",
            "--var-json l: \"[1,\" is not valid JSON: EOF while parsing a value at line 1 column 3",
        ),
        (
            "n=18446744073709551615",
            "--var-json n: the integer 18446744073709551615 is out of range (scripts take integers from -9223372036854775808 to 9223372036854775807)",
        ),
    ];
    for (arg, err) in errors {
        assert_eq!(parse_var_json(arg).unwrap_err(), *err, "{arg}");
    }
}

#[test]
fn vars_files_are_typed_toml_with_located_errors() {
    let vars = parse_vars_file(
        "release.toml",
        "version = \"1.10\"\nserial = 2\nratio = 1.10\nrollback = false\nips = [\"10.0.0.5\"]\n[db]\nport = 5432\n",
    )
    .unwrap();
    assert_eq!(
        serde_json::Value::Object(vars),
        json!({"version": "1.10", "serial": 2, "ratio": 1.1, "rollback": false, "ips": ["10.0.0.5"], "db": {"port": 5432}})
    );
    let err = |text: &str| parse_vars_file("vars/prod.toml", text).unwrap_err().to_string();
    let e = err("version = \"1.10\"\nserial = = 2\n");
    assert!(e.starts_with("invalid vars file vars/prod.toml: "), "{e}");
    assert!(e.contains("--> vars/prod.toml:2:10"), "{e}");
    assert!(e.contains(" 2 | serial = = 2"), "{e}");
    let e = err("version = 1.10.2\n");
    assert!(e.contains("--> vars/prod.toml:1:"), "{e}");
    let e = err("a = 1\na = 2\n");
    assert!(e.contains("duplicate key"), "{e}");
    assert!(e.contains("--> vars/prod.toml:2:1"), "{e}");
    // Dates are their text (not serde's private map); a float no variable can hold is an error.
    let vars = parse_vars_file("v.toml", "day = 1979-05-27\nat = [1979-05-27T07:32:00Z]\n").unwrap();
    assert_eq!(
        serde_json::Value::Object(vars),
        json!({"day": "1979-05-27", "at": ["1979-05-27T07:32:00Z"]})
    );
    assert_eq!(
        err("[limits]\nmax = [1.0, inf]\n"),
        "invalid vars file vars/prod.toml: variable `limits.max[1]` is inf, which a variable cannot hold"
    );
    let e = read_vars_file(Path::new("/nonexistent/vars.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--vars-file /nonexistent/vars.toml does not exist");
}

#[test]
fn command_line_vars_apply_files_first_then_flags_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "x = 1\ny = 1\nz = 1\nw = 1\n").unwrap();
    std::fs::write(&b, "y = 2\nz = 2\n").unwrap();
    let args = [
        VarArg::Json("z=3".into()),
        VarArg::Text("z=text".into()),
        VarArg::Text("w=text".into()),
        VarArg::Json("w=4".into()),
    ];
    let vars = overrides(&[a, b], &args).unwrap();
    assert_eq!(
        serde_json::Value::Object(vars),
        json!({"x": 1, "y": 2, "z": "text", "w": 4})
    );
    // And over the inventory, for every host.
    let inv = inv();
    let cli = overrides(&[], &[VarArg::Text("port=9".into())]).unwrap();
    assert_eq!(inv.host_vars("web1", &cli)["port"], json!("9"));
    assert_eq!(inv.global_vars(&cli)["port"], json!("9"));
    let e = overrides(&[], &[VarArg::Json("n=x".into())]).unwrap_err();
    assert!(
        e.to_string().starts_with("--var-json n: \"x\" is not valid JSON"),
        "{e}"
    );
}

/// 100,000 groups chained by `children`: a clear error about the depth, not a stack
/// overflow; a long cycle is named; both in well under a second's work.
#[test]
fn absurdly_deep_or_long_cyclic_groups_are_errors_not_crashes() {
    let n = 100_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("[groups.g{i}]\nchildren = [\"g{}\"]\n", i + 1));
    }
    text.push_str(&format!("[groups.g{n}]\nhosts = [\"h\"]\n"));
    let started = std::time::Instant::now();
    let err = Inventory::parse("deep", Path::new("deep.toml"), &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("groups nest 100001 deep"), "{err}");
    let cyclic = text.replace(
        &format!("[groups.g{n}]\nhosts = [\"h\"]\n"),
        &format!("[groups.g{n}]\nchildren = [\"g0\"]\n"),
    );
    let err = Inventory::parse("loop", Path::new("loop.toml"), &cyclic)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("groups contain each other: g0 → g1 → g2"),
        "{}",
        &err[..200.min(err.len())]
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
