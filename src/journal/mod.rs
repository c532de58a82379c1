//! The run journal (docs/ARCHITECTURE.md): every run, and per step and host
//! what happened, in SQLite. Each host's result is its own transaction, committed before
//! the executor moves that host on, so a run killed at any moment (even `kill -9`) leaves
//! a consistent record that `--resume` continues from.
//!
//! The store is `.runbook/state.db` in the directory runbook is started from (where the
//! project's playbooks and `inventory/` are, as with `.runbook/secrets`); `--state PATH`
//! moves it.

pub mod history;
mod holder;
pub mod lock;
pub mod resume;
mod session;
mod store;

pub use holder::now_ms;
pub use session::{Opening, Session, resume_command};
pub use store::*;
