//! The journal's store: one SQLite file holding every run, its step results and the
//! inventories' locks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secrets::Secrets;

use super::holder::{Holder, hostname, now_ms, user};

pub const DEFAULT_PATH: &str = ".runbook/state.db";

/// Test hook for crash tests, and nothing else: with `RUNBOOK_TEST_KILL_AFTER_COMMITS=N`
/// the process sends itself SIGKILL right after committing its N-th step record.
pub const KILL_HOOK: &str = "RUNBOOK_TEST_KILL_AFTER_COMMITS";

/// Test hook, and nothing else: with `RUNBOOK_TEST_READONLY_AFTER_COMMITS=N` the connection
/// turns read-only (`PRAGMA query_only`) right after its N-th step record, so every later
/// write fails in SQLite as on a journal that became unwritable mid-run.
pub const READONLY_HOOK: &str = "RUNBOOK_TEST_READONLY_AFTER_COMMITS";

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    resumes         INTEGER REFERENCES runs(id),  -- the run this one continues
    playbook        TEXT NOT NULL,                -- as shown to the user
    playbook_path   TEXT NOT NULL,                -- canonical: what --resume matches
    playbook_sha256 TEXT NOT NULL,
    inventory       TEXT NOT NULL,
    vars            TEXT NOT NULL,                -- JSON of the --var values, secrets masked
    hosts_limit     TEXT,                         -- --limit
    user            TEXT NOT NULL,
    controller      TEXT NOT NULL,                -- host name of the machine runbook ran on
    pid             INTEGER NOT NULL,
    started_ms      INTEGER NOT NULL,
    finished_ms     INTEGER,
    outcome         TEXT NOT NULL                 -- running | ok | failed | interrupted | killed
);
CREATE INDEX IF NOT EXISTS runs_by_playbook ON runs (playbook_path, inventory, id);
CREATE TABLE IF NOT EXISTS results (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    step_key    TEXT NOT NULL,     -- name#n: what resume matches records by
    step_id     TEXT NOT NULL,     -- name@file:line:col#occurrence, for people
    step_name   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    host        TEXT NOT NULL,
    status      TEXT NOT NULL,     -- ok | changed | failed | skipped
    changes     INTEGER NOT NULL,
    error       TEXT,              -- secrets masked
    reason      TEXT,              -- why it was skipped
    value       TEXT,              -- JSON of what the closure returned, secrets masked
    done_in     INTEGER,           -- skipped because done: the run where it ran
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_key, host)
);
CREATE TABLE IF NOT EXISTS locks (
    inventory  TEXT PRIMARY KEY,
    pid        INTEGER NOT NULL,
    proc_start INTEGER,            -- the process's start time (Linux), against pid reuse
    user       TEXT NOT NULL,
    controller TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
";

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
    pub step_key: String,
    pub step_id: String,
    pub step_name: String,
    pub fingerprint: String,
    pub host: String,
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
    pub playbook_sha256: &'a str,
    pub inventory: &'a str,
    pub vars: &'a Value,
    pub limit: Option<&'a str>,
}

pub struct Journal {
    conn: Mutex<Connection>,
    path: PathBuf,
    commits: AtomicUsize,
    kill_after: Option<usize>,
    readonly_after: Option<usize>,
}

impl Journal {
    /// Opens (creating it if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Journal(format!("cannot create {}: {e}", dir.display())))?;
        }
        // A FIFO would block the open, a directory gives SQLite's bare "unable to open".
        if let Ok(meta) = std::fs::metadata(path) {
            let kind = if meta.is_dir() {
                Some("a directory")
            } else if !meta.is_file() {
                Some("not a regular file (a FIFO, socket or device)")
            } else {
                None
            };
            if let Some(kind) = kind {
                return Err(Error::Journal(format!(
                    "run journal {} is {kind}: give --state (or RUNBOOK_STATE) the path of a file",
                    path.display()
                )));
            }
        }
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        // Another program's SQLite database: refuse it before changing anything in it.
        let foreign: rusqlite::Result<bool> = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .and_then(|v| {
                let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
                Ok(v == 0 && tables > 0)
            });
        if foreign.map_err(|e| db_error(path, e))? {
            return Err(Error::Journal(format!(
                "{} is not a runbook journal (an SQLite database with other tables): give --state (or \
                 RUNBOOK_STATE) another path",
                path.display()
            )));
        }
        let journal = Journal {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            commits: AtomicUsize::new(0),
            kill_after: std::env::var(KILL_HOOK).ok().and_then(|v| v.parse().ok()),
            readonly_after: std::env::var(READONLY_HOOK).ok().and_then(|v| v.parse().ok()),
        };
        let version = journal.init().map_err(|e| db_error(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Journal(format!(
                "run journal {}: written by a newer runbook (schema {version}; this one knows {SCHEMA_VERSION})",
                path.display()
            )));
        }
        Ok(journal)
    }

    /// Opens an existing store for reading (`runbook history`).
    pub fn open_existing(path: &Path) -> Result<Journal> {
        if !path.exists() {
            return Err(Error::Usage(format!(
                "no run journal at {}: no run has been recorded there yet",
                path.display()
            )));
        }
        Self::open(path)
    }

    /// Sets the connection up and creates the tables; returns the store's schema version
    /// (left alone when newer than ours).
    fn init(&self) -> rusqlite::Result<i64> {
        let mut conn = self.conn();
        // Several runbook processes may touch the store at once (a run and `history`, two
        // runs racing for the lock): wait for a busy database instead of failing.
        conn.busy_timeout(Duration::from_secs(30))?;
        // WAL: readers never block the writer, and a commit is one append to the log.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        // FULL syncs the log at every commit. NORMAL would already survive a killed
        // process; FULL also survives a power loss or kernel crash, which keeps "journaled
        // ok means never run again" true there too, for one fsync per host and step —
        // nothing next to the commands a step runs.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Ok(version);
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(SCHEMA_VERSION)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// Records a new run, `running`; returns its id.
    pub fn start_run(&self, run: &NewRun) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (resumes, playbook, playbook_path, playbook_sha256, inventory, vars, hosts_limit,
                               user, controller, pid, started_ms, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running')",
            params![
                run.resumes,
                run.playbook,
                run.playbook_path,
                run.playbook_sha256,
                run.inventory,
                run.vars.to_string(),
                run.limit,
                user(),
                hostname(),
                std::process::id(),
                now_ms(),
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn finish_run(&self, id: i64, outcome: Outcome) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE runs SET outcome = ?2, finished_ms = ?3 WHERE id = ?1",
                params![id, outcome.as_str(), now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Runs of `inventory` still `running` belong to dead processes once we hold its lock:
    /// they become `killed`, ending when their last record was written.
    pub fn mark_killed(&self, inventory: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE runs SET outcome = 'killed',
                   finished_ms = coalesce((SELECT max(finished_ms) FROM results WHERE run_id = runs.id), started_ms)
                 WHERE inventory = ?1 AND outcome = 'running'",
                params![inventory],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Writes one host's result of one step in its own transaction (durable when this
    /// returns).
    pub fn record(&self, run_id: i64, r: &StepRecord) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR REPLACE INTO results (run_id, step_key, step_id, step_name, fingerprint, host, status,
                     changes, error, reason, value, done_in, started_ms, finished_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                run_id,
                r.step_key,
                r.step_id,
                r.step_name,
                r.fingerprint,
                r.host,
                r.status,
                r.changes,
                r.error,
                r.reason,
                r.value.to_string(),
                r.done_in,
                r.started_ms,
                r.finished_ms,
            ],
        )
        .map_err(|e| self.err(e))?;
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill_after == Some(n) {
            // Still holding the connection, so no other thread commits in between.
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, the process ends here.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_secs(60));
        }
        if self.readonly_after == Some(n) {
            conn.pragma_update(None, "query_only", true).map_err(|e| self.err(e))?;
        }
        drop(conn);
        Ok(())
    }

    const RUN_COLUMNS: &str = "id, resumes, playbook, playbook_path, playbook_sha256, inventory, vars, hosts_limit,
        user, controller, pid, started_ms, finished_ms, outcome,
        (SELECT coalesce(sum(changes), 0) FROM results WHERE run_id = runs.id)";

    pub(super) fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
        let vars: String = r.get(6)?;
        Ok(RunRow {
            id: r.get(0)?,
            resumes: r.get(1)?,
            playbook: r.get(2)?,
            playbook_path: r.get(3)?,
            playbook_sha256: r.get(4)?,
            inventory: r.get(5)?,
            vars: serde_json::from_str(&vars).unwrap_or(Value::Null),
            limit: r.get(7)?,
            user: r.get(8)?,
            controller: r.get(9)?,
            pid: r.get(10)?,
            started_ms: r.get(11)?,
            finished_ms: r.get(12)?,
            outcome: r.get(13)?,
            changes: r.get(14)?,
        })
    }

    pub fn run(&self, id: i64) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {} FROM runs WHERE id = ?1", Self::RUN_COLUMNS);
        self.conn()
            .query_row(&sql, params![id], Self::run_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The latest run of this playbook on this inventory.
    pub fn latest_run(&self, playbook_path: &str, inventory: &str) -> Result<Option<RunRow>> {
        let sql = format!(
            "SELECT {} FROM runs WHERE playbook_path = ?1 AND inventory = ?2 ORDER BY id DESC LIMIT 1",
            Self::RUN_COLUMNS
        );
        self.conn()
            .query_row(&sql, params![playbook_path, inventory], Self::run_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every run (of one inventory), oldest first.
    pub fn runs(&self, inventory: Option<&str>) -> Result<Vec<RunRow>> {
        let sql = format!(
            "SELECT {} FROM runs WHERE ?1 IS NULL OR inventory = ?1 ORDER BY id",
            Self::RUN_COLUMNS
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![inventory], Self::run_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The records of a run, in the order they were written.
    pub fn results(&self, run_id: i64) -> Result<Vec<StepRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT step_key, step_id, step_name, fingerprint, host, status, changes, error, reason, value,
                        done_in, started_ms, finished_ms
                 FROM results WHERE run_id = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                let value: Option<String> = r.get(9)?;
                Ok(StepRecord {
                    step_key: r.get(0)?,
                    step_id: r.get(1)?,
                    step_name: r.get(2)?,
                    fingerprint: r.get(3)?,
                    host: r.get(4)?,
                    status: r.get(5)?,
                    changes: r.get(6)?,
                    error: r.get(7)?,
                    reason: r.get(8)?,
                    value: value.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or(Value::Null),
                    done_in: r.get(10)?,
                    started_ms: r.get(11)?,
                    finished_ms: r.get(12)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
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

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Journal(format!("run journal {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, host: &str, status: &str) -> StepRecord {
        StepRecord {
            step_key: key.into(),
            step_id: format!("{key}@site.rhai:1:1#0"),
            step_name: key.split('#').next().unwrap().into(),
            fingerprint: "f".into(),
            host: host.into(),
            status: status.into(),
            changes: 1,
            error: None,
            reason: None,
            value: serde_json::json!({"n": 1}),
            done_in: None,
            started_ms: 1,
            finished_ms: 2,
        }
    }

    fn new_run<'a>(vars: &'a Value) -> NewRun<'a> {
        NewRun {
            resumes: None,
            playbook: "site.rhai",
            playbook_path: "/p/site.rhai",
            playbook_sha256: "abc",
            inventory: "local",
            vars,
            limit: None,
        }
    }

    #[test]
    fn runs_and_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("sub/state.db")).unwrap();
        let vars = serde_json::json!({"app": "x"});
        let id = j.start_run(&new_run(&vars)).unwrap();
        j.record(id, &record("one#0", "h1", "changed")).unwrap();
        j.record(id, &record("one#0", "h2", "ok")).unwrap();
        let run = j.run(id).unwrap().unwrap();
        assert_eq!(
            (run.outcome.as_str(), run.changes, run.vars.clone()),
            ("running", 2, vars.clone())
        );
        j.finish_run(id, Outcome::Failed).unwrap();
        let latest = j.latest_run("/p/site.rhai", "local").unwrap().unwrap();
        assert_eq!((latest.id, latest.outcome.as_str()), (id, "failed"));
        assert!(j.latest_run("/p/site.rhai", "prod").unwrap().is_none());
        let hosts: Vec<String> = j.results(id).unwrap().into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["h1", "h2"]);
    }

    #[test]
    fn running_runs_become_killed() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("state.db")).unwrap();
        let vars = Value::Null;
        let id = j.start_run(&new_run(&vars)).unwrap();
        j.mark_killed("other").unwrap();
        assert_eq!(j.run(id).unwrap().unwrap().outcome, "running");
        j.mark_killed("local").unwrap();
        assert_eq!(j.run(id).unwrap().unwrap().outcome, "killed");
    }

    #[test]
    fn masking_keeps_json_valid() {
        let s = Secrets::default();
        s.remember("pa\"ss");
        let mut v = serde_json::json!({"out": "pw=pa\"ss", "pa\"ss": ["pa\"ss", 1]});
        mask_json(&s, &mut v);
        assert_eq!(v, serde_json::json!({"out": "pw=***", "***": ["***", 1]}));
    }
}
