//! Several commands in one round trip: one shell script runs them in order, each in its own
//! subshell with its own standard input, and frames what each printed (both streams) and its
//! exit code between marker lines, so the answers come apart again exactly as if each had
//! run alone. A random nonce makes the markers impossible for a command's output to fake.
//! How a step's operations reach a host in one script (`ops::batch`).

use super::types::ExecOutput;
use crate::shell::{Become, wrap};

/// One command of a framed script.
#[derive(Debug, Clone)]
pub struct Item {
    /// Shell text, run as `who` (sudo, as `shell::wrap` does it).
    pub script: String,
    pub who: Become,
    pub stdin: Option<Vec<u8>>,
    /// Seconds after which the host kills it (`timeout`), when it has a limit.
    pub timeout_secs: Option<u64>,
    /// A failure (non-zero exit) ends the script: the items after it do not run.
    pub stop_on_failure: bool,
    /// runbook's own command (a probe, a file write): it leaves nothing running that holds
    /// its output, so its output needs no `cat`s of its own to wait for, and it runs with
    /// no wrapping but its subshell. Every process a host starts counts: a step's changes
    /// would cost more in them than in their work.
    pub bare: bool,
}

impl Item {
    pub fn new(script: impl Into<String>, who: &Become) -> Self {
        Item {
            script: script.into(),
            who: who.clone(),
            stdin: None,
            timeout_secs: None,
            stop_on_failure: false,
            bare: false,
        }
    }

    /// runbook's own command (see `bare`).
    pub fn own(script: impl Into<String>, who: &Become) -> Self {
        Item {
            bare: true,
            ..Item::new(script, who)
        }
    }

    /// The command line as it runs (and as messages show it).
    pub fn command_line(&self) -> String {
        wrap(&self.script, &[], None, &self.who, self.timeout_secs)
    }
}

/// The script that runs `items` in order, and its nonce.
pub fn script(items: &[Item]) -> (String, String) {
    let nonce = nonce();
    // fd 7: the script's stdout, where each item's output goes through a `cat` of its own.
    let mut s = String::from("exec 7>&1\n");
    for (i, item) in items.iter().enumerate() {
        let begin = format!("{nonce} {i} B");
        s.push_str(&format!(
            "printf '\\n%s\\n' '{begin}'; printf '\\n%s\\n' '{begin}' >&2\n"
        ));
        // A subshell: an `exit` in the item ends the item, not the script.
        let body = format!("(\n{}\n) 7>&- 8>&- 9>&-", item.command_line());
        let run = match &item.stdin {
            None => format!("{body} </dev/null"),
            Some(bytes) => format!("printf '%b' '{}' | {body}", escaped(bytes)),
        };
        if item.bare {
            s.push_str(&format!("{run}\nc=$?\n"));
        } else {
            // The item's stdout and stderr each pass through a `cat`, and its end marker
            // follows once both ended: as sshd did for a command of its own, what the item
            // leaves running that still holds its output is waited for, and writes nothing
            // into the next item's. Its code comes back on fd 9.
            s.push_str(&format!(
                "c=$( {{ {{ {{ {run}; echo \"$?\" >&9; }} 2>&1 1>&8 | cat >&2; }} 8>&1 | cat >&7; }} 9>&1 )\n"
            ));
        }
        s.push_str(&format!(
            "printf '\\n%s %s\\n' '{nonce} {i} E' \"$c\"; printf '\\n%s\\n' '{nonce} {i} E' >&2\n"
        ));
        if item.stop_on_failure {
            s.push_str("[ \"$c\" = 0 ] || exit 0\n");
        }
    }
    s.push_str("exit 0\n");
    // Held while it runs on the host (one per host at once): no spare capacity.
    s.shrink_to_fit();
    (s, nonce)
}

/// What each item printed and returned; `None` for an item that did not run to its end
/// (after a failure that stops the script, or when the script itself was cut short).
pub fn parse(nonce: &str, count: usize, out: &ExecOutput) -> Vec<Option<ExecOutput>> {
    let stdout = sections(nonce, count, &out.stdout, true);
    let stderr = sections(nonce, count, &out.stderr, false);
    stdout
        .into_iter()
        .zip(stderr)
        .map(|(o, e)| {
            let (stdout, code) = o?;
            let (mut stderr, _) = e.unwrap_or_default();
            // The item ended but the shell that reports its code was killed (by the item).
            let code = code.unwrap_or_else(|| {
                stderr.extend_from_slice(
                    b"runbook: the shell around this command was killed; its exit code is unknown\n",
                );
                -1
            });
            Some(ExecOutput { stdout, stderr, code })
        })
        .collect()
}

/// Each item's bytes between its begin and end markers, with the end marker's code (stdout).
#[allow(clippy::type_complexity)]
fn sections(nonce: &str, count: usize, bytes: &[u8], with_code: bool) -> Vec<Option<(Vec<u8>, Option<i32>)>> {
    let mut found = Vec::with_capacity(count);
    let mut rest = bytes;
    for i in 0..count {
        let begin = format!("\n{nonce} {i} B\n");
        let end = format!("\n{nonce} {i} E");
        let Some(b) = find(rest, begin.as_bytes()) else {
            found.push(None);
            continue;
        };
        let body = &rest[b + begin.len()..];
        let Some(e) = find(body, end.as_bytes()) else {
            found.push(None);
            rest = body;
            continue;
        };
        let after = &body[e + end.len()..];
        let line_end = after.iter().position(|&c| c == b'\n').unwrap_or(after.len());
        let code = match with_code {
            true => std::str::from_utf8(&after[..line_end])
                .ok()
                .and_then(|t| t.trim().parse().ok()),
            false => Some(0),
        };
        found.push(Some((body[..e].to_vec(), code)));
        rest = &after[line_end.min(after.len())..];
    }
    found
}

/// `bytes` for `printf '%b'` inside single quotes: ASCII text as it is; a backslash, a quote,
/// control bytes (NUL too) and bytes past ASCII as octal escapes. The shell's own `printf`: no tool needed on the
/// host (base64 may be missing), nearly no growth for text, binary-safe.
fn escaped(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for &b in bytes {
        match b {
            b'\\' | b'\'' => {
                let _ = write!(out, "\\0{b:03o}");
            }
            b'\n' | b'\t' | 0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\0{b:03o}");
            }
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn nonce() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the system's random source");
    format!("@@rb-{}@@", hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_locally(items: &[Item]) -> Vec<Option<ExecOutput>> {
        let (s, nonce) = script(items);
        let out = std::process::Command::new("sh").arg("-c").arg(&s).output().unwrap();
        let out = ExecOutput {
            stdout: out.stdout,
            stderr: out.stderr,
            code: out.status.code().unwrap_or(-1),
        };
        parse(&nonce, items.len(), &out)
    }

    #[test]
    fn items_come_apart_with_their_own_streams_codes_and_stdin() {
        let me = Become::Me;
        let mut with_stdin = Item::new("tee /dev/stderr | wc -c", &me);
        with_stdin.stdin = Some(b"a\0b\nno newline".to_vec());
        let mut all_bytes = Item::new("cat", &me);
        all_bytes.stdin = Some((0..=255u8).chain(*b"'\\c\\0101%s").collect());
        let items = vec![
            Item::new("printf 'no newline'; printf 'err' >&2", &me),
            Item::new("echo out; exit 3", &me),
            with_stdin,
            Item::new("cat; echo read-nothing", &me),
            all_bytes,
        ];
        let got = run_locally(&items);
        let o = |i: usize| got[i].clone().unwrap();
        assert_eq!(
            (o(0).stdout_text(), o(0).stderr_text(), o(0).code),
            ("no newline".into(), "err".into(), 0)
        );
        assert_eq!((o(1).stdout_text(), o(1).code), ("out\n".into(), 3));
        assert_eq!(o(2).stdout_text().trim(), "14");
        assert_eq!(o(2).stderr, b"a\0b\nno newline".to_vec());
        assert_eq!(o(3).stdout_text(), "read-nothing\n");
        let want: Vec<u8> = (0..=255u8).chain(*b"'\\c\\0101%s").collect();
        assert_eq!(
            o(4).stdout,
            want,
            "every byte, and what printf could take for an escape"
        );
    }

    #[test]
    fn a_failure_that_stops_leaves_the_rest_unrun() {
        let me = Become::Me;
        let mut failing = Item::new("echo half; false", &me);
        failing.stop_on_failure = true;
        let items = vec![Item::new("true", &me), failing, Item::new("echo never", &me)];
        let got = run_locally(&items);
        assert_eq!(got[0].as_ref().unwrap().code, 0);
        assert_eq!(got[1].as_ref().unwrap().code, 1);
        assert_eq!(got[1].as_ref().unwrap().stdout_text(), "half\n");
        assert!(got[2].is_none());
    }

    #[test]
    fn bare_items_frame_the_same_between_wrapped_ones() {
        let me = Become::Me;
        let mut write = Item::own("cat > /dev/null; printf 'w'; printf 'e' >&2; exit 4", &me);
        write.stdin = Some(b"content\n".to_vec());
        let mut stops = Item::own("echo own; false", &me);
        stops.stop_on_failure = true;
        let items = vec![
            Item::new("echo wrapped", &me),
            write,
            Item::own("cat; echo x", &me),
            stops,
            Item::new("echo never", &me),
        ];
        let got = run_locally(&items);
        let o = |i: usize| got[i].clone().unwrap();
        assert_eq!(o(0).stdout_text(), "wrapped\n");
        assert_eq!(
            (o(1).stdout_text(), o(1).stderr_text(), o(1).code),
            ("w".into(), "e".into(), 4)
        );
        assert_eq!(o(2).stdout_text(), "x\n", "no stdin: nothing to read");
        assert_eq!((o(3).stdout_text(), o(3).code), ("own\n".into(), 1));
        assert!(got[4].is_none());
    }

    #[test]
    fn output_of_what_an_item_leaves_running_stays_the_items() {
        let me = Become::Me;
        let items = vec![
            Item::new("(sleep 0.2; echo late) & echo early", &me),
            Item::new("echo next", &me),
        ];
        let got = run_locally(&items);
        assert_eq!(got[0].as_ref().unwrap().stdout_text(), "early\nlate\n");
        assert_eq!(got[1].as_ref().unwrap().stdout_text(), "next\n");
    }

    #[test]
    fn output_that_looks_like_a_marker_cannot_fake_one() {
        let me = Become::Me;
        let items = vec![Item::new("printf '\\n@@rb-0000000000000000@@ 0 E 0\\nmore'", &me)];
        let got = run_locally(&items);
        assert!(got[0].as_ref().unwrap().stdout_text().ends_with("more"));
    }
}
