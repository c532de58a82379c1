//! Where a host operation must run at once rather than wait in a queue: inside a `try`
//! body, or in code a try body may call. An operation queued there would fail after the
//! `try` has ended, out of reach of its `catch`.
//!
//! Found from the compiled scripts, by position: the span of every try body, and the body
//! spans of every function a try body may reach, by name (arity and namespace ignored),
//! over every script loaded so far. Every question it cannot settle is answered "at once".

use std::collections::{BTreeSet, HashMap, HashSet};

use rhai::{AST, ASTNode, Array, Dynamic, Expr, FnCallExpr, FnPtr, Map, Position, Stmt};

/// (line, column) of a [`Position`], which orders as the text does.
type At = (usize, usize);

fn at(pos: Position) -> Option<At> {
    Some((pos.line()?, pos.position().unwrap_or(0)))
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    start: At,
    end: At,
}

impl Span {
    fn contains(&self, at: At) -> bool {
        self.start <= at && at <= self.end
    }

    fn widen(self, other: Option<Span>) -> Span {
        match other {
            Some(o) => Span {
                start: self.start.min(o.start),
                end: self.end.max(o.end),
            },
            None => self,
        }
    }
}

/// Natives that call a closure given to them directly as an argument during the call, and
/// do not keep it: such a closure runs where the call is, so it needs no other care.
/// A closure given to any other function is taken as kept (it may run anywhere later).
const CALLS_AND_DROPS: &[&str] = &[
    "step",
    "until_true",
    "until",
    "call",
    "map",
    "filter",
    "for_each",
    "reduce",
    "reduce_rev",
    "some",
    "all",
    "find",
    "find_map",
    "index_of",
    "retain",
    "drain",
    "sort",
    "dedup",
];

/// What a region of code (a try body, a function body) may call.
#[derive(Default)]
struct Refs {
    /// Functions called, or taken as pointers (closures included), by name.
    names: BTreeSet<String>,
    /// `import` paths, as written; `None` for a computed one.
    imports: BTreeSet<Option<String>>,
    /// `eval`: code whose positions are those of a string.
    eval: bool,
    /// Positions of its nodes, first and last: where an expression-bodied closure ends.
    bounds: Option<Span>,
}

impl Refs {
    fn visit(&mut self, node: &ASTNode) {
        if let Some(a) = at(node.position()) {
            let here = Span { start: a, end: a };
            self.bounds = Some(here.widen(self.bounds));
        }
        match node {
            ASTNode::Stmt(Stmt::FnCall(call, _))
            | ASTNode::Expr(Expr::FnCall(call, _))
            | ASTNode::Expr(Expr::MethodCall(call, _)) => {
                let name = call.name.as_str();
                if name == "eval" {
                    self.eval = true;
                }
                if let Some(target) = fn_literal(call) {
                    self.names.insert(target);
                }
                self.names.insert(name.to_string());
            }
            ASTNode::Expr(Expr::DynamicConstant(d, _)) => self.names.extend(fn_ptrs(d)),
            // `x.name` may call a script getter or setter.
            ASTNode::Expr(Expr::Property(p, _)) => {
                self.names.insert(format!("get${}", p.2));
                self.names.insert(format!("set${}", p.2));
            }
            ASTNode::Stmt(Stmt::Import(x, _)) => {
                let path = match &x.0 {
                    Expr::StringConstant(s, _) => Some(s.to_string()),
                    _ => None,
                };
                self.imports.insert(path);
            }
            _ => {}
        }
    }

    fn of_statements<'a>(stmts: impl IntoIterator<Item = &'a Stmt>) -> Refs {
        let mut refs = Refs::default();
        let mut path = Vec::new();
        for s in stmts {
            s.walk(&mut path, &mut |p: &[ASTNode]| {
                if let Some(n) = p.last() {
                    refs.visit(n);
                }
                true
            });
        }
        refs
    }
}

/// The functions of the pointers in a constant: itself, or inside its arrays and maps.
fn fn_ptrs(d: &Dynamic) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![d.clone()];
    while let Some(d) = todo.pop() {
        if let Some(f) = d.read_lock::<FnPtr>() {
            out.push(f.fn_name().to_string());
            todo.extend(f.curry().iter().cloned());
        } else if let Some(a) = d.read_lock::<Array>() {
            todo.extend(a.iter().cloned());
        } else if let Some(m) = d.read_lock::<Map>() {
            todo.extend(m.values().cloned());
        }
    }
    out
}

/// `Fn("name")`: the function it points to.
fn fn_literal(call: &FnCallExpr) -> Option<String> {
    match (call.name.as_str(), call.args.first()) {
        ("Fn", Some(Expr::StringConstant(s, _))) => Some(s.to_string()),
        _ => None,
    }
}

/// A function (every arity of one name) of one script.
struct Function {
    name: String,
    spans: Vec<Span>,
    refs: Refs,
}

/// A function pointer made somewhere (a closure, `Fn("f")`), and the function it was handed
/// to directly, if that is one of [`CALLS_AND_DROPS`].
struct Pointer {
    target: String,
    handed_to: Option<String>,
}

/// The facts of one compiled script, kept so every new script can recompute the whole.
struct Script {
    source: String,
    tries: Vec<(Span, Refs)>,
    functions: Vec<Function>,
    pointers: Vec<Pointer>,
    /// `Fn(expr)` with a computed name: any function may be called through it.
    computed_pointer: bool,
}

impl Script {
    fn of(ast: &AST) -> Script {
        let mut tries = Vec::new();
        let mut pointers = Vec::new();
        let mut computed_pointer = false;
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::TryCatch(x, _))) => {
                    let refs = Refs::of_statements(x.body.iter());
                    // A try body is a braced block: its span runs from `{` to `}`. Were an end
                    // missing, the positions inside it still bound it.
                    let span = at(x.body.position()).map(|start| {
                        let end = at(x.body.end_position()).unwrap_or(start);
                        Span { start, end }.widen(refs.bounds)
                    });
                    if let Some(span) = span.or(refs.bounds) {
                        tries.push((span, refs));
                    }
                }
                Some(ASTNode::Expr(Expr::DynamicConstant(d, _))) => {
                    // A constant map or array of closures: its literal is folded into one.
                    let in_literal = !d.is_fnptr();
                    for target in fn_ptrs(d) {
                        pointers.push(Pointer {
                            target,
                            handed_to: handed_to(path, in_literal),
                        });
                    }
                }
                Some(ASTNode::Stmt(Stmt::FnCall(call, _)) | ASTNode::Expr(Expr::FnCall(call, _)))
                    if call.name.as_str() == "Fn" =>
                {
                    match fn_literal(call) {
                        Some(target) => pointers.push(Pointer {
                            target,
                            handed_to: handed_to(path, false),
                        }),
                        None => computed_pointer = true,
                    }
                }
                _ => {}
            }
            true
        });

        let mut names: Vec<&str> = ast.iter_fn_def().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let functions = names
            .into_iter()
            .map(|name| {
                // Not `clone_functions_only_filtered`: into an empty module, Rhai 1.27 copies
                // every function, unfiltered.
                let mut only = ast.clone_functions_only();
                only.retain_functions(|_, _, n, _| n == name);
                let mut refs = Refs::default();
                only.walk(&mut |p: &[ASTNode]| {
                    if let Some(n) = p.last() {
                        refs.visit(n);
                    }
                    true
                });
                // A braced body has both ends; an expression-bodied closure (`|x| x.f()`)
                // has no end: the last position inside it bounds it.
                let spans = ast
                    .iter_fn_def()
                    .filter(|f| f.name.as_str() == name)
                    .filter_map(|f| {
                        let start = at(f.body.start_position());
                        let end = at(f.body.end_position());
                        let own = start.map(|s| Span {
                            start: s,
                            end: end.unwrap_or(s),
                        });
                        match own {
                            Some(own) => Some(own.widen(refs.bounds)),
                            None => refs.bounds,
                        }
                    })
                    .collect();
                Function {
                    name: name.to_string(),
                    spans,
                    refs,
                }
            })
            .collect();
        Script {
            source: ast.source().unwrap_or_default().to_string(),
            tries,
            functions,
            pointers,
            computed_pointer,
        }
    }
}

/// The function the pointer at the end of `path` is handed to directly, when that is one of
/// [`CALLS_AND_DROPS`]: seen through a capturing closure's wrapping (`curry`, a block whose
/// value it is) and, for `step`, through the literal maps and arrays of its options.
fn handed_to(path: &[ASTNode], in_literal: bool) -> Option<String> {
    let mut through_literals = in_literal;
    for node in path.iter().rev().skip(1) {
        match node {
            ASTNode::Expr(Expr::Stmt(_)) | ASTNode::Stmt(Stmt::Expr(_)) => {}
            ASTNode::Expr(Expr::FnCall(call, _)) | ASTNode::Stmt(Stmt::FnCall(call, _))
                if call.name.as_str() == "curry" => {}
            ASTNode::Expr(Expr::Map(..) | Expr::Array(..)) => through_literals = true,
            ASTNode::Stmt(Stmt::FnCall(call, _))
            | ASTNode::Expr(Expr::FnCall(call, _))
            | ASTNode::Expr(Expr::MethodCall(call, _)) => {
                let name = call.name.as_str();
                let fits = CALLS_AND_DROPS.contains(&name) && (!through_literals || name == "step");
                return fits.then(|| name.to_string());
            }
            _ => return None,
        }
    }
    None
}

/// Rhai names a closure's function `anon$…`.
fn is_closure(name: &str) -> bool {
    name.starts_with("anon$")
}

/// Where operations must run at once, computed from every script noted.
#[derive(Default)]
struct Covered {
    /// Somewhere a try may reach, code runs whose positions are not known: everything.
    everything: bool,
    /// Spans in the script of that source.
    by_source: HashMap<String, Vec<Span>>,
    /// Spans of closures and functions called through pointers, in any source: such code
    /// runs under the source of whichever script calls it.
    anywhere: Vec<Span>,
    /// Scripts whose top level runs inside a try (imported there).
    whole: HashSet<String>,
}

/// Every try body of the scripts loaded so far, and what they may call.
#[derive(Default)]
pub struct TrySites {
    scripts: Vec<Script>,
    covered: Covered,
}

impl TrySites {
    /// Adds (or replaces, by source label) a compiled script and recomputes what try bodies
    /// reach: a script loaded later may define a function an earlier try calls, or call a
    /// function of an earlier script. `aliases` maps import paths to source labels.
    pub fn note(&mut self, ast: &AST, aliases: &HashMap<String, String>) {
        let script = Script::of(ast);
        self.scripts.retain(|s| s.source != script.source);
        self.scripts.push(script);
        self.covered = self.compute(aliases);
    }

    fn compute(&self, aliases: &HashMap<String, String>) -> Covered {
        let mut covered = Covered::default();
        if self.scripts.iter().all(|s| s.tries.is_empty()) {
            return covered;
        }
        let defined: HashSet<&str> = self
            .scripts
            .iter()
            .flat_map(|s| s.functions.iter().map(|f| f.name.as_str()))
            .collect();
        // Pointers that may be kept: the function may run from inside any try.
        let mut kept: HashSet<&str> = self
            .scripts
            .iter()
            .flat_map(|s| &s.pointers)
            .filter(|p| p.handed_to.as_deref().is_none_or(|h| defined.contains(h)))
            .map(|p| p.target.as_str())
            .collect();
        if self.scripts.iter().any(|s| s.computed_pointer) {
            kept.extend(defined.iter().copied());
        }

        let mut reached: HashSet<&str> = kept.clone();
        let mut regions: Vec<&Refs> = Vec::new();
        for s in &self.scripts {
            for (_, refs) in &s.tries {
                regions.push(refs);
                reached.extend(refs.names.iter().map(String::as_str));
            }
        }
        let mut done: HashSet<(usize, usize)> = HashSet::new();
        loop {
            let mut grew = false;
            for (i, s) in self.scripts.iter().enumerate() {
                for (j, f) in s.functions.iter().enumerate() {
                    if reached.contains(f.name.as_str()) && done.insert((i, j)) {
                        regions.push(&f.refs);
                        for n in &f.refs.names {
                            grew |= reached.insert(n.as_str());
                        }
                    }
                }
            }
            if !grew {
                break;
            }
        }

        for refs in &regions {
            covered.everything |= refs.eval;
            for import in &refs.imports {
                match import {
                    Some(path) => {
                        let label = aliases.get(path).unwrap_or(path);
                        covered.whole.insert(label.clone());
                    }
                    None => covered.everything = true,
                }
            }
        }
        for s in &self.scripts {
            let spans = covered.by_source.entry(s.source.clone()).or_default();
            spans.extend(s.tries.iter().map(|(span, _)| *span));
            for f in s.functions.iter().filter(|f| reached.contains(f.name.as_str())) {
                spans.extend(&f.spans);
                if is_closure(&f.name) || kept.contains(f.name.as_str()) {
                    covered.anywhere.extend(&f.spans);
                }
            }
        }
        covered
    }

    /// Whether an operation called at `pos` of the script reported as `source` (a label, as
    /// `NativeCallContext::call_source` gives it) may run inside a try body: then it must
    /// run at once, so its failure is raised inside the try. `None` when unsure of the source.
    pub fn must_run_at_once(&self, source: Option<&str>, pos: Position) -> bool {
        let c = &self.covered;
        if c.everything {
            return true;
        }
        let Some(at) = at(pos) else {
            return true;
        };
        let inside = |spans: &Vec<Span>| spans.iter().any(|s| s.contains(at));
        if c.anywhere.iter().any(|s| s.contains(at)) {
            return true;
        }
        match source {
            Some(source) => c.whole.contains(source) || c.by_source.get(source).is_some_and(inside),
            None => !c.whole.is_empty() || c.by_source.values().any(inside),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use rhai::{Engine, NativeCallContext, Position};

    use crate::playbook::modules::Resolver;
    use crate::playbook::sources::Sources;

    #[derive(Clone)]
    struct Probe;

    type Seen = Arc<Mutex<HashMap<String, Vec<(bool, String)>>>>;

    /// Runs `script` as the playbook `play.rhai`, modules imported from `modules` (as the
    /// stdlib is), as runbook compiles and loads them; `p.op("tag")` notes, per tag, whether
    /// the call had to run at once, asked the way a host operation asks at run time.
    fn run(script: &str, modules: &'static [(&'static str, &'static str)]) -> HashMap<String, (bool, String)> {
        let sources = Arc::new(Sources::default());
        let seen: Seen = Arc::default();
        let mut engine = Engine::new();
        engine.set_module_resolver(Resolver::with_stdlib(std::env::temp_dir(), sources.clone(), modules));
        engine.register_type_with_name::<Probe>("Probe");
        engine.register_fn("probe", || Probe);
        let (s, n) = (sources.clone(), seen.clone());
        engine.register_fn("op", move |ctx: NativeCallContext, _: &mut Probe, tag: &str| {
            let eager = s.must_run_at_once(ctx.call_source(), ctx.call_position());
            let at = format!("{:?} {}", ctx.call_source(), ctx.call_position());
            n.lock().unwrap().entry(tag.to_string()).or_default().push((eager, at));
        });
        sources.insert("play.rhai", script);
        let mut ast = engine.compile(script).unwrap();
        ast.set_source("play.rhai");
        sources.note_ast(&ast);
        engine.run_ast(&ast).unwrap();
        let seen = seen.lock().unwrap();
        seen.iter()
            .map(|(tag, calls)| {
                let first = calls[0].0;
                assert!(
                    calls.iter().all(|c| c.0 == first),
                    "{tag} answered both ways: {calls:?}"
                );
                (tag.clone(), (first, calls[0].1.clone()))
            })
            .collect()
    }

    fn check(script: &str, modules: &'static [(&'static str, &'static str)], eager: &[&str], lazy: &[&str]) {
        let seen = run(script, modules);
        for tag in eager {
            assert_eq!(
                seen.get(*tag).map(|s| s.0),
                Some(true),
                "{tag} must run at once: {seen:?}"
            );
        }
        for tag in lazy {
            assert_eq!(seen.get(*tag).map(|s| s.0), Some(false), "{tag} may wait: {seen:?}");
        }
    }

    /// Whether the text `marker` of `script` (compiled as `play.rhai`, not run) is eager.
    fn eager_at(script: &str, marker: &str) -> bool {
        let sources = Sources::default();
        let mut ast = Engine::new().compile(script).unwrap();
        ast.set_source("play.rhai");
        sources.note_ast(&ast);
        let offset = script.find(marker).unwrap();
        let line = script[..offset].matches('\n').count() + 1;
        let col = offset - script[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
        sources.must_run_at_once(Some("play.rhai"), Position::new(line as u16, col as u16))
    }

    #[test]
    fn a_call_inside_a_try_body_is_eager_and_after_it_not() {
        check(
            r#"
            let p = probe();
            p.op("before");
            try {
                p.op("in try");
            } catch {
                p.op("never");
            }
            p.op("after");
            "#,
            &[],
            &["in try"],
            &["before", "after"],
        );
    }

    #[test]
    fn the_catch_block_is_not_inside_the_try() {
        check(
            r#"
            let p = probe();
            try { throw "no"; } catch (e) { p.op("catch"); }
            "#,
            &[],
            &[],
            &["catch"],
        );
    }

    #[test]
    fn nested_tries() {
        check(
            r#"
            let p = probe();
            try {
                try { p.op("inner"); } catch { p.op("inner catch"); }
                p.op("outer");
                throw "x";
            } catch {
                try { p.op("try in catch"); } catch {}
                p.op("outer catch");
            }
            "#,
            &[],
            &["inner", "outer", "try in catch"],
            &["outer catch"],
        );
        // Never run, so asked by position.
        assert!(!eager_at("try {} catch { try {} catch { x.op(\"c\") } }", "op(\"c\")"));
    }

    #[test]
    fn functions_called_from_a_try_are_eager_at_any_depth_wherever_defined() {
        check(
            r#"
            fn one(p) { p.op("one"); two(p); }
            let p = probe();
            try { one(p); p.method(); } catch {}
            fn two(p) { p.op("two"); }
            fn Probe.method() { this.op("method"); }
            fn elsewhere(p) { p.op("elsewhere"); }
            elsewhere(p);
            one(p);
            "#,
            &[],
            &["one", "two", "method"],
            &["elsewhere"],
        );
        assert!(!eager_at(
            "fn unused(p) { p.op(\"u\") } try { x.op(\"t\") } catch {}",
            "op(\"u\")"
        ));
    }

    #[test]
    fn closures_defined_in_a_try_are_eager() {
        check(
            r#"
            let p = probe();
            try {
                let f = |x| x.op("closure");
                f.call(p);
                [1].map(|i| p.op("captured"));
                let g = |x| { x.op("braced") };
                g.call(p);
            } catch {}
            [1].map(|i| p.op("outside"));
            "#,
            &[],
            &["closure", "captured", "braced"],
            &["outside"],
        );
    }

    #[test]
    fn closures_and_pointers_kept_outside_and_called_in_a_try_are_eager() {
        check(
            r#"
            fn named(p) { p.op("by Fn"); }
            let p = probe();
            let kept = |x| x.op("kept");
            let ptr = Fn("named");
            let holder = #{ run: |x| x.op("in a map") };
            try {
                kept.call(p);
                ptr.call(p);
                holder.run.call(p);
            } catch {}
            "#,
            &[],
            &["kept", "by Fn", "in a map"],
            &[],
        );
    }

    static MODULE: &[(&str, &str)] = &[(
        "m",
        r#"
        fn f(p) { g(p); }
        private fn g(p) { p.op("m::g"); }
        fn h(p) { p.op("m::h"); }
        fn guard(f, p) { try { f.call(p); } catch {} }
        fn run_made(p) { let made = |x| x.op("module closure"); made.call(p); }
        fn own(p) { try { g2(p); } catch {} }
        private fn g2(p) { p.op("m::g2"); }
        "#,
    )];

    #[test]
    fn module_functions_called_from_a_try_are_eager() {
        check(
            r#"
            import "m" as m;
            let p = probe();
            try { m::f(p); } catch {}
            m::h(p);
            m::own(p);
            "#,
            MODULE,
            &["m::g", "m::g2"],
            &["m::h"],
        );
    }

    #[test]
    fn closures_crossing_modules_into_a_try_are_eager() {
        check(
            r#"
            import "m" as m;
            let p = probe();
            fn helper(x) { x.op("helper"); }
            m::guard(|x| x.op("playbook closure"), p);
            m::guard(|x| helper(x), p);
            try { m::run_made(p); } catch {}
            p.op("top");
            "#,
            MODULE,
            &["playbook closure", "helper", "module closure"],
            &["top"],
        );
    }

    static LATE: &[(&str, &str)] = &[("late", "fn late_f(p) { try { common(p); } catch {} } fn common(p) {}")];

    #[test]
    fn a_module_loaded_later_adds_what_its_tries_reach() {
        // `common` of the playbook has the name the module's try calls: by name, over-approximated.
        check(
            r#"
            fn common(p) { p.op("common"); }
            let p = probe();
            p.op("top");
            import "late" as late;
            common(p);
            "#,
            LATE,
            &["common"],
            &["top"],
        );
    }

    #[test]
    fn importing_inside_a_try_makes_the_module_top_level_eager() {
        static TOP: &[(&str, &str)] = &[("top", "probe().op(\"module top\");")];
        check(
            r#"
            let p = probe();
            try { import "top" as t; p.op("after import"); } catch {}
            "#,
            TOP,
            &["module top", "after import"],
            &[],
        );
    }

    #[test]
    fn no_try_nothing_eager() {
        check(
            "let p = probe(); fn f(p) { p.op(\"f\"); } f(p); let c = |x| x.op(\"c\"); c.call(p);",
            &[],
            &[],
            &["f", "c"],
        );
    }
}
