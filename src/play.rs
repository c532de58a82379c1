//! The state of one play while it runs: the inventory (re-read by `inventory::refresh()`),
//! the hosts met so far, the journal session, the failed hosts, the stop and cancel flags,
//! the step counters and the cost tracker. The script's bindings and the executor share it;
//! `run.rs` makes it from the command line's settings and reads the outcome from it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::host::{Host, HostState, PlayContext};
use crate::inventory::{Inventory, Vars};
use crate::journal::Session;
use crate::playbook::sources::Sources;
use crate::secrets::Secrets;

/// Which steps run: `--tags`, `--skip-tags`, `--start-at-step`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only steps with one of these tags (and those tagged `always`).
    pub tags: Vec<String>,
    /// Never run steps with one of these tags (`always` included when named).
    pub skip_tags: Vec<String>,
    /// Skip the steps before the first one of this name.
    pub start_at: Option<String>,
}

impl Selection {
    /// Why a step tagged `tags` does not run, if it does not (`start_at` aside).
    pub fn left_out(&self, tags: &[String]) -> Option<String> {
        if let Some(t) = tags.iter().find(|t| self.skip_tags.contains(t)) {
            return Some(format!("tagged `{t}`, skipped by --skip-tags"));
        }
        let always = tags.iter().any(|t| t == "always");
        if !self.tags.is_empty() && !always && !tags.iter().any(|t| self.tags.contains(t)) {
            return Some(format!("not tagged {}", self.tags.join(" or ")));
        }
        None
    }
}

/// `--list-steps`, `--list-hosts`: the play runs its script as a dry run, and each step is
/// listed instead of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Steps,
    Hosts,
}

pub struct Play {
    /// What every host of the play sees (dry run, timeouts, the reporter, the runtime).
    pub ctx: Arc<PlayContext>,
    /// The inventory file the play was started with (`inventory::refresh()` reads it again).
    pub inventory_file: String,
    /// The command line's variables, over every inventory level.
    pub vars: Vars,
    /// How many hosts of a step run at once.
    pub forks: usize,
    /// `--max-operations`: the Rhai operations script code may run (0: no limit).
    pub max_operations: u64,
    /// `--budget`: the monthly cost a plan may reach (overrides `[cost] budget_monthly`).
    pub budget: Option<crate::cost::Money>,
    /// The steps the command line selects.
    pub selection: Selection,
    /// Steps are listed, not run.
    pub listing: Option<Listing>,
    /// `--start-at-step` reached: steps run from here on.
    pub started: AtomicBool,
    /// The names of the steps the play met, in order (for `--start-at-step` errors).
    pub steps_seen: Mutex<Vec<String>>,
    pub inventory: RwLock<Inventory>,
    pub secrets: Arc<Secrets>,
    pub sources: Arc<Sources>,
    pub playbook_label: String,
    /// Changes made by controller steps (cloud calls).
    pub controller: Arc<HostState>,
    /// The journal of this run; none in a dry run, which changes nothing worth recording.
    pub journal: Option<Session>,
    /// What the run's cloud and DNS changes do to the monthly cost.
    pub cost: crate::cost::Tracker,
    pub hosts: Mutex<HashMap<String, Arc<HostState>>>,
    /// `--limit`: where host steps run. Never what the playbook sees: `hosts()`, groups and
    /// every value built from them see the whole inventory, so a limited run plans for a
    /// host exactly what an unlimited one does.
    pub limit: Option<String>,
    pub failed: Mutex<BTreeSet<String>>,
    /// The failed hosts that failed because they could not be reached or logged in to.
    pub unreachable: Mutex<BTreeSet<String>>,
    pub occurrences: Mutex<HashMap<String, usize>>,
    pub seqs: Mutex<HashMap<String, usize>>,
    pub stop_reason: Mutex<Option<(StopCause, String)>>,
    /// Set by the first Ctrl-C or SIGTERM.
    pub cancel: Arc<AtomicBool>,
    /// What the stop left in flight (a cloud action still in progress), for the journal.
    pub in_flight: Mutex<Vec<String>>,
}

impl Play {
    pub fn host(self: &Arc<Self>, name: &str) -> std::result::Result<Host, String> {
        let mut hosts = self.hosts.lock().unwrap();
        if let Some(state) = hosts.get(name) {
            return Ok(Host {
                ctx: self.ctx.clone(),
                state: state.clone(),
            });
        }
        let inv = self.inventory.read().unwrap();
        let spec = inv
            .hosts
            .get(name)
            .cloned()
            .ok_or_else(|| format!("unknown host `{name}`"))?;
        let state = Arc::new(HostState::new(
            spec,
            inv.groups_of(name),
            inv.host_vars(name, &self.vars),
        ));
        hosts.insert(name.to_string(), state.clone());
        Ok(Host {
            ctx: self.ctx.clone(),
            state,
        })
    }

    /// Swaps in a re-read inventory (`inventory::refresh()`). Hosts whose entry or groups
    /// changed are looked up afresh; the others keep their state and connection.
    pub fn replace_inventory(&self, inv: Inventory) {
        let mut hosts = self.hosts.lock().unwrap();
        hosts.retain(|name, state| {
            inv.hosts.get(name).is_some_and(|s| {
                let old = &state.spec;
                (
                    &s.address,
                    s.port,
                    &s.user,
                    s.connection,
                    &s.private_ip,
                    &s.public_ip,
                    s.pending,
                ) == (
                    &old.address,
                    old.port,
                    &old.user,
                    old.connection,
                    &old.private_ip,
                    &old.public_ip,
                    old.pending,
                ) && inv.groups_of(name) == state.groups
            })
        });
        *self.inventory.write().unwrap() = inv;
    }

    /// Hosts matching `pattern`, in the whole inventory (`--limit` does not apply here).
    pub fn select(self: &Arc<Self>, pattern: &str) -> std::result::Result<Vec<Host>, String> {
        let names = self.inventory.read().unwrap().select(pattern)?;
        names.iter().map(|n| self.host(n)).collect()
    }

    /// The hosts `--limit` lets steps run on, matched against the inventory as it is now
    /// (hosts discovered by `inventory::refresh()` included); `None` without a limit.
    pub fn limit_hosts(&self) -> Option<BTreeSet<String>> {
        let pattern = self.limit.as_ref()?;
        let inv = self.inventory.read().unwrap();
        // The pattern was checked at the start; a later inventory can only add hosts.
        Some(inv.select(pattern).unwrap_or_default().into_iter().collect())
    }

    /// Forgets every host's cached facts: a step starts from the hosts as they are, also
    /// for hosts it only reaches through a captured value.
    pub fn forget_facts(&self) {
        for state in self.hosts.lock().unwrap().values() {
            state.facts.begin_step();
        }
    }

    /// Records a host's failure; `unreachable` when its connection could not be opened.
    pub fn mark_failed(&self, host: &str, unreachable: bool) {
        self.failed.lock().unwrap().insert(host.to_string());
        if unreachable {
            self.unreachable.lock().unwrap().insert(host.to_string());
        }
    }

    pub fn has_failed(&self, host: &str) -> bool {
        self.failed.lock().unwrap().contains(host)
    }

    pub fn failed_count(&self) -> usize {
        self.failed.lock().unwrap().len()
    }

    pub fn unreachable_count(&self) -> usize {
        self.unreachable.lock().unwrap().len()
    }

    /// Stops the play (the first reason given is kept).
    pub fn stop(&self, cause: StopCause, reason: String) {
        self.stop_reason.lock().unwrap().get_or_insert((cause, reason));
    }

    pub fn stopped(&self) -> bool {
        self.stop_reason.lock().unwrap().is_some()
    }

    /// Why step `name` (tagged `tags`) does not run, if it does not.
    pub fn left_out(&self, name: &str, tags: &[String]) -> Option<String> {
        {
            let mut seen = self.steps_seen.lock().unwrap();
            if !seen.iter().any(|s| s == name) {
                seen.push(name.to_string());
            }
        }
        if let Some(start) = &self.selection.start_at
            && !self.started.load(Ordering::SeqCst)
        {
            if name != start {
                return Some(format!("before --start-at-step {start:?}"));
            }
            self.started.store(true, Ordering::SeqCst);
        }
        self.selection.left_out(tags)
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Notes what a stop request left in flight (`action 123 (shutdown) on droplet web1 was
    /// still in progress`): said at once, and kept for the journal's record of the step.
    pub fn left_in_flight(&self, what: String) {
        self.ctx.reporter.note(&format!("stopped: {what}"));
        self.in_flight.lock().unwrap().push(what);
    }

    /// Why a step that a stop request cut short did not finish: `interrupted`, and what it
    /// left in flight.
    pub fn interrupted_reason(&self) -> String {
        let left = self.in_flight.lock().unwrap();
        match left.is_empty() {
            true => "interrupted".into(),
            false => format!("interrupted; left in flight: {}", left.join("; ")),
        }
    }

    /// The identity of the `step(` call at `position`, counting repeated calls (loops).
    pub fn step_id(&self, name: &str, position: String) -> StepId {
        let mut occ = self.occurrences.lock().unwrap();
        let n = occ.entry(format!("{name}@{position}")).or_insert(0);
        let occurrence = *n;
        *n += 1;
        let mut seqs = self.seqs.lock().unwrap();
        let s = seqs.entry(name.to_string()).or_insert(0);
        let seq = *s;
        *s += 1;
        StepId {
            name: name.to_string(),
            position,
            occurrence,
            seq,
        }
    }

    /// Global variables as scripts see them outside steps.
    pub fn global_vars(&self) -> Vars {
        self.inventory.read().unwrap().global_vars(&self.vars)
    }

    /// The monthly budget: `--budget`, else the inventory's `[cost] budget_monthly`.
    pub fn budget(&self) -> Option<crate::cost::Money> {
        self.budget.or(self.inventory.read().unwrap().cost.budget_monthly)
    }

    /// Where `secret()` looks for secret files.
    pub fn secret_dirs(&self) -> Vec<PathBuf> {
        self.inventory.read().unwrap().secret_dirs()
    }
}

/// Why a play stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// More hosts failed than a step allows (`max_fail`): the hosts' failures.
    HostFailures,
    /// A controller step failed, or the journal could not be written.
    Other,
}

/// A step's identity: its name, where its `step(` call is, and which time that call ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepId {
    pub name: String,
    /// `file:line:col` of the `step(` call.
    pub position: String,
    /// 0 the first time this call runs in a play, 1 the second (a step in a loop), …
    pub occurrence: usize,
    /// 0 for the first step of this name the play runs, 1 for the second, …: with the
    /// name, what resume matches journal records by (line numbers move when a playbook is
    /// edited; the order of a playbook's steps rarely does).
    pub seq: usize,
}

impl StepId {
    /// The key of the step's journal records.
    pub fn key(&self) -> String {
        format!("{}#{}", self.name, self.seq)
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.position, self.occurrence)
    }
}
