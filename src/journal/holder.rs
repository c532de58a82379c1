//! Who runs or holds what: this process (pid, start time, user, machine) and the clock,
//! as the journal records them. Below both the store and the lock, which name holders.

use std::time::Duration;

/// A lock's holder, as written in its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i64,
    pub proc_start: Option<i64>,
    pub user: String,
    pub controller: String,
    pub started_ms: i64,
    /// The playbook the holder plays, and its run once recorded (`--force-unlock RUN`).
    pub playbook: Option<String>,
    pub run: Option<i64>,
}

impl Holder {
    pub fn me() -> Holder {
        let pid = std::process::id() as i64;
        Holder {
            pid,
            proc_start: proc_start(pid),
            user: user(),
            controller: hostname(),
            started_ms: now_ms(),
            playbook: None,
            run: None,
        }
    }

    /// Whether the holder may still be running. A process on another machine cannot be
    /// checked from here, so it counts as alive.
    pub fn alive(&self) -> bool {
        if self.controller != hostname() {
            return true;
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let exists =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        // The same pid with another start time is a new process that reused the number.
        exists && (self.proc_start.is_none() || proc_start(self.pid) == self.proc_start)
    }

    pub fn describe(&self) -> String {
        let mut text = format!(
            "pid {} ({}@{}, since {})",
            self.pid,
            self.user,
            self.controller,
            format_time(self.started_ms)
        );
        match (self.run, &self.playbook) {
            (Some(run), Some(playbook)) => text.push_str(&format!(", run {run} of {playbook}")),
            (Some(run), None) => text.push_str(&format!(", run {run}")),
            (None, Some(playbook)) => text.push_str(&format!(", playing {playbook}")),
            (None, None) => {}
        }
        text
    }
}

/// When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat).
fn proc_start(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn user() -> String {
    for key in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(key)
            && !u.is_empty()
        {
            return u;
        }
    }
    // SAFETY: getuid cannot fail; getpwuid returns null or a valid entry, read at once
    // (runbook looks users up from one thread only).
    unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Unix milliseconds as UTC, to the second: `2025-11-24 22:11:03Z`.
pub fn format_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string().replace('T', " ")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
