//! Where the journal is (`--state`, `RUNBOOK_STATE`): a file, the embedded SQLite store
//! (`.runbook/state.db` by default), or a PostgreSQL URL, a store shared by everyone who
//! gives it. The password of a PostgreSQL store is a secret: `RUNBOOK_STATE_PASSWORD`, or
//! the secret `state_password` (the environment variable `STATE_PASSWORD`, or the file
//! `.runbook/secrets/state_password`); a password written in the URL works too, and is
//! masked wherever the URL is shown.

use std::path::PathBuf;
use std::sync::Arc;

use super::postgres::{PgStore, Target};
use super::sqlite::SqliteStore;
use super::store::Store;
use crate::error::Result;

pub const PASSWORD_ENV: &str = "RUNBOOK_STATE_PASSWORD";
pub const PASSWORD_SECRET: &str = "state_password";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file, relative to the current directory.
    File(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl Location {
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_string())
        } else {
            Location::File(PathBuf::from(s))
        }
    }

    /// As messages show it: a path, or the URL without its password.
    pub fn label(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(url) => super::postgres::masked(url),
        }
    }

    /// Opens the store, creating it if needed. `remember` is given the password of a
    /// PostgreSQL store, to mask it.
    pub fn open(&self, remember: &dyn Fn(&str)) -> Result<Arc<dyn Store>> {
        self.open_with(true, remember)
    }

    /// Opens a store that must exist already (`runbook history`, `unlock`).
    pub fn open_existing(&self, remember: &dyn Fn(&str)) -> Result<Arc<dyn Store>> {
        self.open_with(false, remember)
    }

    fn open_with(&self, create: bool, remember: &dyn Fn(&str)) -> Result<Arc<dyn Store>> {
        match self {
            Location::File(p) if create => Ok(Arc::new(SqliteStore::open(p)?)),
            Location::File(p) => Ok(Arc::new(SqliteStore::open_existing(p)?)),
            Location::Postgres(url) => {
                let target = Target::parse(url)?;
                let password = target.password().or_else(password);
                if let Some(p) = &password {
                    remember(p);
                }
                Ok(Arc::new(PgStore::connect(&target, password.as_deref(), create)?))
            }
        }
    }
}

/// The password of a PostgreSQL store, when one is set.
fn password() -> Option<String> {
    std::env::var(PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| crate::secrets::lookup(PASSWORD_SECRET, &[PathBuf::from(".runbook/secrets")]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_anything_else_a_file() {
        assert_eq!(
            Location::parse("postgres://ann@db/ops"),
            Location::Postgres("postgres://ann@db/ops".into())
        );
        assert!(matches!(Location::parse("postgresql://db/ops"), Location::Postgres(_)));
        assert_eq!(
            Location::parse(".runbook/state.db"),
            Location::File(".runbook/state.db".into())
        );
        assert_eq!(
            Location::parse("postgres://ann:pw@db/ops").label(),
            "postgres://ann:***@db/ops"
        );
    }
}
