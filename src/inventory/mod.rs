//! Inventories: hosts, groups of hosts (and of groups), and variables that cascade
//! all → group → host → the command line's (`--vars-file`, `--var`, `--var-json`). Read
//! from `inventory/NAME.toml` or a path; Ansible's INI and YAML inventories too (`ansible`).
//!
//! This file only declares and re-exports: the types live in `model`, reading the file in
//! `file`, so the children import each other, never `mod.rs`. Cloud discovery lives in
//! `crate::cloud::discover` (it needs a provider, which is above the inventory).

mod ansible;
mod file;
mod graph;
mod model;
mod overrides;
mod pattern;
mod python;
mod settings;
mod validate;

pub use graph::graph;
pub use model::{ConnectionKind, Group, HostSpec, Inventory, Vars, merge};
pub use overrides::{VarArg, overrides, parse_var, parse_var_json, parse_vars_file, read_vars_file};
pub use settings::{CloudSettings, DnsSettings, SshSettings};

#[cfg(test)]
mod ansible_tests;
#[cfg(test)]
mod tests;
