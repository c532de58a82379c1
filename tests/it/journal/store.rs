//! The `Store` trait's contract, held against both implementations through the library:
//! what a run, a record and a lock are, whichever the store. (The rest of `journal::` holds
//! the binary to the same on both stores.)

use std::sync::Arc;

use runbook::journal::lock::Holder;
use runbook::journal::postgres::{PgStore, Target};
use runbook::journal::{Attempt, NewRun, Outcome, PlaybookRef, SqliteStore, StepRecord, Store};
use serde_json::{Value, json};

use crate::support::Kind;
use crate::support::store::{PgDb, PgServer};

/// A fresh store of `kind`, and a way to open it again (as another process would).
struct Fixture {
    _dir: tempfile::TempDir,
    _db: Option<PgDb>,
    open: Box<dyn Fn() -> Arc<dyn Store>>,
}

fn fixture(kind: Kind) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    match kind {
        Kind::Sqlite => {
            let path = dir.path().join("state.db");
            Fixture {
                _dir: dir,
                _db: None,
                open: Box::new(move || Arc::new(SqliteStore::open(&path).unwrap())),
            }
        }
        Kind::Postgres => {
            let db = PgServer::shared().database();
            let (url, password) = (db.url(), db.server.password.clone());
            Fixture {
                _dir: dir,
                _db: Some(db),
                open: Box::new(move || {
                    Arc::new(PgStore::connect(&Target::parse(&url).unwrap(), Some(&password), true).unwrap())
                }),
            }
        }
    }
}

fn record(key: &str, host: &str, status: &str, value: Value) -> StepRecord {
    StepRecord {
        step_key: key.into(),
        step_id: format!("{key}@site.rhai:1:1#0"),
        step_name: key.split('#').next().unwrap().into(),
        fingerprint: format!("fp-{key}"),
        host: host.into(),
        status: status.into(),
        changes: i64::from(status == "changed"),
        error: (status == "failed").then(|| "boom".to_string()),
        reason: None,
        value,
        done_in: None,
        started_ms: 10,
        finished_ms: 20,
    }
}

fn new_run<'a>(vars: &'a Value, inventory: &'a str, resumes: Option<i64>) -> NewRun<'a> {
    NewRun {
        resumes,
        playbook: "site.rhai",
        playbook_path: "/a/site.rhai",
        playbook_key: Some("site.rhai"),
        playbook_sha256: "abc",
        inventory,
        vars,
        limit: Some("web"),
    }
}

fn runs_records_and_their_order(kind: Kind) {
    let f = fixture(kind);
    let s = (f.open)();
    let vars = json!({"version": "1.4.2", "n": [1, 2]});
    let id = s.start_run(&new_run(&vars, "local", None)).unwrap();
    s.record(id, &record("one#0", "h2", "changed", json!({"x": "é"})))
        .unwrap();
    s.record(id, &record("one#0", "h1", "ok", Value::Null)).unwrap();
    s.record(id, &record("two#0", "h1", "failed", json!(null))).unwrap();
    // Written again (a replaced record): it moves to the end, with its new content.
    s.record(id, &record("one#0", "h2", "ok", json!(7))).unwrap();
    let run = s.run(id).unwrap().unwrap();
    assert_eq!(
        (run.outcome.as_str(), run.changes, &run.vars, run.limit.as_deref()),
        ("running", 0, &vars, Some("web"))
    );
    assert_eq!(run.playbook_key.as_deref(), Some("site.rhai"));
    let got: Vec<(String, String, Value)> = s
        .results(id)
        .unwrap()
        .into_iter()
        .map(|r| (r.step_key, r.host, r.value))
        .collect();
    assert_eq!(
        got,
        [
            ("one#0".into(), "h1".into(), Value::Null),
            ("two#0".into(), "h1".into(), Value::Null),
            ("one#0".into(), "h2".into(), json!(7)),
        ]
    );
    s.finish_run(id, Outcome::Failed).unwrap();
    let second = s.start_run(&new_run(&vars, "local", Some(id))).unwrap();
    assert!(second > id);
    let prod = s.start_run(&new_run(&vars, "prod", None)).unwrap();
    // Another process sees it all.
    let other = (f.open)();
    let by_path = PlaybookRef {
        path: "/a/site.rhai",
        key: None,
    };
    let by_key = PlaybookRef {
        path: "/b/site.rhai",
        key: Some("site.rhai"),
    };
    for p in [&by_path, &by_key] {
        assert_eq!(other.latest_run(p, "local").unwrap().map(|r| r.id), Some(second));
    }
    let elsewhere = PlaybookRef {
        path: "/b/site.rhai",
        key: None,
    };
    assert!(other.latest_run(&elsewhere, "local").unwrap().is_none());
    let ids = |inv: Option<&str>| -> Vec<i64> { other.runs(inv).unwrap().iter().map(|r| r.id).collect() };
    assert_eq!(ids(None), [id, second, prod]);
    assert_eq!(ids(Some("local")), [id, second]);
    assert_eq!(other.run(id).unwrap().unwrap().outcome, "failed");
    assert_eq!(other.run(second).unwrap().unwrap().resumes, Some(id));
    assert!(other.run(999).unwrap().is_none());
    // The runs of an inventory still running when we hold its lock are dead.
    other.mark_killed("local").unwrap();
    assert_eq!(s.run(second).unwrap().unwrap().outcome, "killed");
    assert_eq!(s.run(prod).unwrap().unwrap().outcome, "running");
}

fn one_lock_per_inventory_across_processes(kind: Kind) {
    let f = fixture(kind);
    let (a, b) = ((f.open)(), (f.open)());
    let me = Holder {
        playbook: Some("site.rhai".into()),
        ..Holder::me()
    };
    assert!(matches!(a.try_lock("local", &me).unwrap(), Attempt::Taken(None)));
    a.set_lock_run("local", &me, 41).unwrap();
    // Another process (store) finds it held, and who holds it.
    match b.try_lock("local", &me).unwrap() {
        Attempt::Held(h) => assert_eq!(
            (h.pid, h.run, h.playbook.as_deref()),
            (me.pid, Some(41), Some("site.rhai"))
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.lock_holder("local").unwrap().and_then(|h| h.run), Some(41));
    // The same process trying again, as a second run would: held too.
    assert!(matches!(a.try_lock("local", &me).unwrap(), Attempt::Held(_)));
    // Other inventories are free.
    assert!(matches!(b.try_lock("prod", &me).unwrap(), Attempt::Taken(None)));
    a.unlock("local", &me);
    assert!(b.lock_holder("local").unwrap().is_none());
    assert!(matches!(b.try_lock("local", &me).unwrap(), Attempt::Taken(None)));
    // A person ends it: the next attempt takes it.
    let holder = a.lock_holder("local").unwrap().unwrap();
    if kind == Kind::Sqlite {
        assert!(!a.ends_holder_session());
    } else {
        assert!(a.ends_holder_session());
    }
    assert!(a.break_lock("local", &holder).unwrap());
    assert!(!a.break_lock("local", &holder).unwrap(), "gone already");
    assert!(matches!(a.try_lock("local", &me).unwrap(), Attempt::Taken(None)));
    if kind == Kind::Postgres {
        // b's session was ended with its lock: b cannot write any more.
        let vars = Value::Null;
        let err = b.start_run(&new_run(&vars, "local", None)).err().unwrap().to_string();
        assert!(err.contains("connection to the server is closed"), "{err}");
    }
}

fn history_copies_into_an_empty_store_only(kind: Kind) {
    let from = fixture(Kind::Sqlite);
    let src = (from.open)();
    let vars = json!({"a": 1});
    let first = src.start_run(&new_run(&vars, "local", None)).unwrap();
    src.record(first, &record("one#0", "h1", "changed", json!("v")))
        .unwrap();
    src.finish_run(first, Outcome::Failed).unwrap();
    let second = src.start_run(&new_run(&vars, "local", Some(first))).unwrap();
    src.record(second, &record("one#0", "h1", "skipped", json!("v")))
        .unwrap();
    let to = fixture(kind);
    let dst = (to.open)();
    let copied = runbook::journal::migrate::copy(&*src, &*dst).unwrap();
    assert_eq!((copied.runs, copied.results), (2, 2));
    let show = |s: &Arc<dyn Store>| -> Vec<String> {
        s.runs(None)
            .unwrap()
            .into_iter()
            .map(|r| {
                let results = serde_json::to_string(&s.results(r.id).unwrap()).unwrap();
                format!("{} {results}", serde_json::to_string(&r).unwrap())
            })
            .collect()
    };
    assert_eq!(show(&src), show(&dst));
    // New runs are numbered after the copied ones.
    assert_eq!(dst.start_run(&new_run(&vars, "local", None)).unwrap(), second + 1);
    let again = runbook::journal::migrate::copy(&*src, &*dst).err().unwrap().to_string();
    assert!(again.contains("runs are copied into an empty store only"), "{again}");
    // And back: from this store into a new SQLite one.
    let back = fixture(Kind::Sqlite);
    let back_store = (back.open)();
    runbook::journal::migrate::copy(&*dst, &*back_store).unwrap();
    assert_eq!(show(&back_store), show(&dst));
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(crate::support::Kind::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(crate::support::Kind::Postgres) } )*
        }
    };
}

on_both_stores!(
    runs_records_and_their_order,
    one_lock_per_inventory_across_processes,
    history_copies_into_an_empty_store_only,
);
