//! The run journal (docs/ARCHITECTURE.md): every run, and per step and host what happened,
//! in a store. Each host's result is its own transaction, committed before the executor
//! moves that host on, so a run killed at any moment (even `kill -9`) leaves a consistent
//! record that `--resume` continues from.
//!
//! The store (`store.rs`, the `Store` trait) is an SQLite file (`sqlite.rs`),
//! `.runbook/state.db` in the directory runbook is started from (where the project's
//! playbooks and `inventory/` are, as with `.runbook/secrets`), or a PostgreSQL database
//! shared by a team (`postgres.rs`); `--state PATH|URL` says which (`location.rs`).

pub mod history;
mod holder;
pub mod location;
pub mod lock;
pub mod migrate;
pub mod postgres;
pub mod resume;
mod session;
pub mod sqlite;
mod store;

pub use holder::now_ms;
pub use location::Location;
pub use session::{Opening, Session, resume_command};
pub use sqlite::{DEFAULT_PATH, SqliteStore};
pub use store::*;
