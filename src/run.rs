//! One play: the inventory, the hosts' states, the reporter and the engine, from loading
//! the playbook to the recap and exit code.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rhai::{Dynamic, Map, Scope};

use crate::connection::ConnectSettings;
use crate::error::{Error, Result};
use crate::executor::is_stop;
use crate::host::{Host, HostState};
use crate::inventory::{ConnectionKind, HostSpec, Inventory, Vars};
use crate::journal::{Outcome, Session, resume_command};
use crate::playbook::{self, Sources, convert};
use crate::report::{OutputFormat, Reporter};
use crate::secrets::Secrets;
use crate::step::StepId;

/// Validated settings of a play.
#[derive(Debug, Clone)]
pub struct Settings {
    pub playbook: PathBuf,
    pub inventory: String,
    pub limit: Option<String>,
    pub vars: Vars,
    pub forks: usize,
    pub dry_run: bool,
    /// Show diffs of changed files on real runs too (dry runs always show them).
    pub show_diff: bool,

    pub output: OutputFormat,
    pub command_timeout: Option<Duration>,
    pub trust_new_hosts: bool,
    /// `--resume`: `Some(None)` the latest run, `Some(Some(id))` that run.
    pub resume: Option<Option<i64>>,
    /// The run journal's file.
    pub state: PathBuf,
    pub wait_lock: Duration,
    /// `--budget`: the monthly cost a plan may reach (overrides `[cost] budget_monthly`).
    pub budget: Option<crate::cost::Money>,
}

pub struct Run {
    pub settings: Settings,
    pub connect: ConnectSettings,
    pub inventory: RwLock<Inventory>,
    pub reporter: Arc<Reporter>,
    pub secrets: Arc<Secrets>,
    pub rt: tokio::runtime::Handle,
    pub sources: Arc<Sources>,
    pub playbook_label: String,
    /// Changes made by controller steps (cloud calls).
    pub controller: Arc<HostState>,
    /// The journal of this run; none in a dry run, which changes nothing worth recording.
    pub journal: Option<Session>,
    /// What the run's cloud and DNS changes do to the monthly cost.
    pub cost: crate::cost::Tracker,
    hosts: Mutex<HashMap<String, Arc<HostState>>>,
    /// `--limit`: where host steps run. Never what the playbook sees: `hosts()`, groups and
    /// every value built from them see the whole inventory, so a limited run plans for a
    /// host exactly what an unlimited one does.
    limit: Option<String>,
    failed: Mutex<BTreeSet<String>>,
    occurrences: Mutex<HashMap<String, usize>>,
    seqs: Mutex<HashMap<String, usize>>,
    stop_reason: Mutex<Option<String>>,
    /// Set by the first Ctrl-C or SIGTERM.
    cancel: Arc<AtomicBool>,
}

impl Run {
    pub fn host(self: &Arc<Self>, name: &str) -> std::result::Result<Host, String> {
        let mut hosts = self.hosts.lock().unwrap();
        if let Some(state) = hosts.get(name) {
            return Ok(Host {
                run: self.clone(),
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
            inv.host_vars(name, &self.settings.vars),
        ));
        hosts.insert(name.to_string(), state.clone());
        Ok(Host {
            run: self.clone(),
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

    pub fn mark_failed(&self, host: &str) {
        self.failed.lock().unwrap().insert(host.to_string());
    }

    pub fn has_failed(&self, host: &str) -> bool {
        self.failed.lock().unwrap().contains(host)
    }

    pub fn failed_count(&self) -> usize {
        self.failed.lock().unwrap().len()
    }

    pub fn stop(&self, reason: String) {
        self.stop_reason.lock().unwrap().get_or_insert(reason);
    }

    pub fn stopped(&self) -> bool {
        self.stop_reason.lock().unwrap().is_some()
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
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
        self.inventory.read().unwrap().global_vars(&self.settings.vars)
    }

    /// The monthly budget: `--budget`, else the inventory's `[cost] budget_monthly`.
    pub fn budget(&self) -> Option<crate::cost::Money> {
        self.settings
            .budget
            .or(self.inventory.read().unwrap().cost.budget_monthly)
    }

    /// Where `secret()` looks for secret files.
    pub fn secret_dirs(&self) -> Vec<PathBuf> {
        self.inventory.read().unwrap().secret_dirs()
    }
}

/// Runs a playbook; returns the process exit code after reporting everything.
pub fn play(settings: Settings) -> i32 {
    let secrets = Arc::new(Secrets::default());
    let reporter = Arc::new(Reporter::new(settings.output, settings.dry_run, secrets.clone()));
    match play_with(settings, secrets, reporter.clone()) {
        Ok(code) => code,
        Err(e) => {
            let rendered = e.to_string();
            reporter.error(&rendered);
            reporter.finish(e.exit_code(), Some(&rendered));
            e.exit_code()
        }
    }
}

fn play_with(settings: Settings, secrets: Arc<Secrets>, reporter: Arc<Reporter>) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let inventory = crate::cloud::discover::load(&settings.inventory, rt.handle(), &|t| secrets.remember(t))?;
    let limited = match &settings.limit {
        None => None,
        Some(p) => match inventory.select(p) {
            Ok(hosts) if hosts.is_empty() => {
                return Err(Error::Usage(format!(
                    "--limit {p:?} matches no host of inventory {}",
                    inventory.name
                )));
            }
            Ok(hosts) => Some(hosts.len()),
            Err(e) => return Err(Error::Usage(format!("--limit {p:?}: {e}"))),
        },
    };
    let sources = Arc::new(Sources::default());
    let dir = settings
        .playbook
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut engine = playbook::engine(dir, sources.clone());
    let pb = playbook::compile(&engine, &settings.playbook, &sources)?;
    reporter.run_start(&pb.label, &inventory.name, inventory.hosts.len(), limited);
    let cancel = Arc::new(AtomicBool::new(false));
    crate::interrupt::install(cancel.clone(), reporter.clone())
        .map_err(|e| Error::io("cannot handle Ctrl-C and SIGTERM", e))?;
    let journal = match settings.dry_run {
        true => None,
        false => Some(Session::open(
            &settings,
            &inventory.name,
            &pb,
            &secrets,
            &reporter,
            &cancel,
        )?),
    };
    let connect = ConnectSettings::new(&inventory, settings.trust_new_hosts);
    let run = Arc::new(Run {
        connect,
        inventory: RwLock::new(inventory),
        reporter,
        secrets,
        rt: rt.handle().clone(),
        sources,
        playbook_label: pb.label.clone(),
        controller: Arc::new(HostState::new(controller_spec(), vec![], Vars::new())),
        journal,
        cost: Default::default(),
        hosts: Mutex::new(HashMap::new()),
        limit: settings.limit.clone(),
        failed: Mutex::new(BTreeSet::new()),
        occurrences: Mutex::new(HashMap::new()),
        seqs: Mutex::new(HashMap::new()),
        stop_reason: Mutex::new(None),
        cancel,
        settings,
    });
    playbook::register(&mut engine, run.clone());

    let inv_name = run.inventory.read().unwrap().name.clone();

    let mut scope = Scope::new();
    let inv_map: Map = [
        ("name".into(), Dynamic::from(inv_name)),
        ("vars".into(), convert::vars_to_map(&run.global_vars()).into()),
    ]
    .into_iter()
    .collect();
    scope.push_constant("inventory", inv_map);

    let result = engine.run_ast_with_scope(&mut scope, &pb.ast);
    drop(engine); // releases the closures' references to the run
    let outcome = match result {
        Ok(()) => Ok(()),
        Err(e) if is_stop(&e) => Ok(()),
        Err(e) => Err(Error::Playbook(playbook::diagnose(&e, &pb.label, &run.sources))),
    };
    let stop_reason = run.stop_reason.lock().unwrap().clone();
    let (mut code, journal_outcome, mut error) = match outcome {
        Err(e) => {
            let rendered = e.to_string();
            run.reporter.error(&rendered);
            (e.exit_code(), Outcome::Failed, Some(rendered))
        }
        Ok(()) if run.cancelled() => (
            Error::Interrupted.exit_code(),
            Outcome::Interrupted,
            Some("interrupted".to_string()),
        ),
        Ok(()) => {
            let failed = run.failed_count();
            if let Some(reason) = &stop_reason {
                run.reporter.note(reason);
            }
            if failed > 0 || stop_reason.is_some() {
                let code = Error::HostsFailed { failed }.exit_code();
                (code, Outcome::Failed, stop_reason.clone())
            } else {
                (0, Outcome::Ok, None)
            }
        }
    };
    // What the run did (or would do) to the monthly cost; a plan over the budget fails.
    if let Some(ledger) = run.cost.ledger() {
        let summary = crate::cost::Summary {
            ledger,
            budget: run.budget(),
        };
        run.reporter.cost(&summary);
        if let Some(over) = summary.over_budget().filter(|_| run.settings.dry_run && code == 0) {
            let message = format!("the plan is refused by the budget: {over}");
            run.reporter.error(&message);
            code = Error::HostsFailed { failed: 0 }.exit_code();
            error = Some(message);
        }
    }
    if let Some(session) = &run.journal {
        let finished = session.finish(journal_outcome);
        session.release_lock();
        if finished.is_err() || session.write_error().is_some() {
            // The record is incomplete: say so, not what it was meant to say.
            let e = session.write_error().unwrap_or_default();
            let message = format!(
                "the run journal could not be written ({e}); run {} is not recorded as {}: its record may still \
                 say `running` (the next run of this inventory marks it killed) and lacks the results after the failure",
                session.run_id,
                journal_outcome.as_str()
            );
            run.reporter.error(&message);
            code = Error::Journal(String::new()).exit_code();
            error = Some(message);
        } else if journal_outcome != Outcome::Ok {
            run.reporter.note(&format!(
                "run {} is recorded as {}; to continue it where it stopped: {}",
                session.run_id,
                journal_outcome.as_str(),
                resume_command()
            ));
        }
    }
    run.reporter.finish(code, error.as_deref());
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(code)
}

fn controller_spec() -> HostSpec {
    HostSpec {
        connection: ConnectionKind::Local,
        ..HostSpec::new(crate::report::CONTROLLER, "localhost")
    }
}

/// `runbook check`: compile the playbook and its modules and check every call against the
/// built-ins' declarations, without touching any host; with an inventory, also its host
/// patterns and variable names.
pub fn check(path: &std::path::Path, inventory: Option<&str>, vars: &[String]) -> Result<String> {
    let sources = Arc::new(Sources::default());
    let dir = path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let engine = playbook::engine(dir.clone(), sources.clone());
    let pb = playbook::compile(&engine, path, &sources)?;
    playbook::check(&engine, &pb, &sources)?;
    let inventory = inventory.map(Inventory::load).transpose()?;
    // Groups of a cloud inventory come from the droplets' tags: not known without asking.
    let patterns = inventory.as_ref().filter(|i| i.cloud.is_none());
    let defined = vars
        .iter()
        .map(|v| v.split_once('=').map_or(v.as_str(), |(k, _)| k).trim().to_string())
        .collect();
    // The engine has Rhai's own functions; runbook's API is checked against its declarations.
    let cx = playbook::lint::Context {
        engine: &engine,
        sources: &sources,
        dir,
        inventory: patterns,
        vars: defined,
    };
    let problems = playbook::lint::check(&cx, &pb.label, &pb.ast);
    if !problems.is_empty() {
        return Err(Error::Check(problems));
    }
    Ok(format!("{}: ok", pb.label))
}
