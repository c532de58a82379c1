//! A host as a play sees it: its inventory entry, merged variables, one lazily opened
//! connection reused by every operation, its facts, and the count of changes in the
//! current step. A host sees the play only through `PlayContext`, read-only: operations
//! cannot reach the run's settings, journal or mutable state.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connection::failure::ExecFailure;
use crate::connection::{ConnError, ConnectSettings, Connection, ExecOutput, ExecRequest, UploadSource};
use crate::facts::{Fact, FactKey, FactStore, Look, probe};
use crate::inventory::{HostSpec, Vars};
use crate::report::Reporter;
use crate::shell::Become;

/// What every host of a play shares, fixed for the play.
pub struct PlayContext {
    pub dry_run: bool,
    /// Show diffs of changed files on real runs too (dry runs always show them).
    pub show_diff: bool,
    /// A command's time limit when its call gives none.
    pub command_timeout: Option<Duration>,
    pub rt: tokio::runtime::Handle,
    pub connect: ConnectSettings,
    pub reporter: Arc<Reporter>,
    /// Where the playbook is: local files it names (`src`, templates) are found from here.
    pub playbook_dir: PathBuf,
    /// The inventory's name, as templates see it (`{{ inventory.name }}`).
    pub inventory_name: String,
}

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
    /// Scripts sent (and files uploaded) in the current step: its round trips.
    round_trips: AtomicUsize,
    pub facts: FactStore,
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
            round_trips: AtomicUsize::new(0),
            facts: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn begin_step(&self) {
        self.facts.begin_step();

        self.changes.store(0, Ordering::SeqCst);
        self.round_trips.store(0, Ordering::SeqCst);
    }

    /// Scripts sent and files uploaded to the host in the current step.
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    pub fn changes(&self) -> usize {
        self.changes.load(Ordering::SeqCst)
    }

    /// Whether opening the host's connection failed (connect, handshake, authentication,
    /// host key): a step that failed on it never reached it.
    pub fn unreachable(&self) -> bool {
        matches!(*self.conn_error.lock().unwrap(), Some(ConnError::Connect(_)))
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

/// The host whose step closure runs on this thread (none outside steps and on the
/// controller): what a `print()` in a step is about.
pub fn current_host() -> Option<String> {
    COUNTING.with(|c| {
        c.borrow()
            .as_ref()
            .map(|s| s.name().to_string())
            .filter(|n| n != crate::report::CONTROLLER)
    })
}

/// Runs `f` (a step's closure) with the changes it makes counted for `state`.
pub fn counting_for<T>(state: &Arc<HostState>, f: impl FnOnce() -> T) -> T {
    let previous = COUNTING.with(|c| c.replace(Some(state.clone())));
    let out = f();
    COUNTING.with(|c| *c.borrow_mut() = previous);
    out
}

/// The value scripts hold (`|h| h.run(…)`): a host and the play it belongs to.
#[derive(Clone)]
pub struct Host {
    pub ctx: Arc<PlayContext>,
    pub state: Arc<HostState>,
}

impl Host {
    pub fn name(&self) -> &str {
        self.state.name()
    }

    pub fn dry_run(&self) -> bool {
        self.ctx.dry_run
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
        let result: Result<Arc<dyn Connection>, ConnError> = self.ctx.rt.block_on(async {
            let mut conn = self.state.conn.lock().await;
            if let Some(c) = conn.as_ref().filter(|c| !c.is_closed()) {
                return Ok(c.clone());
            }
            let c = crate::connection::open(&self.state.spec, &self.ctx.connect).await?;
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
        *self.ctx.rt.block_on(self.state.conn.lock()) = Some(conn);
    }

    /// A NEW login to the host as `spec` says (not the open connection), running `check`
    /// within `limit`: what `wait::ssh` waits for and what confirms a firewall change.
    pub fn fresh_login(
        &self,
        spec: &HostSpec,
        check: &str,
        limit: std::time::Duration,
    ) -> Result<Arc<dyn Connection>, String> {
        self.ctx.rt.block_on(async {
            let attempt = async {
                let c = crate::connection::open(spec, &self.ctx.connect).await?;
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

    /// One fact as `who` sees it (`h.fact`, `runbook facts`); root-only facts (the
    /// firewall) are read with sudo when not logged in as root.
    pub fn read_fact(&self, key: FactKey, who: &Become) -> Result<Fact, ExecFailure> {
        let who = match key == FactKey::Ufw && self.state.spec.user.as_deref().is_some_and(|u| u != "root") {
            true => Become::Root,
            false => who.clone(),
        };
        self.fact(key, &who)
    }

    /// Runs a command; the typed failure when it cannot run (any exit code is returned).
    pub fn exec_or_fail(&self, req: &ExecRequest) -> Result<ExecOutput, ExecFailure> {
        self.traced(req, false)
    }

    /// Runs a command and shows it as `-v`/`-vv` ask: a command that changes something
    /// with its output at `-v`; at `-vv` also the command line, and the probes (`probe`).
    fn traced(&self, req: &ExecRequest, probe: bool) -> Result<ExecOutput, ExecFailure> {
        let out = self
            .exec(req)
            .map_err(|e| ExecFailure::not_run(self.name(), &e, &req.script))?;
        let reporter = &self.ctx.reporter;
        if reporter.shows_commands(probe) {
            let (stdout, stderr) = (out.stdout_text(), out.stderr_text());
            reporter.command(self.name(), &req.command_line(), &stdout, &stderr, out.code);
        }
        Ok(out)
    }

    /// Runs a command that must succeed: its output, or why it did not.
    pub fn checked(&self, req: &ExecRequest) -> Result<ExecOutput, ExecFailure> {
        let out = self.exec_or_fail(req)?;
        match out.code {
            0 => Ok(out),
            _ => Err(ExecFailure::exited(self.name(), &req.command_line(), &out)),
        }
    }

    /// Writes a local file to `remote` with `mode`.
    pub fn upload(&self, local: &std::path::Path, remote: &str, mode: u32) -> Result<(), ExecFailure> {
        let what = format!("upload {} to {remote}", local.display());
        let conn = self
            .connection()
            .map_err(|e| ExecFailure::not_run(self.name(), &e, &what))?;
        self.state.round_trips.fetch_add(1, Ordering::SeqCst);
        self.ctx
            .rt
            .block_on(conn.upload(&UploadSource::File(local.to_path_buf()), remote, Some(mode)))
            .map_err(|e| ExecFailure::not_run(self.name(), &e, &what))
    }

    /// Runs a command, with the run's default timeout when the request has none.
    pub fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let mut req = req.clone();
        if req.timeout.is_none() {
            req.timeout = self.ctx.command_timeout;
        }
        self.exec_unlimited(&req)
    }

    /// Runs a command with no time limit but its own (a batch, whose commands have theirs).
    pub fn exec_unlimited(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let conn = self.connection()?;
        self.state.round_trips.fetch_add(1, Ordering::SeqCst);
        self.ctx.rt.block_on(conn.exec(req))
    }
}

impl Look for Host {
    fn host_name(&self) -> &str {
        self.name()
    }

    fn dry_run(&self) -> bool {
        self.ctx.dry_run
    }

    fn show_diff(&self) -> bool {
        self.ctx.dry_run || self.ctx.show_diff
    }

    fn facts(&self, keys: &[FactKey], who: &Become) -> Result<Vec<Fact>, ExecFailure> {
        let store = &self.state.facts;
        let missing: Vec<&FactKey> = keys.iter().filter(|k| store.known(k).is_none()).collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|k| k.to_string()).collect();
            self.ctx
                .reporter
                .doing(self.name(), &format!("looking at {}", names.join(", ")));
            let req = ExecRequest {
                script: probe::script(&missing),
                become_: who.clone(),
                ..Default::default()
            };
            let out = self.traced(&req, true)?;
            if out.code != 0 {
                return Err(ExecFailure::exited(self.name(), "(reading facts)", &out));
            }
            let parsed = probe::parse(&missing, &out.stdout_text()).map_err(|why| ExecFailure::Garbled {
                host: self.name().into(),
                command: "(reading facts)".into(),
                why,
            })?;
            store.probed(missing.into_iter().cloned().zip(parsed));
        }
        Ok(keys.iter().map(|k| store.known(k).expect("just probed")).collect())
    }

    fn known(&self, key: &FactKey) -> Option<Fact> {
        self.state.facts.known(key)
    }

    fn content(&self, path: &str, who: &Become) -> Result<Vec<u8>, ExecFailure> {
        let req = ExecRequest {
            script: format!("cat -- {}", crate::shell::quote(path)),
            become_: who.clone(),
            ..Default::default()
        };
        let out = self.traced(&req, true)?;
        match out.code {
            0 => Ok(out.stdout),
            _ => Err(ExecFailure::exited(self.name(), &req.command_line(), &out)),
        }
    }

    fn query(&self, script: &str, who: &Become) -> Result<ExecOutput, ExecFailure> {
        let req = ExecRequest {
            script: script.into(),
            become_: who.clone(),
            ..Default::default()
        };
        self.traced(&req, true)
    }

    fn packages_pending(&self) -> Vec<String> {
        match self.ctx.dry_run {
            true => self.state.facts.packages_pending(),
            false => Vec::new(),
        }
    }
}
