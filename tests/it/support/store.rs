//! The journal's two stores, for tests that run against both: SQLite (the project's own
//! `.runbook/state.db`, runbook's default) and PostgreSQL (a fresh database per project on
//! the test server that `scripts/postgres.sh setup` starts, found through `RUNBOOK_TEST_PG`).
//!
//! Without `RUNBOOK_TEST_PG` the PostgreSQL tests fail, never skip: `scripts/test.sh` (and so
//! CI) sets it; by hand, `eval "$(scripts/postgres.sh setup)"` first.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// The test server, as `scripts/postgres.sh` describes it.
#[derive(Debug, Clone)]
pub struct PgServer {
    /// `postgres://runbook@127.0.0.1:PORT/runbook`: no password in it.
    pub url: String,
    pub password: String,
    /// The CA of the server's certificate.
    pub ca: String,
    /// The cluster's directory (for a private cluster: what `ctl` and `destroy` take).
    pub dir: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the PostgreSQL tests need the test server. Run them through scripts/test.sh, or \
             first: eval \"$(scripts/postgres.sh setup)\""
        )
    })
}

pub fn script() -> String {
    format!("{}/scripts/postgres.sh", env!("CARGO_MANIFEST_DIR"))
}

/// Reads `export NAME='value'` lines as `scripts/postgres.sh` prints them.
fn parse_env(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .map(|v| v.trim_matches('\'').to_string())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

impl PgServer {
    /// The shared test server.
    pub fn shared() -> PgServer {
        PgServer {
            url: env("RUNBOOK_TEST_PG"),
            password: env("RUNBOOK_TEST_PG_PASSWORD"),
            ca: env("RUNBOOK_TEST_PG_CA"),
            dir: env("RUNBOOK_TEST_PG_DIR"),
        }
    }

    /// A server of its own in a new cluster, for a test that restarts or stops it;
    /// destroyed when dropped.
    pub fn private() -> PrivateServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let dir = format!(
            "/tmp/runbook-pg-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = std::process::Command::new(script())
            .args(["cluster", &dir, &port.to_string()])
            .output()
            .expect("scripts/postgres.sh runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "scripts/postgres.sh cluster failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PrivateServer(PgServer {
            url: parse_env(&text, "RUNBOOK_TEST_PG"),
            password: parse_env(&text, "RUNBOOK_TEST_PG_PASSWORD"),
            ca: parse_env(&text, "RUNBOOK_TEST_PG_CA"),
            dir,
        })
    }

    /// `pg_ctl ACTION` on this server's cluster.
    pub fn ctl(&self, action: &str) {
        let out = std::process::Command::new(script())
            .args(["ctl", &self.dir, action])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of database `db` as runbook is given it: TLS, the server's CA, no password.
    pub fn url_for(&self, db: &str) -> String {
        let base = self.url.rsplit_once('/').unwrap().0;
        format!("{base}/{db}?sslmode=require&sslrootcert={}", self.ca)
    }

    /// A connection of the test itself to database `db`.
    pub fn client(&self, db: &str) -> postgres::Client {
        self.try_client(db)
            .unwrap_or_else(|e| panic!("cannot connect to the test server at {}: {e}", self.url))
    }

    pub fn try_client(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        let base = self.url.rsplit_once('/').unwrap().0;
        let mut config: postgres::Config = format!("{base}/{db}?sslmode=disable").parse().unwrap();
        config.password(&self.password);
        config.connect(postgres::NoTls)
    }

    /// A new empty database, dropped with the value.
    pub fn database(&self) -> PgDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "rbt_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.client("runbook")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        PgDb {
            server: self.clone(),
            name,
        }
    }
}

pub struct PrivateServer(pub PgServer);

impl std::ops::Deref for PrivateServer {
    type Target = PgServer;
    fn deref(&self) -> &PgServer {
        &self.0
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script())
            .args(["destroy", &self.0.dir])
            .output();
    }
}

/// A database of the test server, dropped (its sessions ended) with the value.
pub struct PgDb {
    pub server: PgServer,
    pub name: String,
}

impl PgDb {
    /// What `--state` is given.
    pub fn url(&self) -> String {
        self.server.url_for(&self.name)
    }

    pub fn client(&self) -> postgres::Client {
        self.server.client(&self.name)
    }

    /// The whole database as `pg_dump` writes it (schema and data).
    pub fn dump(&self) -> Vec<u8> {
        let base = self.server.url.rsplit_once('/').unwrap().0;
        let out = std::process::Command::new("pg_dump")
            .arg(format!("{base}/{}?sslmode=disable", self.name))
            .env("PGPASSWORD", &self.server.password)
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // A server stopped by the test (a private one) takes its databases with it.
        if let Ok(mut c) = self.server.try_client("runbook") {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// Rows of a query as text (NULL as None), whichever the store.
pub fn rows_sqlite(path: &std::path::Path, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Null => None,
                        rusqlite::types::Value::Integer(v) => Some(v.to_string()),
                        rusqlite::types::Value::Real(v) => Some(v.to_string()),
                        rusqlite::types::Value::Text(v) => Some(v),
                        rusqlite::types::Value::Blob(v) => Some(String::from_utf8_lossy(&v).into_owned()),
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    Ok(rows)
}

pub fn rows_pg(client: &mut postgres::Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client.simple_query(sql).map_err(|e| e.to_string())?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect())
}
