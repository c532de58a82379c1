//! The API reference, written from the declarations in `builtins`: `runbook doc`,
//! `runbook doc NAME` and `docs/reference.md` (a test keeps the committed file current).

use std::fmt::Write;

use crate::builtins::{BUILTINS, Builtin, FACTS, HOST_PROPERTIES, INVENTORY_KEYS, Receiver};

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
    if !b.options.is_empty() {
        t.push_str("| option | type | default | |\n| --- | --- | --- | --- |\n");
        for o in b.options {
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
                 changes only what differs; `sudo: true` or `user: \"name\"` runs it as another user.\n\n\
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
    t.push_str("\n## Inventory files\n\n`inventory/NAME.toml` (or a path given to `-i`). Unknown keys are errors.\n\n");
    t.push_str("| section | key | type | |\n| --- | --- | --- | --- |\n");
    for (section, key, ty, doc) in INVENTORY_KEYS {
        let _ = writeln!(t, "| `[{section}]` | `{key}` | {ty} | {doc} |");
    }
    t
}

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
