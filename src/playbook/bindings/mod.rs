//! The Rhai API scripts see, one file per surface, registered by `register`: `globals`
//! (`step`, `hosts`, `var`, `secret`, `log`), `host` (the `Host` type and its operations),
//! `cloud` (`cloud::` and the controller's providers), `dns`, `inventory`, `wait`,
//! `local`. Every built-in is declared once in `crate::builtins`; `call` holds what each
//! native call does with errors and hosts.

mod call;
mod cloud;
mod dns;
mod globals;
mod host;
mod inventory;
mod local;
mod wait;

use std::sync::Arc;

use rhai::Engine;

use crate::play::Play;
use crate::playbook::executor;

/// How long a step's closure may go on running script code after Ctrl-C.
const STEP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Gives `engine` runbook's API over `run`.
pub fn register(engine: &mut Engine, run: Arc<Play>) {
    globals::register(engine, &run);
    host::register(engine);
    crate::playbook::queue::register(engine);
    let cloud = cloud::register(engine, &run);
    dns::register(engine, &cloud);
    inventory::register(engine, &cloud);
    wait::register(engine, &run, cloud);
    local::register(engine, &run);
    let r = run.clone();
    // Inside a step, a line is about the host whose closure prints it.
    // What the step queued before the line is carried out before it is printed (a failure
    // is raised at the next call that can raise it, and the line is not printed).
    engine.on_print(move |s| {
        if crate::playbook::queue::flush_or_keep() {
            r.ctx.reporter.log(crate::host::current_host().as_deref(), s)
        }
    });
    let r = run.clone();
    engine.on_debug(move |s, _, pos| {
        if !crate::playbook::queue::flush_or_keep() {
            return;
        }
        let host = crate::host::current_host();
        r.ctx.reporter.log(host.as_deref(), &format!("[debug {pos}] {s}"))
    });
    let r = run;
    // After Ctrl-C, script code stops at its next operation. Inside a step the closures
    // that are running get a second to finish (their running commands always do), so a
    // closure ending after its last command is whole and journaled, while one that loops
    // without end stops too, recorded as interrupted.
    let first_seen = std::sync::OnceLock::new();
    let limit = r.max_operations;
    engine.on_progress(move |_| {
        if !r.cancelled() {
            return None;
        }
        let since: &std::time::Instant = first_seen.get_or_init(std::time::Instant::now);
        let stop = !executor::inside_step() || since.elapsed() > STEP_GRACE;
        stop.then(executor::stop_token)
    });
    track_calls(engine, limit);
}

/// Rhai's debugger, for two things:
/// - It keeps the call stack, so a queued operation's failure, raised later, names the
///   functions it was called through (`queue::Call`). With no limit the hook itself runs
///   once: it answers `Continue`, which leaves only the stack's bookkeeping per call.
/// - `--max-operations`: script code that goes over the limit fails at the expression it
///   reached. Rhai's own limit (and anything `on_progress` ends) is a system error, which
///   Rhai moves to the outermost call (a step's `step(` line); this hook sees every
///   expression with its position, so the error is raised there, as an ordinary error whose
///   way out through closures and functions `diagnose` shows. With a limit the hook runs at
///   every expression.
fn track_calls(engine: &mut Engine, limit: u64) {
    use rhai::debugger::{DebuggerCommand, DebuggerEvent};
    #[allow(deprecated)] // volatile, not deprecated (Rhai's words)
    engine.register_debugger(
        |_, debugger| debugger,
        move |ctx, event, _, _, pos| {
            if limit == 0 {
                return Ok(DebuggerCommand::Continue);
            }
            // Not when a function returns (with the error raised here, among others).
            let at_expression = matches!(event, DebuggerEvent::Start | DebuggerEvent::Step);
            if at_expression && ctx.global_runtime_state().num_operations() > limit {
                let over = rhai::Dynamic::from(crate::playbook::diagnose::OperationLimit(limit));
                return Err(rhai::EvalAltResult::ErrorRuntime(over, pos).into());
            }
            Ok(DebuggerCommand::StepInto)
        },
    );
}
