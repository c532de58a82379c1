//! A host as a play sees it: its inventory entry, merged variables, one lazily opened
//! connection reused by every operation, and the count of changes in the current step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::connection::{ConnError, Connection, ExecOutput, ExecRequest};
use crate::inventory::{HostSpec, Vars};
use crate::run::Run;

/// Why a step does not run on a host a dry run would create.
pub const PENDING_HOST: &str = "host not created yet (known after apply)";

pub struct HostState {
    pub spec: HostSpec,
    /// Held by each operation on this host: a host captured by a parallel step's closure is
    /// used from several threads, and one operation's look and act must not interleave
    /// with another's.
    op_lock: Mutex<()>,
    pub groups: Vec<String>,
    pub vars: Vars,
    conn: tokio::sync::Mutex<Option<Arc<dyn Connection>>>,
    /// A connection failure is remembered: a host that cannot be reached fails fast.
    conn_error: Mutex<Option<ConnError>>,
    changes: AtomicUsize,
    pub facts: crate::facts::FactStore,
}

impl HostState {
    pub fn new(spec: HostSpec, groups: Vec<String>, vars: Vars) -> Self {
        HostState {
            spec,
            groups,
            vars,
            op_lock: Mutex::new(()),
            conn: tokio::sync::Mutex::new(None),
            conn_error: Mutex::new(None),
            changes: AtomicUsize::new(0),
            facts: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn begin_step(&self) {
        self.facts.begin_step();

        self.changes.store(0, Ordering::SeqCst);
    }

    pub fn changes(&self) -> usize {
        self.changes.load(Ordering::SeqCst)
    }

    /// Counts one change (or planned change) for the step running on this thread: an
    /// operation on another host (one the closure captured) is part of the work this
    /// step did for the host it runs for, and is counted there.
    pub fn record_change(&self) {
        let counted = COUNTING.with(|c| {
            c.borrow()
                .as_ref()
                .map(|s| s.changes.fetch_add(1, Ordering::SeqCst))
                .is_some()
        });
        if !counted {
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Runs one operation with the host to itself.
    pub fn exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.op_lock.lock().unwrap_or_else(|e| e.into_inner());
        f()
    }
}

thread_local! {
    /// The host whose step closure runs on this thread (the controller's for a controller
    /// step): where the changes this thread makes are counted.
    static COUNTING: std::cell::RefCell<Option<Arc<HostState>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (a step's closure) with the changes it makes counted for `state`.
pub fn counting_for<T>(state: &Arc<HostState>, f: impl FnOnce() -> T) -> T {
    let previous = COUNTING.with(|c| c.replace(Some(state.clone())));
    let out = f();
    COUNTING.with(|c| *c.borrow_mut() = previous);
    out
}

/// The value scripts hold (`|h| h.run(…)`): a host and the run it belongs to.
#[derive(Clone)]
pub struct Host {
    pub run: Arc<Run>,
    pub state: Arc<HostState>,
}

impl Host {
    pub fn name(&self) -> &str {
        self.state.name()
    }

    pub fn dry_run(&self) -> bool {
        self.run.settings.dry_run
    }

    /// The host's connection, opened on first use, and again when the host closed it (a
    /// droplet powered off and on).
    pub fn connection(&self) -> Result<Arc<dyn Connection>, ConnError> {
        if self.state.spec.pending {
            return Err(ConnError::Connect(PENDING_HOST.into()));
        }
        if let Some(e) = self.state.conn_error.lock().unwrap().clone() {
            return Err(e);
        }
        let result: Result<Arc<dyn Connection>, ConnError> = self.run.rt.block_on(async {
            let mut conn = self.state.conn.lock().await;
            if let Some(c) = conn.as_ref().filter(|c| !c.is_closed()) {
                return Ok(c.clone());
            }
            let c = crate::connection::open(&self.state.spec, &self.run.connect).await?;
            *conn = Some(c.clone());
            Ok(c)
        });
        if let Err(e) = &result {
            *self.state.conn_error.lock().unwrap() = Some(e.clone());
        }
        result
    }

    /// Makes `conn` the host's connection (one `wait::ssh` proved working), forgetting an
    /// earlier failure to connect.
    pub fn adopt_connection(&self, conn: Arc<dyn Connection>) {
        *self.state.conn_error.lock().unwrap() = None;
        *self.run.rt.block_on(self.state.conn.lock()) = Some(conn);
    }

    /// A NEW login to the host as `spec` says (not the open connection), running `check`
    /// within `limit`: what `wait::ssh` waits for and what confirms a firewall change.
    pub fn fresh_login(
        &self,
        spec: &HostSpec,
        check: &str,
        limit: std::time::Duration,
    ) -> Result<Arc<dyn Connection>, String> {
        self.run.rt.block_on(async {
            let attempt = async {
                let c = crate::connection::open(spec, &self.run.connect).await?;
                let mut req = ExecRequest::new(check);
                req.timeout = Some(std::time::Duration::from_secs(30));
                let out = c.exec(&req).await?;
                Ok::<_, ConnError>((c, out.code))
            };
            match tokio::time::timeout(limit, attempt).await {
                Ok(Ok((c, 0))) => Ok(c),
                Ok(Ok((_, code))) => Err(format!("logged in, but `{check}` exited with {code}")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no login within {}", humantime::format_duration(limit))),
            }
        })
    }

    /// The message of a command that could not run: the host, why, and the command.
    pub fn exec_error(&self, e: &ConnError, req: &ExecRequest) -> String {
        let what = match e {
            ConnError::Connect(_) => "cannot reach the host",
            ConnError::Timeout(_) => "command stopped",
            _ => "command failed to run",
        };
        format!("{}: {what}: {e}\n  command: {}", self.name(), req.script)
    }

    /// Runs a command, with the run's default timeout when the request has none.
    pub fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let conn = self.connection()?;
        let mut req = req.clone();
        if req.timeout.is_none() {
            req.timeout = self.run.settings.command_timeout;
        }
        self.run.rt.block_on(conn.exec(&req))
    }
}
