//! One run at a time per inventory and store. The store keeps the lock (SQLite: a row
//! naming its holder; PostgreSQL: an advisory lock of the run's session and that row); this
//! file takes it for a run, waits for it (`--wait-lock`), and lets a person end it
//! (`--force-unlock RUN`, `runbook unlock`).

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::holder::{Holder, format_time, hostname, now_ms, user};
use super::store::{Attempt, Store};
use crate::error::{Error, Result};

/// A held lock, released when dropped. A killed process cannot release it: SQLite's next
/// run finds its holder dead and takes it over; PostgreSQL releases it with the session.
pub struct Lock {
    store: Arc<dyn Store>,
    inventory: String,
    me: Holder,
    /// The holder this lock was taken over from, which was gone.
    pub took_over: Option<Holder>,
    /// The holder whose lock a person ended (`--force-unlock RUN`).
    pub forced: Option<Holder>,
}

impl Lock {
    /// Names the run holding the lock, for whoever finds it held.
    pub fn set_run(&mut self, run_id: i64) -> Result<()> {
        self.store.set_lock_run(&self.inventory, &self.me, run_id)?;
        self.me.run = Some(run_id);
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.store.unlock(&self.inventory, &self.me);
    }
}

/// What taking a lock is told.
pub struct Request<'a> {
    pub inventory: &'a str,
    /// The playbook the run plays, named in the lock.
    pub playbook: &'a str,
    /// How long to wait for a live holder to let go.
    pub wait: Duration,
    /// `--force-unlock RUN`: end the lock of that run, live or not (a person's decision).
    pub force: Option<i64>,
}

/// Takes the lock of `inventory`, waiting up to `wait` for a live holder to let go (and
/// no longer once `cancelled` says so: Ctrl-C while waiting).
pub fn acquire(store: &Arc<dyn Store>, req: &Request, cancelled: impl Fn() -> bool) -> Result<Lock> {
    let inventory = req.inventory;
    let deadline = Instant::now() + req.wait;
    let me = Holder {
        playbook: Some(req.playbook.to_string()),
        ..Holder::me()
    };
    let mut force = req.force;
    let mut forced = None;
    loop {
        match store.try_lock(inventory, &me)? {
            Attempt::Taken(took_over) => {
                return Ok(Lock {
                    store: store.clone(),
                    inventory: inventory.to_string(),
                    me,
                    took_over,
                    forced,
                });
            }
            Attempt::Held(holder) if force.is_some() => {
                let run = force.take().expect("checked");
                if holder.run != Some(run) {
                    return Err(Error::Usage(format!(
                        "--force-unlock {run}: the lock of inventory {inventory} is held by {}, not by run {run}",
                        holder.describe()
                    )));
                }
                check_breakable(&**store, inventory, &holder)?;
                if store.break_lock(inventory, &holder)? {
                    forced = Some(holder);
                }
            }
            Attempt::Held(holder) if Instant::now() >= deadline => {
                let mut hint = if req.wait.is_zero() {
                    "; wait for it with --wait-lock DURATION".to_string()
                } else {
                    String::new()
                };
                if store.ends_holder_session() {
                    // A holder that died loses the lock with its connection: this one is
                    // alive, or its machine vanished a moment ago.
                    let stop = match holder.run {
                        Some(run) => format!("--force-unlock {run} (or runbook unlock -i {inventory})"),
                        None => format!("runbook unlock -i {inventory}"),
                    };
                    hint.push_str(&format!(
                        "; if that run is stuck, a person who knows can end it and take the lock: {stop}"
                    ));
                } else if holder.controller != hostname() {
                    // Runbook cannot tell from here whether that process still runs.
                    hint.push_str(&format!(
                        "; if that run is gone (its machine is off), a person who knows can remove the lock: runbook unlock -i {inventory}"
                    ));
                }
                return Err(Error::LockHeld(format!(
                    "inventory {inventory} is locked by another run: {} (lock in {}){hint}",
                    holder.describe(),
                    store.label()
                )));
            }
            Attempt::Held(_) if cancelled() => return Err(Error::Interrupted),
            Attempt::Held(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A live holder running on this machine is stopped by its own Ctrl-C. In SQLite its lock
/// cannot be removed from under it: it would go on writing beside the next run.
pub fn check_breakable(store: &dyn Store, inventory: &str, holder: &Holder) -> Result<()> {
    if !store.ends_holder_session() && holder.alive() && holder.controller == hostname() {
        return Err(Error::LockHeld(format!(
            "inventory {inventory} is locked by a run that is still running here: {}; stop it instead (Ctrl-C)",
            holder.describe()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::SqliteStore;

    fn dead_pid() -> i64 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i64;
        child.wait().unwrap();
        pid
    }

    fn req(inventory: &str) -> Request<'_> {
        Request {
            inventory,
            playbook: "site.rhai",
            wait: Duration::ZERO,
            force: None,
        }
    }

    #[test]
    fn a_live_holder_keeps_the_lock_and_a_dead_one_loses_it() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let j: Arc<dyn Store> = sqlite.clone();
        let mut lock = acquire(&j, &req("local"), || false).unwrap();
        assert!(lock.took_over.is_none());
        lock.set_run(7).unwrap();
        // This process holds it: a second attempt (as another run would) fails, naming us.
        let err = acquire(&j, &req("local"), || false).err().unwrap().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains(", run 7 of site.rhai"),
            "{err}"
        );
        // --force-unlock names the run; a live holder here is not removed from under it.
        let wrong = acquire(
            &j,
            &Request {
                force: Some(8),
                ..req("local")
            },
            || false,
        );
        assert!(wrong.err().unwrap().to_string().contains("not by run 8"));
        let live = acquire(
            &j,
            &Request {
                force: Some(7),
                ..req("local")
            },
            || false,
        );
        assert!(live.err().unwrap().to_string().contains("stop it instead"));
        // Another inventory is independent.
        let _other = acquire(&j, &req("prod"), || false).unwrap();
        drop(lock);
        let lock = acquire(&j, &req("local"), || false).unwrap();
        std::mem::forget(lock); // as if killed: the row stays

        let dead = dead_pid();
        sqlite
            .conn()
            .execute(
                "UPDATE locks SET pid = ?1, proc_start = NULL WHERE inventory = 'local'",
                rusqlite::params![dead],
            )
            .unwrap();
        let lock = acquire(&j, &req("local"), || false).unwrap();
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
