//! What every binding does with a native call: raise an error at the call's position, and
//! run a host operation with the host to itself, inside a step, notifying the step's
//! handlers (`notify`) when it changed something.

use rhai::{EvalAltResult, Map, NativeCallContext};

use crate::builtins::{NOTIFY, Receiver};
use crate::host::Host;
use crate::playbook::{executor, handlers, queue};

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// An error raised at the position of the native call that failed.
pub fn fail<T>(ctx: &NativeCallContext, msg: impl Into<String>) -> RhaiResult<T> {
    Err(EvalAltResult::ErrorRuntime(msg.into().into(), ctx.call_position()).into())
}

/// Runs a host operation: inside a step only (where it is journaled and counted), with
/// the host to itself.
pub fn on_host<T>(ctx: &NativeCallContext, h: &Host, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    if !executor::inside_step() {
        return fail(
            ctx,
            format!(
                "h.{}() on {} is called outside a step: host operations run inside step(\"name\", hosts(…), |h| {{ … }}), where they are journaled and counted",
                ctx.fn_name(),
                h.name()
            ),
        );
    }
    looking(ctx, h, f)
}

/// Queues host operation `h.NAME(…, opts)` (`playbook::queue`): its options, `notify`
/// among them, are checked now, where an error names the call; it is carried out with
/// the rest of the step's queue, and notifies its handlers when it changed something.
pub fn queue_op(
    ctx: &NativeCallContext,
    h: &Host,
    mut opts: Map,
    prepare: impl FnOnce(Map) -> Result<crate::ops::batch::Work, String>,
) -> RhaiResult<rhai::Dynamic> {
    if !executor::inside_step() {
        return on_host(ctx, h, || Ok(rhai::Dynamic::UNIT));
    }
    let notify = notify_of(ctx, &mut opts)?;
    if let Some(names) = &notify {
        op(ctx, handlers::check(names))?;
    }
    let work = op(ctx, prepare(opts))?;
    let then: Option<queue::Then> = notify.map(|names| {
        let by = notifier(ctx);
        Box::new(move |d: &crate::ops::batch::Done| match d.changed() {
            true => handlers::notify(&names, &by),
            false => Ok(()),
        }) as queue::Then
    });
    let at_once = queue::must_run_at_once(ctx);
    queue::enqueue(ctx, h, work, then, at_once)
}

/// Runs host operation `h.NAME(…, opts)` as `on_host` does, taking its `notify` option out of
/// `opts` first: every operation declared to report `changed` takes it (`Builtin::notifies`),
/// so one bound through here has it without a word in its own code. The names are checked
/// before the operation acts; the handlers are notified when its result says `changed`.
pub fn on_host_op(
    ctx: &NativeCallContext,
    h: &Host,
    mut opts: Map,
    f: impl FnOnce(Map) -> Result<Map, String>,
) -> RhaiResult<Map> {
    let notify = notify_of(ctx, &mut opts)?;
    on_host(ctx, h, || {
        if let Some(names) = &notify {
            handlers::check(names)?;
        }
        let out = f(opts)?;
        let changed = out.get("changed").and_then(|c| c.as_bool().ok()) == Some(true);
        if let Some(names) = notify.as_ref().filter(|_| changed) {
            handlers::notify(names, &notifier(ctx))?;
        }
        Ok(out)
    })
}

/// The call that notifies, as the output and the journal name it: `h.file` and where.
pub fn notifier(ctx: &NativeCallContext) -> handlers::Notifier {
    handlers::Notifier {
        what: format!("h.{}", ctx.fn_name()),
        source: ctx.call_source().map(str::to_string),
        at: ctx.call_position(),
    }
}

/// The `notify` option taken out of `opts`, for an operation declared to report `changed`
/// (`Builtin::notifies`): the handlers' names, or none.
fn notify_of(ctx: &NativeCallContext, opts: &mut Map) -> RhaiResult<Option<Vec<String>>> {
    let takes = crate::builtins::find(Receiver::Host, ctx.fn_name()).is_some_and(|b| b.notifies());
    match takes.then(|| opts.remove(NOTIFY.name)).flatten() {
        Some(v) if !v.is_unit() => {
            let what = format!("h.{}: option `notify`", ctx.fn_name());
            Ok(Some(op(ctx, handlers::names_of(&v, &what))?))
        }
        _ => Ok(None),
    }
}

/// Runs an operation that only looks (`h.fact`, `h.read`): also outside steps. What the
/// step queued is carried out first: this sees the host as the script expects.
pub fn looking<T>(ctx: &NativeCallContext, h: &Host, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    queue::flush()?;
    op(ctx, h.state.exclusive(f))
}

/// Converts an operation's `Err(String)` into a script error at the call.
pub fn op<T>(ctx: &NativeCallContext, r: Result<T, String>) -> RhaiResult<T> {
    r.or_else(|msg| fail(ctx, msg))
}
