//! Rhai's errors in runbook's words, at the line that failed (`file:line:col` and a caret),
//! with the way there kept as notes.

use rhai::EvalAltResult;

use super::sources::Sources;
use crate::error::Diagnostic;

/// The error of script code that went over `--max-operations`, carrying the limit so the
/// message can name it.
#[derive(Debug, Clone, Copy)]
pub struct OperationLimit(pub u64);

/// Turns a Rhai error into a diagnostic at its innermost position: errors inside functions,
/// closures and modules are followed down to the line that failed, and the way there is
/// kept as notes.
pub fn diagnose(err: &EvalAltResult, source: &str, sources: &Sources) -> Diagnostic {
    let mut current = source.to_string();
    let mut trail = Vec::new();
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
                if let Some(loc) = sources.location(&current, *pos) {
                    trail.push(format!("in {}, called at {loc}", what(name)));
                }
                if !src.is_empty() {
                    current = src.clone();
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(name, inner, pos) => {
                if let Some(loc) = sources.location(&current, *pos) {
                    trail.push(format!("in module `{name}`, imported at {loc}"));
                }
                current = name.clone();
                e = inner;
            }
            _ => break,
        }
    }
    // A queued operation's failure, raised later: where the operation was called, and the
    // way there as it was then (not the way to where the queue was carried out).
    if let EvalAltResult::ErrorRuntime(v, _) = e
        && let Some(deferred) = v.read_lock::<super::queue::Deferred>()
    {
        let mut d = Diagnostic::new(deferred.message.clone());
        let mut caller = source.to_string();
        let mut trail = Vec::new();
        for call in &deferred.calls {
            if let Some(loc) = sources.location(&caller, call.at) {
                trail.push(format!("in {}, called at {loc}", what(&call.name)));
            }
            if let Some(s) = &call.source {
                caller = s.clone();
            }
        }
        let source = deferred.source.clone().unwrap_or(caller);
        if let Some(loc) = sources.location(&source, deferred.at) {
            d = d.at(loc);
        }
        for note in trail.into_iter().rev() {
            d = d.note(note);
        }
        return d;
    }
    let mut d = Diagnostic::new(message(e));
    if let Some(loc) = sources.location(&current, e.position()) {
        d = d.at(loc);
    }
    // Innermost call first, like a backtrace.
    for note in trail.into_iter().rev() {
        d = d.note(note);
    }
    d
}

/// A script function as a note names it: a closure, or `name`.
fn what(name: &str) -> String {
    if name.starts_with("anon$") {
        "closure".to_string()
    } else {
        format!("`{name}`")
    }
}

/// The error's text without Rhai's "(line x, position y)" suffix and "Runtime error:" prefix.
fn message(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(v, _) if v.is::<OperationLimit>() => {
            let limit = v.clone_cast::<OperationLimit>().0;
            format!(
                "the script ran more than {limit} operations (--max-operations {limit}) and was stopped here: \
                 an endless loop? Raise the limit with --max-operations N (RUNBOOK_MAX_OPERATIONS, or \
                 max_operations in runbook.toml; 0 for none)"
            )
        }
        EvalAltResult::ErrorRuntime(d, _) => d.to_string(),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => not_found(signature),
        EvalAltResult::ErrorStackOverflow(_) => {
            "function calls nested too deep (more than 64 levels): a function that calls itself without end?".into()
        }
        EvalAltResult::ErrorParsing(p, _) => format!("syntax error: {p}"),
        _ => {
            let text = e.to_string();
            let suffix = format!(" ({})", e.position());
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
    }
}

/// Rhai's "Function not found: NAME (TYPES)" in runbook's words: what is wrong with the
/// call, the nearest valid name, and how the built-in is called (from `builtins`).
fn not_found(signature: &str) -> String {
    use crate::builtins::{BUILTINS, Receiver, lookup, suggest};
    let (name, args) = match signature.split_once(" (") {
        Some((n, rest)) => (n.trim(), rest.trim_end_matches(')')),
        None => (signature.trim(), ""),
    };
    // Rhai's type names, as the reference writes them.
    let types: Vec<&str> = args
        .split(", ")
        .filter(|t| !t.is_empty())
        .map(|t| match t {
            _ if t.contains("String") => "string",
            "i64" => "integer",
            "f64" => "float",
            "array" => "list",
            "Fn" => "closure",
            "()" => "()",
            other => other,
        })
        .collect();
    let given = types.join(", ");
    if !name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        let note = if name == "!" {
            " (`!a == b` reads as `(!a) == b`: write `a != b`)"
        } else {
            ""
        };
        return format!("operator `{name}` cannot be used on ({given}){note}");
    }
    if name.starts_with("anon$") {
        let mut m = format!(
            "a closure was called with {} argument(s), which it does not take",
            types.len()
        );
        if types.is_empty() {
            m.push_str(
                "\n  a step without hosts runs its closure once, on the controller, with no argument (|| …); \
                 to run it on hosts, name them: step(\"name\", hosts(\"web\"), |h| { … })",
            );
        }
        return m;
    }
    if name == "step" {
        if types.len() >= 2 && types[types.len() - 2] == "closure" && types[types.len() - 1] == "map" {
            return "step: the options map goes before the closure: step(\"name\", hosts(\"web\"), #{ serial: 1 }, |h| { … })".into();
        }
        return format!(
            "step cannot be called with ({given}): write step(name, |\u{7c}| …) on the controller, step(name, targets, |h| …) or step(name, targets, #{{ options }}, |h| …)"
        )
        .replace("|\u{7c}|", "||");
    }
    if types.first() == Some(&"Host") {
        if let Some(b) = BUILTINS.iter().find(|b| b.receiver == Receiver::Host && b.name == name) {
            return format!(
                "h.{name} cannot be called with ({}): it is {}",
                types[1..].join(", "),
                b.signature()
            );
        }
        let methods: Vec<&str> = BUILTINS
            .iter()
            .filter(|b| b.receiver == Receiver::Host)
            .map(|b| b.name)
            .collect();
        let hint = suggest(name, methods.iter().copied())
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        return format!(
            "hosts have no method `{name}`.{hint}\n  host methods: {} (runbook doc h.NAME tells more)",
            methods.join(", ")
        );
    }
    if let Some(b) = lookup(name) {
        return format!("{name} cannot be called with ({given}): it is {}", b.signature());
    }
    let known: Vec<String> = BUILTINS
        .iter()
        .filter(|b| b.receiver != Receiver::Host)
        .map(|b| b.qualified())
        .collect();
    match suggest(name, known.iter().map(String::as_str)) {
        Some(s) => format!("unknown function `{name}` (called with {given}); did you mean `{s}`?"),
        None => format!("unknown function `{name}` (called with ({given})); runbook doc lists the built-ins"),
    }
}
