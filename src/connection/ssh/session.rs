//! A long-lived remote shell on one session channel, reading framed scripts: a command
//! costs one round trip, where a channel of its own cost two (open, then exec) and a new
//! process from sshd. `Pool` keeps a few idle ones per connection.
//!
//! The channel's exec request starts `LOOP` (plain POSIX sh) in `/bin/sh`. It checks its
//! tools and prints a ready line (no ready line: the connection goes back to a channel per
//! command), then for each frame
//!
//! ```text
//! NONCE LINES B64LEN M [T]\n the header (NONCE: 16 random hex digits, new per command;
//!                        M: `c` or, for a script too long for one argument, `s`; `e`
//!                        for a script sent as stdin, T its time limit in seconds)
//! LINES lines of script  read with `read -r`: builtins only, no process per command
//! B64LEN bytes           the command's stdin, base64 (only when it has one), read with
//!                        `head -c`, which never reads past its count from a pipe (`e`:
//!                        the script itself, as it is)
//! NONCE\n                the frame is whole: a truncated one (the connection dropped
//!                        mid-write) ends the loop instead of running half a script
//! ```
//!
//! it prints an acknowledgement `NONCE\n` on stdout (the command may start: before it, a
//! dead session is retried elsewhere; after it, never), runs the script as sshd ran a
//! command, `$SHELL -c SCRIPT` (`-s` and a here-document for a very long one), with the
//! decoded stdin (or /dev/null) on its stdin (`e`: `timeout T sh` reads the script whole
//! from a pipe and evals it, its output straight on the channel), then prints
//! `\nNONCE CODE\n` on stdout and `\nNONCE\n` on stderr. The random nonce means no command
//! output can fake a marker.
//!
//! Stdin is decoded by the loop, not inlined in the script: bash reads a script from a
//! pipe one byte per system call (10 MB of stdin took 7 s that way, 0.6 s decoded by the
//! loop). The command's stdout and stderr go through a `cat` each and the markers follow
//! once both `cat`s end: as sshd
//! closes a channel only when nothing holds its output any more, a command that leaves a
//! background process holding its output waits for it, and nothing writes into the next
//! command's output (or into an idle channel nobody reads).
//!
//! A command can kill the shells around it. The subshell that reports the code: the
//! code is -1 and stderr says it is unknown, the session goes on. The session shell:
//! the output so far, code -1 and a note on stderr (as a channel that closed without an
//! exit status gave), or the lost connection's error when the connection went with it.

use std::time::Duration;

use base64::Engine;
use futures_util::FutureExt;
use russh::ChannelMsg;
use russh::client::Msg;

use crate::connection::types::ExecOutput;

/// Runs one framed script after another; see the module comment. Variables start with
/// `__rb_` so no exported name of the user's environment is changed for the commands.
/// `exec 6>&1` keeps the channel's stdout: in `$(…)` fd 1 is the pipe the status goes to.
/// The script's shell gets its stdin and the `cat` pipes, none of the loop's fds.
const LOOP: &str = r#"# runbook session shell (src/connection/ssh/session.rs)
[ "$(printf abcdYQ== | { head -c 4 >/dev/null; base64 -d; })" = a ] ||
  { echo 'runbook: no session shell here (it needs head -c and base64 -d)' >&2; exit 97; }
__rb_sh=${SHELL:-/bin/sh}
exec 6>&1
__rb_run() {
  exec 9>&1 1>&6 6>&-
  { { if [ "$__rb_m" = c ]; then
      "$__rb_sh" -c "$__rb_s" 8>&- 9>&-
    else
      "$__rb_sh" -s 3<&0 8>&- 9>&- <<__RB_SCRIPT__
$__rb_s
__RB_SCRIPT__
    fi
    echo "$?" >&9; } 2>&1 1>&8 | cat >&2; } 8>&1 | cat
}
printf 'runbook-session-ready %s\n' "READY_NONCE"
while IFS=' ' read -r __rb_n __rb_l __rb_i __rb_m __rb_t; do
  __rb_s=
  while [ "$__rb_l" -gt 0 ] && IFS= read -r __rb_x; do
    __rb_s="$__rb_s$__rb_x
"
    __rb_l=$((__rb_l - 1))
  done
  __rb_b=
  [ "$__rb_i" -gt 0 ] && __rb_b=$(head -c "$__rb_i")
  IFS= read -r __rb_e && [ "$__rb_e" = "$__rb_n" ] || exit 98
  printf '%s\n' "$__rb_n"
  if [ "$__rb_m" = e ]; then
    __rb_k=; [ "${__rb_t:-0}" = 0 ] || __rb_k="timeout -k 5 $__rb_t"
    printf '%s' "$__rb_b" | $__rb_k sh -c '__rb_s=$(cat) && eval "$__rb_s"' 6>&-
    __rb_c=$?
  elif [ "$__rb_i" -gt 0 ]; then
    __rb_c=$(printf '%s' "$__rb_b" </dev/null | base64 -d | __rb_run)
  else
    __rb_c=$(__rb_run </dev/null)
  fi
  __rb_b=
  printf '\n%s %s\n' "$__rb_n" "$__rb_c"
  printf '\n%s\n' "$__rb_n" >&2
done
"#;

/// How long a new session may take to say it is ready; a host that takes longer (a
/// login script waiting on stdin) gets a channel per command instead.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// Idle sessions kept per connection; more are closed when their command ends.
const MAX_IDLE: usize = 4;

/// The exec request: the login shell (as every exec request has it) starts the loop in
/// `/bin/sh`, whose processes cost a host less to start than a login `bash` (each command
/// costs a few), and which is POSIX whatever the login shell.
fn start_line(ready_nonce: &str) -> String {
    format!(
        "exec /bin/sh -c {}",
        crate::shell::quote(&LOOP.replace("READY_NONCE", ready_nonce))
    )
}

fn nonce() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The longest command line given to `$SHELL -c` (Linux takes 128 KiB in one argument);
/// a longer one is read by `$SHELL -s` from a here-document.
const MAX_ARG: usize = 64 * 1024;

/// One framed command: the same bytes whichever session it goes to.
pub struct Frame {
    nonce: String,
    bytes: bytes::Bytes,
}

impl Frame {
    /// `command_line` run by the user's shell as sshd ran it (`$SHELL -c`), with `stdin`
    /// (none: /dev/null) on its standard input.
    pub fn new(command_line: &str, stdin: Option<&[u8]>) -> Frame {
        let nonce = nonce();
        let (script, mode) = match command_line.len() <= MAX_ARG {
            true => (format!("{command_line}\n"), 'c'),
            // The script's shell reads the script on fd 0: the braces give the command
            // fd 3 instead; the newline before `}` ends a trailing comment or here-document.
            // `exit N` in them ends the shell with N, as with `-c`.
            false => (format!("{{ {command_line}\n}} <&3 3<&-\n"), 's'),
        };
        let input = stdin
            .filter(|s| !s.is_empty())
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .unwrap_or_default();
        let lines = script.bytes().filter(|&b| b == b'\n').count();
        let head = format!("{nonce} {lines} {} {mode}\n", input.len());
        let tail = format!("{nonce}\n");
        // Held while the command runs (to send again should its shell have died first):
        // no spare capacity, and sending shares it rather than copying.
        let mut bytes = Vec::with_capacity(head.len() + script.len() + input.len() + tail.len());
        for part in [&head, &script, &input, &tail] {
            bytes.extend_from_slice(part.as_bytes());
        }
        Frame {
            nonce,
            bytes: bytes.into(),
        }
    }

    /// `script` (POSIX sh) run by `sh` reading nothing, killed after `timeout_secs`: a
    /// script that reaches the host as standard input (`ExecRequest::stdin_script`),
    /// never in a command line. It is sent as it is and run straight from the loop: no
    /// login shell, no `cat`s around it (runbook's scripts frame their own output).
    pub fn script(script: &[u8], timeout_secs: Option<u64>) -> Frame {
        let nonce = nonce();
        let head = format!("{nonce} 0 {} e {}\n", script.len(), timeout_secs.unwrap_or(0));
        let tail = format!("{nonce}\n");
        let mut bytes = Vec::with_capacity(head.len() + script.len() + tail.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(script);
        bytes.extend_from_slice(tail.as_bytes());
        Frame {
            nonce,
            bytes: bytes.into(),
        }
    }
}

/// How a new session started.
pub enum Started {
    Ready(Session),
    /// The host cannot run the loop: no `head -c` or `base64`, a login shell that is not
    /// POSIX, a forced command, or no ready line in time.
    Unsupported,
}

/// How a command on a session went.
pub enum Ran {
    /// It ran to its end; `reusable` unless something strange came with it.
    Done { out: ExecOutput, reusable: bool },
    /// The session was gone before the command could start: it did not run.
    NotStarted,
    /// The remote shell ended while the command ran (killed, or the connection dropped):
    /// what the command printed, and how the shell ended when sshd said.
    Ended { out: ExecOutput, how: Option<String> },
}

pub struct Session {
    channel: Option<russh::Channel<Msg>>,
}

impl Drop for Session {
    /// A session that is not given back is closed: sshd then ends its shell.
    fn drop(&mut self) {
        if let (Some(channel), Ok(rt)) = (self.channel.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = channel.close().await;
            });
        }
    }
}

impl Session {
    /// Starts the loop on a new session channel.
    pub async fn start(channel: russh::Channel<Msg>) -> Result<Started, russh::Error> {
        let ready_nonce = nonce();
        channel.exec(true, start_line(&ready_nonce).into_bytes()).await?;
        let mut session = Session { channel: Some(channel) };
        let ready = format!("runbook-session-ready {ready_nonce}\n");
        let mut stdout = Vec::new();
        let waiting = async {
            while let Some(msg) = session.channel_mut().wait().await {
                match msg {
                    // A login script may print before the loop starts: only the line counts.
                    ChannelMsg::Data { data } => {
                        stdout.extend_from_slice(&data);
                        if stdout.ends_with(ready.as_bytes()) {
                            return true;
                        }
                    }
                    ChannelMsg::Failure | ChannelMsg::Eof | ChannelMsg::Close => return false,
                    ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. } => return false,
                    _ => {}
                }
            }
            false
        };
        match tokio::time::timeout(READY_LIMIT, waiting).await {
            Ok(true) => Ok(Started::Ready(session)),
            Ok(false) | Err(_) => Ok(Started::Unsupported),
        }
    }

    fn channel_mut(&mut self) -> &mut russh::Channel<Msg> {
        self.channel.as_mut().expect("a live session has its channel")
    }

    /// Whether an idle session can take a command, without waiting: its shell said
    /// nothing since its last command (an exit status, an end, output of its own).
    fn is_alive(&mut self) -> bool {
        loop {
            match self.channel_mut().wait().now_or_never() {
                None => return true,
                Some(Some(ChannelMsg::WindowAdjusted { .. } | ChannelMsg::Success)) => continue,
                Some(_) => return false,
            }
        }
    }

    /// Sends `frame` and reads the command's output up to its markers.
    pub async fn run(&mut self, frame: &Frame) -> Ran {
        let channel = self.channel_mut();
        // A failed write left the frame incomplete, and the loop runs only whole frames.
        if channel.data_bytes(frame.bytes.clone()).await.is_err() {
            return Ran::NotStarted;
        }
        let mut reading = Reading::new(&frame.nonce);
        let mut how = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => reading.stdout(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => reading.stderr(&data),
                ChannelMsg::ExitStatus { exit_status } => how = Some(format!("exit status {exit_status}")),
                ChannelMsg::ExitSignal { signal_name, .. } => how = Some(format!("signal {signal_name:?}")),
                ChannelMsg::Eof | ChannelMsg::Close => break,
                _ => {}
            }
            if let Some(done) = reading.done() {
                return done;
            }
        }
        match reading.started {
            None => Ran::NotStarted,
            Some(_) => Ran::Ended {
                out: reading.partial(),
                how,
            },
        }
    }
}

/// A command's output as it arrives, and where its markers are.
struct Reading {
    ack: Vec<u8>,
    end_out: Vec<u8>,
    end_err: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Where the command's stdout starts (after the acknowledgement), once seen.
    started: Option<usize>,
    /// The stdout marker's position and the code it carries (`None`: the shell that
    /// reports the code was killed), once whole.
    out_end: Option<(usize, Option<i32>)>,
    err_end: Option<usize>,
    /// Bytes before the acknowledgement: not this command's.
    stray: bool,
}

impl Reading {
    fn new(nonce: &str) -> Reading {
        Reading {
            ack: format!("{nonce}\n").into_bytes(),
            end_out: format!("\n{nonce} ").into_bytes(),
            end_err: format!("\n{nonce}\n").into_bytes(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            started: None,
            out_end: None,
            err_end: None,
            stray: false,
        }
    }

    fn stdout(&mut self, data: &[u8]) {
        let before = self.stdout.len();
        self.stdout.extend_from_slice(data);
        if self.started.is_none() {
            let from = before.saturating_sub(self.ack.len());
            match find(&self.stdout[from..], &self.ack) {
                Some(at) => {
                    self.stray = from + at > 0;
                    self.started = Some(from + at + self.ack.len());
                }
                None => return,
            }
        }
        let start = self.started.expect("set above");
        if self.out_end.is_none() {
            let from = before.saturating_sub(self.end_out.len()).max(start);
            let Some(at) = find(&self.stdout[from..], &self.end_out) else {
                return;
            };
            let code_at = from + at + self.end_out.len();
            let Some(len) = self.stdout[code_at..].iter().position(|&b| b == b'\n') else {
                return;
            };
            let code = std::str::from_utf8(&self.stdout[code_at..code_at + len])
                .ok()
                .and_then(|c| c.parse().ok());
            self.out_end = Some((from + at, code));
            self.stray |= self.stdout.len() > code_at + len + 1;
        } else {
            self.stray = true;
        }
    }

    fn stderr(&mut self, data: &[u8]) {
        let before = self.stderr.len();
        self.stderr.extend_from_slice(data);
        if self.err_end.is_some() {
            self.stray = true;
            return;
        }
        let from = before.saturating_sub(self.end_err.len());
        if let Some(at) = find(&self.stderr[from..], &self.end_err) {
            self.err_end = Some(from + at);
            self.stray |= self.stderr.len() > from + at + self.end_err.len();
        }
    }

    /// The outcome once both markers are in.
    fn done(&mut self) -> Option<Ran> {
        let (start, (out_end, code), err_end) = (self.started?, self.out_end?, self.err_end?);
        let mut out = ExecOutput {
            stdout: self.stdout[start..out_end].to_vec(),
            stderr: self.stderr[..err_end].to_vec(),
            code: -1,
        };
        match code {
            Some(code) => out.code = code,
            None => out.stderr.extend_from_slice(
                b"\nrunbook: the shell that ran this command on the host was killed; its exit code is unknown\n",
            ),
        }
        Some(Ran::Done {
            out,
            reusable: !self.stray,
        })
    }

    /// What the command printed before its shell ended.
    fn partial(&self) -> ExecOutput {
        let start = self.started.unwrap_or(0);
        let out_end = self.out_end.map_or(self.stdout.len(), |(at, _)| at);
        ExecOutput {
            stdout: self.stdout[start..out_end].to_vec(),
            stderr: self.stderr[..self.err_end.unwrap_or(self.stderr.len())].to_vec(),
            code: -1,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The idle sessions of one connection, and whether its host can have them at all.
#[derive(Default)]
pub struct Pool {
    idle: std::sync::Mutex<Vec<Session>>,
    unsupported: std::sync::atomic::AtomicBool,
}

impl Pool {
    /// An idle session that is still alive (dead ones are closed on the way).
    pub fn take(&self) -> Option<Session> {
        loop {
            let mut session = self.idle.lock().unwrap().pop()?;
            if session.is_alive() {
                return Some(session);
            }
        }
    }

    /// Keeps `session` for the next command, or closes it when enough are idle.
    pub fn give_back(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap();
        if idle.len() < MAX_IDLE {
            idle.push(session);
        }
    }

    pub fn unsupported(&self) -> bool {
        self.unsupported.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on this connection runs each command on its own channel.
    pub fn mark_unsupported(&self) {
        self.unsupported.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs the loop in a local `shell` with `frames` on its stdin; its stdout and stderr.
    fn local_loop(shell: &str, frames: &[&Frame]) -> (Vec<u8>, Vec<u8>) {
        let mut child = Command::new(shell)
            .arg("-c")
            .arg(LOOP.replace("READY_NONCE", "r"))
            .env("SHELL", shell)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for f in frames {
            stdin.write_all(&f.bytes).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (out.stdout, out.stderr)
    }

    /// One frame's output, read from the whole of the loop's output as `Session::run` does.
    fn output(frame: &Frame, stdout: &[u8], stderr: &[u8]) -> ExecOutput {
        let mut r = Reading::new(&frame.nonce);
        let at = find(stdout, &r.ack).expect("acknowledged");
        r.stdout(&stdout[at..]);
        // (stderr has no acknowledgement: only the first frame's is exact)
        r.stderr(stderr);
        match r.done() {
            Some(Ran::Done { out, .. }) => out,
            _ => panic!("no markers for {}", frame.nonce),
        }
    }

    #[test]
    fn frames_run_one_after_another_in_posix_shells() {
        let a = Frame::new("printf 'no newline'; echo oops >&2; exit 7", None);
        let b = Frame::new("cat; echo; cat <<'X'\n a \\ b $HOME\nX", Some(b"from stdin\0\xff"));
        let c = Frame::new("cat; echo done # a comment", None);
        for shell in ["bash", "dash"] {
            let (stdout, stderr) = local_loop(shell, &[&a, &b, &c]);
            assert!(stdout.starts_with(b"runbook-session-ready r\n"), "{shell}");
            let out = output(&a, &stdout, &stderr);
            assert_eq!((out.stdout.as_slice(), out.code), (&b"no newline"[..], 7), "{shell}");
            assert_eq!(out.stderr, b"oops\n");
            let out = output(&b, &stdout, &stderr);
            assert_eq!(out.stdout, b"from stdin\0\xff\n a \\ b $HOME\n", "{shell}");
            assert_eq!(out.code, 0);
            let out = output(&c, &stdout, &stderr);
            assert_eq!((out.stdout.as_slice(), out.code), (&b"done\n"[..], 0), "{shell}");
        }
    }

    #[test]
    fn a_script_sent_as_stdin_runs_from_the_loop_and_is_killed_at_its_limit() {
        // Quotes, a here-document and a long line; it reads nothing, and `exit` ends it alone.
        let body = format!(
            "x='{}'; printf '%s\\n' \"${{#x}}\"; cat <<'X'\n it's $HOME\nX\nread -r l && echo \"got $l\"; echo err >&2; exit 3",
            "y".repeat(100_000)
        );
        let e = Frame::script(body.as_bytes(), Some(60));
        let slow = Frame::script(b"echo started; sleep 30; echo never", Some(1));
        let unlimited = Frame::script(b"echo fine", None);
        let next = Frame::new("echo next", None);
        for shell in ["bash", "dash"] {
            let started = std::time::Instant::now();
            let (stdout, stderr) = local_loop(shell, &[&e, &slow, &unlimited, &next]);
            let out = output(&e, &stdout, &stderr);
            assert_eq!(
                (out.stdout_text().as_str(), out.code),
                ("100000\n it's $HOME\n", 3),
                "{shell}"
            );
            assert_eq!(out.stderr, b"err\n", "{shell}");
            let out = output(&slow, &stdout, &stderr);
            assert_eq!((out.stdout_text().as_str(), out.code), ("started\n", 124), "{shell}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{shell}: not killed"
            );
            assert_eq!(output(&unlimited, &stdout, &stderr).stdout, b"fine\n", "{shell}");
            assert_eq!(output(&next, &stdout, &stderr).stdout, b"next\n", "{shell}");
        }
    }

    #[test]
    fn the_loop_starts_in_sh_whatever_the_login_shell() {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(start_line("r"))
            .env("SHELL", "bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command's parent: a subshell of the loop (the command itself: the login shell).
        let f = Frame::new("ps -o comm= -p $PPID; ps -o comm= -p $$; :", None);
        child.stdin.take().unwrap().write_all(&f.bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        let names = output(&f, &out.stdout, &out.stderr).stdout_text();
        assert_eq!(names, "sh\nbash\n");
    }

    #[test]
    fn a_script_too_long_for_one_argument_is_read_from_a_here_document() {
        let long = format!("x='{}'; cat; echo \"${{#x}}\"; exit 4", "y".repeat(200_000));
        let f = Frame::new(&long, Some(b"in\n"));
        let next = Frame::new("echo next", None);
        for shell in ["bash", "dash"] {
            let (stdout, stderr) = local_loop(shell, &[&f, &next]);
            let out = output(&f, &stdout, &stderr);
            assert_eq!((out.stdout.as_slice(), out.code), (&b"in\n200000\n"[..], 4), "{shell}");
            assert_eq!(output(&next, &stdout, &stderr).stdout, b"next\n", "{shell}");
        }
    }

    #[test]
    fn a_truncated_frame_never_runs() {
        let f = Frame::new("echo ran", None);
        let cut = Frame {
            nonce: f.nonce.clone(),
            bytes: f.bytes[..f.bytes.len() - 3].to_vec().into(),
        };
        let (stdout, _) = local_loop("sh", &[&cut]);
        assert_eq!(stdout, b"runbook-session-ready r\n");
    }

    #[test]
    fn markers_are_found_across_chunks_and_a_fake_one_is_output() {
        let f = Frame::new("true", None);
        let mut r = Reading::new(&f.nonce);
        let fake = format!("0123456789abcdef 0\n\n{} 5", "fedcba9876543210");
        let stream = format!("{}\n{fake}\n{} 3\n", f.nonce, f.nonce);
        for b in stream.as_bytes().chunks(3) {
            r.stdout(b);
        }
        for b in format!("err\n{}\n", f.nonce).as_bytes().chunks(2) {
            r.stderr(b);
        }
        match r.done() {
            Some(Ran::Done { out, reusable }) => {
                assert_eq!(out.stdout_text(), fake);
                assert_eq!((out.stderr_text().as_str(), out.code, reusable), ("err", 3, true));
            }
            _ => panic!("not done"),
        }
    }
}
