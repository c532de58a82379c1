//! Operation tests from data, pyinfra-style: each `tests/ops/<op>/<case>.json` gives an
//! operation's arguments and the host's facts, and the plan the operation must make (or
//! the error it must give). They run the real planners of `runbook::ops` against recorded
//! facts, with no host: every decision of every operation, in milliseconds.
//!
//! A case:
//! ```json
//! { "about": "what it shows",
//!   "args": { … the operation's arguments … },
//!   "dry_run": false,
//!   "facts": { "file:/etc/motd": { "kind": "file", "sha256": "…", "mode": "0644" } },
//!   "contents": { "/etc/motd": "the file's text" },
//!   "queries": [ { "match": "text in the command", "code": 0, "stdout": "…" } ],
//!   "pending_packages": [ "nginx" ],
//!   "known": { "file:/etc/motd": { "kind": "file", "content": "what an earlier write planned" } },
//!   "expect": { "plan": { … } } }   // or { "plan": null } (no change), or { "error": "…" }
//! ```
//! Expected plans are compared as subsets: every key written must match, arrays whole; a
//! `null` inside a plan also matches an absent key (`"guard": null`: no guard).
//! Reading a fact, a file or a command the case does not list fails the case, so a case
//! says everything the operation looks at. `known` holds facts known without reading the
//! host (what earlier operations of a dry run predicted, or a probe this step); as on a
//! host, they come before `facts`. A known file fact may also give the `content` a dry run
//! predicted and `content_unknown` (an edit of a file a planned package brings), which a
//! fact read from a host never has; a plan's predicted file facts show
//! `"content_unknown": true` when they predict it. `UPDATE_OPS=1 cargo test --test ops` (or `UPDATE_OPS=upload/new-file.json,…` for some)
//! rewrites every `expect` with what the planners give now (review the diff before
//! committing).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use runbook::connection::ExecOutput;
use runbook::connection::failure::ExecFailure;
use runbook::facts::{Fact, FactKey, Look};
use runbook::ops::error::OpError;
use runbook::ops::plan::{Effect, Plan};
use runbook::ops::{archive, files, firewall, package, service, systemd, transfer, user};
use runbook::shell::Become;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[allow(dead_code)]
    about: String,
    args: Value,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    show_diff: bool,
    #[serde(default)]
    facts: BTreeMap<String, Value>,
    #[serde(default)]
    contents: BTreeMap<String, String>,
    #[serde(default)]
    queries: Vec<Query>,
    #[serde(default)]
    pending_packages: Vec<String>,
    #[serde(default)]
    known: BTreeMap<String, Value>,
    expect: Value,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Query {
    /// A text the command contains.
    #[serde(rename = "match")]
    matches: String,
    #[serde(default)]
    code: i32,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
}

/// A host as recorded in a case.
struct Recorded<'a> {
    case: &'a Case,
    /// What the operation looked at that the case does not give.
    unlisted: RefCell<Vec<String>>,
}

impl Look for Recorded<'_> {
    fn host_name(&self) -> &str {
        "web1"
    }
    fn dry_run(&self) -> bool {
        self.case.dry_run
    }
    fn show_diff(&self) -> bool {
        self.case.dry_run || self.case.show_diff
    }
    fn facts(&self, keys: &[FactKey], _who: &Become) -> Result<Vec<Fact>, ExecFailure> {
        keys.iter()
            .map(|k| match self.known(k) {
                Some(f) => Ok(f),
                None => self.recorded(k),
            })
            .collect()
    }
    fn known(&self, key: &FactKey) -> Option<Fact> {
        // What a dry run predicted (or a probe read this step): known without reading.
        let v = self.case.known.get(&key.to_string())?;
        Some(known_fact(key, v).unwrap_or_else(|e| panic!("known fact {key}: {e}")))
    }
    fn content(&self, path: &str, _who: &Become) -> Result<Vec<u8>, ExecFailure> {
        match self.case.contents.get(path) {
            Some(t) => Ok(t.clone().into_bytes()),
            None => {
                self.unlisted.borrow_mut().push(format!("content of {path}"));
                Err(garbled(&format!("the case lists no content of {path}")))
            }
        }
    }
    fn query(&self, script: &str, _who: &Become) -> Result<ExecOutput, ExecFailure> {
        match self.case.queries.iter().find(|q| script.contains(&q.matches)) {
            Some(q) => Ok(ExecOutput {
                stdout: q.stdout.clone().into_bytes(),
                stderr: q.stderr.clone().into_bytes(),
                code: q.code,
            }),
            None => {
                self.unlisted.borrow_mut().push(format!("query {script:?}"));
                Err(garbled("the case lists no answer to this command"))
            }
        }
    }
    fn packages_pending(&self) -> Vec<String> {
        match self.case.dry_run {
            true => self.case.pending_packages.clone(),
            false => Vec::new(),
        }
    }
}

impl Recorded<'_> {
    /// A fact read from the host: the case's `facts`.
    fn recorded(&self, k: &FactKey) -> Result<Fact, ExecFailure> {
        match self.case.facts.get(&k.to_string()) {
            Some(v) => Ok(Fact::from_json(k, v.clone()).unwrap_or_else(|e| panic!("fact {k}: {e}"))),
            None => {
                self.unlisted.borrow_mut().push(format!("fact {k}"));
                Err(garbled(&format!("the case lists no fact {k}")))
            }
        }
    }
}

/// A fact of the case's `known`: its JSON form, and for a file the dry run's `content` and
/// `content_unknown`, which the JSON form of a fact does not carry.
fn known_fact(key: &FactKey, v: &Value) -> Result<Fact, String> {
    let mut v = v.clone();
    let (content, unknown) = match v.as_object_mut() {
        Some(m) if matches!(key, FactKey::File(_)) => (m.remove("content"), m.remove("content_unknown")),
        _ => (None, None),
    };
    let mut fact = Fact::from_json(key, v)?;
    if let Fact::File(f) = &mut fact {
        if let Some(c) = content {
            let text = c.as_str().ok_or("content: expected text")?;
            f.content = Some(Arc::new(text.as_bytes().to_vec()));
        }
        f.content_unknown = unknown
            .map(|u| u.as_bool().ok_or("content_unknown: expected a boolean"))
            .transpose()?
            .unwrap_or(false);
    }
    Ok(fact)
}

fn garbled(why: &str) -> ExecFailure {
    ExecFailure::Garbled {
        host: "web1".into(),
        command: "(test)".into(),
        why: why.into(),
    }
}

fn args<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("args: {e}"))
}

/// A new file's temporary name is random (`.runbook-` and 16 hex digits): `.runbook-RANDOM`
/// in the cases.
fn unrandom(v: &mut Value) {
    match v {
        Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(at) = rest.find(".runbook-") {
                let (before, after) = rest.split_at(at + ".runbook-".len());
                out.push_str(before);
                let hex = after.len() >= 16 && after.as_bytes()[..16].iter().all(u8::is_ascii_hexdigit);
                rest = match hex {
                    true => {
                        out.push_str("RANDOM");
                        &after[16..]
                    }
                    false => after,
                };
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(unrandom),
        Value::Object(o) => o.values_mut().for_each(unrandom),
        _ => {}
    }
}

fn plan_json(r: Result<Option<Plan>, OpError>) -> Value {
    match r {
        Ok(Some(p)) => {
            let mut v = serde_json::to_value(&p).expect("plans serialize");
            unrandom(&mut v);
            // A predicted file whose content is known only after apply (the JSON form of a
            // fact leaves this out).
            for (i, e) in p.effects.iter().enumerate() {
                if let Effect::Predict(_, Fact::File(f)) = e
                    && f.content_unknown
                {
                    v["effects"][i]["predict"][1]["content_unknown"] = json!(true);
                }
            }
            json!({ "plan": v })
        }
        Ok(None) => json!({ "plan": null }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// What operation `op` makes of the case.
fn outcome(op: &str, look: &Recorded) -> Value {
    let a = &look.case.args;
    match op {
        "file" | "template" => {
            let name = if op == "file" { "file" } else { "template" };
            plan_json(files::content(look, name, &args(a)))
        }
        "line" => plan_json(files::line(look, &args(a))),
        "dir" => plan_json(files::dir(look, &args(a))),
        "symlink" => plan_json(files::symlink(look, &args(a))),
        "absent" => plan_json(files::absent(look, &args(a))),
        "read" => {
            #[derive(Deserialize)]
            struct Read {
                path: String,
                #[serde(default)]
                who: Become,
            }
            let r: Read = args(a);
            match files::read(look, &r.path, &r.who) {
                Ok(files::Read::Missing) => json!({ "read": null }),
                Ok(files::Read::Text(t)) => json!({ "read": t }),
                Ok(files::Read::Pending) => json!({ "read": "(known after apply)" }),
                Err(e) => json!({ "error": e.to_string() }),
            }
        }
        "apt" => plan_json(package::apt(look, &args(a))),
        "service" => plan_json(service::service(look, &args(a))),
        "systemd_unit" => plan_json(systemd::unit(look, &args(a))),
        "user" => plan_json(user::user(look, &args(a))),
        "ufw" => plan_json(firewall::ufw(look, &args(a))),
        "upload" => plan_json(transfer::upload(look, &args(a))),
        "unpack" => match archive::unpack(look, &args(a)) {
            Ok(u) => {
                let mut v = plan_json(Ok(u.plan));
                v["sha256"] = json!(u.sha256);
                v
            }
            Err(e) => json!({ "error": e.to_string() }),
        },
        other => panic!("no operation {other:?}: add it to tests/ops.rs"),
    }
}

/// Whether `got` has everything `want` says (objects as subsets, arrays whole).
fn matches(want: &Value, got: &Value, at: &str, diffs: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let here = format!("{at}.{k}");
                match g.get(k) {
                    Some(gv) => matches(wv, gv, &here, diffs),
                    // An absent optional field (`"guard": null`), but never an outcome:
                    // `{ "plan": null }` must not pass for an error.
                    None if wv.is_null() && at != "expect" => {}
                    None => diffs.push(format!("{here}: missing (want {wv})")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                matches(wv, gv, &format!("{at}[{i}]"), diffs);
            }
        }
        _ if want == got => {}
        _ => diffs.push(format!("{at}:\n    want {want}\n    got  {got}")),
    }
}

#[test]
fn every_operation_case_plans_what_it_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ops");
    // `1`: every case; else a comma-separated list of cases (`upload/new-file.json`).
    let update_only = std::env::var("UPDATE_OPS").ok();
    let update = |name: &str| match update_only.as_deref() {
        None => false,
        Some("1") => true,
        Some(list) => list.split(',').any(|n| n.trim() == name),
    };
    let (mut ran, mut failures) = (0, Vec::new());
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let op = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut cases: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        cases.sort();
        for path in cases.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
            let name = format!("{op}/{}", path.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&path).unwrap();
            let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let look = Recorded {
                case: &case,
                unlisted: RefCell::new(Vec::new()),
            };
            let got = outcome(&op, &look);
            ran += 1;
            let unlisted = look.unlisted.borrow().clone();
            if !unlisted.is_empty() {
                failures.push(format!("{name}: looked at what the case does not list: {unlisted:?}"));
                continue;
            }
            if update(&name) {
                let mut v: Value = serde_json::from_str(&text).unwrap();
                v["expect"] = got;
                std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
                continue;
            }
            let mut diffs = Vec::new();
            matches(&case.expect, &got, "expect", &mut diffs);
            if !diffs.is_empty() {
                failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
            }
        }
    }
    assert!(ran > 0, "no cases under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{ran} operation cases");
}
