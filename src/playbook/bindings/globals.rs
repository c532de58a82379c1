//! The global API scripts see (declared in `crate::builtins`): `step`, `hosts`, `var`,
//! `secret`, `log`, and the `Host` type with its properties and operations.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};

use crate::host::Host;
use crate::play::Play;
use crate::playbook::convert::{self, to_dynamic};
use crate::playbook::executor::{self, Targets};
use crate::playbook::handlers;
use crate::playbook::step::StepOptions;

use super::call::{RhaiResult, fail, op};

/// `step`, `hosts`, `var` and its typed forms, `as_int`/`as_bool`, `secret`, `log`.
pub fn register(engine: &mut Engine, run: &Arc<Play>) {
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
    engine.register_fn(
        "var",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<Dynamic> { global_var(&r, &ctx, name) },
    );
    let r = run.clone();
    engine.register_fn("var", move |name: &str, default: Dynamic| -> Dynamic {
        r.global_vars().get(name).map(to_dynamic).unwrap_or(default)
    });

    // `--var` values are text: these read a variable as a number or a flag, accepting the
    // text of one ("3", "true") and failing on anything else, naming the variable.
    let r = run.clone();
    engine.register_fn(
        "var_int",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<i64> {
            let v = global_var(&r, &ctx, name)?;
            op(&ctx, convert::to_int(&v, &format!("variable `{name}`")))
        },
    );
    let r = run.clone();
    engine.register_fn(
        "var_int",
        move |ctx: NativeCallContext, name: &str, default: Dynamic| -> RhaiResult<i64> {
            let v = r.global_vars().get(name).map(to_dynamic).unwrap_or(default);
            op(&ctx, convert::to_int(&v, &format!("variable `{name}`")))
        },
    );
    let r = run.clone();
    engine.register_fn(
        "var_bool",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<bool> {
            let v = global_var(&r, &ctx, name)?;
            op(&ctx, convert::to_bool(&v, &format!("variable `{name}`")))
        },
    );
    let r = run.clone();
    engine.register_fn(
        "var_bool",
        move |ctx: NativeCallContext, name: &str, default: Dynamic| -> RhaiResult<bool> {
            let v = r.global_vars().get(name).map(to_dynamic).unwrap_or(default);
            op(&ctx, convert::to_bool(&v, &format!("variable `{name}`")))
        },
    );
    // The same for any value (an option a module was given): as_int(opts.keep, "release: option `keep`").
    engine.register_fn("as_int", |ctx: NativeCallContext, v: Dynamic| -> RhaiResult<i64> {
        op(&ctx, convert::to_int(&v, "as_int: the value"))
    });
    engine.register_fn(
        "as_int",
        |ctx: NativeCallContext, v: Dynamic, what: &str| -> RhaiResult<i64> { op(&ctx, convert::to_int(&v, what)) },
    );
    engine.register_fn("as_bool", |ctx: NativeCallContext, v: Dynamic| -> RhaiResult<bool> {
        op(&ctx, convert::to_bool(&v, "as_bool: the value"))
    });
    engine.register_fn(
        "as_bool",
        |ctx: NativeCallContext, v: Dynamic, what: &str| -> RhaiResult<bool> { op(&ctx, convert::to_bool(&v, what)) },
    );

    let r = run.clone();
    engine.register_fn(
        "secret",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<String> {
            match crate::secrets::lookup(name, &r.secret_dirs()) {
                Some(v) => {
                    r.secrets.remember(&v);
                    Ok(v)
                }
                // A file that is there but cannot be the secret says so, not "not set".
                None => fail(
                    &ctx,
                    crate::secrets::unusable(name, &r.secret_dirs()).unwrap_or_else(|| {
                        format!(
                            "secret `{name}` is not set: export {} or write it to {}",
                            name.to_uppercase(),
                            r.secret_dirs()
                                .iter()
                                .map(|d| d.join(name).display().to_string())
                                .collect::<Vec<_>>()
                                .join(" or ")
                        )
                    }),
                ),
            }
        },
    );

    let r = run.clone();
    engine.register_fn("log", move |msg: Dynamic| {
        if !crate::playbook::queue::flush_or_keep() {
            return;
        }
        let host = crate::host::current_host();
        r.ctx.reporter.log(host.as_deref(), &msg.to_string())
    });
    let r = run.clone();
    engine.register_fn("log", move |h: Host, msg: Dynamic| {
        if !crate::playbook::queue::flush_or_keep() {
            return;
        }
        r.ctx.reporter.log(Some(h.name()), &msg.to_string())
    });
}

/// A variable of the inventory or the command line; an error that says where to set it.
fn global_var(run: &Play, ctx: &NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
    match run.global_vars().get(name) {
        Some(v) => Ok(to_dynamic(v)),
        None => fail(
            ctx,
            format!(
                "variable `{name}` is not defined: set it in [vars] of {}, or pass --var {name}=…, or use var({name:?}, default)",
                run.inventory.read().unwrap().file_label()
            ),
        ),
    }
}

fn step(
    run: &Arc<Play>,
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
        if !opts.handlers.is_empty() {
            return fail(
                ctx,
                format!("step({name:?}): handlers belong to steps with hosts; this one runs on the controller"),
            );
        }
        Targets::Controller
    } else {
        Targets::Hosts(op(ctx, host_list(run, targets))?)
    };
    let source = ctx.call_source().unwrap_or(&run.playbook_label);
    let pos = ctx.call_position();
    // A literal `notify` naming no handler of the step fails now, before anything runs.
    let text = run.sources.text(source).unwrap_or_default();
    if let Some(call) = crate::playbook::step::step_text(&text, pos) {
        let names: Vec<String> = opts.handlers.iter().map(|h| h.name.clone()).collect();
        if let Some((at, msg)) = handlers::unknown_in(call, pos, name, &names).into_iter().next() {
            return Err(rhai::EvalAltResult::ErrorRuntime(msg.into(), at).into());
        }
    }
    let position = format!("{source}:{}:{}", pos.line().unwrap_or(0), pos.position().unwrap_or(0));
    let id = run.step_id(name, position);
    let fingerprint = crate::playbook::step::fingerprint(ctx, &run.sources, source, &id, pos, &f, &opts.handlers);
    executor::run_step(run, ctx, &id, &fingerprint, &opts, targets, &f)
}

/// A step's targets: an array of hosts, one host, or a pattern string.
fn host_list(run: &Arc<Play>, targets: Dynamic) -> Result<Vec<Host>, String> {
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
