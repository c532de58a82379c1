//! DNS A records, made to match idempotently: read the record, work out what differs, change
//! only that (or, in dry-run, only say it).
//!
//! This file only declares and re-exports (every `crate::cloud::dns::X` path keeps
//! working): the vocabulary and arithmetic are in `record`, choosing a service in `config`,
//! so the services import `record` and never `mod.rs`.

mod config;
pub mod digitalocean;
pub mod hosts_file;
mod record;
pub mod route53;

pub use config::{dns_for, hosts_file_path};
pub use record::{ARecord, Dns, DnsChange, HealthCheck, check_ips, diff, fqdn, relative};
