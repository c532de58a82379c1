//! The `ssh` connection (russh): one connection per host, opened on first use and shared
//! by every operation of the run. Commands run in long-lived remote shells on it
//! (`session.rs`: one round trip per command), at most `MAX_CHANNELS` at once (sshd's
//! MaxSessions defaults to 10, and the SFTP session takes one); a host that cannot keep
//! such a shell gets a channel, an exec request and a new login shell per command.
//! Uploads and downloads go through SFTP, tunnels are direct-tcpip channels.

mod auth;
pub mod known_hosts;
mod session;
pub mod target;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::types::{ConnError, Connection, ExecOutput, ExecRequest, UploadSource};
use crate::inventory::{HostSpec, Inventory, SshSettings};
use known_hosts::{KnownHosts, Verdict, fingerprint, lookup_name};
use session::{Frame, Ran, Session, Started};
pub use target::Target;

const MAX_CHANNELS: usize = 8;
/// Extra time a remote command gets beyond its own timeout before the client gives up
/// on it (the remote `timeout` kills it first; this only covers a dead connection).
const TIMEOUT_GRACE: Duration = Duration::from_secs(15);

/// What every ssh connection of a run shares: settings, ~/.ssh/config, loaded keys (a
/// passphrase is asked once) and connections to jump hosts.
pub struct SshContext {
    pub settings: SshSettings,
    pub inventory_dir: PathBuf,
    pub trust_new_hosts: bool,
    pub secret_dirs: Vec<PathBuf>,
    hosts: indexmap::IndexMap<String, HostSpec>,
    config: Result<ssh2_config::SshConfig, String>,
    keys: tokio::sync::Mutex<HashMap<PathBuf, Arc<PrivateKey>>>,
    jumps: tokio::sync::Mutex<HashMap<Target, Arc<Handle<ClientHandler>>>>,
    learn_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for SshContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshContext")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SshContext {
    pub fn new(inv: &Inventory, trust_new_hosts: bool) -> Self {
        let inventory_dir = inv.path.parent().map(Path::to_path_buf).unwrap_or_default();
        SshContext {
            settings: inv.ssh.clone(),
            secret_dirs: vec![inventory_dir.join("secrets"), PathBuf::from(".runbook/secrets")],
            inventory_dir,
            trust_new_hosts,
            hosts: inv.hosts.clone(),
            config: target::load_ssh_config(),
            keys: Default::default(),
            jumps: Default::default(),
            learn_lock: Default::default(),
        }
    }

    fn known_hosts_files(&self) -> Vec<PathBuf> {
        let mut files = vec![target::home().join(".ssh/known_hosts")];
        if let Some(f) = &self.settings.known_hosts {
            files.push(target::expand(f, &self.inventory_dir));
        }
        files
    }

    fn learn_file(&self) -> PathBuf {
        learn_file(&self.settings, &self.inventory_dir)
    }

    pub fn resolve(&self, spec: &HostSpec) -> Result<Target, String> {
        let config = self.config.as_ref().map_err(Clone::clone)?;
        target::Resolver {
            settings: &self.settings,
            config,
            inventory_dir: &self.inventory_dir,
            hosts: &self.hosts,
        }
        .host(spec)
    }

    pub async fn connect(&self, spec: &HostSpec) -> Result<SshConnection, ConnError> {
        let target = self.resolve(spec).map_err(ConnError::Connect)?;
        let (handle, via) = match self.session(&target).await {
            Ok(s) => s,
            // A fresh server knows only the bootstrap user (root) until hardening made the
            // admin; sshd does not let one connection change user, so log in anew.
            Err(e) if e.starts_with(auth::AUTH_FAILED) => match self.bootstrap_target(spec, &target) {
                Some(bootstrap) => self
                    .session(&bootstrap)
                    .await
                    .map_err(|e2| ConnError::Connect(format!("{e}; then as bootstrap user: {e2}")))?,
                None => return Err(ConnError::Connect(e)),
            },
            Err(e) => return Err(ConnError::Connect(e)),
        };
        Ok(SshConnection {
            handle,
            _via: via,
            channels: tokio::sync::Semaphore::new(MAX_CHANNELS),
            sessions: session::Pool::default(),
            sftp: tokio::sync::OnceCell::new(),
        })
    }

    /// `target` as `[ssh] bootstrap_user`, when that applies to this host.
    fn bootstrap_target(&self, spec: &HostSpec, target: &Target) -> Option<Target> {
        let user = self.settings.bootstrap_user.as_ref()?;
        if spec.user.is_some() || user == &target.user {
            return None;
        }
        Some(Target {
            user: user.clone(),
            ..target.clone()
        })
    }

    /// Connects and logs in to `target`, through its jump host when it has one. Returns the
    /// session and the jump session it rides on (kept alive with it).
    async fn session(
        &self,
        target: &Target,
    ) -> Result<(Handle<ClientHandler>, Option<Arc<Handle<ClientHandler>>>), String> {
        let (handler, problem) = ClientHandler::new(self, target);
        let config = Arc::new(self.client_config(target));
        let connecting = async {
            match &target.jump {
                None => {
                    let addr = (target.hostname.as_str(), target.port);
                    let tcp = tokio::net::TcpStream::connect(addr)
                        .await
                        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.hostname, target.port))?;
                    let _ = tcp.set_nodelay(true);
                    client::connect_stream(config, tcp, handler).await.map(|h| (h, None))
                }
                Some(jump) => {
                    let via = self.jump_session(jump).await?;
                    let channel = via
                        .channel_open_direct_tcpip(target.hostname.clone(), target.port as u32, "127.0.0.1", 0)
                        .await
                        .map_err(|e| {
                            format!(
                                "{jump} cannot open a tunnel to {}:{}: {e}",
                                target.hostname, target.port
                            )
                        })?;
                    client::connect_stream(config, channel.into_stream(), handler)
                        .await
                        .map(|h| (h, Some(via)))
                }
            }
            .map_err(|e| match problem.lock().unwrap().take() {
                Some(p) => p,
                None => format!("ssh handshake with {target} failed: {e}"),
            })
        };
        let (mut handle, via) = tokio::time::timeout(target.connect_timeout, connecting)
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {target}: no answer within {}",
                    humantime::format_duration(target.connect_timeout)
                )
            })??;
        auth::login(&mut handle, target, self).await?;
        Ok((handle, via))
    }

    /// One shared connection per jump host.
    async fn jump_session(&self, jump: &Target) -> Result<Arc<Handle<ClientHandler>>, String> {
        let mut jumps = self.jumps.lock().await;
        if let Some(h) = jumps.get(jump).filter(|h| !h.is_closed()) {
            return Ok(h.clone());
        }
        let (h, _) = Box::pin(self.session(jump)).await?;
        let h = Arc::new(h);
        jumps.insert(jump.clone(), h.clone());
        Ok(h)
    }

    fn client_config(&self, target: &Target) -> client::Config {
        let mut config = client::Config {
            nodelay: true, // without it every command costs ~45 ms instead of ~3 ms
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        };
        // Ask for a host key type we already know, so a host listed with (say) only an
        // ECDSA key is verified instead of being taken for a changed key.
        let known = KnownHosts::load(&self.known_hosts_files()).known_algorithms(&target.hostname, target.port);
        if !known.is_empty() {
            let mut algos: Vec<_> = config
                .preferred
                .key
                .iter()
                .filter(|a| known.contains(a))
                .cloned()
                .collect();
            algos.extend(config.preferred.key.iter().filter(|a| !known.contains(a)).cloned());
            config.preferred.key = algos.into();
        }
        config
    }
}

impl auth::Credentials for SshContext {
    async fn private_key(&self, path: &Path) -> Result<Arc<PrivateKey>, String> {
        let mut keys = self.keys.lock().await;
        if let Some(k) = keys.get(path) {
            return Ok(k.clone());
        }
        let key = auth::load_key(path, self.settings.passphrase_secret.as_deref(), &self.secret_dirs)?;
        keys.insert(path.to_path_buf(), key.clone());
        Ok(key)
    }

    fn password_secret(&self) -> Option<&str> {
        self.settings.password_secret.as_deref()
    }

    fn secret_dirs(&self) -> &[PathBuf] {
        &self.secret_dirs
    }
}

/// Where new host keys are recorded: the inventory's own known_hosts file when it has one.
pub fn learn_file(settings: &SshSettings, inventory_dir: &Path) -> PathBuf {
    match &settings.known_hosts {
        Some(f) => target::expand(f, inventory_dir),
        None => target::home().join(".ssh/known_hosts"),
    }
}

/// Verifies the server's host key; the reason for a refusal is kept for the error message.
pub struct ClientHandler {
    target: String,
    host: String,
    port: u16,
    files: Vec<PathBuf>,
    learn_file: PathBuf,
    trust: bool,
    learn_lock: Arc<Mutex<()>>,
    problem: Arc<Mutex<Option<String>>>,
}

impl ClientHandler {
    fn new(ctx: &SshContext, target: &Target) -> (Self, Arc<Mutex<Option<String>>>) {
        let problem = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            target: target.label.clone(),
            host: target.hostname.clone(),
            port: target.port,
            files: ctx.known_hosts_files(),
            learn_file: ctx.learn_file(),
            trust: ctx.trust_new_hosts,
            learn_lock: ctx.learn_lock.clone(),
            problem: problem.clone(),
        };
        (handler, problem)
    }

    /// Errors about a jump host say so; errors about the host itself need no prefix.
    fn jump_prefix(&self) -> String {
        if self.target.starts_with("jump host") {
            format!("{}: ", self.target)
        } else {
            String::new()
        }
    }

    fn refuse(&self, why: String) -> Result<bool, russh::Error> {
        *self.problem.lock().unwrap() = Some(why);
        Ok(false)
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return self.refuse(format!(
                    "{} presented a host certificate; runbook verifies plain host keys only (list the host key in known_hosts)",
                    self.host
                ));
            }
        };
        let name = lookup_name(&self.host, self.port);
        let _guard = self.learn_lock.lock().unwrap();
        match KnownHosts::load(&self.files).verify(&self.host, self.port, key) {
            Verdict::Known => Ok(true),
            Verdict::Unknown if self.trust => {
                known_hosts::learn(&self.learn_file, &self.host, self.port, key)
                    .map_err(|e| russh::Error::IO(std::io::Error::other(format!("{}: {e}", self.learn_file.display()))))?;
                Ok(true)
            }
            Verdict::Unknown => self.refuse(format!(
                "{}unknown host key for {name} ({})\n  not in {}\n  to trust it: run again with --trust-new-hosts, or: ssh-keyscan -p {} {} >> ~/.ssh/known_hosts",
                self.jump_prefix(),
                fingerprint(key),
                self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" or "),
                self.port,
                self.host
            )),
            Verdict::Changed { expected } => {
                let listed = expected
                    .iter()
                    .map(|(fp, file, line)| format!("{fp} ({}:{line})", file.display()))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.refuse(format!(
                    "{}HOST KEY CHANGED for {name}: it offers {} but known_hosts has {listed}\n  refused: this may be a man-in-the-middle attack; if the host was rebuilt, remove the old key with: ssh-keygen -R '{name}'",
                    self.jump_prefix(),
                    fingerprint(key)
                ))
            }
            Verdict::Revoked { file, line } => self.refuse(format!(
                "{}the host key of {name} ({}) is revoked ({}:{line}); refused",
                self.jump_prefix(),
                fingerprint(key),
                file.display()
            )),
        }
    }
}

/// Uploads keep 2 MiB in flight (sshd's channel window, what OpenSSH's sftp keeps: 64 ×
/// 32 KiB) in 16 writes of 128 KiB: russh-sftp's default of 16 × 32 KiB took 1.5-2× as
/// long as scp over a 20 ms round trip, and fewer, larger writes cost less CPU than 64
/// small ones (benches/ship.sh). OpenSSH's sftp-server takes writes up to 256 KiB.
fn sftp_config() -> russh_sftp::client::Config {
    russh_sftp::client::Config {
        max_concurrent_writes: 16,
        max_write_packet_len: 128 * 1024,
        ..Default::default()
    }
}

pub struct SshConnection {
    handle: Handle<ClientHandler>,
    _via: Option<Arc<Handle<ClientHandler>>>,
    channels: tokio::sync::Semaphore,
    /// Idle remote shells; one command at a time each.
    sessions: session::Pool,
    sftp: tokio::sync::OnceCell<SftpSession>,
}

impl SshConnection {
    /// Opens a session channel, retrying when the server refuses one (MaxSessions reached
    /// by someone else's sessions on the same connection).
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, ConnError> {
        let mut delay = Duration::from_millis(20);
        for attempt in 0.. {
            match self.handle.channel_open_session().await {
                Ok(c) => return Ok(c),
                Err(russh::Error::ChannelOpenFailure(reason)) if attempt < 6 => {
                    let _ = reason;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(self.lost(e)),
            }
        }
        unreachable!()
    }

    fn lost(&self, e: russh::Error) -> ConnError {
        if self.handle.is_closed() {
            ConnError::Connect(format!("the ssh connection was lost ({e})"))
        } else {
            ConnError::Other(format!("ssh: {e}"))
        }
    }

    async fn sftp(&self) -> Result<&SftpSession, ConnError> {
        self.sftp
            .get_or_try_init(|| async {
                let channel = self.open_channel().await?;
                channel
                    .request_subsystem(true, "sftp")
                    .await
                    .map_err(|e| self.lost(e))?;
                SftpSession::new_with_config(channel.into_stream(), sftp_config())
                    .await
                    .map_err(|e| ConnError::Transfer(format!("cannot start sftp: {e}")))
            })
            .await
    }

    async fn run(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let _permit = self.channels.acquire().await.expect("semaphore never closed");
        if !self.sessions.unsupported()
            && let Some(out) = self.run_in_session(req).await?
        {
            return Ok(out);
        }
        self.run_on_channel(req).await
    }

    /// Runs `req` in a remote shell of the pool, or a new one; `None` when the host cannot
    /// keep one (the connection then uses a channel per command). A command goes to
    /// another session only when the one it was sent to ended before acknowledging it:
    /// once it may have started, it is never sent again.
    async fn run_in_session(&self, req: &ExecRequest) -> Result<Option<ExecOutput>, ConnError> {
        let plain = req.env.is_empty() && req.cwd.is_none() && req.become_ == crate::shell::Become::Me;
        let frame = match (req.stdin_script && plain, &req.stdin) {
            (true, Some(script)) => Frame::script(script, req.timeout.map(crate::shell::limit_secs)),
            _ => Frame::new(&req.command_line_with_timeout(), req.stdin.as_deref()),
        };
        for _ in 0..3 {
            let mut session = match self.sessions.take() {
                Some(s) => s,
                None => match Session::start(self.open_channel().await?)
                    .await
                    .map_err(|e| self.lost(e))?
                {
                    Started::Ready(s) => s,
                    Started::Unsupported if self.handle.is_closed() => {
                        return Err(ConnError::Connect("the ssh connection was lost".into()));
                    }
                    Started::Unsupported => {
                        self.sessions.mark_unsupported();
                        return Ok(None);
                    }
                },
            };
            match session.run(&frame).await {
                Ran::Done { out, reusable } => {
                    if reusable {
                        self.sessions.give_back(session);
                    }
                    return Ok(Some(out));
                }
                Ran::NotStarted if self.handle.is_closed() => {
                    return Err(ConnError::Connect("the ssh connection was lost".into()));
                }
                Ran::NotStarted => continue,
                // As a channel that closes without an exit status: the connection is gone,
                // or (the command killed its shell) the code is unknown, and stderr says why.
                Ran::Ended { .. } if self.handle.is_closed() => {
                    return Err(ConnError::Connect(
                        "the ssh connection was lost during the command".into(),
                    ));
                }
                Ran::Ended { mut out, how } => {
                    let how = how.map(|h| format!(" ({h})")).unwrap_or_default();
                    out.stderr.extend_from_slice(
                        format!("\nrunbook: the remote shell running this command ended before it did{how}; its exit code is unknown\n")
                            .as_bytes(),
                    );
                    return Ok(Some(out));
                }
            }
        }
        Err(ConnError::Other(
            "ssh: the host ended every new shell before it could run the command".into(),
        ))
    }

    /// Runs `req` on a channel of its own: an exec request, a new login shell.
    async fn run_on_channel(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let mut channel = self.open_channel().await?;
        channel
            .exec(true, req.command_line_with_timeout().into_bytes())
            .await
            .map_err(|e| self.lost(e))?;
        if let Some(input) = &req.stdin {
            channel.data_bytes(input.clone()).await.map_err(|e| self.lost(e))?;
        }
        channel.eof().await.map_err(|e| self.lost(e))?;
        let mut out = ExecOutput {
            code: -1,
            ..Default::default()
        };
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.code = exit_status as i32,
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.code = 128;
                    out.stderr
                        .extend_from_slice(format!("killed by signal {signal_name:?}\n").as_bytes());
                }
                _ => {}
            }
        }
        if out.code == -1 && self.handle.is_closed() {
            return Err(ConnError::Connect(
                "the ssh connection was lost during the command".into(),
            ));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Connection for SshConnection {
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let Some(limit) = req.timeout else {
            return self.run(req).await;
        };
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(limit + TIMEOUT_GRACE, self.run(req))
            .await
            .map_err(|_| ConnError::Timeout(limit))??;
        // `timeout` on the host exits 124 when it had to stop the command (137 when it had
        // to kill it), never before the limit: earlier, those are the command's own codes
        // (its own `timeout`, a SIGKILL from elsewhere).
        if (out.code == 124 || out.code == 137) && started.elapsed() >= limit {
            Err(ConnError::Timeout(limit))
        } else {
            Ok(out)
        }
    }

    async fn upload(&self, src: &UploadSource, remote: &str, mode: Option<u32>) -> Result<(), ConnError> {
        let err = |what: &str, e: &dyn std::fmt::Display| ConnError::Transfer(format!("{what} {remote}: {e}"));
        let sftp = self.sftp().await?;
        let mut file = sftp.create(remote).await.map_err(|e| err("cannot create", &e))?;
        let mut hasher = Sha256::new();
        match src {
            UploadSource::Bytes(data) => {
                hasher.update(data);
                file.write_all(data).await.map_err(|e| err("writing", &e))?;
            }
            UploadSource::File(path) => {
                use tokio::io::AsyncReadExt;
                let mut local = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| err(&format!("reading {} for", path.display()), &e))?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = local
                        .read(&mut buf)
                        .await
                        .map_err(|e| err("reading local file for", &e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n]).await.map_err(|e| err("writing", &e))?;
                }
            }
        }
        file.shutdown().await.map_err(|e| err("closing", &e))?;
        if let Some(mode) = mode {
            let meta = russh_sftp::protocol::FileAttributes {
                permissions: Some(mode),
                ..Default::default()
            };
            sftp.set_metadata(remote, meta)
                .await
                .map_err(|e| err("setting the mode of", &e))?;
        }
        // The bytes on the host must be the bytes we sent.
        let want = hex::encode(hasher.finalize());
        let check = ExecRequest::new(format!("sha256sum < {}", crate::shell::quote(remote)));
        let out = self.run(&check).await?;
        let got = out
            .stdout_text()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        if got != want {
            return Err(ConnError::Transfer(format!(
                "checksum mismatch after upload to {remote}: sent {want}, host has {got} {}",
                out.stderr_text().trim()
            )));
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    async fn tunnel(&self, host: &str, port: u16) -> Result<Box<dyn crate::tunnel_http::Stream>, ConnError> {
        use russh::ChannelOpenFailure as Why;
        match self
            .handle
            .channel_open_direct_tcpip(host, port as u32, "127.0.0.1", 0)
            .await
        {
            Ok(channel) => Ok(Box::new(channel.into_stream())),
            // (sshd gives its reason only as a code: refused, no route and no answer alike)
            Err(russh::Error::ChannelOpenFailure(Why::ConnectFailed)) => Err(ConnError::Other(
                "the host could not connect there (refused, or no route)".into(),
            )),
            Err(russh::Error::ChannelOpenFailure(Why::AdministrativelyProhibited)) => Err(ConnError::Refused(
                "the host's sshd refuses to forward connections (AllowTcpForwarding is off, or restricted by PermitOpen)"
                    .into(),
            )),
            Err(e) => Err(self.lost(e)),
        }
    }

    async fn download(&self, remote: &str) -> Result<Vec<u8>, ConnError> {
        self.sftp()
            .await?
            .read(remote)
            .await
            .map_err(|e| ConnError::Transfer(format!("cannot read {remote}: {e}")))
    }
}
