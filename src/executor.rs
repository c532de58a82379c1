//! Fans a step out over its hosts: in parallel up to `--forks`, in serial batches when
//! asked, leaving out hosts that failed earlier, and stopping the play when more hosts
//! fail than the step allows.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext};

use crate::host::Host;
use crate::playbook::diagnose;
use crate::report::{CONTROLLER, HostResult, HostStatus};
use crate::run::Run;
use crate::step::{StepId, StepOptions, results_map};

/// The token a step throws to end the play after too many failures.
pub const STOP_TOKEN: &str = "runbook: play stopped";

thread_local! {
    static IN_STEP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as running a step closure while `f` runs.
fn in_step<T>(f: impl FnOnce() -> T) -> T {
    IN_STEP.with(|s| s.set(true));
    let out = f();
    IN_STEP.with(|s| s.set(false));
    out
}

pub fn inside_step() -> bool {
    IN_STEP.with(|s| s.get())
}

pub enum Targets {
    Controller,
    Hosts(Vec<Host>),
}

pub fn run_step(
    run: &Arc<Run>,
    ctx: &NativeCallContext,
    id: &StepId,
    opts: &StepOptions,
    targets: Targets,
    closure: &FnPtr,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let source = ctx.call_source().unwrap_or(&run.playbook_label).to_string();
    let hosts = match targets {
        Targets::Controller => return run_controller_step(run, ctx, id, closure, &source),
        Targets::Hosts(hosts) => hosts,
    };
    let names: Vec<String> = hosts.iter().map(|h| h.name().to_string()).collect();
    run.reporter.step_start(&id.name, &names);

    let mut results: Vec<HostResult> = Vec::new();
    let mut values: Vec<(String, Dynamic)> = Vec::new();
    let (active, left_out): (Vec<Host>, Vec<Host>) = hosts.into_iter().partition(|h| !run.has_failed(h.name()));
    for h in left_out {
        let r = skipped(h.name(), "failed in an earlier step");
        run.reporter.host_result(&id.name, &r);
        results.push(r);
    }

    let batch_size = opts.serial.unwrap_or(active.len().max(1));
    let mut failed = 0;
    let mut stop = false;
    for batch in active.chunks(batch_size) {
        if stop {
            for h in batch {
                let r = skipped(h.name(), "play stopped");
                run.reporter.host_result(&id.name, &r);
                results.push(r);
            }
            continue;
        }
        let outcomes = parallel(batch, run.settings.forks, |host| {
            run_on_host(run, ctx, id, closure, host, &source)
        });
        for (r, v) in outcomes {
            if r.status == HostStatus::Failed {
                failed += 1;
            }
            if let Some(v) = v {
                values.push((r.host.clone(), v));
            }
            results.push(r);
        }
        if failed > opts.max_fail {
            stop = true;
        }
        if run.cancelled() {
            break;
        }
    }
    run.reporter.step_end(&id.name, &results);
    if stop {
        run.stop(format!(
            "step `{}`: {failed} host(s) failed, more than max_fail = {}; the play stopped",
            id.name, opts.max_fail
        ));
        return Err(EvalAltResult::ErrorTerminated(STOP_TOKEN.into(), ctx.call_position()).into());
    }
    if run.cancelled() {
        return Err(EvalAltResult::ErrorTerminated(STOP_TOKEN.into(), ctx.call_position()).into());
    }
    // Keep the hosts' order (the inventory's), not the order they finished in.
    let order: Vec<&str> = results.iter().map(|r| r.host.as_str()).collect();
    values.sort_by_key(|(h, _)| order.iter().position(|o| o == h));
    Ok(results_map(values).into())
}

fn run_controller_step(
    run: &Arc<Run>,
    ctx: &NativeCallContext,
    id: &StepId,
    closure: &FnPtr,
    source: &str,
) -> Result<Dynamic, Box<EvalAltResult>> {
    run.reporter.step_start(&id.name, &[]);
    run.controller.begin_step();
    let start = Instant::now();
    let result = in_step(|| closure.call_within_context::<Dynamic>(ctx, ()));
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
    let r = HostResult {
        host: CONTROLLER.into(),
        status,
        changes,
        error,
        duration: start.elapsed(),
        reason: None,
    };
    run.reporter.host_result(&id.name, &r);
    run.reporter.step_end(&id.name, std::slice::from_ref(&r));
    match result {
        Ok(v) => Ok(v),
        Err(e) if is_stop(&e) => Err(e),
        Err(_) => {
            run.stop(format!("controller step `{}` failed", id.name));
            Err(EvalAltResult::ErrorTerminated(STOP_TOKEN.into(), ctx.call_position()).into())
        }
    }
}

fn run_on_host(
    run: &Arc<Run>,
    ctx: &NativeCallContext,
    id: &StepId,
    closure: &FnPtr,
    host: &Host,
    source: &str,
) -> (HostResult, Option<Dynamic>) {
    host.state.begin_step();
    if host.state.spec.pending {
        // A droplet the dry run would create: nothing to connect to, and everything the
        // step does there will be a change.
        let r = HostResult {
            host: host.name().to_string(),
            status: HostStatus::Changed,
            changes: 0,
            error: None,
            duration: Default::default(),
            reason: Some(crate::host::PENDING_HOST.into()),
        };
        run.reporter.host_result(&id.name, &r);
        return (r, None);
    }
    let start = Instant::now();
    let result = in_step(|| closure.call_within_context::<Dynamic>(ctx, (host.clone(),)));
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
        Err(e) => {
            run.mark_failed(host.name());
            (
                HostStatus::Failed,
                Some(diagnose(&e, source, &run.sources).render()),
                None,
            )
        }
    };
    let r = HostResult {
        host: host.name().to_string(),
        status,
        changes,
        error,
        duration: start.elapsed(),
        reason: None,
    };
    run.reporter.host_result(&id.name, &r);
    (r, value)
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
    matches!(e, EvalAltResult::ErrorTerminated(t, _) if t.to_string() == STOP_TOKEN)
}

/// Runs `f` on every item with at most `limit` at once; results in item order.
fn parallel<T: Send>(items: &[Host], limit: usize, f: impl Fn(&Host) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    *slots[i].lock().unwrap() = Some(f(item));
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item ran"))
        .collect()
}
