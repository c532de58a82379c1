//! What a journal store is: the `Store` trait every store implements (SQLite in
//! `sqlite.rs`, PostgreSQL in `postgres.rs`), and the rows it holds.
//!
//! A store keeps every run, per step and host what happened, and the inventories' locks.
//! Every method is one round trip to the store (or one transaction), and `record` is durable
//! when it returns: the executor journals each host's result before that host moves on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::secrets::Secrets;

use super::holder::Holder;

/// Test hook for crash tests, and nothing else: with `RUNBOOK_TEST_KILL_AFTER_COMMITS=N`
/// the process sends itself SIGKILL right after committing its N-th step record.
pub const KILL_HOOK: &str = "RUNBOOK_TEST_KILL_AFTER_COMMITS";

/// Test hook, and nothing else: with `RUNBOOK_TEST_READONLY_AFTER_COMMITS=N` the store turns
/// read-only right after its N-th step record, so every later write fails as on a journal
/// that became unwritable mid-run.
pub const READONLY_HOOK: &str = "RUNBOOK_TEST_READONLY_AFTER_COMMITS";

/// A journal store. One per process and location; shared by the step threads.
pub trait Store: Send + Sync {
    /// Where the store is, for messages: a path, or a URL without its password.
    fn label(&self) -> &str;

    /// Whether removing a live holder's lock also ends that holder's connection, so that it
    /// cannot write afterwards (PostgreSQL). SQLite cannot: a person may only remove the lock
    /// of a run that is gone.
    fn ends_holder_session(&self) -> bool;

    /// Records a new run, `running`; returns its id.
    fn start_run(&self, run: &NewRun) -> Result<i64>;

    fn finish_run(&self, id: i64, outcome: Outcome) -> Result<()>;

    /// Runs of `inventory` still `running` belong to dead processes once we hold its lock:
    /// they become `killed`, ending when their last record was written.
    fn mark_killed(&self, inventory: &str) -> Result<()>;

    /// Writes one host's result of one step in its own transaction (durable when this
    /// returns).
    fn record(&self, run_id: i64, r: &StepRecord) -> Result<()>;

    fn run(&self, id: i64) -> Result<Option<RunRow>>;

    /// The latest run of this playbook on this inventory: the playbook at this canonical path,
    /// or at this path in the project (`PlaybookRef::key`) on whichever machine it ran.
    fn latest_run(&self, playbook: &PlaybookRef, inventory: &str) -> Result<Option<RunRow>>;

    /// Every run (of one inventory), oldest first.
    fn runs(&self, inventory: Option<&str>) -> Result<Vec<RunRow>>;

    /// The records of a run, in the order they were written.
    fn results(&self, run_id: i64) -> Result<Vec<StepRecord>>;

    /// Takes `inventory`'s lock for `me` unless a live holder has it.
    fn try_lock(&self, inventory: &str, me: &Holder) -> Result<Attempt>;

    /// Names the run that holds the lock `me` took.
    fn set_lock_run(&self, inventory: &str, me: &Holder, run_id: i64) -> Result<()>;

    /// Releases the lock `me` took (best effort: a lock left behind is taken over).
    fn unlock(&self, inventory: &str, me: &Holder);

    /// The holder of `inventory`'s lock, if any.
    fn lock_holder(&self, inventory: &str) -> Result<Option<Holder>>;

    /// Removes `inventory`'s lock if `expected` still holds it (a person's decision:
    /// `runbook unlock`, `--force-unlock RUN`); whether it did.
    fn break_lock(&self, inventory: &str, expected: &Holder) -> Result<bool>;

    /// Copies runs (their ids kept) and their results into this store, which must hold no
    /// run yet, in one transaction (`runbook state migrate`).
    fn import(&self, runs: &[(RunRow, Vec<StepRecord>)]) -> Result<()>;

    /// Whether the store went away under this process (the SQLite file deleted or replaced
    /// while it was open): what was recorded in it is gone with it, earlier records included.
    fn lost(&self) -> bool {
        false
    }
}

/// What `Store::try_lock` found.
#[derive(Debug)]
pub enum Attempt {
    /// Taken; from this holder, which is gone, if one had left its lock behind.
    Taken(Option<Holder>),
    /// A live holder has it.
    Held(Holder),
}

/// The playbook a run plays, as the journal matches it on resume.
pub struct PlaybookRef<'a> {
    /// Canonical path on this machine.
    pub path: &'a str,
    /// The path relative to the directory runbook was started from (the project), when the
    /// playbook is inside it: the same playbook in another checkout of the project, on
    /// another machine sharing the store.
    pub key: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Ok,
    Failed,
    Interrupted,
    /// Found `running` by a later run of the same inventory: its process died.
    Killed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Killed => "killed",
        }
    }
}

/// A row of `runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub resumes: Option<i64>,
    pub playbook: String,
    pub playbook_path: String,
    pub playbook_key: Option<String>,
    pub playbook_sha256: String,
    pub inventory: String,
    pub vars: Value,
    pub limit: Option<String>,
    pub user: String,
    pub controller: String,
    pub pid: i64,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub outcome: String,
    /// Operations that changed something, over all steps and hosts.
    pub changes: i64,
}

impl RunRow {
    /// Did not finish: it can be resumed.
    pub fn unfinished(&self) -> bool {
        self.outcome != Outcome::Ok.as_str()
    }

    /// The outcome as history shows it: a run still marked running whose process is gone
    /// is killed (the next run of its inventory records that).
    pub fn shown_outcome(&self) -> &str {
        let holder = Holder {
            pid: self.pid,
            proc_start: None,
            user: self.user.clone(),
            controller: self.controller.clone(),
            started_ms: self.started_ms,
            playbook: None,
            run: None,
        };
        if self.outcome == Outcome::Running.as_str() && !holder.alive() {
            Outcome::Killed.as_str()
        } else {
            &self.outcome
        }
    }
}

/// A row of `results`: one step on one host.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// `name#n` for a step; `name#n/handler NAME` for one of its handlers.
    pub step_key: String,
    pub step_id: String,
    pub step_name: String,
    pub fingerprint: String,
    pub host: String,
    /// `ok`, `changed`, `failed`, `skipped`; a handler's is `notified` until it runs.
    pub status: String,
    pub changes: i64,
    pub error: Option<String>,
    pub reason: Option<String>,
    pub value: Value,
    pub done_in: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// What a new run row holds.
pub struct NewRun<'a> {
    pub resumes: Option<i64>,
    pub playbook: &'a str,
    pub playbook_path: &'a str,
    pub playbook_key: Option<&'a str>,
    pub playbook_sha256: &'a str,
    pub inventory: &'a str,
    pub vars: &'a Value,
    pub limit: Option<&'a str>,
}

/// The test hooks' bookkeeping, shared by the stores: each counts its step records.
pub struct CommitHooks {
    commits: AtomicUsize,
    kill_after: Option<usize>,
    readonly_after: Option<usize>,
}

impl CommitHooks {
    pub fn from_env() -> CommitHooks {
        let var = |name| std::env::var(name).ok().and_then(|v| v.parse().ok());
        CommitHooks {
            commits: AtomicUsize::new(0),
            kill_after: var(KILL_HOOK),
            readonly_after: var(READONLY_HOOK),
        }
    }

    /// Counts a committed step record: SIGKILLs the process when the kill hook says so;
    /// returns whether the store turns read-only now. Called with the store's connection
    /// held, so that no other thread commits in between.
    pub fn committed(&self) -> bool {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill_after == Some(n) {
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, the process ends here.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_secs(60));
        }
        self.readonly_after == Some(n)
    }
}

/// Masks secrets in every string of a JSON value (keys too), keeping it valid JSON.
pub fn mask_json(secrets: &Secrets, v: &mut Value) {
    match v {
        Value::String(s) => *s = secrets.mask(s),
        Value::Array(items) => items.iter_mut().for_each(|i| mask_json(secrets, i)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut item) in old {
                mask_json(secrets, &mut item);
                map.insert(secrets.mask(&k), item);
            }
        }
        _ => {}
    }
}

/// The refusal of a store written by a newer runbook, in the words of both stores.
pub fn newer_schema(label: &str, found: i64, known: i64) -> crate::error::Error {
    crate::error::Error::Journal(format!(
        "run journal {label}: written by a newer runbook (schema {found}; this one knows {known}): upgrade runbook"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_json_valid() {
        let s = Secrets::default();
        s.remember("pa\"ss");
        let mut v = serde_json::json!({"out": "pw=pa\"ss", "pa\"ss": ["pa\"ss", 1]});
        mask_json(&s, &mut v);
        assert_eq!(v, serde_json::json!({"out": "pw=***", "***": ["***", 1]}));
    }
}
