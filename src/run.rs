//! One play: the inventory, the hosts' states, the reporter and the engine, from loading
//! the playbook to the recap and exit code.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rhai::{Dynamic, Map, Scope};

use crate::connection::ConnectSettings;
use crate::error::{Error, Result};
use crate::host::{HostState, PlayContext};
use crate::inventory::{ConnectionKind, HostSpec, Inventory, Vars};
use crate::journal::{Opening, Outcome, Session, resume_command};
use crate::play::{Play, StopCause};
use crate::playbook::executor::is_stop;
use crate::playbook::{self, Sources, convert};
use crate::report::{OutputFormat, Reporter};
use crate::secrets::Secrets;

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
    pub color: crate::report::ColorChoice,
    /// `-v` count.
    pub verbose: u8,
    /// `--tags`, `--skip-tags`, `--start-at-step`.
    pub selection: crate::play::Selection,
    /// `--list-steps`, `--list-hosts`.
    pub listing: Option<crate::play::Listing>,
    pub command_timeout: Option<Duration>,
    /// `--max-operations`: Rhai operations script code may run (0: no limit).
    pub max_operations: u64,
    pub trust_new_hosts: bool,
    /// `--resume`: `Some(None)` the latest run, `Some(Some(id))` that run.
    pub resume: Option<Option<i64>>,
    /// The run journal's store.
    pub state: crate::journal::Location,
    pub wait_lock: Duration,
    /// `--force-unlock RUN`: end that run's lock first.
    pub force_unlock: Option<i64>,
    /// `--budget`: the monthly cost a plan may reach (overrides `[cost] budget_monthly`).
    pub budget: Option<crate::cost::Money>,
}

/// Runs a playbook; returns the process exit code after reporting everything.
pub fn play(settings: Settings) -> i32 {
    let secrets = Arc::new(Secrets::default());
    let reporter = Arc::new(
        Reporter::on_stdout(settings.output, settings.color, settings.dry_run, secrets.clone())
            .with_verbosity(settings.verbose)
            .listing(settings.listing.is_some()),
    );
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
    let mut engine = playbook::engine(dir.clone(), sources.clone());
    let pb = playbook::compile(&engine, &settings.playbook, &sources)?;
    reporter.run_start(&pb.label, &inventory.name, inventory.hosts.len(), limited);
    let cancel = Arc::new(AtomicBool::new(false));
    crate::interrupt::install(cancel.clone(), reporter.clone())
        .map_err(|e| Error::io("cannot handle Ctrl-C and SIGTERM", e))?;
    let journal = match settings.dry_run {
        true => None,
        false => {
            let opening = Opening {
                state: &settings.state,
                wait_lock: settings.wait_lock,
                force_unlock: settings.force_unlock,
                resume: settings.resume,
                inventory: &inventory.name,
                vars: &settings.vars,
                limit: settings.limit.as_deref(),
                playbook_label: &pb.label,
                playbook_path: &pb.path,
                playbook_sha256: &playbook::step::sha256_hex(pb.source.as_bytes()),
            };
            Some(Session::open(&opening, &secrets, &reporter, &cancel)?)
        }
    };
    let ctx = Arc::new(PlayContext {
        dry_run: settings.dry_run,
        show_diff: settings.show_diff,
        command_timeout: settings.command_timeout,
        rt: rt.handle().clone(),
        connect: ConnectSettings::new(&inventory, settings.trust_new_hosts),
        reporter,
        playbook_dir: dir.clone(),
        inventory_name: inventory.name.clone(),
    });
    let run = Arc::new(Play {
        ctx,
        inventory_file: settings.inventory.clone(),
        vars: settings.vars.clone(),
        forks: settings.forks,
        max_operations: settings.max_operations,
        budget: settings.budget,
        selection: settings.selection.clone(),
        listing: settings.listing,
        started: AtomicBool::new(false),
        steps_seen: Mutex::new(Vec::new()),
        inventory: RwLock::new(inventory),
        secrets,
        sources,
        playbook_label: pb.label.clone(),
        controller: Arc::new(HostState::new(controller_spec(), vec![], Vars::new())),
        journal,
        cost: Default::default(),
        hosts: Mutex::new(HashMap::new()),
        limit: settings.limit.clone(),
        failed: Mutex::new(BTreeSet::new()),
        unreachable: Mutex::new(BTreeSet::new()),
        occurrences: Mutex::new(HashMap::new()),
        seqs: Mutex::new(HashMap::new()),
        stop_reason: Mutex::new(None),
        cancel,
        in_flight: Mutex::new(Vec::new()),
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
        Err(e) => {
            let mut d = playbook::diagnose(&e, &pb.label, &run.sources);
            if run.listing.is_some() {
                d = d.note("the listing stopped here: steps are not run when listed, so a script that uses what a step returned cannot go on; the steps above are the ones before this point");
            }
            Err(Error::Playbook(d))
        }
    };
    // `--start-at-step NAME` that no step of the play is called: nothing ran, say why.
    let outcome = match (&run.selection.start_at, outcome) {
        (Some(start), Ok(())) if !run.started.load(std::sync::atomic::Ordering::SeqCst) => {
            let seen = run.steps_seen.lock().unwrap().clone();
            let hint = crate::builtins::suggest(start, seen.iter().map(String::as_str))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            Err(Error::Usage(format!(
                "--start-at-step {start:?}: no step of the play has that name{hint} (its steps: {})",
                seen.join(", ")
            )))
        }
        (_, outcome) => outcome,
    };
    let stop_reason = run.stop_reason.lock().unwrap().clone();
    let (mut code, journal_outcome, mut error) = match outcome {
        Err(e) => {
            let rendered = e.to_string();
            run.ctx.reporter.error(&rendered);
            (e.exit_code(), Outcome::Failed, Some(rendered))
        }
        Ok(()) if run.cancelled() => (
            Error::Interrupted.exit_code(),
            Outcome::Interrupted,
            Some("interrupted".to_string()),
        ),
        Ok(()) => {
            let failed = run.failed_count();
            if let Some((_, reason)) = &stop_reason {
                run.ctx.reporter.note(reason);
            }
            if failed > 0 || stop_reason.is_some() {
                // Exit 4 only when nothing but reaching hosts failed: a stop for failed
                // hosts is theirs; a controller step's failure is not.
                let unreachable = run.unreachable_count();
                let hosts_only = stop_reason.as_ref().is_none_or(|(c, _)| *c == StopCause::HostFailures);
                let code = match failed > 0 && unreachable == failed && hosts_only {
                    true => Error::Unreachable { unreachable }.exit_code(),
                    false => Error::HostsFailed { failed }.exit_code(),
                };
                (code, Outcome::Failed, stop_reason.map(|(_, r)| r))
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
        run.ctx.reporter.cost(&summary);
        if let Some(over) = summary.over_budget().filter(|_| run.ctx.dry_run && code == 0) {
            let message = format!("the plan is refused by the budget: {over}");
            run.ctx.reporter.error(&message);
            code = crate::error::exit::FAILED;
            error = Some(message);
        }
    }
    if let Some(session) = &run.journal {
        let finished = session.finish(journal_outcome);
        session.release_lock();
        if finished.is_err() || session.write_error().is_some() {
            // The record is incomplete: say so, not what it was meant to say.
            let e = session.write_error().unwrap_or_default();
            let message = if session.journal.lost() {
                format!(
                    "{e}. The play stopped at the first result it could not record; run {} cannot be resumed \
                     (the next run starts from the beginning): what it changed is in the output above",
                    session.run_id
                )
            } else {
                format!(
                    "the run journal could not be written ({e}); run {} is not recorded as {}: its record may still \
                 say `running` (the next run of this inventory marks it killed) and lacks the results after the failure",
                    session.run_id,
                    journal_outcome.as_str()
                )
            };
            run.ctx.reporter.error(&message);
            code = crate::error::exit::USAGE;
            error = Some(message);
        } else if journal_outcome != Outcome::Ok {
            run.ctx.reporter.note(&format!(
                "run {} is recorded as {}; to continue it where it stopped: {}",
                session.run_id,
                journal_outcome.as_str(),
                resume_command()
            ));
        }
    }
    let unreachable: Vec<String> = run.unreachable.lock().unwrap().iter().cloned().collect();
    run.ctx.reporter.unreachable(&unreachable);
    run.ctx.reporter.finish(code, error.as_deref());
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
