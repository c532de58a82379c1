//! The API reference, written from the declarations in `builtins`: `runbook doc`,
//! `runbook doc NAME` and `docs/reference.md` (a test keeps the committed file current).

use std::fmt::Write;

use crate::builtins::{
    ANSIBLE_HOST_KEYS, ANSIBLE_REFUSED_KEYS, BUILTINS, Builtin, FACTS, HANDLERS, HOST_PROPERTIES, INVENTORY_KEYS,
    NOTIFY, Receiver,
};

/// Where the generated reference is committed.
pub const PATH: &str = "docs/reference.md";

/// One built-in, as `runbook doc NAME` prints it (Markdown, readable as text).
pub fn entry(b: &Builtin) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "### `{}`\n", b.signature());
    let _ = writeln!(t, "{}\n", b.doc);
    if !b.args.is_empty() {
        t.push_str("| argument | type | |\n| --- | --- | --- |\n");
        for a in b.args {
            let optional = if a.optional { " (optional)" } else { "" };
            let _ = writeln!(t, "| `{}`{optional} | {} | {} |", a.name, a.ty, a.doc);
        }
        t.push('\n');
    }
    if !b.options.is_empty() || b.notifies() {
        t.push_str("| option | type | default | |\n| --- | --- | --- | --- |\n");
        // `notify` last: every operation that reports `changed` takes it (see Handlers).
        for o in b.options.iter().chain(b.notifies().then_some(&NOTIFY)) {
            let _ = writeln!(t, "| `{}` | {} | {} | {} |", o.name, o.ty.name(), o.default, o.doc);
        }
        t.push('\n');
    }
    let _ = writeln!(t, "Returns {}.", b.returns);
    if !b.fields.is_empty() {
        t.push_str("\n| field | type | |\n| --- | --- | --- |\n");
        for f in b.fields {
            let _ = writeln!(t, "| `{}` | {} | {} |", f.name, f.ty, f.doc);
        }
    }
    let _ = writeln!(t, "\nDry run: {}.\n", b.dry_run);
    let _ = writeln!(t, "```rhai\n{}\n```", b.example);
    if b.receiver == Receiver::Global && b.name == "step" {
        let _ = writeln!(t, "\n#### Handlers\n\n{HANDLERS}");
    }
    t
}

/// The whole reference.
pub fn markdown() -> String {
    let mut t = String::from(
        "# runbook reference\n\n\
         Generated from the built-ins' declarations (`src/builtins.rs`) by `runbook doc --markdown`; \
         do not edit by hand. `runbook doc NAME` prints one entry (`runbook doc h.file`).\n\n\
         Options are a map after the positional arguments: `h.file(path, #{ mode: \"0644\" })`. An \
         unknown option is an error that names the nearest valid one; a value of the wrong type is \
         an error, never converted silently.\n",
    );
    type Wanted = fn(&Receiver) -> bool;
    let sections: [(&str, Wanted); 3] = [
        ("Playbook functions", |r| *r == Receiver::Global),
        ("Host operations", |r| *r == Receiver::Host),
        ("Modules", |r| matches!(r, Receiver::Module(_))),
    ];
    for (title, wanted) in sections {
        let _ = writeln!(t, "\n## {title}\n");
        if title == "Host operations" {
            t.push_str(
                "Called on a host inside a step (`|h| h.file(…)`). Each looks before it acts and \
                 changes only what differs; `sudo: true` or `user: \"name\"` runs it as another user; \
                 each that returns `changed` takes `notify` (see [Handlers](#handlers)).\n\n\
                 `h.run`, `h.file`, `h.template`, `h.line`, `h.dir`, `h.symlink` and `h.absent` are \
                 carried out together: inside a step each returns a *result* at once (its fields read \
                 like a map's: `r.changed`, `r[\"stdout\"]`; `r.to_map()` gives the map), and the step's \
                 operations on a host run in one batch, one script reading every fact they need and one \
                 more making every change, when the closure first reads a result, calls anything else \
                 (`h.fact`, another operation, `print`, a `cloud::`, `wait::` or `local::` call), works \
                 on another host, or ends. Their meaning is that of operations run one by one: the same \
                 changes in the same order, each planned against what the ones before it leave; a \
                 failure is reported at the failed call's line and nothing after it happens; inside a \
                 `try` (or a function called from one) an operation runs at once, so `catch` catches \
                 its failure. A read-only `h.run` whose turn comes before any change runs with the \
                 facts' script; when a change comes before it, it runs again after the change. A command \
                 that writes, an upload and a change guarded by `reload` or `confirm` end a batch: what \
                 follows is planned against the host as they leave it. `-vv` prints each step's round \
                 trips per host (scripts sent and files uploaded).\n\n\
                 Host properties (read-only):\n\n| property | type | |\n| --- | --- | --- |\n",
            );
            for f in HOST_PROPERTIES {
                let _ = writeln!(t, "| `h.{}` | {} | {} |", f.name, f.ty, f.doc);
            }
            t.push('\n');
        }
        for b in BUILTINS.iter().filter(|b| wanted(&b.receiver)) {
            t.push_str(&entry(b));
            t.push('\n');
        }
    }
    t.push_str("## Facts\n\n`h.fact(KIND, ARG)` returns a map with these fields.\n\n");
    for (kind, arg, fields) in FACTS {
        let arg = if arg.is_empty() {
            String::new()
        } else {
            format!(", {arg}")
        };
        let _ = writeln!(t, "- `{kind}`{arg}: {}", field_list(fields));
    }
    t.push_str(
        "\n## Inventory files\n\n`inventory/NAME.toml` (or a path given to `-i`); Ansible's INI and YAML \
         inventories too (below). Unknown keys are errors.\n\n",
    );
    t.push_str("| section | key | type | |\n| --- | --- | --- | --- |\n");
    for (section, key, ty, doc) in INVENTORY_KEYS {
        let _ = writeln!(t, "| `[{section}]` | `{key}` | {ty} | {doc} |");
    }
    t.push_str(ANSIBLE_INVENTORIES);
    t.push_str("| Ansible variable | host setting | |\n| --- | --- | --- |\n");
    for (var, setting, doc) in ANSIBLE_HOST_KEYS {
        let _ = writeln!(t, "| `{var}` | `{setting}` | {doc} |");
    }
    t.push_str(
        "\nRefused where they are set (the error names the file, line and column), because runbook \
         would not do what they ask (`ansible_become`, `ansible_sudo` or `ansible_su` set to false is \
         accepted: that is what runbook does anyway):\n\n| Ansible variables | why, and what to do instead |\n| --- | --- |\n",
    );
    for (vars, why) in ANSIBLE_REFUSED_KEYS {
        let vars: Vec<String> = vars.iter().map(|v| format!("`{v}`")).collect();
        let _ = writeln!(t, "| {} | {why} |", vars.join(", "));
    }
    t.push_str(ANSIBLE_LIMITS);
    t
}

/// How runbook reads Ansible's inventory formats (before the table of connection variables).
const ANSIBLE_INVENTORIES: &str = "
### Ansible inventories

`-i inventory.ini`, `-i hosts.yml` (or `.yaml`), and `-i NAME` when `inventory/NAME.ini`, `.yml` \
or `.yaml` exists (looked for after `inventory/NAME.toml`) read Ansible's INI and YAML inventory \
formats as Ansible's `ini` and `yaml` inventory plugins read them, so that a team moving from \
Ansible keeps its inventories as they are. Any other file name is read as TOML.

- **INI**: `[group]` sections of host lines, `[group:vars]` (one `key=value` a line), \
  `[group:children]` (one group a line, declared anywhere in the file), `[all:vars]`; hosts \
  before the first section are ungrouped; lines starting with `#` or `;` are comments. A host \
  line is `NAME key=value …`, split with shell quoting (`tier=\"back end\"`; a `#` outside quotes \
  ends the line), and `NAME:2222` sets its port. Values are typed as Ansible types them, as \
  Python literals: `80` is a number, `True` a boolean, `'80'` and `\"80\"` text, `[1, 2]` a list, \
  `{'a': 1}` a map, `None` nothing; anything else is the text as written (`FALSE`, `yes`, \
  `10.0.0.1`), and in a `:vars` section that is the whole rest of the line.
- **YAML**: a map of groups (`all:` or any others), each with `hosts` (a map from host to a map of \
  its variables, or to nothing), `vars` and `children` (groups again, to any depth). Values are \
  YAML 1.1 as Ansible reads it: `yes`/`no`/`on`/`off` are booleans, `0755` is 493, `1e3` is text; \
  anchors, aliases and `<<` merges work; `!unsafe` is text.
- **Ranges** in host names, in both: `www[01:50].example.com` (zero-padded like its begin), a \
  stride `www[01:50:2].example.com`, letters `db-[a:f].example.com`; several in one name.
- `all` is the inventory: its variables are `[vars]`, its children the top groups. `ungrouped` \
  holds the hosts of no other group (it exists when it has any). A host in several groups is \
  one host. Variables merge as Ansible merges them: `all`, then the host's groups from the \
  outermost in (groups of one depth by name), then the host's own.
- `group_vars/` and `host_vars/` beside the inventory file are read as Ansible reads them: for \
  each group (`all` too) and host, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json`, or \
  a directory `NAME/` of such files (in name order); their variables go over the inventory \
  file's own for that group or host, and are checked as those are.
- Ansible's connection variables, wherever they are set (`[all:vars]`, a group, a host), become \
  each host's settings and are no longer variables; every other variable is one (`h.var(\"http_port\")`), \
  Ansible's own such as `ansible_python_interpreter` included:

";

/// What else runbook refuses in an Ansible inventory, and what it does not read.
const ANSIBLE_LIMITS: &str = "
Also refused, with the file, line and column: a variable holding a Jinja template (`{{ … }}`, `{% … %}`: \
runbook does not expand templates in inventory variables, so the play would get the braces; Ansible's \
own variables and `!unsafe` values may hold one), an Ansible Vault value (`!vault`), an inventory \
plugin's configuration (`plugin:`), a `hosts:` written as a YAML list, an unknown section kind \
(`[web:childs]`) or group key (`host:`), a child group or `[group:vars]` of a group no section \
declares, a malformed range or one that makes more than 100000 hosts, a name that is both a host \
and a group, and groups that contain each other.

Not read: `group_vars/` and `host_vars/` beside the playbook (only those beside the inventory), \
inventory directories, several `-i` at once, scripts and plugins. `[ssh]`, `[cloud]`, `[dns]` and \
`[cost]` need a TOML inventory.
";

fn field_list(fields: &[crate::builtins::Field]) -> String {
    if fields.is_empty() {
        return "a string (`systemd` or `sysv`)".into();
    }
    fields
        .iter()
        .map(|f| format!("`{}` ({})", f.name, f.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `runbook doc [NAME]`: the list of built-ins, or one of them.
pub fn doc(name: Option<&str>) -> Result<String, String> {
    let Some(name) = name else {
        let mut t =
            String::from("runbook's built-ins (runbook doc NAME for one; the whole reference: docs/reference.md)\n");
        for b in BUILTINS {
            let _ = write!(t, "\n  {:<48} {}", b.signature(), first_sentence(b.doc));
        }
        return Ok(t);
    };
    match crate::builtins::lookup(name) {
        Some(b) => Ok(entry(b)),
        None => {
            let names: Vec<String> = BUILTINS.iter().map(|b| b.qualified()).collect();
            let hint = crate::builtins::suggest(name, names.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(format!("no built-in named `{name}`{hint} (runbook doc lists them)"))
        }
    }
}

fn first_sentence(text: &str) -> &str {
    text.split_inclusive(". ").next().unwrap_or(text).trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/reference.md is what the declarations say; regenerate it with
    /// `cargo run -- doc --markdown > docs/reference.md`.
    #[test]
    fn the_committed_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "{PATH} is out of date: run `cargo run -- doc --markdown > {PATH}`"
        );
    }

    /// Every documented inventory key is one the inventory parser accepts.
    #[test]
    fn documented_inventory_keys_exist() {
        let mut text = String::new();
        for (section, key, ty, _) in INVENTORY_KEYS {
            let section = section.replace("groups.NAME", "groups.g").replace("NAME", "x");
            let key = key.replace("NAME", "x");
            let value = match *ty {
                "integer" | "number" => "1",
                "list of strings" => "[]",
                "table" => "{}",
                "\"ssh\" or \"local\"" => "\"local\"",
                _ if key == "provider" => "\"docker\"",
                _ if key == "address" && section == "cloud" => "\"public\"",
                _ if key == "currency" => "\"USD\"",
                _ => "\"v\"",
            };
            text.push_str(&format!("[{section}]\n{key} = {value}\n"));
        }
        // Sections repeat: TOML wants each once, so merge them.
        let mut merged = String::new();
        let mut seen = std::collections::BTreeMap::<String, Vec<String>>::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(s) = line.strip_prefix('[') {
                current = s.trim_end_matches(']').to_string();
            } else {
                seen.entry(current.clone()).or_default().push(line.to_string());
            }
        }
        for (section, lines) in seen {
            merged.push_str(&format!("[{section}]\n{}\n", lines.join("\n")));
        }
        let r = crate::inventory::Inventory::parse("doc", std::path::Path::new("doc.toml"), &merged);
        assert!(
            r.is_ok(),
            "{merged}\n{}",
            r.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
}
