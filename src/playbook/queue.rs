//! Host operations of a step closure, queued instead of carried out one by one: a call like
//! `h.file(…)` checks its arguments at once and returns a *result* whose fields (`changed`,
//! `diff`, `stdout`, …) are known when first read. The queue is carried out together
//! (`ops::batch`: one script reads every fact, one more makes every change) when the
//! closure reads a result, calls anything that is not a queued operation (`h.fact`, a
//! cloud call, `print`), works on another host, or ends. An operation inside a `try` body
//! (or a function called from one) is carried out at once, so its failure is caught there.
//!
//! A failure is raised where the failed operation was called (its file, line and column,
//! and the functions it was called through), and nothing queued after it is carried out:
//! the closure ends as it did when operations ran one by one.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext, Position};

use crate::host::Host;
use crate::ops::batch::{self, Done, Work};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Called with a piece of work's outcome once it is known, before anything after it
/// happens (`notify`).
pub type Then = Box<dyn FnOnce(&Done) -> Result<(), String>>;

/// Where a result's value lands.
#[derive(Default)]
struct Slot(Mutex<Option<Result<Done, String>>>);

/// What an operation returns inside a step: its outcome, known once the queue ran.
#[derive(Clone)]
pub struct Pending {
    slot: Arc<Slot>,
}

struct Entry {
    work: Work,
    slot: Arc<Slot>,
    then: Option<Then>,
    source: Option<String>,
    at: Position,
    calls: Vec<Call>,
}

/// A script function or closure the operation was called in, outermost first: a failure
/// raised later names the way there, as one raised at once does.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    /// The script the function is written in (its library's id), when Rhai knows it.
    pub source: Option<String>,
    /// Where it was called, in its caller's script.
    pub at: Position,
}

/// The script functions and closures the current native call is inside, from Rhai's call
/// stack (kept while a debugger is registered: `bindings::track_calls`). The stack holds
/// native calls too (`step`, `map`, the operation itself), which a failure raised at once
/// does not name: only functions found in the scripts' libraries are kept.
fn calls(ctx: &NativeCallContext) -> Vec<Call> {
    let Some(debugger) = ctx.debugger() else {
        return Vec::new();
    };
    debugger
        .call_stack()
        .iter()
        .filter_map(|f| {
            let lib = ctx
                .iter_namespaces()
                .find(|m| m.get_script_fn(&f.fn_name, f.args.len()).is_some())?;
            Some(Call {
                name: f.fn_name.to_string(),
                source: lib.id().map(str::to_string),
                at: f.pos,
            })
        })
        .collect()
}

struct Queue {
    host: Host,
    entries: Vec<Entry>,
}

/// The error of a queued operation, raised later than its call: where it was called.
#[derive(Debug, Clone)]
pub struct Deferred {
    pub message: String,
    pub source: Option<String>,
    pub at: Position,
    pub calls: Vec<Call>,
}

impl std::fmt::Display for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

thread_local! {
    static QUEUE: RefCell<Option<Queue>> = const { RefCell::new(None) };
    /// A failure found where it could not be raised (`print`): raised at the next chance.
    static FAILED: RefCell<Option<Box<EvalAltResult>>> = const { RefCell::new(None) };
    static SOURCES: RefCell<Option<Arc<super::sources::Sources>>> = const { RefCell::new(None) };
}

/// Queues `work` on `h` (after carrying out what another host has queued); with `at_once`
/// (inside a `try`) carries it out before returning.
pub fn enqueue(
    ctx: &NativeCallContext,
    h: &Host,
    work: Work,
    then: Option<Then>,
    at_once: bool,
) -> RhaiResult<Dynamic> {
    if let Some(e) = FAILED.with(|f| f.borrow_mut().take()) {
        QUEUE.with(|q| q.borrow_mut().take());
        return Err(e);
    }
    let other = QUEUE.with(|q| q.borrow().as_ref().is_some_and(|q| q.host.name() != h.name()));
    if other {
        flush()?;
    }
    let slot = Arc::new(Slot::default());
    let entry = Entry {
        work,
        slot: slot.clone(),
        then,
        source: ctx.call_source().map(str::to_string),
        at: ctx.call_position(),
        calls: calls(ctx),
    };
    QUEUE.with(|q| {
        q.borrow_mut()
            .get_or_insert_with(|| Queue {
                host: h.clone(),
                entries: Vec::new(),
            })
            .entries
            .push(entry)
    });
    if at_once {
        // Raised here, at this very call: a plain message, as `catch` shows it.
        flush().map_err(|e| match *e {
            EvalAltResult::ErrorRuntime(v, at) if v.is::<Deferred>() => {
                Box::new(EvalAltResult::ErrorRuntime(v.cast::<Deferred>().message.into(), at))
            }
            other => Box::new(other),
        })?;
    }
    Ok(Dynamic::from(Pending { slot }))
}

/// Whether the call must be carried out at once: inside a `try` body, or a function one
/// may call, so that its failure is caught there.
pub fn must_run_at_once(ctx: &NativeCallContext) -> bool {
    SOURCES.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|s| s.must_run_at_once(ctx.call_source(), ctx.call_position()))
    })
}

/// The scripts of the play this thread runs steps for (where `try` bodies are).
pub fn use_sources(sources: Option<Arc<super::sources::Sources>>) {
    SOURCES.with(|s| *s.borrow_mut() = sources);
}

/// Carries out everything queued on this thread. The first failure is raised at the call
/// of the operation that failed.
pub fn flush() -> RhaiResult<()> {
    if let Some(e) = FAILED.with(|f| f.borrow_mut().take()) {
        // Queued after the failure: never carried out, as when operations ran one by one.
        QUEUE.with(|q| q.borrow_mut().take());
        return Err(e);
    }
    let Some(queue) = QUEUE.with(|q| q.borrow_mut().take()) else {
        return Ok(());
    };
    let Queue { host, entries } = queue;
    let tells: Vec<bool> = entries.iter().map(|e| e.then.is_some()).collect();
    let (work, rest): (Vec<Work>, Vec<_>) = entries
        .into_iter()
        .map(|e| (e.work, (e.slot, e.then, e.source, e.at, e.calls)))
        .unzip();
    let mut thens: Vec<Option<Then>> = Vec::with_capacity(rest.len());
    let mut places = Vec::with_capacity(rest.len());
    for (slot, then, source, at, calls) in rest {
        thens.push(then);
        places.push((slot, source, at, calls));
    }
    // Each outcome lands as soon as it is known; its handlers are notified then.
    let mut told = |i: usize, d: &Done| -> Result<(), String> {
        *places[i].0.0.lock().unwrap() = Some(Ok(d.clone()));
        match thens[i].take() {
            Some(t) => t(d),
            None => Ok(()),
        }
    };
    let (done, stopped) = host
        .state
        .exclusive(|| batch::carry_out(&host, &work, &tells, &mut told));
    let mut failure = None;
    if let Some(stopped) = stopped {
        let (slot, source, at, calls) = &mut places[stopped.index];
        *slot.0.lock().unwrap() = Some(Err(stopped.error.clone()));
        failure = Some(Deferred {
            message: stopped.error,
            source: source.clone(),
            at: *at,
            calls: std::mem::take(calls),
        });
    }
    for (slot, ..) in places.iter().skip(done.len() + usize::from(failure.is_some())) {
        *slot.0.lock().unwrap() = Some(Err("not carried out: an operation before it failed".into()));
    }
    match failure {
        None => Ok(()),
        Some(d) => {
            let at = d.at;
            Err(EvalAltResult::ErrorRuntime(Dynamic::from(d), at).into())
        }
    }
}

/// Flushes where an error cannot be raised (`print`): kept for the next call that can.
pub fn flush_or_keep() -> bool {
    match flush() {
        Ok(()) => true,
        Err(e) => {
            FAILED.with(|f| *f.borrow_mut() = Some(e));
            false
        }
    }
}

/// A step closure's end: what it queued is carried out; its failure comes first (it
/// happened before anything the closure did after queueing). The value's results are
/// made plain maps, as the journal records them.
pub fn finish(result: RhaiResult<Dynamic>) -> RhaiResult<Dynamic> {
    let flushed = flush();
    FAILED.with(|f| f.borrow_mut().take());
    match (flushed, result) {
        (Err(e), _) => Err(e),
        (Ok(()), Ok(v)) => Ok(plain(v)),
        (Ok(()), Err(e)) => Err(e),
    }
}

/// Drops what this thread queued without carrying it out (a closure stopped by Ctrl-C).
pub fn forget() {
    QUEUE.with(|q| q.borrow_mut().take());
    FAILED.with(|f| f.borrow_mut().take());
}

/// `v` with every result in it as the map it stands for.
fn plain(v: Dynamic) -> Dynamic {
    if v.is::<Pending>() {
        return Dynamic::from_map(v.cast::<Pending>().map());
    }
    if v.is_array() {
        let a: rhai::Array = v.cast::<rhai::Array>();
        return Dynamic::from_array(a.into_iter().map(plain).collect());
    }
    if v.is_map() {
        let m: Map = v.cast::<Map>();
        return Dynamic::from_map(m.into_iter().map(|(k, v)| (k, plain(v))).collect());
    }
    v
}

impl Pending {
    /// The outcome, carrying out the queue first when it is not known yet.
    fn done(&self) -> RhaiResult<Done> {
        if self.slot.0.lock().unwrap().is_none() {
            flush()?;
        }
        match self.slot.0.lock().unwrap().clone() {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(e.into()),
            None => Err("the operation's result is not known (its queue was dropped)".into()),
        }
    }

    /// The map the operation's result stands for (`#{ changed, diff }`, or for `h.run`
    /// `#{ stdout, stderr, code, changed }`); empty when it is not known.
    fn map(&self) -> Map {
        match self.done() {
            Ok(Done::Op(o)) => outcome_map(&o),
            Ok(Done::Run(r)) => result_map(&r.stdout, &r.stderr, r.code, r.changed),
            Err(_) => Map::new(),
        }
    }

    fn get(&mut self, name: &str) -> RhaiResult<Dynamic> {
        self.done()?;
        Ok(self.map().remove(name).unwrap_or(Dynamic::UNIT))
    }
}

/// The result type scripts see: fields as a map's (`r.changed`, `r["stdout"]`), printed as
/// the map.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Pending>("result")
        .register_indexer_get(|r: &mut Pending, name: &str| r.get(name))
        .register_fn("to_string", |r: &mut Pending| Dynamic::from_map(r.map()).to_string())
        .register_fn("to_debug", |r: &mut Pending| {
            format!("{:?}", Dynamic::from_map(r.map()))
        })
        .register_fn("to_map", |r: &mut Pending| r.map())
        .register_fn("keys", |r: &mut Pending| {
            r.map()
                .keys()
                .map(|k| Dynamic::from(k.to_string()))
                .collect::<rhai::Array>()
        });
    for name in ["changed", "diff", "stdout", "stderr", "code"] {
        engine.register_get(name, move |r: &mut Pending| r.get(name));
    }
    engine
        .register_type_with_name::<Deferred>("error")
        .register_fn("to_string", |d: &mut Deferred| d.message.clone())
        .register_fn("to_debug", |d: &mut Deferred| format!("{:?}", d.message));
}

/// `#{ changed, diff }`, what every idempotent operation returns.
pub fn outcome_map(o: &crate::ops::plan::Outcome) -> Map {
    let mut m = Map::new();
    m.insert("changed".into(), o.changed.into());
    m.insert("diff".into(), o.diff.clone().unwrap_or_default().into());
    m
}

/// `#{ stdout, stderr, code, changed }`, what `h.run` and `local::run` return.
pub fn result_map(stdout: &str, stderr: &str, code: i32, changed: bool) -> Map {
    let mut m = Map::new();
    m.insert("stdout".into(), stdout.into());
    m.insert("stderr".into(), stderr.into());
    m.insert("code".into(), (code as i64).into());
    m.insert("changed".into(), changed.into());
    m
}
