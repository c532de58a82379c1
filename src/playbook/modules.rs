//! `import "name"`: the embedded stdlib first (so `playbooks/release.rhai` can import the
//! stdlib's `release` without importing itself), then `name.rhai` beside the importing file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use super::sources::Sources;

include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));

pub struct Resolver {
    /// Directory of the playbook: where a module imported from the stdlib or from the
    /// playbook itself is looked up.
    base: PathBuf,
    stdlib: &'static [(&'static str, &'static str)],
    sources: Arc<Sources>,
    cache: Mutex<HashMap<String, Shared<Module>>>,
    /// The modules being loaded, outermost first: one that imports itself, directly or
    /// through others, is a cycle (Rhai would recurse until the stack overflows).
    loading: Mutex<Vec<String>>,
}

impl Resolver {
    pub fn new(base: PathBuf, sources: Arc<Sources>) -> Self {
        Self::with_stdlib(base, sources, STDLIB)
    }

    pub fn with_stdlib(base: PathBuf, sources: Arc<Sources>, stdlib: &'static [(&'static str, &'static str)]) -> Self {
        Resolver {
            base,
            stdlib,
            sources,
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(Vec::new()),
        }
    }

    /// Finds the module's text and the label it is reported under.
    fn locate(&self, importer: Option<&str>, path: &str) -> Result<(String, String), String> {
        if let Some((_, text)) = self.stdlib.iter().find(|(name, _)| *name == path) {
            return Ok((format!("stdlib/{path}.rhai"), text.to_string()));
        }
        let file = if path.ends_with(".rhai") {
            path.to_string()
        } else {
            format!("{path}.rhai")
        };
        // Relative to the importing file when that is a file on disk, else the playbook's dir.
        let dir = importer
            .map(Path::new)
            .filter(|p| p.is_file())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| self.base.clone());
        let full = dir.join(&file);
        match std::fs::read_to_string(&full) {
            Ok(text) => Ok((crate::error::display_path(&full), text)),
            Err(_) => {
                let names: Vec<&str> = self.stdlib.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "module `{path}` not found: it is not in the stdlib ({}) and {} does not exist",
                    if names.is_empty() {
                        "empty".to_string()
                    } else {
                        names.join(", ")
                    },
                    crate::error::display_path(&full)
                ))
            }
        }
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let (label, text) = self
            .locate(source, path)
            .map_err(|msg| Box::new(EvalAltResult::ErrorRuntime(msg.into(), pos)))?;
        if let Some(m) = self.cache.lock().unwrap().get(&label) {
            return Ok(m.clone());
        }
        {
            let mut loading = self.loading.lock().unwrap();
            if let Some(i) = loading.iter().position(|l| *l == label) {
                let chain: Vec<&str> = loading[i..]
                    .iter()
                    .map(String::as_str)
                    .chain([label.as_str()])
                    .collect();
                return Err(Box::new(EvalAltResult::ErrorRuntime(
                    format!("import cycle: {}", chain.join(" imports ")).into(),
                    pos,
                )));
            }
            loading.push(label.clone());
        }
        let loaded = self.load(engine, path, &label, &text, pos);
        self.loading.lock().unwrap().retain(|l| *l != label);
        loaded
    }
}

impl Resolver {
    fn load(
        &self,
        engine: &Engine,
        path: &str,
        label: &str,
        text: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let label = label.to_string();
        self.sources.insert(&label, text);
        self.sources.alias(path, &label);
        let mut ast = engine
            .compile(text)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(label.clone(), e.into(), pos)))?;
        ast.set_source(label.as_str());
        self.sources.note_ast(&ast);
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(label.clone(), e, pos)))?;
        let module: Shared<Module> = module.into();
        self.cache.lock().unwrap().insert(label, module.clone());
        Ok(module)
    }
}
