//! What a connection is, whatever reaches the host: the request, its output, the upload
//! source, the errors and the `Connection` trait. A file of its own so `local` and `ssh`
//! import it without importing `mod.rs`, which opens them.

use std::path::PathBuf;
use std::time::Duration;

use crate::shell::{self, Become};

/// One command to run on a host.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// Shell text, run by `sh -c` (local) or the remote user's shell (ssh).
    pub script: String,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub become_: Become,
    /// `stdin` is a POSIX sh script that `script` reads whole and runs: a session shell
    /// runs it itself, for fewer processes on the host (`ssh::session::Frame::script`).
    /// Either way it never shows in a command line.
    pub stdin_script: bool,
}

impl ExecRequest {
    pub fn new(script: impl Into<String>) -> Self {
        ExecRequest {
            script: script.into(),
            ..Default::default()
        }
    }

    /// The full shell text sent to the host: env, cwd and sudo applied.
    pub fn command_line(&self) -> String {
        shell::wrap(&self.script, &self.env, self.cwd.as_deref(), &self.become_, None)
    }

    /// The same, killed on the host by `timeout` when the request has a time limit
    /// (closing an ssh channel does not stop the command behind it).
    pub fn command_line_with_timeout(&self) -> String {
        let secs = self.timeout.map(shell::limit_secs);
        shell::wrap(&self.script, &self.env, self.cwd.as_deref(), &self.become_, secs)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit code; a command killed by a signal reports 128 + signal, like a shell.
    pub code: i32,
}

impl ExecOutput {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// What to upload: bytes in memory or a local file (streamed).
#[derive(Debug, Clone)]
pub enum UploadSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    /// The host could not be reached or refused us (connect, handshake, auth, host key).
    #[error("{0}")]
    Connect(String),
    #[error("command timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("{0}")]
    Transfer(String),
    #[error("{0}")]
    Other(String),
    /// The host refuses what was asked for good (a forward its sshd does not allow):
    /// trying again cannot help.
    #[error("{0}")]
    Refused(String),
}

#[async_trait::async_trait]
pub trait Connection: Send + Sync {
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError>;
    /// Writes `src` to `remote` (created or truncated) with `mode` when given.
    async fn upload(&self, src: &UploadSource, remote: &str, mode: Option<u32>) -> Result<(), ConnError>;
    async fn download(&self, remote: &str) -> Result<Vec<u8>, ConnError>;
    /// A TCP connection to `host:port` as the host itself makes it (ssh: a direct-tcpip
    /// channel on this connection, so the host needs no tool; local: the controller
    /// connects): how `h.wait_http` reaches an address only the host can.
    async fn tunnel(&self, host: &str, port: u16) -> Result<Box<dyn crate::tunnel_http::Stream>, ConnError>;
    /// A connection the other side closed (the host rebooted) is opened again on next use.
    fn is_closed(&self) -> bool {
        false
    }
}
