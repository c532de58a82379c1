//! `validate: "cmd %s"` on a write: the new content, already in its temporary file beside
//! the target with its final owner and mode, must pass the command before it is renamed
//! into place. On failure the temporary file is removed, the target is untouched, and the
//! error shows the command as it ran and what it printed.
//!
//! It runs inside the write's own script (one round trip, nothing left between the check
//! and the rename); the script exits `FAILED` with a marker line after the command's output
//! on stderr, which `failure` turns into the error.

use super::error::OpError;
use crate::connection::failure::ExecFailure;
use crate::shell::quote;

/// The write script's exit code when the validating command refused the new content.
pub const FAILED: i32 = 97;
const MARKER: &str = "runbook-validate-failed";

/// Checks a `validate` command: it must name the new content's file as `%s`.
pub fn check(op: &'static str, cmd: &str) -> Result<(), OpError> {
    if cmd.trim().is_empty() {
        return Err(OpError::invalid(op, "`validate` is an empty command"));
    }
    if !holes(cmd).any(|h| h == Hole::File) {
        return Err(OpError::invalid(
            op,
            format!(
                "`validate` must name the new content's temporary file as %s, e.g. \"nginx -t -c %s\" or \"visudo -cf %s\" (got {cmd:?}); write %% for a literal %"
            ),
        ));
    }
    Ok(())
}

#[derive(PartialEq)]
enum Hole {
    File,
    Percent,
}

/// The `%s` and `%%` in `cmd`, in order.
fn holes(cmd: &str) -> impl Iterator<Item = Hole> + '_ {
    let mut rest = cmd;
    std::iter::from_fn(move || {
        loop {
            let at = rest.find('%')?;
            let next = rest[at + 1..].chars().next();
            rest = &rest[at + 1 + next.map_or(0, char::len_utf8)..];
            match next {
                Some('s') => return Some(Hole::File),
                Some('%') => return Some(Hole::Percent),
                _ => continue,
            }
        }
    })
}

/// `cmd` with `%s` replaced by `word` (shell text naming the file) and `%%` by `%`.
pub fn fill(cmd: &str, word: &str) -> String {
    let mut out = String::new();
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('s')) => {
                chars.next();
                out.push_str(word);
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The shell text that runs `cmd` on the temporary file `file` (shell text: `"$t"`, or a
/// quoted path): in a subshell (an `exit` in it ends only the check), stdout and stderr
/// together; on failure it prints that output, then the marker with the code and the file,
/// removes the file and ends the script with `FAILED`.
pub fn step(cmd: &str, file: &str) -> String {
    let run = fill(cmd, file);
    format!(
        "{{ v=$( ( {run} ) 2>&1 ) || {{ r=$?; printf '%s\\n' \"$v\" >&2; echo \"{MARKER} $r \"{file} >&2; rm -f -- {file}; exit {FAILED}; }}; }}"
    )
}

/// What the validating command did, when `f` is a write script's failure because of it.
pub struct Refusal {
    /// The command as it ran (`%s` the temporary file).
    pub command: String,
    pub code: i32,
    /// Its output, stdout and stderr as it printed them.
    pub output: String,
}

pub fn failure(cmd: &str, f: &ExecFailure) -> Option<Refusal> {
    let ExecFailure::Exited { code, stderr, .. } = f else {
        return None;
    };
    if *code != FAILED {
        return None;
    }
    let text = stderr.trim_end_matches('\n');
    let (output, last) = match text.rsplit_once('\n') {
        Some((o, l)) => (o, l),
        None => ("", text),
    };
    let rest = last.strip_prefix(MARKER)?.trim_start();
    let (code, file) = rest.split_once(' ')?;
    Some(Refusal {
        command: fill(cmd, &quote(file)),
        code: code.parse().ok()?,
        output: output.to_string(),
    })
}

impl Refusal {
    /// Why the operation failed, for `OpError::Refused`.
    pub fn why(&self) -> String {
        let mut why = format!(
            "the new content failed validation, nothing changed: `{}` exited with code {}",
            self.command, self.code
        );
        let lines: Vec<&str> = self.output.trim_end().lines().collect();
        match lines.is_empty() {
            true => why.push_str(" and printed nothing"),
            false => {
                why.push(':');
                for l in &lines[lines.len().saturating_sub(20)..] {
                    why.push_str("\n    ");
                    why.push_str(l);
                }
            }
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_percent_s_and_a_percent_is_doubled() {
        assert_eq!(fill("nginx -t -c %s", "'/etc/x'"), "nginx -t -c '/etc/x'");
        assert_eq!(
            fill("printf '100%%' && check %s %s", "\"$t\""),
            "printf '100%' && check \"$t\" \"$t\""
        );
        assert_eq!(fill("date +%d %s", "F"), "date +%d F");
        assert!(check("file", "visudo -cf %s").is_ok());
        let e = check("file", "nginx -t").unwrap_err().to_string();
        assert!(
            e.starts_with("file: `validate` must name the new content's temporary file as %s"),
            "{e}"
        );
        // `%%s` is a literal "%s", not the file.
        assert!(check("file", "printf %%s x").is_err());
        assert!(check("file", "  ").is_err());
    }

    #[test]
    fn a_refusal_is_read_back_from_the_scripts_stderr() {
        let f = ExecFailure::Exited {
            host: "web1".into(),
            command: "(script)".into(),
            code: FAILED,
            stdout: String::new(),
            stderr: "line one\nline two\nrunbook-validate-failed 1 /etc/nginx/.runbook-Ab12\n".into(),
        };
        let r = failure("nginx -t -c %s", &f).unwrap();
        assert_eq!(r.command, "nginx -t -c /etc/nginx/.runbook-Ab12");
        assert_eq!(r.code, 1);
        assert_eq!(r.output, "line one\nline two");
        assert_eq!(
            r.why(),
            "the new content failed validation, nothing changed: `nginx -t -c /etc/nginx/.runbook-Ab12` exited with code 1:\n    line one\n    line two"
        );
        let ExecFailure::Exited { stderr, .. } = &f else {
            unreachable!()
        };
        let other = ExecFailure::Exited {
            host: "web1".into(),
            command: "(script)".into(),
            code: 1,
            stdout: String::new(),
            stderr: stderr.clone(),
        };
        assert!(failure("x %s", &other).is_none());
    }
}
