//! Host operations, one file per family. Each one looks (facts), decides, and acts only on a
//! difference, recording on the host whether it changed something.

pub mod archive;
pub mod command;
pub mod transfer;

/// An operation's failure, shown to the user with the host's name.
pub type OpResult<T> = Result<T, String>;
