//! Fans a step out over its hosts: in parallel up to `--forks`, in serial batches when
//! asked, leaving out hosts that failed earlier and hosts where a resumed run already did
//! the step, journaling each host's result before that host moves on, running the
//! handlers notified on a host after its closure succeeded, and stopping the play when
//! more hosts fail than the step allows or after Ctrl-C.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext};

use super::diagnose::diagnose;
use super::handlers::{self, Handler, Scope};
use crate::host::Host;
use crate::journal::{StepRecord, now_ms};
use crate::play::{Play, StopCause};
use crate::playbook::convert::{from_journal, to_json};
use crate::playbook::step::{StepId, StepOptions, results_map};
use crate::report::{CONTROLLER, HostResult, HostStatus};

/// What ends the script when the play stops (too many failures, Ctrl-C): Rhai's
/// termination carrying this value, told apart by its type, never by a text.
#[derive(Debug, Clone, Copy)]
pub struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("runbook: play stopped")
    }
}

/// The value a script is terminated with when the play stops.
pub fn stop_token() -> rhai::Dynamic {
    rhai::Dynamic::from(Stop)
}

thread_local! {
    static IN_STEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as running a step closure while `f` runs, its changes
/// counted for `counted`.
fn in_step<T>(counted: &Arc<crate::host::HostState>, f: impl FnOnce() -> T) -> T {
    IN_STEP.with(|s| s.set(true));
    let out = crate::host::counting_for(counted, f);
    IN_STEP.with(|s| s.set(false));
    out
}

/// Runs a step's (or handler's) closure: what it queued on hosts is carried out when it
/// ends (`queue::finish`), unless a stop request ended it (a resume runs it again).
fn closure_in_step(
    run: &Play,
    counted: &Arc<crate::host::HostState>,
    f: impl FnOnce() -> Result<Dynamic, Box<EvalAltResult>>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    in_step(counted, || {
        crate::playbook::queue::use_sources(Some(run.sources.clone()));
        let result = f();
        let result = match run.cancelled() {
            true => {
                crate::playbook::queue::forget();
                result
            }
            false => crate::playbook::queue::finish(result),
        };
        crate::playbook::queue::use_sources(None);
        result
    })
}

pub fn inside_step() -> bool {
    IN_STEP.with(|s| s.get())
}

pub enum Targets {
    Controller,
    Hosts(Vec<Host>),
}

pub fn run_step(
    run: &Arc<Play>,
    ctx: &NativeCallContext,
    id: &StepId,
    fingerprint: &str,
    opts: &StepOptions,
    targets: Targets,
    closure: &FnPtr,
) -> Result<Dynamic, Box<EvalAltResult>> {
    if run.cancelled() || run.stopped() {
        return Err(terminate(ctx));
    }
    let step = Step {
        id,
        fingerprint,
        handler: None,
    };
    let source = ctx.call_source().unwrap_or(&run.playbook_label).to_string();
    let not_selected = run.left_out(&id.name, &opts.tags);
    if let Some(listing) = run.listing {
        return Ok(list(run, &step, opts, targets, listing, not_selected.as_deref()));
    }
    if let Some(reason) = not_selected {
        return Ok(left_out(run, &step, targets, &reason));
    }
    run.forget_facts();
    let hosts = match targets {
        Targets::Controller => return run_controller_step(run, ctx, &step, closure, &source),
        Targets::Hosts(hosts) => hosts,
    };
    let (hosts, limited_out) = step_hosts(run, hosts);
    let names: Vec<String> = hosts.iter().map(|h| h.name().to_string()).collect();
    run.ctx.reporter.step_start(&id.name, &names, limited_out);

    let mut results: Vec<HostResult> = Vec::new();
    let mut values: Vec<(String, Dynamic)> = Vec::new();
    let mut active: Vec<Host> = Vec::new();
    let mut rerun: Vec<&str> = Vec::new();
    // Done in the run being resumed: its handlers may still be owed there.
    let mut done: Vec<Host> = Vec::new();
    for h in &hosts {
        if run.has_failed(h.name()) {
            results.push(conclude(
                run,
                &step,
                skipped(h.name(), "failed in an earlier step"),
                None,
            ));
            continue;
        }
        match journaled(run, &step, h.name()) {
            Journaled::Done(r, value) => {
                values.push((h.name().to_string(), value));
                results.push(r);
                done.push(h.clone());
            }
            Journaled::Changed => {
                rerun.push(h.name());
                active.push(h.clone());
            }
            Journaled::No => active.push(h.clone()),
        }
    }
    if !rerun.is_empty() {
        run.ctx.reporter.note(&format!(
            "step `{}` runs again on {}: its closure or captured values changed since it ran there",
            id.name,
            rerun.join(", ")
        ));
    }

    let mut failed = 0;
    let handlers = opts.handlers.as_slice();
    if !handlers.is_empty() && !done.is_empty() {
        let owed = parallel(&done, run.forks, |host| {
            let scope = Arc::new(Scope::new(run, id, fingerprint, host.name(), handlers));
            run_handlers(run, ctx, &step, handlers, host, &scope, &source)
        });
        for handled in owed {
            failed += usize::from(handled.iter().any(|r| r.status == HostStatus::Failed));
            results.extend(handled);
        }
    }

    let batch_size = opts.serial.unwrap_or(active.len().max(1));
    let batches = active.len().div_ceil(batch_size.max(1));
    let mut stop = None;
    for (i, batch) in active.chunks(batch_size).enumerate() {
        if stop.is_some() || run.stopped() || run.cancelled() {
            let reason = if run.cancelled() { "interrupted" } else { "play stopped" };
            for h in batch {
                results.push(conclude(run, &step, skipped(h.name(), reason), None));
            }
            continue;
        }
        let outcomes = parallel(batch, run.forks, |host| {
            // After Ctrl-C, hosts not yet started are left for the resume.
            if run.cancelled() {
                let r = conclude(run, &step, skipped(host.name(), "interrupted"), None);
                return (r, None, Vec::new());
            }
            run_on_host(run, ctx, &step, handlers, closure, host, &source)
        });
        for (r, v, handled) in outcomes {
            if r.status == HostStatus::Failed || handled.iter().any(|h| h.status == HostStatus::Failed) {
                failed += 1;
            }
            if let Some(v) = v {
                values.push((r.host.clone(), v));
            }
            results.push(r);
            results.extend(handled);
        }
        // A rolling (`serial`) step goes no further than a batch that had a failure.
        if failed > 0 && opts.serial.is_some() && i + 1 < batches {
            stop = Some(format!("a host failed in batch {} of {batches}", i + 1));
        }
    }
    run.ctx.reporter.step_end(&id.name, &results);
    // The step's hosts left: those neither failed now nor earlier.
    let all_failed = !hosts.is_empty() && hosts.iter().all(|h| run.has_failed(h.name()));
    if let Some(why) = stop.or_else(|| opts.stops(failed, hosts.len(), all_failed)) {
        run.stop(
            StopCause::HostFailures,
            format!("step `{}`: {why}; the play stopped", id.name),
        );
        return Err(terminate(ctx));
    }
    if run.cancelled() || run.stopped() {
        return Err(terminate(ctx));
    }
    // Keep the hosts' order (the inventory's), not the order they finished in.
    let order: Vec<&str> = results.iter().map(|r| r.host.as_str()).collect();
    values.sort_by_key(|(h, _)| order.iter().position(|o| o == h));
    Ok(results_map(values).into())
}

/// `--list-steps`/`--list-hosts`: the step as it would run (its hosts after `--limit`, or
/// why it would not), its closure not called; an empty result.
fn list(
    run: &Arc<Play>,
    step: &Step,
    opts: &StepOptions,
    targets: Targets,
    listing: crate::play::Listing,
    not_selected: Option<&str>,
) -> Dynamic {
    let (hosts, left_out) = match targets {
        Targets::Controller => (Some(vec![CONTROLLER.to_string()]), 0),
        Targets::Hosts(hosts) => {
            let (kept, out) = step_hosts(run, hosts);
            (Some(kept.iter().map(|h| h.name().to_string()).collect()), out)
        }
    };
    let hosts = match listing {
        crate::play::Listing::Hosts => hosts,
        crate::play::Listing::Steps => None,
    };
    run.ctx.reporter.listed(
        &step.id.name,
        &step.id.position,
        &opts.tags,
        hosts.as_deref(),
        left_out,
        not_selected,
    );
    Dynamic::from(rhai::Map::new())
}

/// A step the command line leaves out (`--tags`, `--skip-tags`, `--start-at-step`): every
/// target skipped, journaled so (a resume does not take it for done), an empty result.
fn left_out(run: &Arc<Play>, step: &Step, targets: Targets, reason: &str) -> Dynamic {
    let (names, limited_out) = match targets {
        Targets::Controller => (Vec::new(), 0),
        Targets::Hosts(hosts) => {
            let (kept, out) = step_hosts(run, hosts);
            (kept.iter().map(|h| h.name().to_string()).collect(), out)
        }
    };
    run.ctx.reporter.step_start(&step.id.name, &names, limited_out);
    // A controller step is skipped on the controller; a host step on each of its hosts.
    let hosts = match (names.is_empty(), limited_out) {
        (true, 0) => vec![CONTROLLER.to_string()],
        _ => names,
    };
    let results: Vec<HostResult> = hosts
        .iter()
        .map(|h| conclude(run, step, skipped(h, reason), None))
        .collect();
    run.ctx.reporter.step_end(&step.id.name, &results);
    Dynamic::from(rhai::Map::new())
}

/// The hosts a step runs on, and how many of its targets `--limit` leaves out. The targets
/// were chosen from the whole inventory, as without a limit: `--limit` decides where the
/// step runs, and only that. A host named twice (`hosts("web") + hosts("web1")`) is one
/// target, not two closures racing on it.
fn step_hosts(run: &Play, hosts: Vec<Host>) -> (Vec<Host>, usize) {
    let mut seen = std::collections::HashSet::new();
    let hosts = hosts.into_iter().filter(|h| seen.insert(h.name().to_string()));
    match run.limit_hosts() {
        Some(limit) => {
            let (kept, out): (Vec<Host>, Vec<Host>) = hosts.partition(|h| limit.contains(h.name()));
            (kept, out.len())
        }
        None => (hosts.collect(), 0),
    }
}

/// A step (or one of its handlers) as the journal knows it.
struct Step<'a> {
    id: &'a StepId,
    fingerprint: &'a str,
    /// The handler's name, for a handler's records.
    handler: Option<&'a str>,
}

impl Step<'_> {
    fn key(&self) -> String {
        match self.handler {
            Some(h) => handlers::key(self.id, h),
            None => self.id.key(),
        }
    }
}

enum Journaled {
    /// Done in the run being resumed, unchanged: skipped (reported and recorded), with
    /// the value it returned then.
    Done(HostResult, Dynamic),
    /// Done, but the step's fingerprint changed: it runs again.
    Changed,
    No,
}

fn journaled(run: &Arc<Play>, step: &Step, host: &str) -> Journaled {
    let Some(done) = run.journal.as_ref().and_then(|j| j.done(&step.id.key(), host)) else {
        return Journaled::No;
    };
    if done.fingerprint != step.fingerprint {
        return Journaled::Changed;
    }
    let r = skipped(host, &format!("done in run {}", done.run));
    let r = conclude(run, step, r, Some(Recorded::Done(&done.value, done.run)));
    let value = from_journal(&done.value, &|name| run.host(name).ok());
    Journaled::Done(r, value)
}

/// What a record holds besides the result.
enum Recorded<'a> {
    /// What the closure returned.
    Value(&'a Dynamic),
    /// A journaled value, and the run where the step ran.
    Done(&'a serde_json::Value, i64),
}

/// Journals a host's result (committed before the host moves on), then reports it. A
/// result that cannot be journaled stops the play: going on would do work no resume knows.
fn conclude(run: &Play, step: &Step, r: HostResult, extra: Option<Recorded>) -> HostResult {
    if let Some(session) = &run.journal {
        let finished = now_ms();
        let (value, done_in) = match extra {
            Some(Recorded::Value(v)) => (to_json(v), None),
            Some(Recorded::Done(v, n)) => (v.clone(), Some(n)),
            None => (serde_json::Value::Null, None),
        };
        let record = StepRecord {
            step_key: step.key(),
            step_id: match step.handler {
                Some(h) => format!("{}/handler {h}", step.id),
                None => step.id.to_string(),
            },
            step_name: match step.handler {
                Some(h) => handlers::label(h),
                None => step.id.name.clone(),
            },
            fingerprint: step.fingerprint.to_string(),
            host: r.host.clone(),
            status: r.status.as_str().to_string(),
            changes: r.changes as i64,
            error: r.error.clone(),
            reason: r.reason.clone(),
            value,
            done_in,
            started_ms: finished - r.duration.as_millis() as i64,
            finished_ms: finished,
        };
        if let Err(e) = session.record(record) {
            run.stop(
                StopCause::Other,
                format!("the play stopped because the run journal cannot be written: {e}"),
            );
        }
    }
    match step.handler {
        Some(h) => run.ctx.reporter.handler_result(&step.id.name, h, &r),
        None => run.ctx.reporter.host_result(&step.id.name, &r),
    }
    r
}

fn terminate(ctx: &NativeCallContext) -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(stop_token(), ctx.call_position()).into()
}

fn run_controller_step(
    run: &Arc<Play>,
    ctx: &NativeCallContext,
    step: &Step,
    closure: &FnPtr,
    source: &str,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let id = step.id;
    run.ctx.reporter.step_start(&id.name, &[], 0);
    match journaled(run, step, CONTROLLER) {
        Journaled::Done(r, value) => {
            run.ctx.reporter.step_end(&id.name, std::slice::from_ref(&r));
            return Ok(value);
        }
        Journaled::Changed => run.ctx.reporter.note(&format!(
            "step `{}` runs again: its closure or captured values changed since it ran",
            id.name
        )),
        Journaled::No => {}
    }
    run.controller.begin_step();
    let start = Instant::now();
    let result = closure_in_step(run, &run.controller, || closure.call_within_context::<Dynamic>(ctx, ()));
    if let Err(e) = &result
        && run.cancelled()
        && stopped_inside(e)
    {
        // Stopped by Ctrl-C: not done, not failed; a resume runs it again.
        let r = conclude(run, step, skipped(CONTROLLER, &run.interrupted_reason()), None);
        run.ctx.reporter.step_end(&id.name, std::slice::from_ref(&r));
        return Err(terminate(ctx));
    }
    let changes = run.controller.changes();
    let status = match &result {
        Ok(_) if changes > 0 => HostStatus::Changed,
        Ok(_) => HostStatus::Ok,
        Err(_) => HostStatus::Failed,
    };
    let error = result
        .as_ref()
        .err()
        .map(|e| diagnose(e, source, &run.sources).render());
    let r = ran(CONTROLLER, status, changes, error, start);
    let r = conclude(run, step, r, result.as_ref().ok().map(Recorded::Value));
    run.ctx.reporter.step_end(&id.name, std::slice::from_ref(&r));
    match result {
        Ok(_) if run.stopped() => Err(terminate(ctx)),
        Ok(v) => Ok(v),
        Err(e) if is_stop(&e) => Err(e),
        Err(_) => {
            run.stop(StopCause::Other, format!("controller step `{}` failed", id.name));
            Err(terminate(ctx))
        }
    }
}

/// The step on one host: its result, the closure's value, and the results of the handlers
/// that ran there after it.
fn run_on_host(
    run: &Arc<Play>,
    ctx: &NativeCallContext,
    step: &Step,
    handlers: &[Handler],
    closure: &FnPtr,
    host: &Host,
    source: &str,
) -> (HostResult, Option<Dynamic>, Vec<HostResult>) {
    host.state.begin_step();
    if host.state.spec.pending {
        // A droplet the dry run would create: nothing to connect to, and what the step will
        // do there is unknown until it exists. It counts as one planned change, the same in
        // the step line, the events and the recap.
        run.ctx.reporter.change(
            host.name(),
            "step",
            &step.id.name,
            "runs once the host exists",
            None,
            None,
        );
        let r = HostResult {
            host: host.name().to_string(),
            status: HostStatus::Changed,
            changes: 1,
            error: None,
            duration: Default::default(),
            reason: Some(crate::host::PENDING_HOST.into()),
        };
        return (conclude(run, step, r, None), None, Vec::new());
    }
    let start = Instant::now();
    let scope = Arc::new(Scope::new(run, step.id, step.fingerprint, host.name(), handlers));
    let result = handlers::within(&scope, || {
        closure_in_step(run, &host.state, || {
            closure.call_within_context::<Dynamic>(ctx, (host.clone(),))
        })
    });
    // `-vv`: how many scripts (and uploads) the step sent the host, its round trips.
    if run.ctx.reporter.shows_commands(true) {
        let n = host.state.round_trips();
        run.ctx.reporter.log(
            Some(host.name()),
            &format!("{n} round trip{}", if n == 1 { "" } else { "s" }),
        );
    }
    let changes = host.state.changes();
    let (status, error, value) = match result {
        Ok(v) => (
            if changes > 0 {
                HostStatus::Changed
            } else {
                HostStatus::Ok
            },
            None,
            Some(v),
        ),
        // Stopped by Ctrl-C (a closure still running script code after the grace): not
        // done and not failed; a resume runs it again.
        Err(e) if run.cancelled() && stopped_inside(&e) => {
            let r = skipped(host.name(), "interrupted");
            return (conclude(run, step, r, None), None, Vec::new());
        }
        Err(e) => {
            run.mark_failed(host.name(), host.state.unreachable());
            (
                HostStatus::Failed,
                Some(diagnose(&e, source, &run.sources).render()),
                None,
            )
        }
    };
    let r = ran(host.name(), status, changes, error, start);
    let r = conclude(run, step, r, value.as_ref().map(Recorded::Value));
    let handled = match value {
        Some(_) => run_handlers(run, ctx, step, handlers, host, &scope, source),
        None => {
            held_back(run, step, handlers, host, &scope);
            Vec::new()
        }
    };
    (r, value, handled)
}

/// Runs the handlers notified on `host` — in this run (`scope`), or by the run being resumed
/// and not run since — each once, in declaration order, after the step's closure succeeded
/// there. A handler may notify those declared after it. The first that fails fails the host
/// and ends its handlers; after Ctrl-C or a stop none starts, and their notifications stay
/// journaled for `--resume`.
fn run_handlers(
    run: &Arc<Play>,
    ctx: &NativeCallContext,
    step: &Step,
    handlers: &[Handler],
    host: &Host,
    scope: &Arc<Scope>,
    source: &str,
) -> Vec<HostResult> {
    let mut out = Vec::new();
    for (i, handler) in handlers.iter().enumerate() {
        let owed = || {
            run.journal
                .as_ref()
                .is_some_and(|j| j.owed(&handlers::key(step.id, &handler.name), host.name()))
        };
        let by = match scope.notified_by(i) {
            Some(by) => by,
            None if owed() => "a change the resumed run journaled".to_string(),
            None => continue,
        };
        if run.cancelled() || run.stopped() {
            break;
        }
        let this = Step {
            handler: Some(&handler.name),
            ..*step
        };
        run.ctx
            .reporter
            .handler_start(host.name(), &step.id.name, &handler.name, &by);
        host.state.begin_step();
        scope.running(Some(i));
        let start = Instant::now();
        let result = handlers::within(scope, || {
            closure_in_step(run, &host.state, || {
                handler.run.call_within_context::<Dynamic>(ctx, (host.clone(),))
            })
        });
        scope.running(None);
        let changes = host.state.changes();
        let (status, error) = match &result {
            Ok(_) if changes > 0 => (HostStatus::Changed, None),
            Ok(_) => (HostStatus::Ok, None),
            // Stopped by Ctrl-C: its notification stays journaled, a resume runs it.
            Err(e) if run.cancelled() && stopped_inside(e) => {
                let r = skipped(host.name(), "interrupted");
                run.ctx.reporter.handler_result(&step.id.name, &handler.name, &r);
                out.push(r);
                break;
            }
            Err(e) => {
                run.mark_failed(host.name(), host.state.unreachable());
                (HostStatus::Failed, Some(diagnose(e, source, &run.sources).render()))
            }
        };
        let r = ran(host.name(), status, changes, error, start);
        out.push(conclude(run, &this, r, None));
        if status == HostStatus::Failed {
            break;
        }
    }
    out
}

/// A host whose closure failed runs no handler (what it changed may be half done), but
/// what was notified stays journaled: the note says so, and `--resume` runs them once the
/// step succeeds there.
fn held_back(run: &Play, step: &Step, handlers: &[Handler], host: &Host, scope: &Scope) {
    let names: Vec<&str> = (0..handlers.len())
        .filter(|i| scope.notified_by(*i).is_some())
        .map(|i| handlers[i].name.as_str())
        .collect();
    if names.is_empty() || run.ctx.dry_run {
        return;
    }
    run.ctx.reporter.note(&format!(
        "step `{}` failed on {}: its notified handlers ({}) did not run there; --resume runs them once the step succeeds",
        step.id.name,
        host.name(),
        names.join(", ")
    ));
}

/// The result of a closure that ran (on a host, or the controller) since `start`.
fn ran(
    host: impl Into<String>,
    status: HostStatus,
    changes: usize,
    error: Option<String>,
    start: Instant,
) -> HostResult {
    HostResult {
        host: host.into(),
        status,
        changes,
        error,
        duration: start.elapsed(),
        reason: None,
    }
}

fn skipped(host: &str, reason: &str) -> HostResult {
    HostResult {
        host: host.to_string(),
        status: HostStatus::Skipped,
        changes: 0,
        error: None,
        duration: Default::default(),
        reason: Some(reason.to_string()),
    }
}

pub fn is_stop(e: &EvalAltResult) -> bool {
    matches!(e, EvalAltResult::ErrorTerminated(t, _) if t.is::<Stop>())
}

/// Whether the play's stop token ended this script, however deep in its calls.
fn stopped_inside(e: &EvalAltResult) -> bool {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
            stopped_inside(inner)
        }
        other => is_stop(other),
    }
}

/// A step thread's stack (address space; pages are used only as needed).
const STEP_STACK: usize = 64 << 20;

/// Runs `f` on every item with at most `limit` at once; results in item order.
pub fn parallel<T: Send>(items: &[Host], limit: usize, f: impl Fn(&Host) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            // The stack the main thread has: Rhai's call-depth limit must be reached before
            // a deep script overflows a step thread's stack (which would abort the process).
            std::thread::Builder::new()
                .stack_size(STEP_STACK)
                .spawn_scoped(s, || {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { break };
                        *slots[i].lock().unwrap() = Some(f(item));
                    }
                })
                .expect("a step thread starts");
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item ran"))
        .collect()
}
