//! The engine is built in layers (issue 13): imports point down only, so no file of `src/`
//! imports itself back through other files. This test reads every `src/**/*.rs`, draws the
//! file-level import graph and fails on any cycle, naming for each file of a cycle the
//! imports that stay inside it: one of them has to go (or the piece it needs moves down).
//!
//! Edges come from `use crate::…`, `use super::…`, `use self::…` (grouped too:
//! `use crate::a::{b, c::{d, self}}`), from the same paths written inline
//! (`crate::x::f()`), and from a parent's `child::` paths to the modules it declares. A
//! path points at the file of its longest prefix that is a module (`crate::cloud::Droplet`
//! is `cloud/mod.rs`, `crate::cloud::dns::fqdn` is `cloud/dns/mod.rs`). Comments, string
//! literals and `#[cfg(test)]` items (and the files of `#[cfg(test)] mod x;`) are ignored:
//! tests may import from anywhere. A `mod.rs` that only declares and re-exports its
//! children has edges to them only; a child that imports its siblings by their own paths
//! (`super::types::X`, not `super::X`) then never closes a cycle through it.
//!
//! `cargo test --test layers -- --ignored --nocapture` prints the whole graph as Graphviz
//! DOT (one box per directory; `| dot -Tsvg`), the edges of cycles in red.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

/// File (relative to `src/`, `/`-separated) → the files it imports, each with where the
/// first such import is (line, path as written).
type Graph = BTreeMap<String, BTreeMap<String, (usize, String)>>;

#[test]
fn no_import_cycles() {
    let graph = graph(&read_sources(&src_dir()));
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "{}", report(&graph, &cycles));
}

#[test]
#[ignore = "prints the import graph: cargo test --test layers -- --ignored --nocapture"]
fn import_graph() {
    let graph = graph(&read_sources(&src_dir()));
    print!("{}", dot(&graph, &cycles(&graph)));
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `root`, by its path relative to `root`.
fn read_sources(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.insert(rel.join("/"), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    assert!(!out.is_empty(), "no .rs files under {}", root.display());
    out
}

// ---------------------------------------------------------------------------------------
// Lexing: comments and literals out, the rest as tokens with their line.

/// The source with comments blanked and string and char literals emptied (`""`, `' '`),
/// line breaks kept so lines still count.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let word = |k: usize| k < c.len() && (c[k].is_alphanumeric() || c[k] == '_');
    // Keeps the line breaks of a skipped stretch.
    let blank = |out: &mut String, from: usize, to: usize| {
        out.extend(c[from..to.min(c.len())].iter().filter(|&&ch| ch == '\n'));
    };
    while i < c.len() {
        let at_word_start = i == 0 || !word(i - 1);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let (start, mut depth) = (i, 0);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            blank(&mut out, start, i);
        } else if let Some(end) = at_word_start.then(|| raw_string_end(&c, i)).flatten() {
            out.push_str("\"\"");
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '"' || (at_word_start && matches!(c[i], 'b' | 'c') && c.get(i + 1) == Some(&'"')) {
            let start = i;
            i += if c[i] == '"' { 1 } else { 2 };
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
            blank(&mut out, start, i);
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // '\n', '\'', '\u{7f}'
            i += 3;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            // Code, and a lifetime's `'`.
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The end of a raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starting at `i`.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    if matches!(c.get(k), Some('b' | 'c')) {
        k += 1;
    }
    if c.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    k += hashes;
    if c.get(k) != Some(&'"') {
        return None;
    }
    k += 1;
    while k < c.len() {
        if c[k] == '"' && c[k + 1..].iter().take(hashes).filter(|&&ch| ch == '#').count() == hashes {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(c.len())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `::`
    Sep,
    Punct(char),
}

fn tokens(stripped: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = stripped.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Word(c[start..i].iter().collect()), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

fn is_word(t: Option<&(Tok, usize)>, w: &str) -> bool {
    matches!(t, Some((Tok::Word(x), _)) if x == w)
}

fn is_punct(t: Option<&(Tok, usize)>, p: char) -> bool {
    matches!(t, Some((Tok::Punct(x), _)) if *x == p)
}

/// The index after the bracket group opening at `i` (`(`, `[` or `{`).
fn after_group(toks: &[(Tok, usize)], mut i: usize) -> usize {
    let mut depth = 0;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Drops every item under `#[cfg(test)]` (with its other attributes). Returns the tokens
/// left and the modules declared `#[cfg(test)] mod x;` (their files are tests too).
fn drop_test_items(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, Vec<String>) {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Word("cfg".into()),
        Tok::Punct('('),
        Tok::Word("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let (mut out, mut test_mods) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < toks.len() {
        let starts =
            toks.len() - i >= cfg_test.len() && toks[i..i + cfg_test.len()].iter().map(|t| &t.0).eq(cfg_test.iter());
        if !starts {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += cfg_test.len();
        while is_punct(toks.get(i), '#') && is_punct(toks.get(i + 1), '[') {
            i = after_group(&toks, i + 1);
        }
        // `pub`, `pub(crate)`
        let mut k = i;
        if is_word(toks.get(k), "pub") {
            k += 1;
            if is_punct(toks.get(k), '(') {
                k = after_group(&toks, k);
            }
        }
        if is_word(toks.get(k), "mod")
            && is_punct(toks.get(k + 2), ';')
            && let Some((Tok::Word(name), _)) = toks.get(k + 1)
        {
            test_mods.push(name.clone());
        }
        // The item: up to a `;` outside brackets, or the `}` that closes its body.
        let mut depth = 0;
        while i < toks.len() {
            match toks[i].0 {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']') => depth -= 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Tok::Punct(';') if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    (out, test_mods)
}

// ---------------------------------------------------------------------------------------
// Paths: what each file names, as module paths from the crate root.

/// A file's module path: `cloud/dns/mod.rs` → `cloud::dns`, `lib.rs` → the root.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(String::from).collect();
    let last = parts.last().map(String::as_str);
    if last == Some("mod") || (parts.len() == 1 && matches!(last, Some("lib" | "main"))) {
        parts.pop();
    }
    parts
}

/// A crate path named in a file: the module path it starts from, and where.
struct Named {
    path: Vec<String>,
    line: usize,
    text: String,
}

/// Everything a file names through `crate::`, `super::`, `self::` and its children's
/// `child::`, as absolute module paths, and its non-test child modules.
struct Scan {
    named: Vec<Named>,
    test_mods: Vec<String>,
}

fn scan(file: &str, src: &str) -> Scan {
    let (toks, test_mods) = drop_test_items(tokens(&strip(src)));
    let me = module_of(file);
    let children: BTreeSet<String> = toks
        .windows(3)
        .filter_map(|w| match w {
            [(Tok::Word(m), _), (Tok::Word(name), _), (Tok::Punct(';'), _)] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut named = Vec::new();
    // Inline modules (`mod x { … }`) open at a brace depth; `self` and `super` are theirs.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < toks.len() {
        let here: Vec<String> = me
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        let prev_sep = i > 0 && toks[i - 1].0 == Tok::Sep;
        match &toks[i].0 {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
                i += 1;
            }
            Tok::Word(w) if w == "mod" && is_punct(toks.get(i + 2), '{') => {
                if let Some((Tok::Word(name), _)) = toks.get(i + 1) {
                    inline.push((name.clone(), depth + 1));
                }
                i += 2;
            }
            Tok::Word(w) if w == "use" => {
                let line = toks[i].1;
                let end = (i..toks.len())
                    .find(|&k| is_punct(toks.get(k), ';'))
                    .unwrap_or(toks.len());
                let text = use_text(&toks[i + 1..end]);
                let mut k = i + 1;
                if let Some(base) = path_root(&toks, &mut k, &here, &children, inline.is_empty()) {
                    let mut leaves = Vec::new();
                    use_tree(&toks[..end], &mut k, base, &mut leaves);
                    named.extend(leaves.into_iter().map(|path| Named {
                        path,
                        line,
                        text: text.clone(),
                    }));
                }
                i = end;
            }
            Tok::Word(w)
                if !prev_sep
                    && toks.get(i + 1).is_some_and(|t| t.0 == Tok::Sep)
                    && (matches!(w.as_str(), "crate" | "super" | "self")
                        || (inline.is_empty() && children.contains(w))) =>
            {
                let line = toks[i].1;
                let start = i;
                let Some(mut path) = path_root(&toks, &mut i, &here, &children, inline.is_empty()) else {
                    i += 1;
                    continue;
                };
                // Then `name::name…` as long as it goes (not into `::{`, `::<`, `::*`).
                if let Some((Tok::Word(seg), _)) = toks.get(i) {
                    path.push(seg.clone());
                    i += 1;
                }
                while toks.get(i).is_some_and(|t| t.0 == Tok::Sep) {
                    match toks.get(i + 1) {
                        Some((Tok::Word(seg), _)) => {
                            path.push(seg.clone());
                            i += 2;
                        }
                        _ => break,
                    }
                }
                let text = use_text(&toks[start..i]);
                named.push(Named { path, line, text });
            }
            _ => i += 1,
        }
    }
    Scan { named, test_mods }
}

/// The start of a path at `toks[*k]`: `crate::`, `super::super::`, `self::`, or (in a
/// file's own scope) `child::`, as an absolute module path; `None` for anything else
/// (`std::`, another crate, an enum). Leaves `*k` after the root's `::`.
fn path_root(
    toks: &[(Tok, usize)],
    k: &mut usize,
    here: &[String],
    children: &BTreeSet<String>,
    top_level: bool,
) -> Option<Vec<String>> {
    let Some((Tok::Word(first), _)) = toks.get(*k) else {
        return None;
    };
    if toks.get(*k + 1).map(|t| &t.0) != Some(&Tok::Sep) {
        return None;
    }
    let base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut base = here.to_vec();
            base.pop();
            while is_word(toks.get(*k + 2), "super") && toks.get(*k + 3).is_some_and(|t| t.0 == Tok::Sep) {
                base.pop();
                *k += 2;
            }
            base
        }
        child if top_level && children.contains(child) => {
            let mut base = here.to_vec();
            base.push(child.to_string());
            base
        }
        _ => return None,
    };
    *k += 2;
    Some(base)
}

/// The leaves of a use tree after its root: `a::b`, `a::{b, c::{d, self}}`, `a::*`,
/// `a as b`. `self` in a group and `*` name the group's own module.
fn use_tree(toks: &[(Tok, usize)], k: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        match toks.get(*k).map(|t| &t.0) {
            Some(Tok::Punct('{')) => {
                *k += 1;
                while *k < toks.len() && !is_punct(toks.get(*k), '}') {
                    use_tree(toks, k, prefix.clone(), out);
                    if is_punct(toks.get(*k), ',') {
                        *k += 1;
                    }
                }
                *k += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                *k += 1;
                out.push(prefix);
                return;
            }
            Some(Tok::Word(w)) => {
                *k += 1;
                if w != "self" {
                    prefix.push(w.clone());
                }
                if toks.get(*k).is_some_and(|t| t.0 == Tok::Sep) {
                    *k += 1;
                    continue;
                }
                if is_word(toks.get(*k), "as") {
                    *k += 2;
                }
                out.push(prefix);
                return;
            }
            _ => {
                // Not a path (a stray token): step over it.
                *k += 1;
                return;
            }
        }
    }
}

fn use_text(toks: &[(Tok, usize)]) -> String {
    let mut s = String::new();
    for (t, _) in toks {
        match t {
            Tok::Word(w) => {
                if s.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    s.push(' ');
                }
                s.push_str(w);
            }
            Tok::Sep => s.push_str("::"),
            Tok::Punct(',') => s.push_str(", "),
            Tok::Punct(p) => s.push(*p),
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// The graph and its cycles.

fn graph(files: &BTreeMap<String, String>) -> Graph {
    let scans: BTreeMap<&String, Scan> = files.iter().map(|(f, src)| (f, scan(f, src))).collect();
    // Files only tests compile: `#[cfg(test)] mod tests;` and everything below it.
    let test_modules: Vec<Vec<String>> = scans
        .iter()
        .flat_map(|(f, s)| {
            let me = module_of(f);
            s.test_mods
                .iter()
                .map(move |m| me.iter().cloned().chain([m.clone()]).collect())
        })
        .collect();
    let in_tests = |f: &str| test_modules.iter().any(|t| module_of(f).starts_with(t));
    // A binary's `crate::` is itself (it reaches the library as `runbook::`).
    let binary = |f: &str| f == "main.rs" || f.starts_with("bin/");
    let modules: BTreeMap<Vec<String>, &String> = files
        .keys()
        .filter(|f| !in_tests(f) && !binary(f))
        .map(|f| (module_of(f), f))
        .collect();
    let mut graph = Graph::new();
    for (file, scan) in &scans {
        if in_tests(file) {
            continue;
        }
        let edges = graph.entry((*file).clone()).or_default();
        if binary(file) {
            continue;
        }
        for n in &scan.named {
            // The longest prefix that is a module of its own file.
            let target = (0..=n.path.len()).rev().find_map(|len| modules.get(&n.path[..len]));
            if let Some(&target) = target.filter(|t| t.as_str() != file.as_str()) {
                edges.entry(target.clone()).or_insert_with(|| (n.line, n.text.clone()));
            }
        }
    }
    graph
}

/// The strongly connected components with more than one file (Tarjan), each sorted, in
/// file order.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for w in graph[v].keys() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out.sort();
    t.out
}

/// Each cycle with its files and, under each file, its imports that stay in the cycle.
fn report(graph: &Graph, cycles: &[Vec<String>]) -> String {
    let files: usize = cycles.iter().map(Vec::len).sum();
    let mut out = format!(
        "{} import cycle(s) among the files of src/, {files} files in all: imports must point down only \
         (issue 13). Under each file, its imports that stay inside the cycle; cut one, or move what it \
         needs into a file below both.\n",
        cycles.len()
    );
    for (n, cycle) in cycles.iter().enumerate() {
        let members: BTreeSet<&String> = cycle.iter().collect();
        let _ = writeln!(out, "\ncycle {}: {} files", n + 1, cycle.len());
        for f in cycle {
            let _ = writeln!(out, "  {f}");
            for (to, (line, text)) in graph[f].iter().filter(|(to, _)| members.contains(to)) {
                let _ = writeln!(out, "    -> {to:<24} {f}:{line}: {text}");
            }
        }
    }
    out.push_str("\nThe whole graph: cargo test --test layers -- --ignored --nocapture | dot -Tsvg > imports.svg\n");
    out
}

/// The graph in Graphviz DOT, a box per directory, the edges inside cycles in red.
fn dot(graph: &Graph, cycles: &[Vec<String>]) -> String {
    #[derive(Default)]
    struct Dir {
        files: Vec<String>,
        dirs: BTreeMap<String, Dir>,
    }
    fn draw(dir: &Dir, path: &str, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent);
        for f in &dir.files {
            let name = f.rsplit('/').next().unwrap();
            let _ = writeln!(out, "{pad}\"{f}\" [label=\"{name}\"];");
        }
        for (name, sub) in &dir.dirs {
            let sub_path = format!("{path}{name}/");
            let _ = writeln!(out, "{pad}subgraph \"cluster_{sub_path}\" {{");
            let _ = writeln!(out, "{pad}  label=\"{sub_path}\";");
            draw(sub, &sub_path, indent + 1, out);
            let _ = writeln!(out, "{pad}}}");
        }
    }
    let mut root = Dir::default();
    for f in graph.keys() {
        let mut dir = &mut root;
        let parts: Vec<&str> = f.split('/').collect();
        for d in &parts[..parts.len() - 1] {
            dir = dir.dirs.entry(d.to_string()).or_default();
        }
        dir.files.push(f.clone());
    }
    let in_cycle: BTreeMap<&String, usize> = cycles
        .iter()
        .enumerate()
        .flat_map(|(n, c)| c.iter().map(move |f| (f, n)))
        .collect();
    let mut out = String::from(
        "digraph imports {\n  // importer -> imported: the lower layers end up at the bottom.\n  \
         node [shape=box, fontname=\"monospace\", fontsize=10];\n  edge [color=\"#00000060\"];\n",
    );
    draw(&root, "", 1, &mut out);
    for (from, tos) in graph {
        for to in tos.keys() {
            let cyclic = in_cycle.get(from).is_some_and(|n| in_cycle.get(to) == Some(n));
            let style = if cyclic { " [color=red]" } else { "" };
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\"{style};");
        }
    }
    out.push_str("}\n");
    out
}

// ---------------------------------------------------------------------------------------
// The checker itself: it must see edges, or it would pass on anything.

fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files.iter().map(|(f, s)| (f.to_string(), s.to_string())).collect()
}

fn edges_of(graph: &Graph, file: &str) -> Vec<String> {
    graph[file].keys().cloned().collect()
}

#[test]
fn grouped_and_inline_paths_give_their_files() {
    let files = sources(&[
        ("lib.rs", "pub mod a;\npub mod x;\npub mod y;\nfn f() {}"),
        ("a/mod.rs", "pub mod b;\npub mod c;\npub mod e;\npub struct S;"),
        ("a/b.rs", "pub fn g() { super::super::y::h() }"),
        ("a/c/mod.rs", "pub mod d;"),
        ("a/c/d.rs", "use super::super::e::E as F;"),
        ("a/e.rs", "pub struct E;"),
        (
            "x.rs",
            r##"use crate::a::{b, c::{d::{self}, self as cc}, e::E as Ee};
// crate::y::in_a_comment
/* and crate::y /* nested */ crate::y */
fn g() -> &'static str { let _c = '{'; let _d = '\''; "crate::y::in_a_string"; r#"crate::y"# }
#[cfg(test)]
#[allow(unused)]
mod tests { use crate::y::Y; fn t() { crate::y::h(); } }
"##,
        ),
        ("y.rs", "pub fn h() { let _ = crate::a::S; let _ = self::h; }"),
    ]);
    let g = graph(&files);
    assert_eq!(edges_of(&g, "x.rs"), ["a/b.rs", "a/c/d.rs", "a/c/mod.rs", "a/e.rs"]);
    assert_eq!(edges_of(&g, "a/b.rs"), ["y.rs"]);
    assert_eq!(edges_of(&g, "a/c/d.rs"), ["a/e.rs"]);
    assert_eq!(edges_of(&g, "y.rs"), ["a/mod.rs"]);
    // A parent's `child::` paths and re-exports; a bare `mod x;` is no edge.
    assert_eq!(edges_of(&g, "lib.rs"), Vec::<String>::new());
    assert_eq!(g["x.rs"]["a/c/d.rs"].0, 1, "where the import is");
    assert!(cycles(&g).is_empty());
}

#[test]
fn a_cycle_is_found_with_the_edges_to_cut() {
    let files = sources(&[
        ("lib.rs", "mod a;\nmod b;\nmod shop;\nmod z;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b.rs", "pub struct B;\npub fn f() -> crate::a::A { todo!() }"),
        // A mod.rs that defines what its child imports with `super::{…}` and calls the
        // child: a cycle too.
        (
            "shop/mod.rs",
            "mod till;\npub struct Price;\npub fn total() { till::sum() }\n#[cfg(test)]\nmod tests;",
        ),
        ("shop/till.rs", "use super::{Price};\npub fn sum() {}"),
        ("z.rs", "use crate::a::A;"),
        // Only tests compile this one: it may import anything.
        ("shop/tests.rs", "use crate::z::*;"),
    ]);
    let g = graph(&files);
    assert_eq!(
        cycles(&g),
        [
            vec!["a.rs".to_string(), "b.rs".into()],
            vec!["shop/mod.rs".into(), "shop/till.rs".into()]
        ]
    );
    let report = report(&g, &cycles(&g));
    assert!(report.contains("2 import cycle(s)"), "{report}");
    for (to, at) in [
        ("b.rs", "a.rs:1: crate::b::B"),
        ("a.rs", "b.rs:2: crate::a::A"),
        ("shop/till.rs", "shop/mod.rs:3: till::sum"),
        ("shop/mod.rs", "shop/till.rs:1: super::{Price}"),
    ] {
        assert!(report.contains(&format!("-> {to:<24} {at}\n")), "{to} {at}: {report}");
    }
    assert!(!report.contains("z.rs"), "not in a cycle: {report}");
    assert!(!g.contains_key("shop/tests.rs"), "a test module's file is no node");
    let dot = dot(&g, &cycles(&g));
    assert!(dot.contains("\"a.rs\" -> \"b.rs\" [color=red];"), "{dot}");
    assert!(dot.contains("\"z.rs\" -> \"a.rs\";"), "{dot}");
    assert!(dot.contains("subgraph \"cluster_shop/\""), "{dot}");
}
