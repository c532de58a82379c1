//! What `--resume` continues from: the run it resumes and, per step and host, the results
//! that are done (ok or changed, with the fingerprint and value they had).
//!
//! A resumed run is a new run row whose `resumes` names the run it continues, so history
//! keeps every attempt with its own times and outcome. Its steps skipped as done are
//! recorded again (`skipped`, `done_in` = the run where they ran, same fingerprint and
//! value), but records are also looked up along the chain of resumed runs: a resume that
//! is itself killed before it got to re-record a step must not make that step run again.
//!
//! A handler's notification is journaled when it happens (status `notified`, under the
//! handler's key), and replaced by the handler's own result once it ran. A notification
//! with no later result (`ok`, `changed`, or skipped as done) is still owed: the resumed
//! run runs that handler even though the operation that notified it no longer changes.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::store::{RunRow, Store};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub fingerprint: String,
    pub value: Value,
    /// The run in which the step really ran.
    pub run: i64,
}

pub struct Prior {
    pub run: RunRow,
    done: HashMap<(String, String), Done>,
    /// (handler key, host) of the notifications no handler run answered yet.
    owed: HashSet<(String, String)>,
}

/// What the status of a record says about a handler's notification.
fn owed(status: &str, done_in: Option<i64>) -> Option<bool> {
    match (status, done_in) {
        // Notified, or notified and its handler failed: still to do.
        ("notified" | "failed", _) => Some(true),
        ("ok" | "changed", _) | ("skipped", Some(_)) => Some(false),
        _ => None,
    }
}

impl Prior {
    /// Loads the done results of `run` and of the runs it resumed, newest first: for each
    /// step and host the newest record that says something about the step wins (a failure
    /// in a later run hides an older success; skipped-because-failed-earlier says nothing).
    pub fn load(journal: &dyn Store, run: RunRow) -> Result<Prior> {
        let mut decided: HashMap<(String, String), Option<Done>> = HashMap::new();
        let mut notified: HashMap<(String, String), bool> = HashMap::new();
        let mut next = Some(run.clone());
        while let Some(r) = next {
            for rec in journal.results(r.id)? {
                if let Some(owed) = owed(&rec.status, rec.done_in) {
                    notified.entry((rec.step_key.clone(), rec.host.clone())).or_insert(owed);
                }
                let verdict = match (rec.status.as_str(), rec.done_in) {
                    ("ok" | "changed", _) => Some(r.id),
                    ("skipped", Some(n)) => Some(n),
                    ("failed", _) => None,
                    _ => continue,
                };
                decided.entry((rec.step_key, rec.host)).or_insert_with(|| {
                    verdict.map(|ran| Done {
                        fingerprint: rec.fingerprint,
                        value: rec.value,
                        run: ran,
                    })
                });
            }
            // `resumes` always names an older run, so this ends.
            next = match r.resumes {
                Some(id) if id < r.id => journal.run(id)?,
                _ => None,
            };
        }
        let done = decided.into_iter().filter_map(|(k, d)| Some((k, d?))).collect();
        let owed = notified.into_iter().filter(|(_, o)| *o).map(|(k, _)| k).collect();
        Ok(Prior { run, done, owed })
    }

    pub fn done(&self, key: &str, host: &str) -> Option<&Done> {
        self.done.get(&(key.to_string(), host.to_string()))
    }

    /// Whether the handler journaled under `key` was notified on `host` and has not run
    /// since (or failed when it did).
    pub fn owed(&self, key: &str, host: &str) -> bool {
        self.owed.contains(&(key.to_string(), host.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{NewRun, SqliteStore, StepRecord};

    fn rec(key: &str, host: &str, status: &str, fp: &str, done_in: Option<i64>) -> StepRecord {
        StepRecord {
            step_key: key.into(),
            step_id: key.into(),
            step_name: key.into(),
            fingerprint: fp.into(),
            host: host.into(),
            status: status.into(),
            changes: 0,
            error: None,
            reason: None,
            value: Value::from(fp),
            done_in,
            started_ms: 0,
            finished_ms: 0,
        }
    }

    #[test]
    fn done_results_are_found_along_the_chain_of_resumed_runs() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let vars = Value::Null;
        let mut run = NewRun {
            resumes: None,
            playbook: "site.rhai",
            playbook_path: "/site.rhai",
            playbook_key: None,
            playbook_sha256: "",
            inventory: "local",
            vars: &vars,
            limit: None,
        };
        let first = j.start_run(&run).unwrap();
        j.record(first, &rec("a#0", "h1", "ok", "A", None)).unwrap();
        j.record(first, &rec("b#0", "h1", "changed", "B", None)).unwrap();
        j.record(first, &rec("c#0", "h1", "ok", "C", None)).unwrap();
        j.record(first, &rec("d#0", "h1", "ok", "D", None)).unwrap();
        run.resumes = Some(first);
        let second = j.start_run(&run).unwrap();
        j.record(second, &rec("a#0", "h1", "skipped", "A", Some(first)))
            .unwrap();
        j.record(second, &rec("b#0", "h1", "failed", "B2", None)).unwrap();
        j.record(second, &rec("c#0", "h1", "skipped", "C", None)).unwrap(); // failed earlier
        // Killed before it got to d.

        let prior = Prior::load(&j, j.run(second).unwrap().unwrap()).unwrap();
        assert_eq!(prior.done("a#0", "h1").map(|d| d.run), Some(first));
        assert_eq!(
            prior.done("b#0", "h1"),
            None,
            "a later failure hides the earlier success"
        );
        assert_eq!(prior.done("c#0", "h1").map(|d| d.value.clone()), Some(Value::from("C")));
        assert_eq!(prior.done("d#0", "h1").map(|d| d.run), Some(first));
        assert_eq!(prior.done("d#0", "h2"), None);
    }

    #[test]
    fn a_notification_is_owed_until_its_handler_ran() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let vars = Value::Null;
        let mut run = NewRun {
            resumes: None,
            playbook: "site.rhai",
            playbook_path: "/site.rhai",
            playbook_key: None,
            playbook_sha256: "",
            inventory: "local",
            vars: &vars,
            limit: None,
        };
        let h = "s#0/handler restart";
        let first = j.start_run(&run).unwrap();
        j.record(first, &rec(h, "h1", "notified", "S", None)).unwrap();
        j.record(first, &rec(h, "h2", "notified", "S", None)).unwrap();
        j.record(first, &rec(h, "h2", "changed", "S", None)).unwrap(); // ran: replaces it
        j.record(first, &rec(h, "h3", "notified", "S", None)).unwrap();
        j.record(first, &rec(h, "h4", "notified", "S", None)).unwrap();
        j.record(first, &rec(h, "h4", "failed", "S", None)).unwrap();
        run.resumes = Some(first);
        let second = j.start_run(&run).unwrap();
        j.record(second, &rec(h, "h3", "ok", "S", None)).unwrap();
        // Killed before h1's ran.

        let prior = Prior::load(&j, j.run(second).unwrap().unwrap()).unwrap();
        let owed: Vec<&str> = ["h1", "h2", "h3", "h4", "h5"]
            .into_iter()
            .filter(|host| prior.owed(h, host))
            .collect();
        assert_eq!(owed, ["h1", "h4"], "notified and not run, or failed when it ran");
        assert_eq!(prior.done(h, "h1"), None, "a notification is not a result");
    }
}
