//! What every binding does with a native call: raise an error at the call's position, and
//! run a host operation with the host to itself, inside a step.

use rhai::{EvalAltResult, NativeCallContext};

use crate::host::Host;
use crate::playbook::executor;

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

/// Runs an operation that only looks (`h.fact`, `h.read`): also outside steps.
pub fn looking<T>(ctx: &NativeCallContext, h: &Host, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    op(ctx, h.state.exclusive(f))
}

/// Converts an operation's `Err(String)` into a script error at the call.
pub fn op<T>(ctx: &NativeCallContext, r: Result<T, String>) -> RhaiResult<T> {
    r.or_else(|msg| fail(ctx, msg))
}
