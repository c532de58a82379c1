//! The script-facing `wait::` module: `port`, `http`, `ssh`, `cloud_active`, `until_true`
//! (`until` is a reserved word in Rhai: `do { … } until cond`).
//! Durations are strings ("60s", "5m") or seconds. In a dry run waits do not wait: nothing
//! was changed that they could wait for, so they report what they would wait for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, Module, NativeCallContext};

use super::call::fail;
use super::cloud::{Cloud, PENDING_TEXT, Pending, droplet_map, droplet_name, stopped_or};
use crate::host::Host;
use crate::play::Play;
use crate::playbook::convert::{Opts, describe, parse_duration};
use crate::playbook::executor::is_stop;
use crate::wait::{self, Backoff, HttpWant};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

const PORT_TIMEOUT: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
const SSH_TIMEOUT: Duration = Duration::from_secs(300);
const CLOUD_TIMEOUT: Duration = Duration::from_secs(600);
const UNTIL_TIMEOUT: Duration = Duration::from_secs(60);

fn duration(v: &Dynamic) -> Result<Duration, String> {
    parse_duration(v).map_err(|e| format!("timeout: {e}"))
}

/// Runs one wait: in a dry run (or for an address not known yet) only says so; else waits
/// and logs how long it took when it had to wait at all.
fn run_wait<T>(
    run: &Play,
    host: Option<&str>,
    what: &str,
    placeholder: T,
    wait: impl FnOnce(&dyn Fn(&str) -> bool) -> Result<T, String>,
) -> Result<T, String> {
    if run.ctx.dry_run || what.contains(PENDING_TEXT) {
        run.ctx.reporter.log(host, &format!("would wait for {what}"));
        return Ok(placeholder);
    }
    let start = Instant::now();
    let who = host.unwrap_or(crate::report::CONTROLLER);
    run.ctx.reporter.doing(who, &format!("waiting for {what}"));
    let out = wait(&|last: &str| {
        run.ctx
            .reporter
            .doing(who, &format!("waiting for {what}; last: {last}"));
        run.cancelled()
    })?;
    if start.elapsed() > Duration::from_millis(500) {
        run.ctx.reporter.log(
            host,
            &format!("waited {:.1}s for {what}", start.elapsed().as_secs_f64()),
        );
    }
    Ok(out)
}

/// `port` is a number or text of one (`"3000"`, a `--var` value).
fn port(run: &Play, target: Dynamic, port: &Dynamic, timeout: Duration) -> Result<(), String> {
    let port = crate::playbook::convert::to_int(port, "the port")?;
    let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
    let (host, addr) = match target.clone().try_cast::<Host>() {
        Some(h) => (Some(h.name().to_string()), address_text(&h)),
        None if target.is::<Pending>() => (None, PENDING_TEXT.to_string()),
        None => (None, target.to_string()),
    };
    let what = format!("port {addr}:{port}");
    // A connect is cheap: try at least every second.
    let backoff = Backoff {
        cap: Duration::from_secs(1),
        ..Backoff::default()
    };
    run_wait(run, host.as_deref(), &what, (), |stop| {
        wait::until(&what, timeout, backoff, stop, |left| {
            run.ctx.rt.block_on(wait::port_open(&addr, port, left))
        })
    })
}

fn address_text(h: &Host) -> String {
    if h.state.spec.pending {
        PENDING_TEXT.to_string()
    } else {
        h.state.spec.address.clone()
    }
}

/// What `wait::http` and `h.wait_http` are given: the answer wanted, how long, how often.
struct HttpWait {
    want: HttpWant,
    timeout: Duration,
    backoff: Backoff,
    insecure: bool,
    /// `URL to answer 2xx [with "text"]`.
    what: String,
}

impl HttpWait {
    /// The options of `builtin` (`wait::http`, `h.wait_http`: the same) for `url`.
    fn of(func: &str, builtin: &str, url: &str, opts: Map) -> Result<HttpWait, String> {
        let o = Opts::declared(func, builtin, opts)?;
        let want = HttpWant {
            status: match o.int("status")? {
                Some(s) => Some(u16::try_from(s).map_err(|_| format!("status {s} is out of range"))?),
                None => None,
            },
            contains: o.string("contains")?,
        };
        let mut what = format!(
            "{url} to answer {}",
            want.status.map_or("2xx".to_string(), |s| s.to_string())
        );
        if let Some(c) = &want.contains {
            what.push_str(&format!(" with {c:?}"));
        }
        Ok(HttpWait {
            timeout: o.duration("timeout")?.unwrap_or(HTTP_TIMEOUT),
            backoff: Backoff {
                cap: o.duration("every")?.unwrap_or(Backoff::default().cap),
                ..Backoff::default()
            },
            insecure: o.bool("insecure", false)?,
            want,
            what,
        })
    }
}

fn http(run: &Play, url: &str, opts: Map) -> Result<Dynamic, String> {
    let w = HttpWait::of(&format!("wait::http({url:?})"), "wait::http", url, opts)?;
    let client = wait::http_client(w.insecure)?;
    let status = run_wait(run, None, &w.what, Dynamic::from(Pending), |stop| {
        wait::until(&w.what, w.timeout, w.backoff, stop, |left| {
            run.ctx.rt.block_on(wait::http_answer(&client, url, &w.want, left))
        })
        .map(|s| Dynamic::from(s as i64))
    })?;
    Ok(status)
}

/// `h.wait_http(url, opts)`: `wait::http` from the host's side, through runbook's own SSH
/// connection to it (a direct-tcpip channel per try; the host needs no curl). What waiting
/// cannot change ends the wait at once: a host runbook cannot reach (its connection failure
/// is remembered, as for every operation), an sshd that refuses to forward.
fn http_via(run: &Play, h: &Host, url: &str, opts: Map) -> Result<Dynamic, String> {
    let w = HttpWait::of(&format!("h.wait_http({url:?})"), "h.wait_http", url, opts)?;
    let target = crate::tunnel_http::Target::parse(url)?;
    let what = format!("{} (from {})", w.what, h.name());
    let mut fatal = None;
    let status = run_wait(run, Some(h.name()), &what, None, |stop| {
        wait::until(&what, w.timeout, w.backoff, stop, |left| {
            let conn = match h.connection() {
                Ok(c) => c,
                Err(e) => {
                    fatal = Some(format!("cannot reach {}: {e}", h.name()));
                    return Ok(None);
                }
            };
            let get = async {
                let stream = conn.tunnel(&target.host, target.port).await.map_err(|e| {
                    if let crate::connection::ConnError::Refused(why) = &e {
                        fatal = Some(format!("{}: {why}", h.name()));
                    }
                    format!("cannot connect: {e}")
                })?;
                crate::tunnel_http::get(stream, &target, w.insecure, w.want.contains.is_some()).await
            };
            match run.ctx.rt.block_on(wait::http_answer_with(get, &w.want, left)) {
                // Ends the wait (never a success): said below.
                Err(_) if fatal.is_some() => Ok(None),
                r => r.map(Some),
            }
        })
    })?;
    if let Some(why) = fatal {
        return Err(format!("cannot wait for {what}: {why}"));
    }
    // None: a dry run, which does not wait; the status is known after apply.
    Ok(status.map_or(Dynamic::from(Pending), |s| Dynamic::from(s as i64)))
}

/// SSH login and `true` on the host; the working connection becomes the host's.
fn ssh(run: &Play, h: &Host, timeout: Duration) -> Result<(), String> {
    ssh_as(run, h, timeout, Map::new())
}

/// `wait::ssh(h, timeout, #{ user, sudo })`: with `user`, a NEW connection as that user
/// (same address, port and key), kept apart from the host's own; with `sudo: true` the
/// login must also pass `sudo -n true`. This is how `ssh_hardening` proves the admin user
/// can get in (and become root) before it turns root and password logins off.
fn ssh_as(run: &Play, h: &Host, timeout: Duration, opts: Map) -> Result<(), String> {
    let o = Opts::declared("wait::ssh", "wait::ssh", opts)?;
    let mut spec = h.state.spec.clone();
    let other_user = o.string("user")?;
    if let Some(u) = &other_user {
        spec.user = Some(u.clone());
    }
    let check = if o.bool("sudo", false)? { "sudo -n true" } else { "true" };
    let who = other_user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
    let what = format!("ssh on {} ({who}{})", h.name(), address_text(h));
    run_wait(run, Some(h.name()), &what, (), |stop| {
        let conn = wait::until(&what, timeout, Backoff::default(), stop, |left| {
            h.fresh_login(&spec, check, left.min(Duration::from_secs(60)))
        })?;
        if other_user.is_none() {
            h.adopt_connection(conn);
        }
        Ok(())
    })
}

fn cloud_active(run: &Play, c: &Cloud, target: &Dynamic, timeout: Duration) -> Result<Dynamic, String> {
    let name = droplet_name(target);
    // A missing [cloud] cannot go away by waiting: say so at once, not after the timeout.
    c.settings()?;
    let what = format!("droplet {name} to be active");
    run_wait(run, None, &what, target.clone(), |stop| {
        wait::until(
            &what,
            timeout,
            Backoff {
                first: Duration::from_secs(1),
                cap: Duration::from_secs(10),
            },
            stop,
            |_| match c.find(&name)? {
                Some(d) if d.status == "active" => Ok(Dynamic::from(droplet_map(&d))),
                Some(d) => Err(format!("status {}", d.status)),
                None => Err("no such droplet".to_string()),
            },
        )
    })
}

/// Calls the closure until it returns something other than `false` or `()`, and returns
/// that. A closure that throws counts as "not yet" (its error is the last observation).
fn until(run: &Play, ctx: &NativeCallContext, f: &FnPtr, opts: Map) -> RhaiResult<Dynamic> {
    crate::playbook::queue::flush()?;
    let o = Opts::declared("wait::until_true", "wait::until_true", opts).or_else(|e| fail(ctx, e))?;
    let timeout = o
        .duration("timeout")
        .or_else(|e| fail(ctx, e))?
        .unwrap_or(UNTIL_TIMEOUT);
    let backoff = Backoff {
        cap: o
            .duration("every")
            .or_else(|e| fail(ctx, e))?
            .unwrap_or(Backoff::default().cap),
        ..Backoff::default()
    };
    let what = o
        .string("what")
        .or_else(|e| fail(ctx, e))?
        .unwrap_or_else(|| format!("the closure at {}", ctx.call_position()));
    let mut stopped = None;
    let result = run_wait(run, None, &what, Dynamic::UNIT, |stop| {
        wait::until(&what, timeout, backoff, stop, |_| {
            match f.call_within_context::<Dynamic>(ctx, ()) {
                Ok(v) if v.is_unit() || v.as_bool().is_ok_and(|b| !b) => Err(format!("it returned {v}")),
                Ok(v) => Ok(v),
                // The play stopping, or the script going over --max-operations: not a
                // "not yet" to try again, the end of the script.
                Err(e) if is_stop(&e) || over_limit(&e) => {
                    stopped = Some(e);
                    Ok(Dynamic::UNIT)
                }
                Err(e) => Err(format!("it threw: {}", thrown(&e))),
            }
        })
    });
    if let Some(e) = stopped {
        return Err(e);
    }
    result.or_else(|e| stopped_or(ctx, run, format!("wait::until_true: {e}")))
}

fn over_limit(e: &EvalAltResult) -> bool {
    matches!(e.unwrap_inner(), EvalAltResult::ErrorRuntime(v, _) if v.is::<crate::playbook::diagnose::OperationLimit>())
}

/// The message of a script error, without Rhai's wrapping ("Runtime error: … @ 'file' …").
fn thrown(e: &EvalAltResult) -> String {
    match e.unwrap_inner() {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        inner => {
            let text = inner.to_string();
            let end = [" @ '", " (line "].iter().filter_map(|m| text.find(m)).min();
            text[..end.unwrap_or(text.len())].to_string()
        }
    }
}

fn add<A: 'static, const N: usize, const X: bool, R: rhai::Variant + Clone>(
    m: &mut Module,
    name: &str,
    f: impl rhai::RhaiNativeFunc<A, N, X, R, true> + Send + Sync + 'static,
) {
    rhai::FuncRegistration::new(name)
        .in_internal_namespace()
        .with_volatility(true)
        .set_into_module(m, f);
}

/// Waits with `wait`: what the step queued on its hosts is carried out first (the wait is
/// for what it does); its error at the call, or after a stop request the stop (see
/// `stopped_or`).
fn op<T>(ctx: &NativeCallContext, run: &Play, call: String, wait: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    crate::playbook::queue::flush()?;
    // A message that already names the call (an option error) is not prefixed twice.
    wait().or_else(|e| match e.starts_with(&call) {
        true => stopped_or(ctx, run, e),
        false => stopped_or(ctx, run, format!("{call}: {e}")),
    })
}

pub fn register(engine: &mut Engine, run: &Arc<Play>, cloud: Arc<Cloud>) {
    let mut m = Module::new();

    let r = run.clone();
    add(
        &mut m,
        "port",
        move |ctx: NativeCallContext, target: Dynamic, p: Dynamic| {
            op(&ctx, &r, format!("wait::port({target}, {})", describe(&p)), || {
                port(&r, target.clone(), &p, PORT_TIMEOUT)
            })
        },
    );
    let r = run.clone();
    add(
        &mut m,
        "port",
        move |ctx: NativeCallContext, target: Dynamic, p: Dynamic, timeout: Dynamic| {
            let call = format!("wait::port({target}, {})", describe(&p));
            op(&ctx, &r, call, || {
                duration(&timeout).and_then(|t| port(&r, target.clone(), &p, t))
            })
        },
    );

    let r = run.clone();
    add(&mut m, "http", move |ctx: NativeCallContext, url: &str| {
        op(&ctx, &r, format!("wait::http({url:?})"), || http(&r, url, Map::new()))
    });
    let r = run.clone();
    add(&mut m, "http", move |ctx: NativeCallContext, url: &str, opts: Map| {
        op(&ctx, &r, format!("wait::http({url:?})"), || http(&r, url, opts))
    });

    // `h.wait_http`, a method of the host (here: it needs the play, as `wait::http` does).
    for with_opts in [false, true] {
        let r = run.clone();
        let call = move |ctx: NativeCallContext, h: &mut Host, url: &str, opts: Map| {
            op(&ctx, &r, format!("h.wait_http({url:?})"), || http_via(&r, h, url, opts))
        };
        match with_opts {
            true => {
                engine.register_fn("wait_http", call);
            }
            false => {
                engine.register_fn("wait_http", move |ctx: NativeCallContext, h: &mut Host, url: &str| {
                    call(ctx, h, url, Map::new())
                });
            }
        }
    }

    let r = run.clone();
    add(&mut m, "ssh", move |ctx: NativeCallContext, h: Host| {
        op(&ctx, &r, format!("wait::ssh({})", h.name()), || {
            ssh(&r, &h, SSH_TIMEOUT)
        })
    });
    let r = run.clone();
    add(
        &mut m,
        "ssh",
        move |ctx: NativeCallContext, h: Host, timeout: Dynamic| {
            let call = format!("wait::ssh({})", h.name());
            op(&ctx, &r, call, || duration(&timeout).and_then(|t| ssh(&r, &h, t)))
        },
    );

    let r = run.clone();
    add(
        &mut m,
        "ssh",
        move |ctx: NativeCallContext, h: Host, timeout: Dynamic, opts: Map| {
            let call = format!("wait::ssh({})", h.name());
            op(&ctx, &r, call, || {
                duration(&timeout).and_then(|t| ssh_as(&r, &h, t, opts))
            })
        },
    );

    let (r, c) = (run.clone(), cloud.clone());
    add(&mut m, "cloud_active", move |ctx: NativeCallContext, d: Dynamic| {
        let call = format!("wait::cloud_active({:?})", droplet_name(&d));
        op(&ctx, &r, call, || cloud_active(&r, &c, &d, CLOUD_TIMEOUT))
    });
    let (r, c) = (run.clone(), cloud);
    add(
        &mut m,
        "cloud_active",
        move |ctx: NativeCallContext, d: Dynamic, timeout: Dynamic| {
            let call = format!("wait::cloud_active({:?})", droplet_name(&d));
            op(&ctx, &r, call, || {
                duration(&timeout).and_then(|t| cloud_active(&r, &c, &d, t))
            })
        },
    );

    let r = run.clone();
    add(&mut m, "until_true", move |ctx: NativeCallContext, f: FnPtr| {
        until(&r, &ctx, &f, Map::new())
    });
    let r = run.clone();
    add(
        &mut m,
        "until_true",
        move |ctx: NativeCallContext, f: FnPtr, opts: Map| until(&r, &ctx, &f, opts),
    );

    engine.register_static_module("wait", m.into());
}
