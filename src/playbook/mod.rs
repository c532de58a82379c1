//! Playbooks: Rhai scripts compiled once, run in a sandboxed engine with runbook's API.

mod bindings;
pub mod convert;
mod diagnose;
pub mod executor;
pub mod handlers;
pub mod lint;
pub mod modules;
pub mod queue;
pub mod sources;
pub mod step;
pub mod template;
mod try_sites;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine, ParseError};

use crate::error::{Diagnostic, Error, Location, Result, display_path};
pub use bindings::register;
pub use diagnose::diagnose;
pub use sources::Sources;

pub struct Playbook {
    pub path: PathBuf,
    /// How the path is shown in messages.
    pub label: String,
    pub source: String,
    pub ast: AST,
}

impl Playbook {
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// The sandboxed engine: bounded operations, depth and sizes, so a runaway script stops
/// with an error instead of eating the controller; modules from the stdlib and beside
/// the playbook.
pub fn engine(dir: PathBuf, sources: Arc<Sources>) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_expr_depths(128, 64)
        .set_max_call_levels(64)
        .set_max_operations(0) // playbooks legitimately loop over many hosts: --max-operations, checked in `on_progress`
        .set_max_string_size(64 << 20)
        .set_max_array_size(1 << 20)
        .set_max_map_size(1 << 20)
        .set_max_modules(256)
        .set_module_resolver(modules::Resolver::new(dir, sources));
    // `var` is reserved by Rhai for a future keyword; the playbook API needs it as a plain
    // function name (`var("app")`, `h.var("port")`), so the tokenizer hands it back as one.
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(s) if s.as_str() == "var" => rhai::Token::Identifier(s),
        other => other,
    });
    #[allow(deprecated)] // volatile, not deprecated (Rhai's words)
    engine.on_var(|name, _, ctx| Ok(unshared_host_value(name, ctx.scope())));
    engine
}

/// A private copy of a captured variable that holds hosts, for a step's closure.
///
/// A closure's captured variables are shared between every call of it, and Rhai locks one
/// for the whole of a method call on it: a host captured outside a parallel step
/// (`let db = hosts("db")[0]; step(…, |h| db.run(…))`) would be locked by one host's call
/// while the others fail with "Data race detected". Hosts are handles (operations on one
/// are serialised by the host itself), so each call may read its own copy; it is read-only,
/// so assigning to such a variable inside a step is an error rather than a lost write.
fn unshared_host_value(name: &str, scope: &rhai::Scope) -> Option<rhai::Dynamic> {
    if !crate::playbook::executor::inside_step() {
        return None;
    }
    let value = scope.get(name)?;
    if !value.is_shared() || !holds_host(value) {
        return None;
    }
    Some(value.flatten_clone())
}

fn holds_host(value: &rhai::Dynamic) -> bool {
    if value.read_lock::<crate::host::Host>().is_some() {
        return true;
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        return items.iter().any(holds_host);
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        return map.values().any(holds_host);
    }
    false
}

pub fn read(path: &Path) -> Result<String> {
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "playbook {} is a directory, not a .rhai file",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!("playbook {} does not exist", path.display())),
        std::io::ErrorKind::InvalidData => Error::Usage(format!("playbook {} is not UTF-8 text", path.display())),
        _ => Error::io(format!("cannot read playbook {}", path.display()), e),
    })?;
    if let Some(at) = text.find('\0') {
        let loc = Location::at_offset(display_path(path), &text, at);
        return Err(Error::Playbook(
            Diagnostic::new("a NUL byte: a playbook is text").at(loc),
        ));
    }
    // A byte-order mark (editors on Windows write one) is not part of the script.
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
}

pub fn compile(engine: &Engine, path: &Path, sources: &Sources) -> Result<Playbook> {
    let source = read(path)?;
    let label = display_path(path);
    sources.insert(&label, &source);
    let mut ast = engine.compile(&source).map_err(|e| parse_error(&e, &label, &source))?;
    ast.set_source(label.as_str());
    sources.note_ast(&ast);
    Ok(Playbook {
        path: path.to_path_buf(),
        label,
        source,
        ast,
    })
}

/// Compiles the playbook and every module it imports (transitively), without running
/// anything: what `runbook check` does.
pub fn check(engine: &Engine, playbook: &Playbook, sources: &Sources) -> Result<()> {
    engine
        .compile_into_self_contained(&rhai::Scope::new(), &playbook.source)
        .map(|_| ())
        .map_err(|e| Error::Playbook(diagnose(&e, &playbook.label, sources)))
}

fn parse_error(e: &ParseError, label: &str, text: &str) -> Error {
    let at = e.position();
    let loc = Location::in_text(label, text, at.line().unwrap_or(1), at.position().unwrap_or(1));
    Error::Playbook(Diagnostic::new(format!("syntax error: {}", e.err_type())).at(loc))
}
