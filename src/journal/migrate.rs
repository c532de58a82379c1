//! `runbook state migrate --from A --to B`: copies every run of one store, with its results
//! and its number, into another that holds none yet (SQLite to PostgreSQL when a team starts
//! sharing, or back). Locks are not copied: they belong to running processes.

use super::store::Store;
use crate::error::Result;

/// What was copied.
pub struct Copied {
    pub runs: usize,
    pub results: usize,
}

pub fn copy(from: &dyn Store, to: &dyn Store) -> Result<Copied> {
    let mut runs = Vec::new();
    let mut results = 0;
    for run in from.runs(None)? {
        let records = from.results(run.id)?;
        results += records.len();
        runs.push((run, records));
    }
    to.import(&runs)?;
    Ok(Copied {
        runs: runs.len(),
        results,
    })
}
