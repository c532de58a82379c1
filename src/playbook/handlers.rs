//! Handlers (Ansible's): what a step does once per host at its end if something changed.
//! A step declares them in order (`handlers: [#{ name, run }]`); an operation names them
//! (`notify: "name"`, or `h.notify(name)`); the executor runs the notified ones on a host
//! after the step's closure succeeded there, each once, in declaration order.
//!
//! This file holds the declarations, the notifications of the closure running on this
//! thread (its `Scope`), and the check of the names a step's text gives literally. A
//! notification is journaled when it happens (status `notified`, under the handler's key):
//! an operation that changed before a kill reports no change on `--resume`, and the
//! journal is what still knows the handler is owed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rhai::{ASTNode, Array, Dynamic, Engine, Expr, FnPtr, Map, Position};

use super::convert::Opts;
use crate::journal::{StepRecord, now_ms};
use crate::play::{Play, StepId, StopCause};

/// One handler of a step.
#[derive(Debug, Clone)]
pub struct Handler {
    pub name: String,
    /// `|h| { … }`, called with the host the step ran on.
    pub run: FnPtr,
}

/// `handlers: [#{ name: "restart app", run: |h| … }, …]`: a list, so that the order they
/// run in is the order they are written in (a map's keys are sorted).
pub fn parse(v: &Dynamic) -> Result<Vec<Handler>, String> {
    let Some(items) = v.read_lock::<Array>().map(|a| a.clone()) else {
        return Err(format!(
            "step: option `handlers` must be a list like [#{{ name: \"restart app\", run: |h| h.service(\"app\", \"restarted\") }}], not {}",
            v.type_name()
        ));
    };
    let mut out: Vec<Handler> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("step: handler {}", i + 1);
        let Some(map) = item.read_lock::<Map>().map(|m| m.clone()) else {
            return Err(format!(
                "{what} must be a map #{{ name: \"…\", run: |h| {{ … }} }}, not {}",
                item.type_name()
            ));
        };
        let o = Opts::new(&what, map, &["name", "run"])?;
        let name = match o.string("name")? {
            Some(n) if !n.trim().is_empty() => n,
            _ => {
                return Err(format!(
                    "{what} has no `name`: #{{ name: \"restart app\", run: |h| … }}"
                ));
            }
        };
        let what = format!("step: handler {name:?}");
        let run = match o.raw("run") {
            Some(f) if f.is_fnptr() => f.cast::<FnPtr>(),
            Some(f) => {
                return Err(format!(
                    "{what}: `run` must be a closure |h| {{ … }}, not {}",
                    f.type_name()
                ));
            }
            None => return Err(format!("{what} has no `run`: #{{ name: {name:?}, run: |h| {{ … }} }}")),
        };
        if out.iter().any(|h| h.name == name) {
            return Err(format!("{what} is declared twice"));
        }
        out.push(Handler { name, run });
    }
    Ok(out)
}

/// The journal key of a step's handler: its step's key and its name.
pub fn key(step: &StepId, name: &str) -> String {
    format!("{}/handler {name}", step.key())
}

/// A handler as the output and the journal name it: `handler restart app`.
pub fn label(name: &str) -> String {
    format!("handler {name}")
}

/// A `notify` value: a handler's name or a list of names.
pub fn names_of(v: &Dynamic, what: &str) -> Result<Vec<String>, String> {
    let wrong = || {
        format!(
            "{what} must be a handler's name or a list of names, not {}",
            v.type_name()
        )
    };
    if v.is_string() {
        return Ok(vec![v.to_string()]);
    }
    let items = v.read_lock::<Array>().ok_or_else(wrong)?;
    items
        .iter()
        .map(|d| d.is_string().then(|| d.to_string()).ok_or_else(wrong))
        .collect()
}

/// The call that notified a handler: `h.file` at a position of a source (none: the playbook).
pub struct Notifier {
    pub what: String,
    pub source: Option<String>,
    pub at: Position,
}

/// The notifications of one step's closure on one host, and of its handlers after it.
pub struct Scope {
    run: Arc<Play>,
    step: StepId,
    fingerprint: String,
    host: String,
    names: Vec<String>,
    /// The handlers notified (by index), with what notified each first.
    notified: Mutex<BTreeMap<usize, String>>,
    /// The handler running now: one may notify only those declared after it.
    running: Mutex<Option<usize>>,
}

impl Scope {
    pub fn new(run: &Arc<Play>, step: &StepId, fingerprint: &str, host: &str, handlers: &[Handler]) -> Scope {
        Scope {
            run: run.clone(),
            step: step.clone(),
            fingerprint: fingerprint.to_string(),
            host: host.to_string(),
            names: handlers.iter().map(|h| h.name.clone()).collect(),
            notified: Mutex::new(BTreeMap::new()),
            running: Mutex::new(None),
        }
    }

    /// What notified handler `i`, if anything did in this run.
    pub fn notified_by(&self, i: usize) -> Option<String> {
        self.notified.lock().unwrap().get(&i).cloned()
    }

    /// Handler `i` runs now (`None`: none does).
    pub fn running(&self, i: Option<usize>) {
        *self.running.lock().unwrap() = i;
    }

    /// The indices of `names`, or why one cannot be notified here.
    fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        let running = *self.running.lock().unwrap();
        names
            .iter()
            .map(|n| {
                let i = self
                    .names
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| unknown(n, &self.step.name, &self.names))?;
                if let Some(r) = running.filter(|r| i <= *r) {
                    return Err(format!(
                        "handler {:?} notifies handler {n:?}, which {}: a handler may notify only handlers declared after it",
                        self.names[r],
                        if i == r { "is itself" } else { "runs before it" }
                    ));
                }
                Ok(i)
            })
            .collect()
    }

    /// Records the notification of handler `i` by `by` (journaled the first time).
    fn notify(&self, i: usize, by: &str) {
        {
            let mut notified = self.notified.lock().unwrap();
            if notified.contains_key(&i) {
                return;
            }
            notified.insert(i, by.to_string());
        }
        let Some(session) = &self.run.journal else { return };
        let name = &self.names[i];
        let now = now_ms();
        let record = StepRecord {
            step_key: key(&self.step, name),
            step_id: format!("{}/handler {name}", self.step),
            step_name: label(name),
            fingerprint: self.fingerprint.clone(),
            host: self.host.clone(),
            status: "notified".into(),
            changes: 0,
            error: None,
            reason: Some(format!("notified by {by}")),
            value: serde_json::Value::Null,
            done_in: None,
            started_ms: now,
            finished_ms: now,
        };
        if let Err(e) = session.record(record) {
            self.run.stop(
                StopCause::Other,
                format!("the play stopped because the run journal cannot be written: {e}"),
            );
        }
    }
}

/// "no handler …; did you mean …?", naming the step's handlers.
fn unknown(name: &str, step: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!(
            "notify: step {step:?} declares no handlers; declare {name:?} in its options: step(\"{step}\", hosts(…), #{{ handlers: [#{{ name: {name:?}, run: |h| {{ … }} }}] }}, |h| {{ … }})"
        );
    }
    let hint = crate::builtins::suggest(name, names.iter().map(String::as_str))
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default();
    format!(
        "notify: step {step:?} has no handler {name:?}{hint} (its handlers: {})",
        names.join(", ")
    )
}

thread_local! {
    /// The scope of the host closure (or handler) running on this thread.
    static SCOPE: std::cell::RefCell<Option<Arc<Scope>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a step's closure on one host, or a handler) with its notifications going to
/// `scope`.
pub fn within<T>(scope: &Arc<Scope>, f: impl FnOnce() -> T) -> T {
    let previous = SCOPE.with(|s| s.replace(Some(scope.clone())));
    let out = f();
    SCOPE.with(|s| *s.borrow_mut() = previous);
    out
}

fn current() -> Result<Arc<Scope>, String> {
    SCOPE.with(|s| s.borrow().clone()).ok_or_else(|| {
        "notify: handlers belong to steps with hosts; a step without hosts (on the controller) has none".to_string()
    })
}

/// Checks that the step running on this thread can notify `names` (before the operation
/// that would notify them acts).
pub fn check(names: &[String]) -> Result<(), String> {
    current()?.resolve(names).map(|_| ())
}

/// Notifies `names` for the host the step runs on, by the call `by`.
pub fn notify(names: &[String], by: &Notifier) -> Result<(), String> {
    let scope = current()?;
    let indices = scope.resolve(names)?;
    let source = by.source.as_deref().unwrap_or(&scope.run.playbook_label);
    let by = format!(
        "{} at {source}:{}:{}",
        by.what,
        by.at.line().unwrap_or(0),
        by.at.position().unwrap_or(0)
    );
    for i in indices {
        scope.notify(i, &by);
    }
    Ok(())
}

/// The handler names a step's text gives literally — `notify: "x"`, `notify: ["x", "y"]`,
/// `.notify("x")` — with their positions in the text; checked against the step's handlers
/// when the step is defined (and by `runbook check`), before anything runs. Names made at
/// run time are checked when notified.
pub fn named_in(text: &str) -> Vec<(String, Position)> {
    let Some(ast) = parse_text(text) else { return Vec::new() };
    let mut out = Vec::new();
    let strings = |e: &Expr, out: &mut Vec<(String, Position)>| match e {
        Expr::StringConstant(s, p) => out.push((s.to_string(), *p)),
        Expr::Array(items, _) => {
            for i in items.iter() {
                if let Expr::StringConstant(s, p) = i {
                    out.push((s.to_string(), *p));
                }
            }
        }
        Expr::DynamicConstant(d, p) => {
            if let Ok(names) = names_of(d, "") {
                out.extend(names.into_iter().map(|n| (n, *p)));
            }
        }
        _ => {}
    };
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::Map(m, _))) => {
                for (k, v) in m.0.iter() {
                    if k.name == "notify" {
                        strings(v, &mut out);
                    }
                }
            }
            Some(ASTNode::Expr(Expr::DynamicConstant(d, p))) => {
                if let Some(v) = d.read_lock::<Map>().and_then(|m| m.get("notify").cloned()) {
                    strings(&Expr::DynamicConstant(Box::new(v), *p), &mut out);
                }
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, _))) if call.name == "notify" => {
                if let Some(a) = call.args.first() {
                    strings(a, &mut out);
                }
            }
            _ => {}
        }
        true
    });
    out
}

/// The names of the handlers a `step(…)` call's text declares, when it declares them
/// literally (`Some(vec![])`: it declares none); `None` when they are computed.
pub fn declared_in(text: &str) -> Option<Vec<String>> {
    let ast = parse_text(text)?;
    let call = match ast.statements().first() {
        Some(rhai::Stmt::FnCall(call, _)) => call,
        Some(rhai::Stmt::Expr(e)) => match &**e {
            Expr::FnCall(call, _) => call,
            _ => return None,
        },
        _ => return None,
    };
    if call.args.len() != 4 {
        return Some(Vec::new());
    }
    let handlers = match &call.args[2] {
        Expr::Map(m, _) => match m.0.iter().find(|(k, _)| k.name == "handlers") {
            None => return Some(Vec::new()),
            Some((_, v)) => v,
        },
        Expr::DynamicConstant(d, _) if d.is_map() => return Some(Vec::new()),
        _ => return None,
    };
    let Expr::Array(items, _) = handlers else { return None };
    items
        .iter()
        .map(|item| match item {
            Expr::Map(m, _) => m.0.iter().find(|(k, _)| k.name == "name").and_then(|(_, v)| match v {
                Expr::StringConstant(s, _) => Some(s.to_string()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

/// Problems with the literal `notify` names of a step's text (`text` starts at `at` in its
/// file) against the handlers it has: (where in the file, what is wrong).
pub fn unknown_in(text: &str, at: Position, step: &str, names: &[String]) -> Vec<(Position, String)> {
    named_in(text)
        .into_iter()
        .filter(|(n, _)| !names.contains(n))
        .map(|(n, p)| (in_file(at, p), unknown(&n, step, names)))
        .collect()
}

/// A position in a text that starts at `at` of its file, as a position in the file.
fn in_file(at: Position, p: Position) -> Position {
    let (Some(l0), Some(c0), Some(l), Some(c)) = (at.line(), at.position(), p.line(), p.position()) else {
        return at;
    };
    match l {
        1 => Position::new((l0) as u16, (c0 + c - 1) as u16),
        _ => Position::new((l0 + l - 1) as u16, c as u16),
    }
}

/// A step's text, parsed alone (no function needs to exist to parse a call).
fn parse_text(text: &str) -> Option<rhai::AST> {
    let mut engine = Engine::new_raw();
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    engine.compile(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = "step(\"web\", hosts(\"web\"), #{ handlers: [\n    #{ name: \"reload nginx\", run: |h| h.service(\"nginx\", \"reloaded\") },\n    #{ name: \"restart app\", run: |h| h.run(\"x\") },\n] }, |h| {\n    h.file(\"/a\", #{ content: \"x\", notify: \"reload ngnix\" });\n    h.line(\"/b\", \"y\", #{ notify: [\"restart app\", \"reload nginx\"] });\n    h.notify(\"restart ap\");\n    h.file(\"/c\", #{ content: \"notify: \\\"nope\\\"\" });\n})";

    #[test]
    fn literal_names_are_found_where_they_are_written() {
        let found: Vec<(String, Option<usize>, Option<usize>)> = named_in(STEP)
            .into_iter()
            .map(|(n, p)| (n, p.line(), p.position()))
            .collect();
        assert_eq!(
            found,
            [
                ("reload ngnix".to_string(), Some(5), Some(43)),
                ("restart app".to_string(), Some(6), Some(35)),
                ("reload nginx".to_string(), Some(6), Some(50)),
                ("restart ap".to_string(), Some(7), Some(14)),
            ]
        );
        assert_eq!(
            declared_in(STEP),
            Some(vec!["reload nginx".to_string(), "restart app".to_string()])
        );
        assert_eq!(declared_in("step(\"a\", hosts(\"x\"), |h| {})"), Some(vec![]));
        assert_eq!(
            declared_in("step(\"a\", hosts(\"x\"), #{ serial: 1 }, |h| {})"),
            Some(vec![])
        );
        assert_eq!(
            declared_in("step(\"a\", hosts(\"x\"), #{ handlers: hs }, |h| {})"),
            None
        );
    }

    #[test]
    fn unknown_names_get_the_nearest_one_at_their_place_in_the_file() {
        let names = declared_in(STEP).unwrap();
        let problems = unknown_in(STEP, Position::new(10, 5), "web", &names);
        let at: Vec<(Option<usize>, Option<usize>)> = problems.iter().map(|(p, _)| (p.line(), p.position())).collect();
        assert_eq!(at, [(Some(14), Some(43)), (Some(16), Some(14))]);
        assert_eq!(
            problems[0].1,
            "notify: step \"web\" has no handler \"reload ngnix\"; did you mean \"reload nginx\"? (its handlers: reload nginx, restart app)"
        );
        assert!(
            problems[1].1.contains("did you mean \"restart app\"?"),
            "{}",
            problems[1].1
        );
        // The first line of the text starts at the step's column.
        assert_eq!(in_file(Position::new(3, 5), Position::new(1, 10)), Position::new(3, 14));
        let none = unknown_in(STEP, Position::new(1, 1), "web", &[]);
        assert!(none[0].1.contains("declares no handlers"), "{}", none[0].1);
    }

    #[test]
    fn handlers_are_a_list_of_names_and_closures() {
        let engine = Engine::new();
        let parsed = |script: &str| parse(&engine.eval::<Dynamic>(script).unwrap());
        let hs = parsed("[#{ name: \"b\", run: |h| 1 }, #{ name: \"a\", run: |h| 2 }]").unwrap();
        assert_eq!(hs.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let err = |script: &str| parsed(script).unwrap_err();
        assert_eq!(
            err("#{ a: 1 }"),
            "step: option `handlers` must be a list like [#{ name: \"restart app\", run: |h| h.service(\"app\", \"restarted\") }], not map"
        );
        assert_eq!(
            err("[#{ name: \"a\", run: |h| 1, notify: 1 }]"),
            "step: handler 1: unknown option `notify` (known: name, run)"
        );
        assert_eq!(
            err("[#{ run: |h| 1 }]"),
            "step: handler 1 has no `name`: #{ name: \"restart app\", run: |h| … }"
        );
        assert_eq!(
            err("[#{ name: \"a\", run: \"x\" }]"),
            "step: handler \"a\": `run` must be a closure |h| { … }, not string"
        );
        assert_eq!(
            err("[#{ name: \"a\", run: |h| 1 }, #{ name: \"a\", run: |h| 2 }]"),
            "step: handler \"a\" is declared twice"
        );
        assert_eq!(
            names_of(&Dynamic::from(1_i64), "h.file: option `notify`").unwrap_err(),
            "h.file: option `notify` must be a handler's name or a list of names, not i64"
        );
    }
}
