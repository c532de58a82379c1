//! Why an operation failed, typed; the text a user reads is written once, in `Display`.

use crate::connection::failure::{ExecFailure, Failed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// An argument the operation cannot take: the playbook must change.
    Invalid { op: &'static str, why: String },
    /// The host is not in a state the operation may change (a directory where a file
    /// should be): runbook refuses rather than destroy something.
    Refused {
        host: String,
        op: &'static str,
        target: String,
        why: String,
    },
    /// A command (a probe or the change) failed on the host.
    Command(Box<Failed>),
    /// A guarded change failed half-way (its `reload`) and was undone: the error, and how.
    Reverted { error: Box<OpError>, note: String },
}

pub type OpResult<T> = Result<T, OpError>;

impl OpError {
    pub fn invalid(op: &'static str, why: impl Into<String>) -> Self {
        OpError::Invalid { op, why: why.into() }
    }

    pub fn refused(host: &str, op: &'static str, target: &str, why: impl Into<String>) -> Self {
        OpError::Refused {
            host: host.into(),
            op,
            target: target.into(),
            why: why.into(),
        }
    }
}

impl From<ExecFailure> for OpError {
    fn from(f: ExecFailure) -> Self {
        OpError::Command(Box::new(Failed { what: None, failure: f }))
    }
}

impl From<Failed> for OpError {
    fn from(f: Failed) -> Self {
        OpError::Command(Box::new(f))
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Invalid { op, why } => write!(f, "{op}: {why}"),
            OpError::Refused { host, op, target, why } => write!(f, "{host}: {op} {target}: {why}"),
            OpError::Command(failed) => failed.fmt(f),
            OpError::Reverted { error, note } => write!(f, "{error}\n  {note}"),
        }
    }
}

impl std::error::Error for OpError {}
