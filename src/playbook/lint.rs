//! `runbook check`: a playbook checked without running it or connecting anywhere. The
//! compiled AST is walked and every call is compared with the built-ins' declarations
//! (`crate::builtins`): unknown functions and methods, unknown or wrongly typed literal
//! options, the shape of `step(…)`, and, given an inventory, `hosts("…")` patterns and
//! `var("…")` names. Local modules are checked too. Every problem is reported, not only
//! the first.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rhai::{AST, ASTNode, Dynamic, Engine, Expr, FnCallExpr, Map, Position, Stmt};

use super::sources::Sources;
use crate::builtins::{self, BUILTINS, Builtin, Receiver, Ty};
use crate::error::Diagnostic;
use crate::inventory::Inventory;

/// Modules that are the playbook API, not user modules.
const API_MODULES: &[&str] = &["cloud", "dns", "inventory", "wait", "local"];

/// Methods on strings that change the string in place and return `()`.
const IN_PLACE: &[&str] = &[
    "trim",
    "replace",
    "crop",
    "truncate",
    "pad",
    "clear",
    "make_upper",
    "make_lower",
];

/// What the checker knows besides the script.
pub struct Context<'a> {
    pub engine: &'a Engine,
    pub sources: &'a Sources,
    /// The playbook's directory (templates and modules are found from there).
    pub dir: PathBuf,
    pub inventory: Option<&'a Inventory>,
    /// Variables given on the command line (`--var NAME=…`): defined, whatever the inventory says.
    pub vars: BTreeSet<String>,
}

/// Checks a compiled script (and the local modules it imports); returns the problems.
pub fn check(cx: &Context, label: &str, ast: &AST) -> Vec<Diagnostic> {
    let known = registered_names(cx.engine);
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    check_file(cx, &known, label, ast, &mut out, &mut seen);
    out
}

fn check_file(
    cx: &Context,
    known: &BTreeSet<String>,
    label: &str,
    ast: &AST,
    out: &mut Vec<Diagnostic>,
    seen: &mut BTreeSet<String>,
) {
    if !seen.insert(label.to_string()) {
        return;
    }
    let closures: HashMap<String, usize> = ast
        .iter_fn_def()
        .map(|f| (f.name.to_string(), f.params.len()))
        .collect();
    let script_fns: BTreeSet<String> = ast.iter_fn_def().map(|f| f.name.to_string()).collect();
    let mut imports: Vec<(String, Position)> = Vec::new();
    let results = result_variables(ast);
    let file = File {
        cx,
        label,
        known,
        closures: &closures,
        script_fns: &script_fns,
        results: &results,
    };
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => file.call(call, *pos, false, path, &mut found),
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => file.call(call, *pos, false, path, &mut found),
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => file.call(call, *pos, true, path, &mut found),
            Some(ASTNode::Expr(Expr::Dot(x, _, _))) => file.field(&x.lhs, &x.rhs, &mut found),
            Some(ASTNode::Stmt(Stmt::Import(x, pos))) => {
                if let Expr::StringConstant(p, _) = &x.0 {
                    imports.push((p.to_string(), *pos));
                }
            }
            _ => {}
        }
        true
    });
    // In the file's order: Rhai walks function bodies (closures) in hash order.
    found.sort_by_key(|(pos, _)| (pos.line().unwrap_or(0), pos.position().unwrap_or(0)));
    for (pos, msg) in found {
        out.push(diagnostic(cx.sources, label, pos, msg));
    }
    // Local modules: checked as files of their own (the stdlib's are runbook's).
    for (path, _) in imports {
        if super::modules::STDLIB.iter().any(|(n, _)| *n == path) {
            continue;
        }
        let file = if path.ends_with(".rhai") {
            path.clone()
        } else {
            format!("{path}.rhai")
        };
        let base = Path::new(label).parent().filter(|p| p.is_dir()).unwrap_or(&cx.dir);
        let full = base.join(file);
        let Ok(text) = std::fs::read_to_string(&full) else {
            continue; // compiling the playbook reports a module that does not resolve
        };
        let module_label = crate::error::display_path(&full);
        cx.sources.insert(&module_label, &text);
        match cx.engine.compile(&text) {
            Ok(module) => check_file(cx, known, &module_label, &module, out, seen),
            Err(e) => {
                let at = e.position();
                out.push(diagnostic(
                    cx.sources,
                    &module_label,
                    at,
                    format!("syntax error: {}", e.err_type()),
                ));
            }
        }
    }
}

fn diagnostic(sources: &Sources, label: &str, pos: Position, msg: String) -> Diagnostic {
    let d = Diagnostic::new(msg);
    match sources.location(label, pos) {
        Some(loc) => d.at(loc),
        None => d,
    }
}

/// Functions Rhai's parser knows by name, which no package lists.
const KEYWORD_FNS: &[&str] = &[
    "curry",
    "Fn",
    "call",
    "type_of",
    "print",
    "debug",
    "eval",
    "is_def_var",
    "is_def_fn",
    "is_shared",
];

/// Names of every function the engine has: Rhai's own (runbook's are in `builtins`).
fn registered_names(engine: &Engine) -> BTreeSet<String> {
    KEYWORD_FNS
        .iter()
        .map(|s| s.to_string())
        .chain(
            engine
                .gen_fn_signatures(true)
                .into_iter()
                .filter_map(|s| s.split('(').next().map(|n| n.trim().to_string()))
                .map(|n| n.rsplit(' ').next().unwrap_or(&n).to_string()),
        )
        .collect()
}

struct File<'a> {
    cx: &'a Context<'a>,
    /// The file's label in `cx.sources`.
    label: &'a str,
    known: &'a BTreeSet<String>,
    /// Parameter counts of the script's functions (closures are `anon$…`).
    closures: &'a HashMap<String, usize>,
    script_fns: &'a BTreeSet<String>,
    /// Variables bound (only) to a built-in's result map: `let r = h.run(…)`.
    results: &'a HashMap<String, Option<&'static Builtin>>,
}

impl File<'_> {
    /// `r.stdot` on a built-in's result (`let r = h.run(…)`, or `h.run(…).stdot`): a field
    /// the result does not have is `()` at run time, silently.
    fn field(&self, lhs: &Expr, rhs: &Expr, found: &mut Vec<(Position, String)>) {
        let (builtin, field) = match (lhs, rhs) {
            // `h.run(…).stdot`: the method call, then the property.
            (_, Expr::Dot(x, _, _)) if matches!(x.lhs, Expr::MethodCall(..)) => {
                let Expr::MethodCall(call, _) = &x.lhs else { return };
                match (
                    builtins::find(Receiver::Host, call.name.as_str()),
                    first_property(&x.rhs),
                ) {
                    (Some(b), Some(f)) if !b.fields.is_empty() => (b, f),
                    _ => return,
                }
            }
            (Expr::Variable(v, _, _), _) => match (self.results.get(v.1.as_str()), first_property(rhs)) {
                (Some(Some(b)), Some(f)) => (*b, f),
                _ => return,
            },
            // `cloud::droplet(…).public_ipp`
            (Expr::FnCall(..), _) => match (result_of(lhs), first_property(rhs)) {
                (Some(b), Some(f)) => (b, f),
                _ => return,
            },
            _ => return,
        };
        let (name, pos) = field;
        if builtin.fields.iter().any(|f| f.name == name) {
            return;
        }
        let names: Vec<&str> = builtin.fields.iter().map(|f| f.name).collect();
        let hint = builtins::suggest(name, names.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        found.push((
            pos,
            format!(
                "{}'s result has no field `{name}`{hint} (fields: {})",
                builtin.qualified(),
                names.join(", ")
            ),
        ));
    }

    fn call(
        &self,
        call: &FnCallExpr,
        pos: Position,
        method: bool,
        path: &[ASTNode],
        found: &mut Vec<(Position, String)>,
    ) {
        let name = call.name.as_str();
        if name.starts_with("anon$") || call.op_token.is_some() || is_operator(name) {
            return;
        }
        let namespace = call.namespace.to_string();
        let namespace = namespace.trim_end_matches("::");
        let builtin = if method {
            builtins::find(Receiver::Host, name)
        } else if namespace.is_empty() {
            builtins::find(Receiver::Global, name)
        } else {
            API_MODULES
                .iter()
                .find(|m| **m == namespace)
                .and_then(|m| builtins::find(Receiver::Module(m), name))
        };
        match builtin {
            Some(b) => self.builtin_call(b, call, pos, found),
            None if !namespace.is_empty() => {
                if API_MODULES.contains(&namespace) {
                    let names: Vec<String> = BUILTINS
                        .iter()
                        .filter(|b| {
                            b.receiver == Receiver::Module(API_MODULES.iter().find(|m| **m == namespace).unwrap())
                        })
                        .map(|b| b.name.to_string())
                        .collect();
                    let hint = builtins::suggest(name, names.iter().map(String::as_str))
                        .map(|s| format!("; did you mean `{namespace}::{s}`?"))
                        .unwrap_or_default();
                    found.push((
                        pos,
                        format!(
                            "unknown function `{namespace}::{name}`{hint} ({namespace}:: has {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
            None if method => {
                if !self.known.contains(name) && !self.script_fns.contains(name) {
                    let methods: Vec<&str> = BUILTINS
                        .iter()
                        .filter(|b| b.receiver == Receiver::Host)
                        .map(|b| b.name)
                        .collect();
                    let hint = builtins::suggest(name, methods.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    found.push((
                        pos,
                        format!("no method `{name}` exists{hint} (host methods: {})", methods.join(", ")),
                    ));
                } else if IN_PLACE.contains(&name) && value_is_used(path) {
                    found.push((
                        pos,
                        format!("`{name}()` changes the string in place and returns (): call it on its own line, then use the variable"),
                    ));
                }
            }
            None => {
                if !self.known.contains(name) && !self.script_fns.contains(name) {
                    let mut names: Vec<String> = BUILTINS
                        .iter()
                        .filter(|b| b.receiver == Receiver::Global)
                        .map(|b| b.name.to_string())
                        .collect();
                    names.extend(self.script_fns.iter().filter(|n| !n.starts_with("anon$")).cloned());
                    let hint = builtins::suggest(name, names.iter().map(String::as_str))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    found.push((pos, format!("unknown function `{name}`{hint}")));
                }
            }
        }
    }

    fn builtin_call(&self, b: &Builtin, call: &FnCallExpr, pos: Position, found: &mut Vec<(Position, String)>) {
        let args: Vec<&Expr> = call.args.iter().collect();
        if b.name == "step" && b.receiver == Receiver::Global {
            self.step_shape(&args, pos, found);
        }
        // The options map: after every positional argument (a step's: before its closure).
        let at = match (b.name, b.receiver) {
            ("step", Receiver::Global) if args.len() == 4 => Some(2),
            ("step", Receiver::Global) => None,
            _ if !b.options.is_empty() && args.len() == b.args.len() + 1 => Some(b.args.len()),
            // Optional arguments left out (`h.service(name, #{ enabled: true })`): a map last,
            // where the argument it stands in for is not itself a map (a template's `vars`).
            _ if !b.options.is_empty()
                && (1..=b.args.len()).contains(&args.len())
                && b.args[args.len() - 1].optional
                && b.args[args.len() - 1].ty != "map"
                && args.last().is_some_and(|e| literal_map(e).is_some()) =>
            {
                Some(args.len() - 1)
            }
            _ => None,
        };
        if let Some(map) = at.and_then(|i| args.get(i)).and_then(|e| literal_map(e)) {
            for (key, value, at) in map {
                let at = if at.is_none() { pos } else { at };
                match b.option(&key) {
                    None => {
                        let hint = builtins::suggest(&key, b.option_names())
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        found.push((
                            at,
                            format!(
                                "{}: unknown option `{key}`{hint} (known: {})",
                                b.qualified(),
                                b.option_names().join(", ")
                            ),
                        ));
                    }
                    Some(o) => {
                        if let Some(problem) = value.as_ref().and_then(|v| wrong_type(o.ty, v)) {
                            found.push((at, format!("{}: option `{key}` {problem}", b.qualified())));
                        }
                    }
                }
            }
        }
        let literal = |i: usize| match args.get(i) {
            Some(Expr::StringConstant(s, p)) => Some((s.to_string(), *p)),
            _ => None,
        };
        match (b.receiver, b.name) {
            (Receiver::Global, "step") => self.notified_handlers(call, pos, found),
            (Receiver::Global, "hosts") => {
                if let (Some(inv), Some((pattern, p))) = (self.cx.inventory, literal(0))
                    && let Err(e) = inv.select(&pattern)
                {
                    found.push((p, format!("hosts({pattern:?}): {e}")));
                }
            }
            (Receiver::Global, "var") if args.len() == 1 => {
                if let (Some(inv), Some((name, p))) = (self.cx.inventory, literal(0))
                    && !self.cx.vars.contains(&name)
                    && !inv.global_vars(&Default::default()).contains_key(&name)
                {
                    found.push((
                        p,
                        format!(
                            "variable `{name}` is not defined in {}: set it in [vars], pass --var {name}=…, or write var({name:?}, default)",
                            inv.file_label()
                        ),
                    ));
                }
            }
            (Receiver::Host, "template") => {
                if let Some((src, p)) = literal(0)
                    && !self.template_exists(&src)
                {
                    found.push((
                        p,
                        format!(
                            "template {src:?} not found: not beside the playbook, not in its templates/, and not one of the stdlib's ({})",
                            super::modules::STDLIB_TEMPLATES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            _ => {}
        }
    }

    /// `step(name, |h| …)` without hosts, and options after the closure.
    fn step_shape(&self, args: &[&Expr], pos: Position, found: &mut Vec<(Position, String)>) {
        let closure_params = |e: &Expr| closure_name(e).and_then(|n| self.closures.get(&n).copied());
        match args.len() {
            2 => {
                if let Some(n) = closure_params(args[1])
                    && n > 0
                {
                    found.push((
                        pos,
                        "step without hosts: its closure runs once on the controller and gets no host; name the hosts (step(\"name\", hosts(\"web\"), |h| …)) or write || …".into(),
                    ));
                }
            }
            3 | 4 => {
                let last = args[args.len() - 1];
                if literal_map(last).is_some() && closure_name(args[args.len() - 2]).is_some() {
                    found.push((pos, "step: the options map goes before the closure: step(\"name\", hosts(\"web\"), #{ serial: 1 }, |h| { … })".into()));
                }
            }
            _ => {}
        }
    }

    /// A literal `notify` in a step's text names one of the handlers it declares literally.
    fn notified_handlers(&self, call: &FnCallExpr, pos: Position, found: &mut Vec<(Position, String)>) {
        let Some(text) = self.cx.sources.text(self.label) else {
            return;
        };
        let Some(step) = super::step::step_text(&text, pos) else {
            return;
        };
        let Some(names) = super::handlers::declared_in(step) else {
            return;
        };
        let name = match call.args.first() {
            Some(Expr::StringConstant(s, _)) => s.to_string(),
            _ => "…".to_string(),
        };
        found.extend(super::handlers::unknown_in(step, pos, &name, &names));
    }

    fn template_exists(&self, name: &str) -> bool {
        let dir = &self.cx.dir;
        [dir.join(name), dir.join("templates").join(name)]
            .iter()
            .any(|p| p.is_file())
            || super::modules::STDLIB_TEMPLATES.iter().any(|(n, _)| *n == name)
    }
}

/// The property read first in `rhs` (`stdout` in `r.stdout.trim()`).
fn first_property(e: &Expr) -> Option<(&str, Position)> {
    match e {
        Expr::Property(p, pos) => Some((p.2.as_str(), *pos)),
        Expr::Dot(x, _, _) => match &x.lhs {
            Expr::Property(p, pos) => Some((p.2.as_str(), *pos)),
            _ => None,
        },
        _ => None,
    }
}

/// The built-in whose result `e` is, when it is a call to one that returns fields.
fn result_of(e: &Expr) -> Option<&'static Builtin> {
    let b = match e {
        Expr::Dot(x, _, _) => match &x.rhs {
            Expr::MethodCall(call, _) => builtins::find(Receiver::Host, call.name.as_str()),
            _ => None,
        },
        Expr::FnCall(call, _) => {
            let ns = call.namespace.to_string();
            let ns = ns.trim_end_matches("::");
            API_MODULES
                .iter()
                .find(|m| **m == ns)
                .and_then(|m| builtins::find(Receiver::Module(m), call.name.as_str()))
        }
        _ => None,
    }?;
    (!b.fields.is_empty() && !b.returns.starts_with("a list")).then_some(b)
}

/// Every `let` in the script: bound to a built-in's result, or (`None`) to anything else
/// at least once, which makes the name ambiguous and unchecked.
fn result_variables(ast: &AST) -> HashMap<String, Option<&'static Builtin>> {
    let mut vars: HashMap<String, Option<&'static Builtin>> = HashMap::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Var(x, _, _))) = path.last() {
            let b = result_of(&x.1);
            let entry = vars.entry(x.0.name.to_string()).or_insert(b);
            if entry.map(|e| e as *const Builtin) != b.map(|e| e as *const Builtin) {
                *entry = None;
            }
        }
        true
    });
    vars
}

fn is_operator(name: &str) -> bool {
    !name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Whether the value of the method call at the end of `path` is used (not a statement).
fn value_is_used(path: &[ASTNode]) -> bool {
    // …, parent (the `a.b()` Dot), grandparent: a statement of its own when unused.
    !matches!(
        path.len().checked_sub(3).map(|i| &path[i]),
        Some(ASTNode::Stmt(Stmt::Expr(_) | Stmt::Block(..))) | None
    )
}

/// The anonymous function a closure literal stands for.
fn closure_name(e: &Expr) -> Option<String> {
    match e {
        Expr::DynamicConstant(d, _) => d.read_lock::<rhai::FnPtr>().map(|f| f.fn_name().to_string()),
        // A closure capturing variables: `Fn("anon$…").curry(…)`.
        Expr::FnCall(call, _) if call.name.as_str() == "curry" => call.args.first().and_then(closure_name),
        Expr::MethodCall(call, _) if call.name.as_str() == "curry" => call.args.first().and_then(closure_name),
        Expr::Dot(x, _, _) => closure_name(&x.lhs),
        _ => None,
    }
}

/// The keys of a map literal, with their values when they are constants.
fn literal_map(e: &Expr) -> Option<Vec<(String, Option<Dynamic>, Position)>> {
    match e {
        Expr::Map(m, _) => Some(
            m.0.iter()
                .map(|(k, v)| (k.name.to_string(), constant(v), k.pos))
                .collect(),
        ),
        Expr::DynamicConstant(d, _) => d.read_lock::<Map>().map(|m| {
            m.iter()
                .map(|(k, v)| (k.to_string(), Some(v.clone()), Position::NONE))
                .collect()
        }),
        _ => None,
    }
}

fn constant(e: &Expr) -> Option<Dynamic> {
    Some(match e {
        Expr::IntegerConstant(n, _) => Dynamic::from(*n),
        Expr::StringConstant(s, _) => Dynamic::from(s.clone()),
        Expr::BoolConstant(b, _) => Dynamic::from(*b),
        Expr::DynamicConstant(d, _) => (**d).clone(),
        _ => return None,
    })
}

/// Why a literal value does not fit an option's type, if it does not.
fn wrong_type(ty: Ty, v: &Dynamic) -> Option<String> {
    let number_text = v.is_string() && v.to_string().trim().parse::<i64>().is_ok();
    let ok = match ty {
        Ty::Str => v.is_string(),
        Ty::Int => v.is_int() || number_text,
        Ty::Bool => v.is_bool() || (v.is_string() && matches!(v.to_string().as_str(), "true" | "false")),
        Ty::Duration => v.is_int() || v.is_float() || v.is_string(),
        Ty::Confirm => v.is_bool() || v.is_int() || v.is_float() || v.is_string(),
        Ty::Mode => v.is_string() && super::convert::parse_mode(v).is_ok(),
        Ty::List => v.is_array(),
        Ty::Map => v.is_map(),
        Ty::StrOrList => v.is_string() || v.is_array(),
        Ty::Limit => {
            v.is_int() || number_text || (v.is_string() && super::step::Limit::parse_text(&v.to_string()).is_ok())
        }
        Ty::Any => true,
    };
    if ok {
        return None;
    }
    if ty == Ty::Mode {
        // The same words as at run time.
        return super::convert::parse_mode(v).err();
    }
    Some(format!("must be a {}, not {}", ty.name(), v.type_name()))
}
