//! Checks every inventory format shares once its groups are read: groups must not contain
//! each other, nor nest deeper than runbook takes. A file of its own, so that the TOML reader
//! (`file`) and the Ansible one (`ansible`) both import it and neither imports the other.

use std::collections::HashMap;

use super::model::Inventory;
use crate::error::{Diagnostic, Error, Result};

/// Refuses groups that contain each other (naming the chain) or nest deeper than
/// [`MAX_GROUP_DEPTH`]; `label` is the file as messages name it.
pub(super) fn group_nesting(inv: &Inventory, label: &str) -> Result<()> {
    if let Some(cycle) = find_cycle(inv) {
        return Err(Error::Inventory(Diagnostic::new(format!(
            "invalid inventory {label}: groups contain each other: {}",
            cycle.join(" → ")
        ))));
    }
    if let Some((group, depth)) = deepest(inv).filter(|(_, d)| *d > MAX_GROUP_DEPTH) {
        return Err(Error::Inventory(Diagnostic::new(format!(
            "invalid inventory {label}: groups nest {depth} deep (group `{group}`); runbook takes at most {MAX_GROUP_DEPTH} levels of `children`"
        ))));
    }
    Ok(())
}

/// A chain of groups that contain each other, if any: a depth-first walk with its own
/// stack (an inventory's nesting must not be able to overflow runbook's).
fn find_cycle(inv: &Inventory) -> Option<Vec<String>> {
    let children = |g: &str| inv.groups.get(g).map(|x| x.children.as_slice()).unwrap_or(&[]);
    let mut done: std::collections::HashSet<&str> = Default::default();
    for start in inv.groups.keys() {
        if done.contains(start.as_str()) {
            continue;
        }
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        let mut on_path: std::collections::HashSet<&str> = [start.as_str()].into();
        while let Some(&(g, i)) = path.last() {
            let Some(child) = children(g).get(i) else {
                path.pop();
                on_path.remove(g);
                done.insert(g);
                continue;
            };
            path.last_mut().expect("not empty").1 += 1;
            let c = child.as_str();
            if on_path.contains(c) {
                let from = path.iter().position(|(p, _)| *p == c).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|(p, _)| p.to_string()).collect();
                cycle.push(c.to_string());
                return Some(cycle);
            }
            if !done.contains(c) && inv.groups.contains_key(c) {
                on_path.insert(c);
                path.push((c, 0));
            }
        }
    }
    None
}

/// How deep groups may nest (`all` > web > web-eu > …): deeper is a mistake, or a file
/// made by a program gone wrong.
pub const MAX_GROUP_DEPTH: usize = 100;

/// The deepest group and its depth (top-level groups are 1), walking parents before
/// children (the groups are acyclic by now).
fn deepest(inv: &Inventory) -> Option<(String, usize)> {
    let mut parents: HashMap<&str, usize> = inv.groups.keys().map(|g| (g.as_str(), 0)).collect();
    for g in inv.groups.values() {
        for c in &g.children {
            if let Some(n) = parents.get_mut(c.as_str()) {
                *n += 1;
            }
        }
    }
    let mut depth: HashMap<&str, usize> = HashMap::new();
    let mut ready: Vec<&str> = parents.iter().filter(|(_, n)| **n == 0).map(|(g, _)| *g).collect();
    while let Some(g) = ready.pop() {
        let d = *depth.entry(g).or_insert(1);
        for c in inv.groups.get(g).map(|x| x.children.as_slice()).unwrap_or(&[]) {
            let Some(n) = parents.get_mut(c.as_str()) else { continue };
            let e = depth.entry(c.as_str()).or_insert(0);
            *e = (*e).max(d + 1);
            *n -= 1;
            if *n == 0 {
                ready.push(c.as_str());
            }
        }
    }
    depth
        .into_iter()
        .max_by_key(|(_, d)| *d)
        .map(|(g, d)| (g.to_string(), d))
}
