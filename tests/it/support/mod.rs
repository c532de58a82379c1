//! Test helpers: a throwaway project directory and a way to run the real binary in it.

#![allow(dead_code)]

pub mod fake_do;
pub mod fake_route53;
pub mod http;
pub mod silent;
pub mod store;
pub mod test;
pub mod testbed;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use store::Kind;
pub use test::Test;
pub use testbed::Testbed;

pub struct Project {
    dir: tempfile::TempDir,
    /// `RUNBOOK_STATE` and `RUNBOOK_STATE_PASSWORD` of a project whose journal is on
    /// PostgreSQL; none: the default `.runbook/state.db`.
    state: Option<(String, String)>,
    /// The database this project made for its journal (dropped with it).
    db: Option<store::PgDb>,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    /// stdout + stderr, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "--- exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// (op, target) of every `change` event, in order.
    pub fn changes(&self) -> Vec<(String, String)> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "change")
            .map(|e| {
                (
                    e["op"].as_str().unwrap_or_default().to_string(),
                    e["target"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The recap's total of changed operations.
    pub fn total_changes(&self) -> u64 {
        let recap = self.events().into_iter().last().expect("events");
        assert_eq!(recap["event"], "recap", "{}", self.all());
        recap["changes"].as_u64().expect("changes")
    }

    /// Every count of a `--output json` run tells the same story: each host's recap row is
    /// the sum of its step results, each `step_end` the sum of that step's results, the
    /// total the number of `change` events, and a result is `changed` exactly when it
    /// counts changes.
    pub fn assert_counts_agree(&self) {
        use std::collections::BTreeMap;
        let events = self.events();
        let mut per_host: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        let mut per_step: Vec<[u64; 4]> = Vec::new();
        for e in &events {
            match e["event"].as_str().unwrap() {
                "step_start" => per_step.push([0; 4]),
                "host_result" => {
                    let changes = e["changes"].as_u64().unwrap();
                    let status = e["status"].as_str().unwrap();
                    // `changed` exactly when it counts changes; a failed step may have made some.
                    let agree = match status {
                        "ok" | "skipped" => changes == 0,
                        "changed" => changes > 0,
                        _ => true,
                    };
                    assert!(agree, "status and count disagree: {e}\n{}", self.all());
                    let slot = match status {
                        "ok" | "changed" => 0,
                        "failed" => 2,
                        _ => 3,
                    };
                    for c in [
                        per_host.entry(e["host"].as_str().unwrap().to_string()).or_default(),
                        per_step.last_mut().unwrap(),
                    ] {
                        c[slot] += 1;
                        c[1] += changes;
                    }
                }
                "step_end" => {
                    let got = ["ok", "changed", "failed", "skipped"].map(|k| e[k].as_u64().unwrap());
                    assert_eq!(
                        got,
                        *per_step.last().unwrap(),
                        "step_end disagrees with its results: {e}\n{}",
                        self.all()
                    );
                }
                _ => {}
            }
        }
        let recap = events.last().expect("events");
        assert_eq!(recap["event"], "recap", "{}", self.all());
        for (host, c) in &per_host {
            let row = &recap["hosts"][host];
            let got = ["ok", "changed", "failed", "skipped"].map(|k| row[k].as_u64().unwrap());
            assert_eq!(
                got,
                *c,
                "recap row of {host} disagrees with its step results\n{}",
                self.all()
            );
        }
        let total: u64 = per_host.values().map(|c| c[1]).sum();
        let change_events = events.iter().filter(|e| e["event"] == "change").count() as u64;
        assert_eq!(recap["changes"].as_u64().unwrap(), total, "{}", self.all());
        assert_eq!(
            change_events,
            total,
            "one change event per counted change\n{}",
            self.all()
        );
    }

    /// The JSON events of a `--output json` run.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\n{}", self.all())))
            .collect()
    }
}

impl Project {
    pub fn new() -> Self {
        let p = Project {
            dir: tempfile::Builder::new().prefix("runbook-test-").tempdir().unwrap(),
            state: None,
            db: None,
        };
        std::fs::create_dir_all(p.home().join(".ssh")).unwrap();
        p
    }

    /// A project whose runs journal in a store of this kind: SQLite, runbook's default, or
    /// a new database on the PostgreSQL test server (`RUNBOOK_STATE`, with its password).
    pub fn with_store(kind: Kind) -> Self {
        let mut p = Project::new();
        if kind == Kind::Postgres {
            let db = store::PgServer::shared().database();
            p.state = Some((db.url(), db.server.password.clone()));
            p.db = Some(db);
        }
        p
    }

    /// Another project directory (another checkout, as on another machine: its own `$HOME`)
    /// whose runs journal in the same store as `other`'s: a PostgreSQL one.
    pub fn sharing_store_of(other: &Project) -> Self {
        let mut p = Project::new();
        p.state = Some(other.state.clone().expect("a project on PostgreSQL"));
        p
    }

    /// A project on database `db` of some server (a private one), which it drops at the end.
    pub fn on_database(db: store::PgDb) -> Self {
        let mut p = Project::new();
        p.state = Some((db.url(), db.server.password.clone()));
        p.db = Some(db);
        p
    }

    pub fn store_kind(&self) -> Kind {
        match self.state {
            Some(_) => Kind::Postgres,
            None => Kind::Sqlite,
        }
    }

    /// The store as runbook names it in messages.
    pub fn store_label(&self) -> String {
        match &self.state {
            Some((url, _)) => url.clone(),
            None => ".runbook/state.db".to_string(),
        }
    }

    /// The database of a project on PostgreSQL.
    pub fn pg(&self) -> &store::PgDb {
        self.db.as_ref().expect("a project with a database of its own")
    }

    /// The rows of a query on the project's store, as text; an error when the store or its
    /// tables are not there (yet).
    pub fn try_db_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        match &self.db {
            Some(db) => store::rows_pg(&mut db.client(), sql),
            None if self.state.is_some() => panic!("the store of another project: query that one"),
            None => {
                let path = self.path(".runbook/state.db");
                if !path.exists() {
                    return Err("no .runbook/state.db".into());
                }
                store::rows_sqlite(&path, sql)
            }
        }
    }

    pub fn db_rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.try_db_rows(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of the first row.
    pub fn db_value(&self, sql: &str) -> Option<String> {
        self.db_rows(sql)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    /// `$HOME` of every runbook this project runs: its own ~/.ssh (known_hosts, config),
    /// never the developer's.
    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// Writes `inventory/test.toml` for the testbed and trusts its host keys.
    pub fn use_testbed(&self, tb: &Testbed, extra_ssh: &str) {
        self.write("inventory/test.toml", &tb.inventory(extra_ssh));
        self.write("home/.ssh/known_hosts", &tb.known_hosts());
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// An inventory `inventory/local.toml` whose hosts all use the local connection.
    pub fn local_inventory(&self, groups: &[(&str, &[&str])]) {
        let mut text = String::from("[vars]\nteam = \"ops\"\n\n");
        let mut hosts = Vec::new();
        for (g, members) in groups {
            text.push_str(&format!("[groups.{g}]\nhosts = {members:?}\n\n"));
            hosts.extend(members.iter().copied());
        }
        for h in hosts {
            text.push_str(&format!("[hosts.{h}]\nconnection = \"local\"\n\n"));
        }
        self.write("inventory/local.toml", &text);
    }

    /// Runs `runbook ARGS` in the project directory.
    pub fn runbook(&self, args: &[&str]) -> Output {
        self.runbook_env(args, &[])
    }

    pub fn runbook_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.command().args(args).envs(env.iter().copied()).output();
        Output::from(out.expect("runbook runs"))
    }

    /// `runbook` in the project directory, with the project's `$HOME` and none of the
    /// caller's runbook variables (or ssh agent); arguments still to add.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.current_dir(self.root())
            .env("HOME", self.home())
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("RUNBOOK_INVENTORY")
            .env_remove("RUNBOOK_FORKS")
            .env_remove("RUNBOOK_STATE")
            .env_remove("RUNBOOK_STATE_PASSWORD");
        if let Some((url, password)) = &self.state {
            cmd.env("RUNBOOK_STATE", url).env("RUNBOOK_STATE_PASSWORD", password);
        }
        cmd
    }
}
