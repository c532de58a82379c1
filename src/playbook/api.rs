//! The global API scripts see (declared in `crate::builtins`): `step`, `hosts`, `var`,
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

/// Runs a host operation: inside a step only (where it is journaled and counted), with
/// the host to itself.
fn on_host<T>(ctx: &NativeCallContext, h: &Host, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
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
fn looking<T>(ctx: &NativeCallContext, h: &Host, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    op(ctx, h.state.exclusive(f))
}

/// Converts an operation's `Err(String)` into a script error at the call.
fn op<T>(ctx: &NativeCallContext, r: Result<T, String>) -> RhaiResult<T> {
    r.or_else(|msg| fail(ctx, msg))
}

/// How long a step's closure may go on running script code after Ctrl-C.
const STEP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

pub fn register(engine: &mut Engine, run: Arc<Run>) {
    register_globals(engine, &run);
    register_host(engine);
    let cloud = super::cloud_api::register(engine, &run);
    super::wait_api::register(engine, &run, cloud);
    super::local::register(engine, &run);
    let r = run.clone();
    engine.on_print(move |s| r.reporter.log(None, s));
    let r = run.clone();
    engine.on_debug(move |s, _, pos| r.reporter.log(None, &format!("[debug {pos}] {s}")));
    let r = run;
    // After Ctrl-C, script code stops at its next operation. Inside a step the closures
    // that are running get a second to finish (their running commands always do), so a
    // closure ending after its last command is whole and journaled, while one that loops
    // without end stops too, recorded as interrupted.
    let first_seen = std::sync::OnceLock::new();
    engine.on_progress(move |_| {
        if !r.cancelled() {
            return None;
        }
        let since: &std::time::Instant = first_seen.get_or_init(std::time::Instant::now);
        let stop = !executor::inside_step() || since.elapsed() > STEP_GRACE;
        stop.then(|| executor::STOP_TOKEN.into())
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
    engine.register_fn("log", move |msg: Dynamic| r.reporter.log(None, &msg.to_string()));
    let r = run.clone();
    engine.register_fn("log", move |h: Host, msg: Dynamic| {
        r.reporter.log(Some(h.name()), &msg.to_string())
    });
}

/// A variable of the inventory or the command line; an error that says where to set it.
fn global_var(run: &Run, ctx: &NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
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

/// An address of a host (the connect address when it has no other); `Pending` for a host
/// a dry run would create.
fn address(h: &Host, ip: Option<String>) -> Dynamic {
    if h.state.spec.pending {
        return Dynamic::from(super::cloud_api::Pending);
    }
    ip.unwrap_or_else(|| h.state.spec.address.clone()).into()
}

fn register_host(engine: &mut Engine) {
    register_host_ops(engine);

    engine
        .register_type_with_name::<Host>("Host")
        .register_get("name", |h: &mut Host| h.name().to_string())
        .register_get("address", |h: &mut Host| address(h, None))
        .register_get("private_ip", |h: &mut Host| address(h, h.state.spec.private_ip.clone()))
        .register_get("public_ip", |h: &mut Host| address(h, h.state.spec.public_ip.clone()))
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
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<Dynamic> { host_var(&ctx, h, name) },
    );
    engine.register_fn("var", |h: &mut Host, name: &str, default: Dynamic| -> Dynamic {
        h.state.vars.get(name).map(to_dynamic).unwrap_or(default)
    });
    engine.register_fn(
        "var_int",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<i64> {
            let v = host_var(&ctx, h, name)?;
            op(&ctx, convert::to_int(&v, &format!("variable `{name}` of {}", h.name())))
        },
    );
    engine.register_fn(
        "var_int",
        |ctx: NativeCallContext, h: &mut Host, name: &str, default: Dynamic| -> RhaiResult<i64> {
            let v = h.state.vars.get(name).map(to_dynamic).unwrap_or(default);
            op(&ctx, convert::to_int(&v, &format!("variable `{name}` of {}", h.name())))
        },
    );
    engine.register_fn(
        "var_bool",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<bool> {
            let v = host_var(&ctx, h, name)?;
            op(
                &ctx,
                convert::to_bool(&v, &format!("variable `{name}` of {}", h.name())),
            )
        },
    );
    engine.register_fn(
        "var_bool",
        |ctx: NativeCallContext, h: &mut Host, name: &str, default: Dynamic| -> RhaiResult<bool> {
            let v = h.state.vars.get(name).map(to_dynamic).unwrap_or(default);
            op(
                &ctx,
                convert::to_bool(&v, &format!("variable `{name}` of {}", h.name())),
            )
        },
    );

    engine.register_fn(
        "run",
        |ctx: NativeCallContext, h: &mut Host, cmd: Dynamic| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::command::run(h, &cmd, Map::new()))
        },
    );
    engine.register_fn(
        "run",
        |ctx: NativeCallContext, h: &mut Host, cmd: Dynamic, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::command::run(h, &cmd, opts))
        },
    );
    engine.register_fn(
        "upload",
        |ctx: NativeCallContext, h: &mut Host, local: Dynamic, remote: &str| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::transfer::upload(h, &local, remote, Map::new()))
        },
    );
    engine.register_fn(
        "upload",
        |ctx: NativeCallContext, h: &mut Host, local: Dynamic, remote: &str, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::transfer::upload(h, &local, remote, opts))
        },
    );
    engine.register_fn(
        "unpack",
        |ctx: NativeCallContext, h: &mut Host, archive: Dynamic, dest: &str| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::archive::unpack(h, &archive, dest, Map::new()))
        },
    );
    engine.register_fn(
        "unpack",
        |ctx: NativeCallContext, h: &mut Host, archive: Dynamic, dest: &str, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, h, || ops::archive::unpack(h, &archive, dest, opts))
        },
    );
}

/// Registers `name` twice: with and without the trailing options map.
macro_rules! with_opts {
    ($engine:expr, $name:literal, |$h:ident $(, $arg:ident : $ty:ty)*| $call:expr) => {{
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*| -> RhaiResult<Map> {
            #[allow(unused_variables)]
            let opts = Map::new();
            on_host(&ctx, $h, || $call(opts))
        });
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, $h, || $call(opts))
        });
    }};
}

/// The idempotent host operations (declared in `crate::builtins`): each returns
/// `#{ changed, diff }`.
fn register_host_ops(engine: &mut Engine) {
    use crate::ops::{files, firewall, package, service, template, user};
    with_opts!(engine, "file", |h, path: &str| |o| files::file(h, path, o));
    with_opts!(engine, "line", |h, path: &str, line: &str| |o| files::line(
        h, path, line, o
    ));
    with_opts!(engine, "dir", |h, path: &str| |o| files::dir(h, path, o));
    with_opts!(engine, "symlink", |h, target: &str, link: &str| |o| files::symlink(
        h, target, link, o
    ));
    with_opts!(engine, "absent", |h, path: &str| |o| files::absent(h, path, o));
    with_opts!(engine, "user", |h, name: &str| |o| user::user(h, name, o));
    with_opts!(engine, "service", |h, name: &str, state: &str| |o| service::service(
        h, name, state, o
    ));
    engine.register_fn(
        "ufw",
        |ctx: NativeCallContext, h: &mut Host, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, h, || firewall::ufw(h, opts))
        },
    );
    with_opts!(engine, "apt", |h, packages: Dynamic| |o| string_list(&packages)
        .and_then(|p| package::apt(h, p, o)));
    engine.register_fn(
        "template",
        |ctx: NativeCallContext, h: &mut Host, src: &str, dest: &str| -> RhaiResult<Map> {
            on_host(&ctx, h, || template::template(h, src, dest, Map::new(), Map::new()))
        },
    );
    with_opts!(engine, "template", |h, src: &str, dest: &str, vars: Map| |o| {
        template::template(h, src, dest, vars.clone(), o)
    });
    engine.register_fn(
        "read",
        |ctx: NativeCallContext, h: &mut Host, path: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || files::read(h, path, Map::new()))
        },
    );
    engine.register_fn(
        "read",
        |ctx: NativeCallContext, h: &mut Host, path: &str, opts: Map| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || files::read(h, path, opts))
        },
    );
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, None, Map::new()))
        },
    );
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str, arg: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, Some(arg), Map::new()))
        },
    );
    // `#{ sudo: true }` / `#{ user }`: look as another user (a path under a root-only dir).
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str, arg: &str, opts: Map| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, Some(arg), opts))
        },
    );
}

fn host_var(ctx: &NativeCallContext, h: &Host, name: &str) -> RhaiResult<Dynamic> {
    match h.state.vars.get(name) {
        Some(v) => Ok(to_dynamic(v)),
        None => fail(
            ctx,
            format!(
                "variable `{name}` is not defined for host {} (nor in its groups or [vars])",
                h.name()
            ),
        ),
    }
}

fn read_fact(h: &Host, name: &str, arg: Option<&str>, opts: Map) -> Result<Dynamic, String> {
    let key = crate::facts::key_for(name, arg)?;
    let opts = super::convert::Opts::declared("fact", "h.fact", opts)?;
    let mut who = crate::ops::command::become_of(&opts)?;
    // Root-only facts (the firewall) are read with sudo when not logged in as root.
    if key == crate::facts::FactKey::Ufw && h.state.spec.user.as_deref().is_some_and(|u| u != "root") {
        who = crate::shell::Become::Root;
    }
    let fact = h.fact(key, &who)?;
    let mut value = rhai::serde::to_dynamic(&fact).map_err(|e| e.to_string())?;
    // A file a dry run edits once a planned package brings it: its checksum and size are
    // known only after apply.
    if let crate::facts::Fact::File(f) = &fact
        && f.content_unknown
        && let Some(mut m) = value.write_lock::<Map>()
    {
        for k in ["sha256", "size"] {
            m.insert(k.into(), Dynamic::from(super::cloud_api::Pending));
        }
    }
    Ok(value)
}

/// A package list: an array of names or one name.
fn string_list(d: &Dynamic) -> Result<Vec<String>, String> {
    if d.is_string() {
        return Ok(vec![d.to_string()]);
    }
    match d.read_lock::<Array>() {
        Some(a) => convert::strings(&a).map_err(|e| format!("apt: the packages: {e}")),
        None => Err(format!("apt: expected a list of package names, not {}", d.type_name())),
    }
}
