//! How runbook reaches a host: run a command, upload and download files.
//! `local` runs on the controller; `ssh` (russh, pooled) reaches servers.
//!
//! This file only declares and re-exports (every `crate::connection::X` path keeps
//! working): the vocabulary is in `types`, opening in `connect`, so `local` and `ssh`
//! import `types` and never `mod.rs`. Below it: `inventory` (hosts and `[ssh]`), `shell`.

mod connect;
pub mod failure;
pub mod framed;
pub mod local;
pub mod ssh;
mod types;

pub use connect::{ConnectSettings, open};
pub use types::{ConnError, Connection, ExecOutput, ExecRequest, UploadSource};
