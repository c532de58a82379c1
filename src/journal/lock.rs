//! One run at a time per inventory and state store: a row of the `locks` table naming its
//! holder (pid, user, host, start time). Taking it is one `BEGIN IMMEDIATE` transaction
//! (read the row, replace it if its holder is dead, insert ours), so SQLite serializes
//! newcomers: two of them can never both see a stale lock and both take it.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};

pub use super::holder::{Holder, format_time, hostname, now_ms, user};
use super::store::Journal;
use crate::error::{Error, Result};

/// A held lock, released when dropped. A killed process cannot release it: the next run
/// finds its holder dead and takes it over.
pub struct Lock {
    journal: std::sync::Arc<Journal>,
    inventory: String,
    pid: i64,
    /// The dead holder this lock was taken over from.
    pub took_over: Option<Holder>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.journal.conn().execute(
            "DELETE FROM locks WHERE inventory = ?1 AND pid = ?2 AND controller = ?3",
            params![self.inventory, self.pid, hostname()],
        );
    }
}

/// Takes the lock of `inventory`, waiting up to `wait` for a live holder to let go (and
/// no longer once `cancelled` says so: Ctrl-C while waiting).
pub fn acquire(
    journal: &std::sync::Arc<Journal>,
    inventory: &str,
    wait: Duration,
    cancelled: impl Fn() -> bool,
) -> Result<Lock> {
    let deadline = Instant::now() + wait;
    loop {
        match try_acquire(journal, inventory)? {
            Ok(took_over) => {
                return Ok(Lock {
                    journal: journal.clone(),
                    inventory: inventory.to_string(),
                    pid: std::process::id() as i64,
                    took_over,
                });
            }
            Err(holder) if Instant::now() >= deadline => {
                let mut hint = if wait.is_zero() {
                    "; wait for it with --wait-lock DURATION".to_string()
                } else {
                    String::new()
                };
                if holder.controller != hostname() {
                    // Runbook cannot tell from here whether that process still runs.
                    hint.push_str(&format!(
                        "; if that run is gone (its machine is off), a person who knows can remove the lock: runbook unlock -i {inventory}"
                    ));
                }
                return Err(Error::LockHeld(format!(
                    "inventory {inventory} is locked by another run: {} (lock in {}){hint}",
                    holder.describe(),
                    journal.path().display()
                )));
            }
            Err(_) if cancelled() => return Err(Error::Interrupted),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The holder of `inventory`'s lock, if any.
pub fn holder(journal: &Journal, inventory: &str) -> Result<Option<Holder>> {
    holder_row(&journal.conn(), inventory).map_err(|e| journal.err(e))
}

fn holder_row(conn: &rusqlite::Connection, inventory: &str) -> rusqlite::Result<Option<Holder>> {
    conn.query_row(
        "SELECT pid, proc_start, user, controller, started_ms FROM locks WHERE inventory = ?1",
        params![inventory],
        |r| {
            Ok(Holder {
                pid: r.get(0)?,
                proc_start: r.get(1)?,
                user: r.get(2)?,
                controller: r.get(3)?,
                started_ms: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Removes `inventory`'s lock if `expected` still holds it (`runbook unlock`, by a person).
pub fn remove(journal: &Journal, inventory: &str, expected: &Holder) -> Result<bool> {
    let n = journal
        .conn()
        .execute(
            "DELETE FROM locks WHERE inventory = ?1 AND pid = ?2 AND controller = ?3 AND started_ms = ?4",
            params![inventory, expected.pid, expected.controller, expected.started_ms],
        )
        .map_err(|e| journal.err(e))?;
    Ok(n == 1)
}

/// `Ok(Ok(previous dead holder))` when taken, `Ok(Err(live holder))` when held.
fn try_acquire(journal: &Journal, inventory: &str) -> Result<std::result::Result<Option<Holder>, Holder>> {
    let mut conn = journal.conn();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| journal.err(e))?;
    let current = holder_row(&tx, inventory).map_err(|e| journal.err(e))?;
    if let Some(h) = &current
        && h.alive()
    {
        return Ok(Err(h.clone()));
    }
    let me = Holder::me();
    tx.execute(
        "INSERT OR REPLACE INTO locks (inventory, pid, proc_start, user, controller, started_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![inventory, me.pid, me.proc_start, me.user, me.controller, me.started_ms],
    )
    .map_err(|e| journal.err(e))?;
    tx.commit().map_err(|e| journal.err(e))?;
    Ok(Ok(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn dead_pid() -> i64 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i64;
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_live_holder_keeps_the_lock_and_a_dead_one_loses_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::open(&dir.path().join("state.db")).unwrap());
        let lock = acquire(&j, "local", Duration::ZERO, || false).unwrap();
        assert!(lock.took_over.is_none());
        // This process holds it: a second attempt (as another run would) fails, naming us.
        let err = acquire(&j, "local", Duration::ZERO, || false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        // Another inventory is independent.
        let _other = acquire(&j, "prod", Duration::ZERO, || false).unwrap();
        drop(lock);
        let lock = acquire(&j, "local", Duration::ZERO, || false).unwrap();
        std::mem::forget(lock); // as if killed: the row stays

        let dead = dead_pid();
        j.conn()
            .execute(
                "UPDATE locks SET pid = ?1, proc_start = NULL WHERE inventory = 'local'",
                params![dead],
            )
            .unwrap();
        let lock = acquire(&j, "local", Duration::ZERO, || false).unwrap();
        assert_eq!(lock.took_over.as_ref().map(|h| h.pid), Some(dead));
    }

    #[test]
    fn a_reused_pid_is_not_the_holder() {
        let me = Holder::me();
        assert!(me.alive());
        let reused = Holder {
            proc_start: me.proc_start.map(|s| s + 1),
            ..me.clone()
        };
        assert_eq!(reused.alive(), me.proc_start.is_none());
        let elsewhere = Holder {
            pid: dead_pid(),
            controller: format!("{}-other", hostname()),
            ..me
        };
        assert!(elsewhere.alive(), "a process on another machine cannot be checked");
    }
}
