//! The controller itself: commands run under `sh -c` in their own process group, so a
//! timeout kills the whole command, children included.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::types::{ConnError, Connection, ExecOutput, ExecRequest, UploadSource};

pub struct LocalConnection;

#[async_trait::async_trait]
impl Connection for LocalConnection {
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, ConnError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(req.command_line())
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| ConnError::Other(format!("cannot start sh: {e}")))?;
        let pid = child.id();
        if let Some(input) = &req.stdin {
            let mut stdin = child.stdin.take().expect("piped stdin");
            let input = input.clone();
            // Written concurrently so a command that does not read stdin cannot block us.
            tokio::spawn(async move {
                let _ = stdin.write_all(&input).await;
            });
        }
        let wait = child.wait_with_output();
        let output = match req.timeout {
            Some(limit) => match tokio::time::timeout(limit, wait).await {
                Ok(r) => r,
                Err(_) => {
                    if let Some(pid) = pid {
                        kill_group(pid);
                    }
                    return Err(ConnError::Timeout(limit));
                }
            },
            None => wait.await,
        }
        .map_err(|e| ConnError::Other(format!("waiting for sh: {e}")))?;
        Ok(ExecOutput {
            stdout: output.stdout,
            stderr: output.stderr,
            code: exit_code(&output.status),
        })
    }

    async fn upload(&self, src: &UploadSource, remote: &str, mode: Option<u32>) -> Result<(), ConnError> {
        let err = |e: std::io::Error| ConnError::Transfer(format!("writing {remote}: {e}"));
        match src {
            UploadSource::Bytes(data) => tokio::fs::write(remote, data).await.map_err(err)?,
            UploadSource::File(path) => {
                tokio::fs::copy(path, remote).await.map_err(err)?;
            }
        }
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(remote, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    async fn tunnel(&self, host: &str, port: u16) -> Result<Box<dyn crate::tunnel_http::Stream>, ConnError> {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| ConnError::Other(crate::wait::io_text(&e)))?;
        Ok(Box::new(tcp))
    }

    async fn download(&self, remote: &str) -> Result<Vec<u8>, ConnError> {
        tokio::fs::read(remote)
            .await
            .map_err(|e| ConnError::Transfer(format!("reading {remote}: {e}")))
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
