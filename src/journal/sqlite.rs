//! The embedded store: one SQLite file (`.runbook/state.db` by default) holding every run,
//! its step results and the inventories' locks.
//!
//! The lock is a row of `locks` naming its holder (pid, user, host, start time). Taking it
//! is one `BEGIN IMMEDIATE` transaction (read the row, replace it if its holder is dead,
//! insert ours), so SQLite serializes newcomers: two of them can never both see a stale lock
//! and both take it. A holder on another machine (a store on a shared disk) cannot be
//! checked from here: a person removes its lock (`runbook unlock`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::holder::{Holder, hostname, now_ms, user};
use super::store::{Attempt, CommitHooks, NewRun, Outcome, PlaybookRef, RunRow, StepRecord, Store, newer_schema};
use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = ".runbook/state.db";

/// The schema this runbook writes: `MIGRATIONS[..SCHEMA_VERSION]` applied in order; the
/// version is SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// Migration N+1 takes a store from schema N to N+1. A newer runbook applies the ones an
/// older store lacks; an older runbook refuses a newer store.
pub const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: runs, results, locks.
    "
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
",
    // 2: the playbook's path in the project (resume from another checkout), and the
    // holder's playbook and run in its lock.
    "
ALTER TABLE runs ADD COLUMN playbook_key TEXT;  -- path relative to the project directory
CREATE INDEX runs_by_playbook_key ON runs (playbook_key, inventory, id);
ALTER TABLE locks ADD COLUMN run_id INTEGER;
ALTER TABLE locks ADD COLUMN playbook TEXT;
",
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    label: String,
    hooks: CommitHooks,
    /// The file the connection has open (device, inode). SQLite goes on writing to a file
    /// that was deleted (`rm -r .runbook` during a run) or replaced, and every result would
    /// be lost without a word: each write first checks that the path is still this file.
    file: Option<(u64, u64)>,
}

/// A file's identity: (device, inode).
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl SqliteStore {
    /// Opens (creating it if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
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
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            label: path.display().to_string(),
            hooks: CommitHooks::from_env(),
            file: identity(path),
        };
        let version = store.init().map_err(|e| db_error(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(newer_schema(&store.label, version, SCHEMA_VERSION));
        }
        Ok(store)
    }

    /// Opens an existing store for reading (`runbook history`).
    pub fn open_existing(path: &Path) -> Result<SqliteStore> {
        if !path.exists() {
            return Err(Error::Usage(format!(
                "no run journal at {}: no run has been recorded there yet",
                path.display()
            )));
        }
        Self::open(path)
    }

    /// Sets the connection up and brings the schema up to date; returns the store's schema
    /// version (left alone when newer than ours).
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
        if version >= SCHEMA_VERSION {
            return Ok(version);
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated it while we waited for the write lock.
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version >= SCHEMA_VERSION {
            return Ok(version);
        }
        for migration in &MIGRATIONS[version.max(0) as usize..] {
            tx.execute_batch(migration)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(SCHEMA_VERSION)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for tests that shape the store by hand.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// Before a write: the journal's path must still be the file the connection has open.
    fn check_file(&self) -> Result<()> {
        let Some(opened) = self.file else {
            return Ok(());
        };
        let now = identity(&self.path);
        if now == Some(opened) {
            return Ok(());
        }
        let what = match (now, self.path.parent().filter(|d| !d.as_os_str().is_empty())) {
            (Some(_), _) => "was replaced by another file".to_string(),
            (None, Some(dir)) if !dir.exists() => format!("was deleted (its directory {} is gone)", dir.display()),
            (None, _) => "was deleted".to_string(),
        };
        Err(Error::Journal(format!(
            "run journal {} {what} while this run was going on: SQLite would go on writing into the \
             deleted file, so nothing of this run is recorded any more, not even its results before",
            self.label
        )))
    }

    const RUN_COLUMNS: &str = "id, resumes, playbook, playbook_path, playbook_key, playbook_sha256, inventory, vars,
        hosts_limit, user, controller, pid, started_ms, finished_ms, outcome,
        (SELECT coalesce(sum(changes), 0) FROM results WHERE run_id = runs.id)";

    fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
        let vars: String = r.get(7)?;
        Ok(RunRow {
            id: r.get(0)?,
            resumes: r.get(1)?,
            playbook: r.get(2)?,
            playbook_path: r.get(3)?,
            playbook_key: r.get(4)?,
            playbook_sha256: r.get(5)?,
            inventory: r.get(6)?,
            vars: serde_json::from_str(&vars).unwrap_or(Value::Null),
            limit: r.get(8)?,
            user: r.get(9)?,
            controller: r.get(10)?,
            pid: r.get(11)?,
            started_ms: r.get(12)?,
            finished_ms: r.get(13)?,
            outcome: r.get(14)?,
            changes: r.get(15)?,
        })
    }

    fn holder_row(conn: &Connection, inventory: &str) -> rusqlite::Result<Option<Holder>> {
        conn.query_row(
            "SELECT pid, proc_start, user, controller, started_ms, playbook, run_id FROM locks WHERE inventory = ?1",
            params![inventory],
            |r| {
                Ok(Holder {
                    pid: r.get(0)?,
                    proc_start: r.get(1)?,
                    user: r.get(2)?,
                    controller: r.get(3)?,
                    started_ms: r.get(4)?,
                    playbook: r.get(5)?,
                    run: r.get(6)?,
                })
            },
        )
        .optional()
    }
}

fn insert_record(conn: &Connection, run_id: i64, r: &StepRecord) -> rusqlite::Result<usize> {
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
}

impl Store for SqliteStore {
    fn label(&self) -> &str {
        &self.label
    }

    fn ends_holder_session(&self) -> bool {
        false
    }

    fn start_run(&self, run: &NewRun) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (resumes, playbook, playbook_path, playbook_key, playbook_sha256, inventory, vars,
                               hosts_limit, user, controller, pid, started_ms, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'running')",
            params![
                run.resumes,
                run.playbook,
                run.playbook_path,
                run.playbook_key,
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

    fn finish_run(&self, id: i64, outcome: Outcome) -> Result<()> {
        self.check_file()?;
        self.conn()
            .execute(
                "UPDATE runs SET outcome = ?2, finished_ms = ?3 WHERE id = ?1",
                params![id, outcome.as_str(), now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn mark_killed(&self, inventory: &str) -> Result<()> {
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

    fn record(&self, run_id: i64, r: &StepRecord) -> Result<()> {
        self.check_file()?;
        let conn = self.conn();
        insert_record(&conn, run_id, r).map_err(|e| self.err(e))?;
        if self.hooks.committed() {
            conn.pragma_update(None, "query_only", true).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn run(&self, id: i64) -> Result<Option<RunRow>> {
        let sql = format!("SELECT {} FROM runs WHERE id = ?1", Self::RUN_COLUMNS);
        self.conn()
            .query_row(&sql, params![id], Self::run_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    fn latest_run(&self, playbook: &PlaybookRef, inventory: &str) -> Result<Option<RunRow>> {
        let sql = format!(
            "SELECT {} FROM runs WHERE (playbook_path = ?1 OR playbook_key = ?2) AND inventory = ?3
             ORDER BY id DESC LIMIT 1",
            Self::RUN_COLUMNS
        );
        self.conn()
            .query_row(&sql, params![playbook.path, playbook.key, inventory], Self::run_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    fn runs(&self, inventory: Option<&str>) -> Result<Vec<RunRow>> {
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

    fn results(&self, run_id: i64) -> Result<Vec<StepRecord>> {
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

    fn try_lock(&self, inventory: &str, me: &Holder) -> Result<Attempt> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let current = Self::holder_row(&tx, inventory).map_err(|e| self.err(e))?;
        if let Some(h) = &current
            && h.alive()
        {
            return Ok(Attempt::Held(h.clone()));
        }
        tx.execute(
            "INSERT OR REPLACE INTO locks (inventory, pid, proc_start, user, controller, started_ms, playbook, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                inventory,
                me.pid,
                me.proc_start,
                me.user,
                me.controller,
                me.started_ms,
                me.playbook,
                me.run
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Attempt::Taken(current))
    }

    fn set_lock_run(&self, inventory: &str, me: &Holder, run_id: i64) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE locks SET run_id = ?4 WHERE inventory = ?1 AND pid = ?2 AND controller = ?3",
                params![inventory, me.pid, me.controller, run_id],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn unlock(&self, inventory: &str, me: &Holder) {
        let _ = self.conn().execute(
            "DELETE FROM locks WHERE inventory = ?1 AND pid = ?2 AND controller = ?3",
            params![inventory, me.pid, me.controller],
        );
    }

    fn lock_holder(&self, inventory: &str) -> Result<Option<Holder>> {
        Self::holder_row(&self.conn(), inventory).map_err(|e| self.err(e))
    }

    fn break_lock(&self, inventory: &str, expected: &Holder) -> Result<bool> {
        let n = self
            .conn()
            .execute(
                "DELETE FROM locks WHERE inventory = ?1 AND pid = ?2 AND controller = ?3 AND started_ms = ?4",
                params![inventory, expected.pid, expected.controller, expected.started_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    fn lost(&self) -> bool {
        self.check_file().is_err()
    }

    fn import(&self, runs: &[(RunRow, Vec<StepRecord>)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let held: i64 = tx
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if held > 0 {
            return Err(Error::Usage(format!(
                "{} already holds {held} run(s): runs are copied into an empty store only",
                self.label
            )));
        }
        for (run, results) in runs {
            tx.execute(
                "INSERT INTO runs (id, resumes, playbook, playbook_path, playbook_key, playbook_sha256, inventory,
                                   vars, hosts_limit, user, controller, pid, started_ms, finished_ms, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    run.id,
                    run.resumes,
                    run.playbook,
                    run.playbook_path,
                    run.playbook_key,
                    run.playbook_sha256,
                    run.inventory,
                    run.vars.to_string(),
                    run.limit,
                    run.user,
                    run.controller,
                    run.pid,
                    run.started_ms,
                    run.finished_ms,
                    run.outcome,
                ],
            )
            .map_err(|e| self.err(e))?;
            for r in results {
                insert_record(&tx, run.id, r).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
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
            playbook_key: Some("site.rhai"),
            playbook_sha256: "abc",
            inventory: "local",
            vars,
            limit: None,
        }
    }

    const SITE: PlaybookRef = PlaybookRef {
        path: "/p/site.rhai",
        key: None,
    };

    #[test]
    fn runs_and_records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteStore::open(&dir.path().join("sub/state.db")).unwrap();
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
        let latest = j.latest_run(&SITE, "local").unwrap().unwrap();
        assert_eq!((latest.id, latest.outcome.as_str()), (id, "failed"));
        assert!(j.latest_run(&SITE, "prod").unwrap().is_none());
        // The same playbook in another checkout: matched by its path in the project.
        let elsewhere = PlaybookRef {
            path: "/q/site.rhai",
            key: Some("site.rhai"),
        };
        assert_eq!(j.latest_run(&elsewhere, "local").unwrap().map(|r| r.id), Some(id));
        let other = PlaybookRef {
            path: "/q/site.rhai",
            key: Some("other.rhai"),
        };
        assert!(j.latest_run(&other, "local").unwrap().is_none());
        let hosts: Vec<String> = j.results(id).unwrap().into_iter().map(|r| r.host).collect();
        assert_eq!(hosts, ["h1", "h2"]);
    }

    #[test]
    fn running_runs_become_killed() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let vars = Value::Null;
        let id = j.start_run(&new_run(&vars)).unwrap();
        j.mark_killed("other").unwrap();
        assert_eq!(j.run(id).unwrap().unwrap().outcome, "running");
        j.mark_killed("local").unwrap();
        assert_eq!(j.run(id).unwrap().unwrap().outcome, "killed");
    }

    /// A store of schema 1 (what runbook wrote before schema 2) is brought up to date, its
    /// runs kept; a store of a newer schema is refused.
    #[test]
    fn an_older_schema_is_migrated_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO runs (playbook, playbook_path, playbook_sha256, inventory, vars, user, controller, pid,
                                   started_ms, outcome)
                 VALUES ('site.rhai', '/p/site.rhai', 'abc', 'local', '{}', 'ann', 'box', 1, 5, 'failed');",
            )
            .unwrap();
        }
        let j = SqliteStore::open(&path).unwrap();
        let version: i64 = j.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let old = j.latest_run(&SITE, "local").unwrap().unwrap();
        assert_eq!((old.id, old.playbook_key.as_deref()), (1, None));
        let mut me = Holder::me();
        me.playbook = Some("site.rhai".into());
        assert!(matches!(j.try_lock("local", &me).unwrap(), Attempt::Taken(None)));
        j.set_lock_run("local", &me, 2).unwrap();
        assert_eq!(j.lock_holder("local").unwrap().and_then(|h| h.run), Some(2));
        j.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(j);
        let err = SqliteStore::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("written by a newer runbook (schema 99; this one knows 2): upgrade runbook"),
            "{err}"
        );
    }
}
