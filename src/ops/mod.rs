//! Host operations, one file per family, as pyinfra models them: each is a *planner* that
//! takes typed arguments, reads the host's facts through `facts::Look`, and returns a
//! `Plan` (what differs and the actions that fix it), or `None` when the host already
//! matches. `apply` is the one path every plan takes: run its actions (in a dry run, only
//! report them), count the change, and record its effect on the facts, so later
//! operations of a dry run plan against the predicted state. Planners never touch a
//! connection, which is why `tests/ops/` can test every decision from recorded facts.
//!
//! `batch` carries out a step's queued operations together: their facts read in one script,
//! their changes made in another.
//!
//! This file only declares; the shared pieces live in `plan`, `error`, `apply` and `args`.

pub mod apply;
pub mod archive;
pub mod args;
pub mod batch;
pub mod command;
pub mod confirm;
pub mod error;
pub mod files;
pub mod firewall;
pub mod package;
pub mod plan;
pub mod service;
pub mod systemd;
pub mod transfer;
pub mod user;
pub mod validate;
