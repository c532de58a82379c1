//! The texts of every script a play has loaded, so an error anywhere can show its line.

use std::collections::HashMap;
use std::sync::Mutex;

use rhai::{AST, Position};

use super::try_sites::TrySites;
use crate::error::Location;

/// Texts of every script the run has loaded, by source label, so errors anywhere can show
/// their line.
#[derive(Default)]
pub struct Sources {
    texts: Mutex<HashMap<String, String>>,
    aliases: Mutex<HashMap<String, String>>,
    try_sites: Mutex<TrySites>,
}

impl Sources {
    pub fn insert(&self, label: &str, text: &str) {
        self.texts.lock().unwrap().insert(label.to_string(), text.to_string());
    }

    /// `import "helpers"` is reported by Rhai under "helpers"; map it to its file label.
    pub fn alias(&self, name: &str, label: &str) {
        self.aliases.lock().unwrap().insert(name.to_string(), label.to_string());
    }

    /// The text of the script reported under `source` (a label or an import alias).
    pub fn text(&self, source: &str) -> Option<String> {
        let label = self.label(source);
        self.texts.lock().unwrap().get(&label).cloned()
    }

    /// Notes a compiled script (its source label set) for [`Sources::must_run_at_once`].
    pub fn note_ast(&self, ast: &AST) {
        let aliases = self.aliases.lock().unwrap().clone();
        self.try_sites.lock().unwrap().note(ast, &aliases);
    }

    /// Whether a host operation called at `pos` of `source` (`NativeCallContext::call_source`
    /// and `call_position`) may run inside a `try` body, so it must run at once rather than
    /// be queued: its failure must be raised where the `catch` catches it.
    pub fn must_run_at_once(&self, source: Option<&str>, pos: Position) -> bool {
        let label = source.map(|s| self.label(s));
        self.try_sites.lock().unwrap().must_run_at_once(label.as_deref(), pos)
    }

    fn label(&self, name: &str) -> String {
        self.aliases
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    pub fn location(&self, source: &str, pos: Position) -> Option<Location> {
        let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
        let label = self.label(source);
        let texts = self.texts.lock().unwrap();
        Some(match texts.get(&label) {
            Some(text) => Location::in_text(label, text, line, col),
            None => Location {
                file: label,
                line,
                col,
                source_line: None,
            },
        })
    }
}
