//! Facts: what a host looks like now, read by typed, read-only probes. Several facts are
//! read in one round trip; they are cached for the step, dropped when an operation changes
//! them, and in a dry run an *overlay* holds what earlier operations would have made them,
//! so later operations plan against the predicted state. Operations read them through
//! `Look`; nothing here knows a host or a connection.

mod look;
pub mod probe;
mod store;
mod types;

pub use look::Look;
pub use store::{FactStore, at_or_below, maybe_from_package};
pub use types::*;
