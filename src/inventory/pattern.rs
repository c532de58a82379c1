//! Host patterns, for `hosts()` and `--limit`:
//!
//! - `web` — a group (with its child groups) or a host, by exact name
//! - `web*`, `db[12]` — globs over host and group names
//! - `web,db` — union, in inventory order
//! - `!db2` — exclusion; `&prod` — intersection
//!
//! A plain name that is neither a group nor a host is an error (a typo must not silently
//! select nothing); a glob that matches nothing selects nothing.

use std::collections::BTreeSet;

use super::model::Inventory;

/// Host patterns are `Inventory`'s method here, beside their syntax (`model` knows nothing
/// of them).
impl Inventory {
    /// Hosts selected by a pattern, in inventory order. See `pattern` for the syntax.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        select(self, pattern)
    }
}

fn select(inv: &Inventory, pattern: &str) -> Result<Vec<String>, String> {
    let terms: Vec<&str> = pattern.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    if terms.is_empty() {
        return Err(format!("empty host pattern {pattern:?}"));
    }
    let mut included: Option<BTreeSet<String>> = None;
    let mut intersect: Vec<BTreeSet<String>> = Vec::new();
    let mut excluded = BTreeSet::new();
    for term in terms {
        if let Some(t) = term.strip_prefix('!') {
            excluded.extend(matches(inv, t)?);
        } else if let Some(t) = term.strip_prefix('&') {
            intersect.push(matches(inv, t)?);
        } else {
            included.get_or_insert_with(BTreeSet::new).extend(matches(inv, term)?);
        }
    }
    let mut set = included.unwrap_or_else(|| inv.hosts.keys().cloned().collect());
    for i in intersect {
        set.retain(|h| i.contains(h));
    }
    set.retain(|h| !excluded.contains(h));
    Ok(inv.hosts.keys().filter(|h| set.contains(*h)).cloned().collect())
}

fn matches(inv: &Inventory, term: &str) -> Result<BTreeSet<String>, String> {
    let is_glob = term.contains(['*', '?', '[']);
    if !is_glob {
        if term == "all" || inv.groups.contains_key(term) {
            return Ok(inv.group_hosts(term));
        }
        if inv.hosts.contains_key(term) {
            return Ok(BTreeSet::from([term.to_string()]));
        }
        let mut known: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
        known.insert(0, "all");
        return Err(format!(
            "unknown group or host `{term}` (groups: {}; hosts: {})",
            known.join(", "),
            inv.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let glob = glob::Pattern::new(term).map_err(|e| format!("invalid pattern `{term}`: {e}"))?;
    let mut out: BTreeSet<String> = inv.hosts.keys().filter(|h| glob.matches(h)).cloned().collect();
    for g in inv.groups.keys().filter(|g| glob.matches(g)) {
        out.extend(inv.group_hosts(g));
    }
    Ok(out)
}
