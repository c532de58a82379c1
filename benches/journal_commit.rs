//! Time per journal commit: the SQLite store (a file, WAL, `synchronous = FULL`) against the
//! PostgreSQL store (over loopback TCP with TLS, one statement per commit, the server's
//! `fsync` and `synchronous_commit` as configured: on by default). A commit is what the
//! executor does for each host and step before that host moves on: `Store::record`, durable
//! when it returns.
//!
//!   benches/journal_commit.sh [COMMITS]        sets up the test server, then runs this
//!   cargo bench --bench journal_commit -- [COMMITS]
//!
//! The PostgreSQL store is the one of `RUNBOOK_TEST_PG` (+ `_PASSWORD`, `_CA`), as
//! `scripts/postgres.sh setup` prints them; a database `runbook_bench` is made there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook::journal::postgres::{PgStore, Target};
use runbook::journal::{NewRun, SqliteStore, StepRecord, Store};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run benches/journal_commit.sh"))
}

fn record(i: usize) -> StepRecord {
    StepRecord {
        step_key: format!("step{}#0", i / 10),
        step_id: format!("step{}@site.rhai:{}:1#0", i / 10, i),
        step_name: format!("step{}", i / 10),
        fingerprint: "0f3a9c2e5b7d1f4a".into(),
        host: format!("web{}", i % 10),
        status: "changed".into(),
        changes: 1,
        error: None,
        reason: None,
        value: serde_json::json!({"stdout": "ok\n", "code": 0}),
        done_in: None,
        started_ms: 1,
        finished_ms: 2,
    }
}

/// Per-commit times of `n` commits of one run, `threads` step threads at once.
fn bench(store: Arc<dyn Store>, n: usize, threads: usize) -> Vec<Duration> {
    let vars = serde_json::json!({});
    let run = store
        .start_run(&NewRun {
            resumes: None,
            playbook: "site.rhai",
            playbook_path: "/bench/site.rhai",
            playbook_key: None,
            playbook_sha256: "",
            inventory: "bench",
            vars: &vars,
            limit: None,
        })
        .unwrap();
    for i in 0..20 {
        store.record(run, &record(n + i)).unwrap(); // warm-up
    }
    let per_thread = n / threads;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                s.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            let r = record(n + 100 + t * per_thread + i);
                            let started = Instant::now();
                            store.record(run, &r).unwrap();
                            started.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

fn stats(mut times: Vec<Duration>, wall: Duration) -> (f64, f64, f64, f64) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let n = times.len();
    let median = us(times[n / 2]);
    let p95 = us(times[n * 95 / 100]);
    let mean = times.iter().map(|d| us(*d)).sum::<f64>() / n as f64;
    let per_second = n as f64 / wall.as_secs_f64();
    (median, p95, mean, per_second)
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let (url, password, ca) = (
        env("RUNBOOK_TEST_PG"),
        env("RUNBOOK_TEST_PG_PASSWORD"),
        env("RUNBOOK_TEST_PG_CA"),
    );
    let base = url.rsplit_once('/').unwrap().0;
    // The bench's databases are made afresh, through a connection of its own.
    let mut config: postgres::Config = format!("{base}/runbook?sslmode=disable").parse().unwrap();
    config.password(&password);
    let dir = tempfile::Builder::new()
        .prefix("runbook-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    println!(
        "{n} commits per case; SQLite file in {}, PostgreSQL at {url} (TLS)",
        dir.path().display()
    );
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>12}",
        "case", "median µs", "p95 µs", "mean µs", "commits/s"
    );
    let mut medians = Vec::new();
    for threads in [1, 8] {
        let sqlite: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join(format!("state-{threads}.db"))).unwrap());
        let started = Instant::now();
        let t = bench(sqlite, n, threads);
        let s = stats(t, started.elapsed());
        println!(
            "{:<36} {:>10.0} {:>10.0} {:>10.0} {:>12.0}",
            format!("sqlite, {threads} thread(s)"),
            s.0,
            s.1,
            s.2,
            s.3
        );
        let db = format!("runbook_bench_{threads}");
        recreate(&config, &db);
        let pg_url = format!("{base}/{db}?sslmode=require&sslrootcert={ca}");
        let pg: Arc<dyn Store> =
            Arc::new(PgStore::connect(&Target::parse(&pg_url).unwrap(), Some(&password), true).unwrap());
        let started = Instant::now();
        let t = bench(pg, n, threads);
        let p = stats(t, started.elapsed());
        println!(
            "{:<36} {:>10.0} {:>10.0} {:>10.0} {:>12.0}",
            format!("postgresql loopback, {threads} thread(s)"),
            p.0,
            p.1,
            p.2,
            p.3
        );
        medians.push((threads, s, p));
    }
    for (threads, s, p) in medians {
        println!(
            "{threads} thread(s): PostgreSQL / SQLite time per commit (median) {:.2}, throughput SQLite / PostgreSQL {:.2}",
            p.0 / s.0,
            s.3 / p.3
        );
    }
}

fn recreate(config: &postgres::Config, db: &str) {
    let mut c = config.connect(postgres::NoTls).expect("the test server");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .unwrap();
    c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
}
