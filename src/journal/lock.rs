//! One run at a time per inventory and state store: a row of the `locks` table naming its
//! holder (pid, user, host, start time). Taking it is one `BEGIN IMMEDIATE` transaction
//! (read the row, replace it if its holder is dead, insert ours), so SQLite serializes
//! newcomers: two of them can never both see a stale lock and both take it.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};

use super::{Journal, now_ms};
use crate::error::{Error, Result};

/// A lock's holder, as written in its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i64,
    pub proc_start: Option<i64>,
    pub user: String,
    pub controller: String,
    pub started_ms: i64,
}

impl Holder {
    fn me() -> Holder {
        let pid = std::process::id() as i64;
        Holder {
            pid,
            proc_start: proc_start(pid),
            user: user(),
            controller: hostname(),
            started_ms: now_ms(),
        }
    }

    /// Whether the holder may still be running. A process on another machine cannot be
    /// checked from here, so it counts as alive.
    pub fn alive(&self) -> bool {
        if self.controller != hostname() {
            return true;
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let exists =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        // The same pid with another start time is a new process that reused the number.
        exists && (self.proc_start.is_none() || proc_start(self.pid) == self.proc_start)
    }

    pub fn describe(&self) -> String {
        format!(
            "pid {} ({}@{}, since {})",
            self.pid,
            self.user,
            self.controller,
            format_time(self.started_ms)
        )
    }
}

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
                return Err(Error::Journal(format!(
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

/// When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat).
fn proc_start(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn user() -> String {
    for key in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(key)
            && !u.is_empty()
        {
            return u;
        }
    }
    // SAFETY: getuid cannot fail; getpwuid returns null or a valid entry, read at once
    // (runbook looks users up from one thread only).
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Unix milliseconds as UTC, to the second: `2025-11-24 22:11:03Z`.
pub fn format_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string().replace('T', " ")
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
