//! Ansible inventories against their runbook equivalents, from the files of
//! `tests/fixtures/ansible/` (its README says how they are laid out).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;
use crate::error::Error;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ansible")
}

/// Reads a fixture as its own file name (so messages name it as a user's would be named).
fn load(path: &Path) -> Result<Inventory, Error> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap();
    Inventory::parse("fixture", Path::new(name), &text)
}

/// What a host is to a run, as text to compare and to show when it differs.
fn host_line(spec: &HostSpec) -> String {
    format!(
        "{} address={} port={:?} user={:?} connection={:?} key={:?}",
        spec.name, spec.address, spec.port, spec.user, spec.connection, spec.key
    )
}

/// Everything two inventories must agree on, as (what, value) pairs: hosts in order with
/// their settings, every group's members, children and hosts through its children, and
/// each host's merged variables and groups.
fn facts(inv: &Inventory) -> Vec<(String, serde_json::Value)> {
    let none = Vars::new();
    let mut out = vec![
        (
            "hosts, in order".to_string(),
            json!(inv.hosts.values().map(host_line).collect::<Vec<_>>()),
        ),
        ("groups".into(), json!(inv.groups.keys().collect::<BTreeSet<_>>())),
        ("global vars".into(), json!(inv.global_vars(&none))),
    ];
    for (name, g) in &inv.groups {
        out.push((
            format!("group {name}: hosts"),
            json!(g.hosts.iter().collect::<BTreeSet<_>>()),
        ));
        out.push((
            format!("group {name}: children"),
            json!(g.children.iter().collect::<BTreeSet<_>>()),
        ));
        out.push((format!("group {name}: all its hosts"), json!(inv.group_hosts(name))));
    }
    for h in inv.hosts.keys() {
        out.push((format!("host {h}: vars"), json!(inv.host_vars(h, &none))));
        let groups: BTreeSet<String> = inv.groups_of(h).into_iter().collect();
        out.push((format!("host {h}: groups"), json!(groups)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn ansible_inventories_are_their_toml_equivalents() {
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ini" || x == "yml" || x == "yaml"))
        .collect();
    entries.sort();
    for ansible in entries {
        let a = load(&ansible);
        assert_equivalent(&ansible, a);
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} Ansible inventories checked");
}

/// An Ansible inventory with `group_vars/` and `host_vars/` beside it (read from where it
/// is, so that they are found).
#[test]
fn group_vars_and_host_vars_beside_it_are_read_as_ansible_reads_them() {
    let ansible = fixtures().join("vars_dirs/hosts.ini");
    let text = std::fs::read_to_string(&ansible).unwrap();
    assert_equivalent(&ansible, Inventory::parse("fixture", &ansible, &text));
}

/// `ansible` (already read) and the TOML beside it agree on every fact.
fn assert_equivalent(ansible: &Path, a: Result<Inventory, Error>) {
    let toml = ansible.with_extension("toml");
    let label = ansible.file_name().unwrap().to_string_lossy().into_owned();
    assert!(toml.is_file(), "{label} has no {}", toml.display());
    let a = a.unwrap_or_else(|e| panic!("{label}: {e}"));
    let t = load(&toml).unwrap_or_else(|e| panic!("{}: {e}", toml.display()));
    let (fa, ft) = (facts(&a), facts(&t));
    let names = |f: &[(String, serde_json::Value)]| f.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&fa),
        names(&ft),
        "{label}: hosts or groups differ from the TOML's"
    );
    for ((what, va), (_, vt)) in fa.iter().zip(&ft) {
        assert_eq!(
            va, vt,
            "{label}: {what} differs from the TOML's\n ansible: {va}\n    toml: {vt}"
        );
    }
    assert_eq!(fa, ft, "{label}");
}

/// Each refused inventory and its message, exactly (`UPDATE_ANSIBLE=1` rewrites them).
#[test]
fn refused_ansible_inventories_say_where_and_why() {
    let dir = fixtures().join("errors");
    let update = std::env::var_os("UPDATE_ANSIBLE").is_some();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x != "err"))
        .collect();
    entries.sort();
    let mut wrong = Vec::new();
    for path in &entries {
        let label = path.file_name().unwrap().to_string_lossy().into_owned();
        let got = match load(path) {
            Err(Error::Inventory(d)) => d.render(),
            Err(other) => panic!("{label}: not an inventory error: {other}"),
            Ok(_) => panic!("{label}: accepted"),
        };
        let expected = path.with_extension("err");
        if update {
            std::fs::write(&expected, format!("{got}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_default();
        if want.trim_end() != got {
            wrong.push(format!("{label}:\n--- expected\n{want}--- got\n{got}\n"));
        }
    }
    assert!(entries.len() >= 15, "only {} error cases", entries.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_ansible_file_without_its_extension_is_read_as_toml_and_says_so() {
    let e = Inventory::parse("hosts", Path::new("hosts"), "[webservers]\nfoo.example.com\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("= note: an inventory is read as TOML unless its name ends in .ini (Ansible's INI format) or .yml/.yaml (Ansible's YAML)"),
        "{e}"
    );
}

#[test]
fn connection_variables_merge_like_variables_and_leave_the_rest() {
    let text = "\
[all:vars]
ansible_user=deploy
ansible_python_interpreter=\"{{ ansible_playbook_python }}\"

[web]
web1
web2 ansible_user=root ansible_host=10.0.0.2

[web:vars]
ansible_port=2222
ansible_become=no

[db]
db1 ansible_ssh_port=5432 ansible_port=22
";
    let inv = Inventory::parse("t", Path::new("t.ini"), text).unwrap();
    let lines: Vec<String> = inv.hosts.values().map(host_line).collect();
    assert_eq!(
        lines,
        [
            "web1 address=web1 port=Some(2222) user=Some(\"deploy\") connection=Ssh key=None",
            "web2 address=10.0.0.2 port=Some(2222) user=Some(\"root\") connection=Ssh key=None",
            // Of two names for one setting, the later one in Ansible's list wins.
            "db1 address=db1 port=Some(5432) user=Some(\"deploy\") connection=Ssh key=None",
        ]
    );
    // Connection variables are settings now; Ansible's others stay, Jinja and all.
    assert_eq!(
        serde_json::Value::Object(inv.host_vars("web2", &Vars::new())),
        json!({"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    );
}

#[test]
fn yaml_values_follow_yaml_1_1_and_anchors_merge() {
    let text = "\
all:
  vars: &common
    enabled: yes
    mode: 0755
    version: \"1.10\"
    ratio: 1.10
    when: 2024-01-31
    list: [a, 1, ~]
    safe: !unsafe '{{ not a template }}'
  children:
    web:
      hosts:
        web1:
          <<: *common
          mode: 0644
";
    let inv = Inventory::parse("t", Path::new("t.yaml"), text).unwrap();
    assert_eq!(
        serde_json::Value::Object(inv.host_vars("web1", &Vars::new())),
        json!({"enabled": true, "mode": 420, "version": "1.10", "ratio": 1.1, "when": "2024-01-31",
               "list": ["a", 1, null], "safe": "{{ not a template }}"})
    );
}

/// Every documented refused variable is refused, and every connection variable sets its
/// setting: the reference's tables are the parser's.
#[test]
fn the_documented_ansible_variables_are_the_ones_read() {
    for (keys, why) in crate::builtins::ANSIBLE_REFUSED_KEYS {
        for key in *keys {
            let e = Inventory::parse("t", Path::new("t.ini"), &format!("[g]\nh {key}=x\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{key}: {e}");
        }
    }
    for (key, setting, _) in crate::builtins::ANSIBLE_HOST_KEYS {
        let value = match *setting {
            "port" => "2200",
            "connection" => "local",
            _ => "x",
        };
        let inv = Inventory::parse(
            "t",
            Path::new("t.yml"),
            &format!("g:\n  hosts:\n    h:\n      {key}: {value}\n"),
        )
        .unwrap();
        let h = &inv.hosts["h"];
        let got = match *setting {
            "address" => h.address.clone(),
            "port" => format!("{}", h.port.unwrap_or_default()),
            "user" => h.user.clone().unwrap_or_default(),
            "key" => h.key.clone().unwrap_or_default(),
            "connection" => format!("{:?}", h.connection).to_lowercase(),
            other => panic!("undocumented setting {other}"),
        };
        assert_eq!(got, value, "{key}");
        assert!(h.vars.is_empty(), "{key} stayed a variable");
    }
}

#[test]
fn a_vars_file_is_checked_like_the_inventory_and_named_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("group_vars")).unwrap();
    std::fs::write(
        dir.path().join("group_vars/web.yml"),
        "http_port: 80\nansible_become_password: x\n",
    )
    .unwrap();
    let path = dir.path().join("hosts.ini");
    let e = Inventory::parse("t", &path, "[web]\nweb1\n").unwrap_err().to_string();
    assert!(
        e.starts_with("`ansible_become_password` is an Ansible setting runbook cannot honour"),
        "{e}"
    );
    assert!(e.contains("group_vars/web.yml:2:1"), "{e}");
    std::fs::write(
        dir.path().join("group_vars/web.yml"),
        "$ANSIBLE_VAULT;1.1;AES256\n6238\n",
    )
    .unwrap();
    let e = Inventory::parse("t", &path, "[web]\nweb1\n").unwrap_err().to_string();
    assert!(e.starts_with("this file is encrypted with Ansible Vault"), "{e}");
    std::fs::write(dir.path().join("group_vars/web.yml"), "- a\n").unwrap();
    let e = Inventory::parse("t", &path, "[web]\nweb1\n").unwrap_err().to_string();
    assert!(
        e.starts_with("a variables file is a map of variables, not a list"),
        "{e}"
    );
}

/// Absurd nesting is an error, not a crash: YAML 100,000 levels deep, and groups nested by
/// `children` deeper than runbook takes.
#[test]
fn absurdly_deep_yaml_is_an_error() {
    let deep = format!("all:\n  vars:\n    x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let e = Inventory::parse("t", Path::new("t.yml"), &deep)
        .unwrap_err()
        .to_string();
    assert!(
        // The YAML parser's own limit comes first.
        e.starts_with("invalid inventory t.yml: recursion limit exceeded\n  --> t.yml:3:"),
        "{}",
        &e[..e.len().min(300)]
    );
    let mut groups = String::new();
    for i in 0..150 {
        groups.push_str(&format!("{}g{i}:\n{}  children:\n", "    ".repeat(i), "    ".repeat(i)));
    }
    let e = Inventory::parse("t", Path::new("t.yml"), &groups)
        .unwrap_err()
        .to_string();
    assert!(e.contains("groups nest 150 deep"), "{e}");
}
