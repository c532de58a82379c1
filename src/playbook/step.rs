//! A step's identity (name + where its `step(` call is + which time that call ran),
//! options, and fingerprint.

use rhai::{Array, Dynamic, FnPtr, Map, NativeCallContext, Position, ScriptFuncDef, Shared};
use sha2::{Digest, Sha256};

use super::convert::Opts;
use super::handlers::Handler;
use super::sources::Sources;
use crate::host::Host;

pub use crate::play::StepId;

#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// Run the hosts in batches of this many, one batch after another.
    pub serial: Option<usize>,
    /// How many hosts may fail before the play stops after this step (none: no limit).
    pub max_fail: Option<Limit>,
    /// Stop the play after this step if any host failed in it.
    pub any_errors_fatal: bool,
    pub tags: Vec<String>,
    /// What to do once per host at the end of the step if an operation notified it, in
    /// this order.
    pub handlers: Vec<Handler>,
}

impl StepOptions {
    pub fn parse(map: Map) -> Result<Self, String> {
        let opts = Opts::declared("step", "step", map)?;
        let serial = match opts.int("serial")? {
            None => None,
            Some(n) if n >= 1 => Some(n as usize),
            Some(n) => return Err(format!("step: option `serial` must be at least 1, not {n}")),
        };
        let max_fail = match opts.raw("max_fail") {
            None => None,
            Some(v) if v.is_string() && v.to_string().trim().ends_with('%') => {
                Some(Limit::parse_text(&v.to_string()).map_err(|e| format!("step: option `max_fail` {e}"))?)
            }
            Some(_) => match opts.int("max_fail")? {
                None => None,
                Some(n) if n >= 0 => Some(Limit::Count(n as usize)),
                Some(n) => {
                    return Err(format!("step: option `max_fail` must not be negative, not {n}"));
                }
            },
        };
        Ok(StepOptions {
            serial,
            max_fail,
            any_errors_fatal: opts.bool("any_errors_fatal", false)?,
            tags: opts.string_list("tags")?,
            handlers: match opts.raw("handlers") {
                Some(v) => super::handlers::parse(&v)?,
                None => Vec::new(),
            },
        })
    }

    /// Why the play stops after this step, if it does: `failed` of the step's `targets`
    /// failed in it, `all_failed` when none of its targets is left.
    pub fn stops(&self, failed: usize, targets: usize, all_failed: bool) -> Option<String> {
        if failed == 0 {
            return None;
        }
        if all_failed {
            return Some(format!("every host of the step failed ({failed})"));
        }
        if self.any_errors_fatal {
            return Some(format!("{failed} host(s) failed and any_errors_fatal is set"));
        }
        match self.max_fail {
            Some(Limit::Count(n)) if failed > n => Some(format!("{failed} host(s) failed, more than max_fail = {n}")),
            Some(Limit::Percent(p)) if failed * 100 > p * targets => Some(format!(
                "{failed} of {targets} host(s) failed, more than max_fail = {p}%"
            )),
            _ => None,
        }
    }
}

/// `max_fail`: a count of hosts or a percentage of the step's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(usize),
    Percent(usize),
}

impl Limit {
    /// `"25%"`, or a count as text.
    pub fn parse_text(text: &str) -> Result<Limit, String> {
        let t = text.trim();
        let bad = || format!("must be a count (2) or a percentage (\"25%\"), not {text:?}");
        match t.strip_suffix('%') {
            Some(p) => match p.trim().parse::<usize>() {
                Ok(p) if p <= 100 => Ok(Limit::Percent(p)),
                _ => Err(bad()),
            },
            None => t.parse::<usize>().map(Limit::Count).map_err(|_| bad()),
        }
    }
}

/// A map from host name to value, the shape `step()` returns for host steps.
pub fn results_map(values: Vec<(String, Dynamic)>) -> Map {
    values.into_iter().map(|(h, v)| (h.into(), v)).collect()
}

/// A step's fingerprint (docs/ARCHITECTURE.md, resume): SHA-256 over its identity, its source text and the
/// values its closure captured. Resume skips a journaled step only when this is unchanged.
///
/// The source text is read from the script, not from Rhai's AST: Rhai names closures
/// `anon$<hash>` with a hasher seeded at random per process, and the AST's hashes and
/// `Debug` form carry those values, so neither is stable between two runs. The text of the
/// `step(…)` call is (it holds a literal closure whole, and the step's handlers), and the
/// braced body of a closure or function passed by name is found through its definition's
/// position; the values the handlers' closures captured count too. Line numbers and
/// the file's path are deliberately left out: adding a line above a step, or running from
/// another directory, must not make it rerun. Not covered: the bodies of functions the
/// closure calls, and an expression-bodied closure (`|h| h.run(…)`) defined away from the
/// `step(…)` call (its captured values still are).
pub fn fingerprint(
    ctx: &NativeCallContext,
    sources: &Sources,
    source: &str,
    id: &StepId,
    call_at: Position,
    closure: &FnPtr,
    handlers: &[Handler],
) -> String {
    let mut h = Sha256::new();
    let mut part = |label: &str, text: &str| {
        for p in [label, text] {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
    };
    part("name", &id.name);
    part("seq", &id.seq.to_string());
    let text = sources.text(source).unwrap_or_default();
    if let Some(call) = call_at
        .line()
        .and_then(|l| call_text(&text, l, call_at.position().unwrap_or(1)))
    {
        part("call", call);
    }
    let def = closure_def(ctx, closure);
    if let Some(body) = def.as_ref().and_then(|d| block_text(&text, d.body.start_position())) {
        part("body", body);
    }
    for (i, v) in closure.curry().iter().enumerate() {
        let name = def
            .as_ref()
            .and_then(|d| d.params.get(i))
            .map_or(String::new(), |p| p.to_string());
        let mut value = String::new();
        canonical(v, &mut value);
        part("captured", &format!("{name}={value}"));
    }
    // A handler's text is in the call's; what its closure captured is not.
    for handler in handlers {
        let mut value = String::new();
        canonical(&Dynamic::from(handler.run.clone()), &mut value);
        part("handler", &format!("{}={value}", handler.name));
    }
    hex(&h.finalize())
}

/// The text of the `step(…)` call at `at` of `text`.
pub fn step_text(text: &str, at: Position) -> Option<&str> {
    call_text(text, at.line()?, at.position().unwrap_or(1))
}

/// The definition of the closure's function, in the namespaces of the calling script.
fn closure_def(ctx: &NativeCallContext, closure: &FnPtr) -> Option<Shared<ScriptFuncDef>> {
    let n = closure.curry().len();
    ctx.iter_namespaces().find_map(|m| {
        m.get_script_fn(closure.fn_name(), n + 1)
            .or_else(|| m.get_script_fn(closure.fn_name(), n))
            .cloned()
    })
}

/// A value as stable text: maps in key order, shared (captured) values read through,
/// hosts by name. Closures are named by their curried values only (their names vary).
fn canonical(d: &Dynamic, out: &mut String) {
    let d = d.flatten_clone();
    if let Some(a) = d.read_lock::<Array>() {
        out.push('[');
        for v in a.iter() {
            canonical(v, out);
            out.push(',');
        }
        out.push(']');
    } else if let Some(m) = d.read_lock::<Map>() {
        out.push_str("#{");
        for (k, v) in m.iter() {
            out.push_str(&format!("{k:?}:"));
            canonical(v, out);
            out.push(',');
        }
        out.push('}');
    } else if let Some(h) = d.read_lock::<Host>() {
        out.push_str(&format!("Host({:?})", h.name()));
    } else if let Some(f) = d.read_lock::<FnPtr>() {
        out.push_str(if f.is_anonymous() { "Fn(anonymous" } else { f.fn_name() });
        for v in f.curry() {
            out.push(',');
            canonical(v, out);
        }
        out.push(')');
    } else if d.is_string() {
        out.push_str(&format!("{:?}", d.to_string()));
    } else {
        out.push_str(&format!("{}:{d}", d.type_name()));
    }
}

/// The text of the call whose name starts at (line, col): from there to the `)` that
/// closes its argument list.
fn call_text(text: &str, line: usize, col: usize) -> Option<&str> {
    let start = offset_of(text, line, col)?;
    let open = start + text[start..].find('(')?;
    let close = matching_close(text.as_bytes(), open)?;
    Some(&text[start..=close])
}

/// The text of a braced block starting at `at`.
fn block_text(text: &str, at: Position) -> Option<&str> {
    let start = offset_of(text, at.line()?, at.position()?)?;
    if !text[start..].starts_with('{') {
        return None;
    }
    let close = matching_close(text.as_bytes(), start)?;
    Some(&text[start..=close])
}

/// Byte offset of a Rhai position (1-based line and column; columns count characters).
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = text[start..].split('\n').next()?;
    let (i, _) = line_text.char_indices().nth(col.checked_sub(1)?)?;
    Some(start + i)
}

/// The offset of the bracket closing the one at `open`, skipping strings, characters,
/// comments and `${…}` interpolations, which may contain unbalanced brackets.
fn matching_close(src: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < src.len() {
        match src[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < src.len() && src[i] != q {
                    i += if src[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                loop {
                    match (src.get(i)?, src.get(i + 1)) {
                        (b'`', Some(b'`')) => i += 2, // a doubled backtick is a literal one
                        (b'`', _) => break,
                        (b'$', Some(b'{')) => i = matching_close(src, i + 1)? + 1,
                        _ => i += 1,
                    }
                }
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                // Rhai block comments nest.
                let mut nest = 0usize;
                while i + 1 < src.len() {
                    if src[i] == b'/' && src[i + 1] == b'*' {
                        nest += 1;
                        i += 2;
                    } else if src[i] == b'*' && src[i + 1] == b'/' {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_text_spans_the_whole_call() {
        let text = "let a = 1;\nstep(\"x\", hosts(\"all\"), |h| {\n  h.run(`echo ${a + (1)} )`); // )\n  /* ) /* } */ ) */ \"(\\\")\"\n});\nnext();";
        let call = call_text(text, 2, 1).unwrap();
        assert!(call.starts_with("step(\"x\""), "{call}");
        assert!(call.ends_with("\"(\\\")\"\n})"), "{call}");
    }

    #[test]
    fn offsets_count_characters() {
        let text = "é = 1;\n  ü(1)";
        assert_eq!(offset_of(text, 2, 3), Some(text.find('ü').unwrap()));
        assert_eq!(offset_of(text, 3, 1), None);
    }

    #[test]
    fn unbalanced_text_has_no_end() {
        assert_eq!(matching_close(b"(a, `${b`)", 0), None);
        assert_eq!(matching_close(b"(a, `x``y)`)", 0), Some(11));
    }
}
