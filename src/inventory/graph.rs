//! `runbook inventory --graph`: the group tree, like `ansible-inventory --graph`.

use std::fmt::Write;

use super::model::Inventory;

pub fn graph(inv: &Inventory) -> String {
    let mut out = String::from("@all:\n");
    let nested: std::collections::BTreeSet<&String> = inv.groups.values().flat_map(|g| g.children.iter()).collect();
    let top: Vec<&String> = inv.groups.keys().filter(|g| !nested.contains(g)).collect();
    let grouped: std::collections::BTreeSet<String> = inv.groups.keys().flat_map(|g| inv.group_hosts(g)).collect();
    for g in top {
        group(inv, g, 1, &mut out);
    }
    for h in inv.hosts.keys().filter(|h| !grouped.contains(*h)) {
        let _ = writeln!(out, "{}{h}", prefix(1));
    }
    out
}

/// `  |--x` at depth 1, `  |  |--x` at depth 2, …
fn prefix(depth: usize) -> String {
    format!("  {}|--", "|  ".repeat(depth - 1))
}

fn group(inv: &Inventory, name: &str, depth: usize, out: &mut String) {
    let _ = writeln!(out, "{}@{name}:", prefix(depth));
    let g = &inv.groups[name];
    for c in &g.children {
        group(inv, c, depth + 1, out);
    }
    for h in &g.hosts {
        let _ = writeln!(out, "{}{h}", prefix(depth + 1));
    }
}
