//! Why a command on a host did not do its job, typed: it could not run (the host is
//! unreachable, the command was stopped, or it failed to start), or it ran and exited
//! with a failure code. Every command runbook runs for a built-in ends here, so the text a
//! user reads about a failed command is written once, in `Display`.

use super::types::{ConnError, ExecOutput};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFailure {
    /// The command did not run to its end.
    NotRun {
        host: String,
        why: NotRun,
        /// The command, as the user would read it.
        command: String,
    },
    /// It ran and exited with `code`.
    Exited {
        host: String,
        command: String,
        code: i32,
        stdout: String,
        stderr: String,
    },
    /// It ran, but what it printed is not what runbook expects (a probe's answer).
    Garbled { host: String, command: String, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRun {
    /// Connect, handshake, authentication or host key.
    Unreachable(String),
    /// Stopped at its time limit.
    TimedOut(String),
    /// A transfer or another connection failure.
    Failed(String),
}

impl ExecFailure {
    pub fn not_run(host: &str, e: &ConnError, command: &str) -> Self {
        let why = match e {
            ConnError::Connect(m) => NotRun::Unreachable(m.clone()),
            ConnError::Timeout(_) => NotRun::TimedOut(e.to_string()),
            _ => NotRun::Failed(e.to_string()),
        };
        ExecFailure::NotRun {
            host: host.into(),
            why,
            command: command.into(),
        }
    }

    pub fn exited(host: &str, command: &str, out: &ExecOutput) -> Self {
        ExecFailure::Exited {
            host: host.into(),
            command: command.into(),
            code: out.code,
            stdout: out.stdout_text(),
            stderr: out.stderr_text(),
        }
    }

    pub fn host(&self) -> &str {
        match self {
            ExecFailure::NotRun { host, .. } | ExecFailure::Exited { host, .. } | ExecFailure::Garbled { host, .. } => {
                host
            }
        }
    }

    /// Whether the host could not be reached at all (as opposed to a command failing on it).
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            ExecFailure::NotRun {
                why: NotRun::Unreachable(_),
                ..
            }
        )
    }

    /// The same failure, told as the failure of `what` (`file /etc/motd: create`).
    pub fn doing(self, what: impl Into<String>) -> Failed {
        Failed {
            what: Some(what.into()),
            failure: self,
        }
    }
}

/// A command's failure with, optionally, the operation it was part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub what: Option<String>,
    pub failure: ExecFailure,
}

impl std::fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_failure(f, None, self)
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_failure(f, self.what.as_deref(), &self.failure)
    }
}

/// `HOST: [WHAT: ]WHY`, the command, and for a failure code the last lines of its output.
fn write_failure(f: &mut std::fmt::Formatter<'_>, what: Option<&str>, failure: &ExecFailure) -> std::fmt::Result {
    let doing = what.map(|w| format!("{w}: ")).unwrap_or_default();
    match failure {
        ExecFailure::NotRun { host, why, command } => {
            let (label, detail) = match why {
                NotRun::Unreachable(m) => ("cannot reach the host", m),
                NotRun::TimedOut(m) => ("command stopped", m),
                NotRun::Failed(m) => ("command failed to run", m),
            };
            write!(f, "{host}: {doing}{label}: {detail}\n  command: {command}")
        }
        ExecFailure::Garbled { host, command, why } => {
            write!(f, "{host}: {doing}cannot read what {command} printed: {why}")
        }
        ExecFailure::Exited {
            host,
            command,
            code,
            stdout,
            stderr,
        } => {
            write!(
                f,
                "{host}: {doing}command exited with code {code}\n  command: {command}"
            )?;
            if stderr.contains("sudo: a password is required") {
                f.write_str(
                    "\n  sudo needs a password here; runbook runs sudo without a terminal (-n): give this user NOPASSWD sudo",
                )?;
            }
            let (label, text) = if stderr.trim().is_empty() {
                ("stdout", stdout)
            } else {
                ("stderr", stderr)
            };
            let lines: Vec<&str> = text.trim_end().lines().collect();
            if !lines.is_empty() {
                write!(f, "\n  {label} (last lines):")?;
                for l in &lines[lines.len().saturating_sub(10)..] {
                    write!(f, "\n    {l}")?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(stdout: &str, stderr: &str) -> ExecFailure {
        ExecFailure::Exited {
            host: "web1".into(),
            command: "false".into(),
            code: 1,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_failure_names_the_host_the_command_and_the_last_lines() {
        let lines: String = (1..=12).map(|i| format!("line {i}\n")).collect();
        let text = exited("", &lines).doing("apt nginx: install").to_string();
        assert!(text.starts_with("web1: apt nginx: install: command exited with code 1\n  command: false\n  stderr (last lines):\n    line 3\n"), "{text}");
        assert!(text.ends_with("    line 12"), "{text}");
    }

    #[test]
    fn stdout_is_shown_when_stderr_is_empty_and_sudo_passwords_are_explained() {
        assert!(
            exited("out\n", " \n")
                .to_string()
                .contains("stdout (last lines):\n    out")
        );
        let sudo = exited("", "sudo: a password is required\n").to_string();
        assert!(sudo.contains("give this user NOPASSWD sudo"), "{sudo}");
    }

    #[test]
    fn a_command_that_did_not_run_says_why() {
        let e = ExecFailure::not_run("db1", &ConnError::Connect("connection refused".into()), "true");
        assert!(e.unreachable());
        assert_eq!(
            e.to_string(),
            "db1: cannot reach the host: connection refused\n  command: true"
        );
    }
}
