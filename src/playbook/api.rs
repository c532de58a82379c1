//! The global API scripts see (DESIGN.md, "Playbook API"): `step`, `hosts`, `var`,
//! `secret`, `log`, and the `Host` type with its properties and operations.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext};

use super::convert::{self, to_dynamic};
use crate::executor::{self, Targets};
use crate::host::Host;
use crate::ops;
use crate::run::Run;
use crate::step::StepOptions;

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// An error raised at the position of the native call that failed.
pub fn fail<T>(ctx: &NativeCallContext, msg: impl Into<String>) -> RhaiResult<T> {
    Err(EvalAltResult::ErrorRuntime(msg.into().into(), ctx.call_position()).into())
}

/// Converts an operation's `Err(String)` into a script error at the call.
fn op<T>(ctx: &NativeCallContext, r: Result<T, String>) -> RhaiResult<T> {
    r.or_else(|msg| fail(ctx, msg))
}

pub fn register(engine: &mut Engine, run: Arc<Run>) {
    register_globals(engine, &run);
    register_host(engine);
    super::local::register(engine, &run);
    let r = run.clone();
    engine.on_print(move |s| r.reporter.log(None, s));
    let r = run.clone();
    engine.on_debug(move |s, _, pos| r.reporter.log(None, &format!("[debug {pos}] {s}")));
    let r = run;
    // After Ctrl-C, script code stops at its next operation, except inside a step: the
    // closures that are running finish, so their hosts' results are whole and journaled.
    engine.on_progress(move |_| {
        if r.cancelled() && !executor::inside_step() {
            Some(executor::STOP_TOKEN.into())
        } else {
            None
        }
    });
}

fn register_globals(engine: &mut Engine, run: &Arc<Run>) {
    // step(name, closure) / step(name, targets, closure) / step(name, targets, opts, closure)
    let r = run.clone();
    engine.register_fn("step", move |ctx: NativeCallContext, name: &str, f: FnPtr| {
        step(&r, &ctx, name, Dynamic::UNIT, Map::new(), f)
    });
    let r = run.clone();
    engine.register_fn(
        "step",
        move |ctx: NativeCallContext, name: &str, targets: Dynamic, f: FnPtr| match targets.clone().try_cast::<Map>() {
            Some(opts) => step(&r, &ctx, name, Dynamic::UNIT, opts, f),
            None => step(&r, &ctx, name, targets, Map::new(), f),
        },
    );
    let r = run.clone();
    engine.register_fn(
        "step",
        move |ctx: NativeCallContext, name: &str, targets: Dynamic, opts: Map, f: FnPtr| {
            step(&r, &ctx, name, targets, opts, f)
        },
    );

    let r = run.clone();
    engine.register_fn(
        "hosts",
        move |ctx: NativeCallContext, pattern: &str| -> RhaiResult<Array> {
            let hosts = op(&ctx, r.select(pattern).map_err(|e| format!("hosts({pattern:?}): {e}")))?;
            Ok(hosts.into_iter().map(Dynamic::from).collect())
        },
    );

    let r = run.clone();
    engine.register_fn("var", move |ctx: NativeCallContext, name: &str| -> RhaiResult<Dynamic> {
        match r.global_vars().get(name) {
            Some(v) => Ok(to_dynamic(v)),
            None => fail(
                &ctx,
                format!(
                    "variable `{name}` is not defined: set it in [vars] of {}, or pass --var {name}=…, or use var({name:?}, default)",
                    r.inventory.read().unwrap().file_label()
                ),
            ),
        }
    });
    let r = run.clone();
    engine.register_fn("var", move |name: &str, default: Dynamic| -> Dynamic {
        r.global_vars().get(name).map(to_dynamic).unwrap_or(default)
    });

    let r = run.clone();
    engine.register_fn(
        "secret",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<String> {
            match crate::secrets::lookup(name, &r.secret_dirs()) {
                Some(v) => {
                    r.secrets.remember(&v);
                    Ok(v)
                }
                None => fail(
                    &ctx,
                    format!(
                        "secret `{name}` is not set: export {} or write it to {}",
                        name.to_uppercase(),
                        r.secret_dirs()
                            .iter()
                            .map(|d| d.join(name).display().to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                ),
            }
        },
    );

    let r = run.clone();
    engine.register_fn("log", move |msg: Dynamic| r.reporter.log(None, &msg.to_string()));
    let r = run.clone();
    engine.register_fn("log", move |h: Host, msg: Dynamic| {
        r.reporter.log(Some(h.name()), &msg.to_string())
    });
}

fn step(
    run: &Arc<Run>,
    ctx: &NativeCallContext,
    name: &str,
    targets: Dynamic,
    opts: Map,
    f: FnPtr,
) -> RhaiResult<Dynamic> {
    if executor::inside_step() {
        return fail(
            ctx,
            format!("step({name:?}) is called inside another step; steps cannot be nested"),
        );
    }
    let opts = op(ctx, StepOptions::parse(opts))?;
    let targets = if targets.is_unit() {
        Targets::Controller
    } else {
        Targets::Hosts(op(ctx, host_list(run, targets))?)
    };
    let source = ctx.call_source().unwrap_or(&run.playbook_label);
    let pos = ctx.call_position();
    let position = format!("{source}:{}:{}", pos.line().unwrap_or(0), pos.position().unwrap_or(0));
    let id = run.step_id(name, position);
    let fingerprint = crate::step::fingerprint(ctx, &run.sources, source, &id, pos, &f);
    executor::run_step(run, ctx, &id, &fingerprint, &opts, targets, &f)
}

/// A step's targets: an array of hosts, one host, or a pattern string.
fn host_list(run: &Arc<Run>, targets: Dynamic) -> Result<Vec<Host>, String> {
    if targets.is_string() {
        let pattern = targets.to_string();
        return run
            .select(&pattern)
            .map_err(|e| format!("step targets {pattern:?}: {e}"));
    }
    if let Some(h) = targets.clone().try_cast::<Host>() {
        return Ok(vec![h]);
    }
    match targets.try_cast::<Array>() {
        Some(items) => items
            .into_iter()
            .map(|d| {
                let t = d.type_name();
                d.try_cast::<Host>()
                    .ok_or_else(|| format!("step targets must be hosts, found {t}"))
            })
            .collect(),
        None => Err("step targets must be hosts(\"pattern\"), a host, or a pattern string".into()),
    }
}

fn register_host(engine: &mut Engine) {
    engine
        .register_type_with_name::<Host>("Host")
        .register_get("name", |h: &mut Host| h.name().to_string())
        .register_get("address", |h: &mut Host| h.state.spec.address.clone())
        .register_get("private_ip", |h: &mut Host| {
            h.state
                .spec
                .private_ip
                .clone()
                .unwrap_or_else(|| h.state.spec.address.clone())
        })
        .register_get("public_ip", |h: &mut Host| {
            h.state
                .spec
                .public_ip
                .clone()
                .unwrap_or_else(|| h.state.spec.address.clone())
        })
        .register_get("groups", |h: &mut Host| -> Array {
            h.state.groups.iter().map(|g| g.into()).collect()
        })
        .register_get("vars", |h: &mut Host| convert::vars_to_map(&h.state.vars))
        .register_fn("to_string", |h: &mut Host| h.name().to_string())
        .register_fn("to_debug", |h: &mut Host| format!("Host({})", h.name()))
        .register_fn("==", |a: Host, b: Host| a.name() == b.name())
        .register_fn("!=", |a: Host, b: Host| a.name() != b.name());

    engine.register_fn(
        "var",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<Dynamic> {
            match h.state.vars.get(name) {
                Some(v) => Ok(to_dynamic(v)),
                None => fail(
                    &ctx,
                    format!(
                        "variable `{name}` is not defined for host {} (nor in its groups or [vars])",
                        h.name()
                    ),
                ),
            }
        },
    );
    engine.register_fn("var", |h: &mut Host, name: &str, default: Dynamic| -> Dynamic {
        h.state.vars.get(name).map(to_dynamic).unwrap_or(default)
    });

    engine.register_fn(
        "run",
        |ctx: NativeCallContext, h: &mut Host, cmd: Dynamic| -> RhaiResult<Map> {
            op(&ctx, ops::command::run(h, &cmd, Map::new()))
        },
    );
    engine.register_fn(
        "run",
        |ctx: NativeCallContext, h: &mut Host, cmd: Dynamic, opts: Map| -> RhaiResult<Map> {
            op(&ctx, ops::command::run(h, &cmd, opts))
        },
    );
    engine.register_fn(
        "upload",
        |ctx: NativeCallContext, h: &mut Host, local: Dynamic, remote: &str| -> RhaiResult<Map> {
            op(&ctx, ops::transfer::upload(h, &local, remote, Map::new()))
        },
    );
    engine.register_fn(
        "upload",
        |ctx: NativeCallContext, h: &mut Host, local: Dynamic, remote: &str, opts: Map| -> RhaiResult<Map> {
            op(&ctx, ops::transfer::upload(h, &local, remote, opts))
        },
    );
    engine.register_fn(
        "unpack",
        |ctx: NativeCallContext, h: &mut Host, archive: Dynamic, dest: &str| -> RhaiResult<Map> {
            op(&ctx, ops::archive::unpack(h, &archive, dest, Map::new()))
        },
    );
    engine.register_fn(
        "unpack",
        |ctx: NativeCallContext, h: &mut Host, archive: Dynamic, dest: &str, opts: Map| -> RhaiResult<Map> {
            op(&ctx, ops::archive::unpack(h, &archive, dest, opts))
        },
    );
}
