//! Cloud providers: droplets (virtual servers) created from a spec, listed by tag, powered
//! off and on, snapshotted and destroyed. The provider-independent rules (idempotent
//! create, safe destroy, snapshot with power-off) live in `rules`; providers only speak
//! their API.
//!
//! This file only declares and re-exports (every `crate::cloud::X` path keeps working):
//! the vocabulary is in `types`, the rules in `rules`, choosing a provider in `config`, so
//! the providers import those files and never `mod.rs`. `cloud` sits above `inventory`,
//! `connection` and `cost`'s data (`money`, `table`), which it imports by their files;
//! `cost`'s ledger and bill sit above `cloud`.

mod common;
mod config;
pub mod digitalocean;
pub mod discover;
pub mod dns;
pub mod docker;
pub mod docker_grants;
pub mod retry;
mod rules;
pub mod sigv4;
mod types;

pub use common::{api_client, expand_home};
pub use config::{digitalocean_token, docker_options, provider_for};
pub use rules::{apply_droplet, check_owned, plan_droplet, snapshot_with_power_off, tagged};
pub use types::{CloudResult, Droplet, DropletPlan, DropletSpec, PENDING_TEXT, Provider, Snapshot, SnapshotSize};
