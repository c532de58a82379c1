//! The journal as one play uses it: open the store, take the inventory's lock, pick the
//! run to resume, record the new run; then record results and the outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::location::Location;
use super::lock;
use super::resume::{Done, Prior};
use super::store::{NewRun, Outcome, PlaybookRef, StepRecord, Store, mask_json};
use crate::error::{Error, Result};
use crate::inventory::Vars;
use crate::report::Reporter;
use crate::secrets::Secrets;

/// What opening the journal for a run needs to know of it.
pub struct Opening<'a> {
    /// The journal's store.
    pub state: &'a Location,
    /// How long to wait for another run of the inventory to end.
    pub wait_lock: std::time::Duration,
    /// `--force-unlock RUN`: end that run's lock first (a person's decision).
    pub force_unlock: Option<i64>,
    /// `--resume`: `Some(None)` the latest run, `Some(Some(id))` that run.
    pub resume: Option<Option<i64>>,
    pub inventory: &'a str,
    /// The command line's variables, recorded (masked) with the run.
    pub vars: &'a Vars,
    pub limit: Option<&'a str>,
    /// The playbook as the user names it, where it is, and the sha256 of its text.
    pub playbook_label: &'a str,
    pub playbook_path: &'a std::path::Path,
    pub playbook_sha256: &'a str,
}

/// The journal as one play uses it: its run row, its lock, what it resumes, and the
/// secrets to mask before anything is written.
pub struct Session {
    pub journal: Arc<dyn Store>,
    pub run_id: i64,
    pub prior: Option<Prior>,
    secrets: Arc<Secrets>,
    lock: Mutex<Option<lock::Lock>>,
    /// The first write to the journal that failed: the run's record is incomplete.
    write_error: Mutex<Option<String>>,
}

impl Session {
    /// Opens the journal for a real run: takes the inventory's lock, finds the run to
    /// resume (or says that the last one did not finish), and records the new run.
    pub fn open(o: &Opening, secrets: &Arc<Secrets>, reporter: &Reporter, cancel: &AtomicBool) -> Result<Session> {
        let (inventory, label) = (o.inventory, o.playbook_label);
        let journal = o.state.open(&|p| secrets.remember(p))?;
        let request = lock::Request {
            inventory,
            playbook: label,
            wait: o.wait_lock,
            force: o.force_unlock,
        };
        let mut lock = lock::acquire(&journal, &request, || cancel.load(Ordering::SeqCst))?;
        if let Some(h) = &lock.forced {
            reporter.note(&format!(
                "ended the lock of inventory {inventory} held by {}, as --force-unlock asked",
                h.describe()
            ));
        }
        if let Some(h) = &lock.took_over {
            reporter.note(&format!(
                "took over the lock of inventory {inventory} from {}, which is no longer running",
                h.describe()
            ));
        }
        // We hold the lock: a run of this inventory still marked running has died.
        journal.mark_killed(inventory)?;
        let canonical = std::fs::canonicalize(o.playbook_path).unwrap_or_else(|_| o.playbook_path.to_path_buf());
        let path = canonical.display().to_string();
        let key = project_key(&canonical);
        let playbook = PlaybookRef {
            path: &path,
            key: key.as_deref(),
        };
        let latest = journal.latest_run(&playbook, inventory)?;
        let resume_from = match o.resume {
            None => {
                if let Some(r) = latest.filter(|r| r.unfinished()) {
                    reporter.note(&format!(
                        "the last run of {} on inventory {inventory} (run {}) did not finish ({}); this run starts \
                     from the beginning. To continue that one instead: {}",
                        label,
                        r.id,
                        r.outcome,
                        resume_command()
                    ));
                }
                None
            }
            Some(None) => match latest {
                Some(r) if r.unfinished() => Some(r),
                Some(r) => {
                    reporter.note(&format!(
                        "nothing to resume: the last run of {} on inventory {inventory} (run {}) finished ok; running \
                     the whole playbook",
                        label, r.id
                    ));
                    None
                }
                None => {
                    reporter.note(&format!(
                        "nothing to resume: no run of {} on inventory {inventory} is recorded in {}; running the whole \
                     playbook",
                        label,
                        journal.label()
                    ));
                    None
                }
            },
            Some(Some(id)) => {
                let r = journal
                    .run(id)?
                    .ok_or_else(|| Error::Usage(format!("--resume {id}: no run {id} in {}", journal.label())))?;
                let same_playbook = r.playbook_path == path || (key.is_some() && r.playbook_key == key);
                if !same_playbook || r.inventory != inventory {
                    return Err(Error::Usage(format!(
                        "--resume {id}: run {id} is of {} on inventory {}, not of {} on inventory {inventory}",
                        r.playbook, r.inventory, label
                    )));
                }
                Some(r)
            }
        };
        let sha = o.playbook_sha256;
        if let Some(r) = &resume_from {
            reporter.note(&format!(
                "resuming run {} ({}, started {}): steps done there are skipped on the hosts where they succeeded",
                r.id,
                r.outcome,
                lock::format_time(r.started_ms)
            ));
            if r.playbook_sha256 != sha {
                reporter.note(&format!(
                    "{} changed since run {}: steps whose closure or captured values changed run again",
                    label, r.id
                ));
            }
        }
        let prior = resume_from.map(|r| Prior::load(&*journal, r)).transpose()?;
        // Masked with the secrets known now: a --var value is not a secret unless some
        // secret() already returned it.
        let mut vars = serde_json::Value::Object(o.vars.clone());
        mask_json(secrets, &mut vars);
        let id = journal.start_run(&NewRun {
            resumes: prior.as_ref().map(|p| p.run.id),
            playbook: label,
            playbook_path: &path,
            playbook_key: key.as_deref(),
            playbook_sha256: sha,
            inventory,
            vars: &vars,
            limit: o.limit,
        })?;
        lock.set_run(id)?;
        Ok(Session {
            journal,
            run_id: id,
            prior,
            secrets: secrets.clone(),
            lock: Mutex::new(Some(lock)),
            write_error: Mutex::new(None),
        })
    }

    /// Lets the next run of the inventory start (also done when the session is dropped).
    pub fn release_lock(&self) {
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Records a result, with secrets masked in its error, reason and value.
    pub fn record(&self, mut r: StepRecord) -> Result<()> {
        r.error = r.error.map(|e| self.secrets.mask(&e));
        // A step named from a secret (`step(`deploy ${token}`, …)`) is stored masked too.
        r.step_name = self.secrets.mask(&r.step_name);
        r.step_id = self.secrets.mask(&r.step_id);
        r.step_key = self.secrets.mask(&r.step_key);
        r.reason = r.reason.map(|e| self.secrets.mask(&e));
        mask_json(&self.secrets, &mut r.value);
        let r = self.journal.record(self.run_id, &r);
        self.note_failure(&r);
        r
    }

    pub fn finish(&self, outcome: Outcome) -> Result<()> {
        let r = self.journal.finish_run(self.run_id, outcome);
        self.note_failure(&r);
        r
    }

    fn note_failure(&self, r: &Result<()>) {
        if let Err(e) = r {
            self.write_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| e.to_string());
        }
    }

    /// The first write to the journal that failed, if any did.
    pub fn write_error(&self) -> Option<String> {
        self.write_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The journaled result of a step that is done on `host` in the run being resumed.
    pub fn done(&self, key: &str, host: &str) -> Option<&Done> {
        self.prior.as_ref()?.done(key, host)
    }

    /// Whether the run being resumed left the handler journaled under `key` notified on
    /// `host` without running it.
    pub fn owed(&self, key: &str, host: &str) -> bool {
        self.prior.as_ref().is_some_and(|p| p.owed(key, host))
    }
}

/// The playbook's path relative to the directory runbook was started from (the project
/// directory), when it is inside it: how the same playbook is found in another checkout of
/// the project, on another machine sharing the store.
fn project_key(canonical: &std::path::Path) -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    let rel = canonical.strip_prefix(&cwd).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The command line of this process with `--resume` (in place of any it had).
pub fn resume_command() -> String {
    let mut args: Vec<String> = vec!["runbook".into()];
    let mut rest = std::env::args().skip(1).peekable();
    while let Some(a) = rest.next() {
        if a == "--resume" {
            rest.next_if(|n| n.parse::<i64>().is_ok());
        } else if !a.starts_with("--resume=") {
            args.push(a);
        }
    }
    args.push("--resume".into());
    crate::shell::join(&args)
}
