//! Ad-hoc commands, without a playbook: `runbook run` runs one command on the hosts a
//! pattern matches, `runbook facts` reads one fact there (Ansible's `ansible PATTERN -a`
//! and `-m setup`). The play's own pieces do it: the inventory (cloud discovery included),
//! `Host` with its connection, `Look` for facts, the executor's fan-out over `--forks`.
//! Nothing is journaled and nothing takes the inventory's lock: a command run this way is
//! not part of any run.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::connection::ExecRequest;
use crate::connection::failure::ExecFailure;
use crate::error::{Error, Result, exit};
use crate::host::{Host, HostState, PlayContext};
use crate::inventory::Vars;
use crate::report::{OutputFormat, Reporter};
use crate::secrets::Secrets;
use crate::shell::Become;

/// Where and how: what `run` and `facts` share.
#[derive(Debug, Clone)]
pub struct Target {
    pub inventory: String,
    pub pattern: String,
    pub forks: usize,
    pub become_: Become,
    pub timeout: Duration,
    pub trust_new_hosts: bool,
}

/// The hosts `target.pattern` matches, each with its connection to open, and the secrets
/// the inventory's discovery met (to mask in what is printed).
struct Hosts {
    hosts: Vec<Host>,
    secrets: Arc<Secrets>,
    /// Ends the connections' tasks when the command is done.
    _rt: tokio::runtime::Runtime,
}

fn hosts(target: &Target) -> Result<Hosts> {
    // Ctrl-C or SIGTERM ends an ad-hoc command at once, with the code of an interruption
    // (there is no run to record; commands already started on hosts are not waited for).
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let always = Arc::new(std::sync::atomic::AtomicBool::new(true));
        signal_hook::flag::register_conditional_shutdown(sig, exit::INTERRUPTED, always)
            .map_err(|e| Error::io("cannot handle Ctrl-C and SIGTERM", e))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let secrets = Arc::new(Secrets::default());
    let inv = crate::cloud::discover::load(&target.inventory, rt.handle(), &|t| secrets.remember(t))?;
    let names = inv
        .select(&target.pattern)
        .map_err(|e| Error::Usage(format!("host pattern {:?}: {e}", target.pattern)))?;
    if names.is_empty() {
        return Err(Error::Usage(format!(
            "host pattern {:?} matches no host of inventory {}",
            target.pattern, inv.name
        )));
    }
    let ctx = Arc::new(PlayContext {
        dry_run: false,
        show_diff: false,
        command_timeout: Some(target.timeout),
        rt: rt.handle().clone(),
        connect: crate::connection::ConnectSettings::new(&inv, target.trust_new_hosts),
        reporter: Arc::new(Reporter::new(OutputFormat::Text, false, secrets.clone())),
        playbook_dir: ".".into(),
        inventory_name: inv.name.clone(),
    });
    // In the inventory's order, as a step's hosts are.
    let hosts = inv
        .hosts
        .values()
        .filter(|spec| names.contains(&spec.name))
        .map(|spec| Host {
            ctx: ctx.clone(),
            state: Arc::new(HostState::new(
                spec.clone(),
                inv.groups_of(&spec.name),
                inv.host_vars(&spec.name, &Vars::new()),
            )),
        })
        .collect();
    Ok(Hosts {
        hosts,
        secrets,
        _rt: rt,
    })
}

/// How each host ended, for the exit code: 0 when all succeeded, 4 when the only failures
/// are hosts that could not be reached, 2 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Ok,
    Failed,
    Unreachable,
}

fn exit_code(ended: &[Ended]) -> i32 {
    if ended.contains(&Ended::Failed) {
        exit::FAILED
    } else if ended.contains(&Ended::Unreachable) {
        exit::UNREACHABLE
    } else {
        exit::OK
    }
}

fn ended_by(failure: &ExecFailure) -> Ended {
    match failure.unreachable() {
        true => Ended::Unreachable,
        false => Ended::Failed,
    }
}

/// The shell text of a command given as words: one word is shell text (`'df -h | tail -1'`),
/// several are one command's words, each quoted (`uname -r`, `ls "a file"`).
pub fn command_text(words: &[String]) -> String {
    match words {
        [one] => one.clone(),
        _ => crate::shell::join(words),
    }
}

/// `runbook run -i INV PATTERN -- CMD…`: the command on every matching host at once (up to
/// `--forks`); each host's output as it finishes, every line after the host's name
/// (stdout to stdout, stderr to stderr), or one JSON object per host. Returns the exit code.
pub fn run(target: &Target, words: &[String], format: OutputFormat) -> Result<i32> {
    let Hosts { hosts, secrets, _rt } = hosts(target)?;
    let req = ExecRequest {
        script: command_text(words),
        become_: target.become_.clone(),
        ..Default::default()
    };
    let width = hosts.iter().map(|h| h.name().len()).max().unwrap_or(0);
    let printing = Mutex::new(());
    let ended = crate::playbook::executor::parallel(&hosts, target.forks, |h| {
        let result = h.exec_or_fail(&req);
        let _one_host_at_a_time = printing.lock().unwrap_or_else(|e| e.into_inner());
        let name = h.name();
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        let ended = match &result {
            Ok(o) if o.code == 0 => Ended::Ok,
            Ok(_) => Ended::Failed,
            Err(f) => ended_by(f),
        };
        if format == OutputFormat::Json {
            let line = match &result {
                Ok(o) => serde_json::json!({"host": name, "code": o.code, "stdout": secrets.mask(&o.stdout_text()),
                                            "stderr": secrets.mask(&o.stderr_text())}),
                Err(f) => serde_json::json!({"host": name, "error": secrets.mask(&failure(f)),
                                             "unreachable": f.unreachable()}),
            };
            let _ = writeln!(out, "{line}");
            return ended;
        }
        let prefixed = |w: &mut dyn Write, text: &str| {
            for line in secrets.mask(text).lines() {
                let _ = writeln!(w, "{name:<width$} | {line}");
            }
        };
        match &result {
            Ok(o) => {
                prefixed(&mut out, &o.stdout_text());
                let _ = out.flush();
                prefixed(&mut err, &o.stderr_text());
                if o.code != 0 {
                    prefixed(&mut err, &format!("exit code {}", o.code));
                }
            }
            Err(f) => prefixed(&mut err, &failure(f)),
        }
        ended
    });
    if format == OutputFormat::Text {
        eprintln!("{}", summary(&ended));
    }
    Ok(exit_code(&ended))
}

/// Why a command did not do its job, without the host's name (the caller puts it first)
/// and, for one that did not run, without the command (the user gave it, or it is a fact's
/// probe script).
fn failure(f: &ExecFailure) -> String {
    use crate::connection::failure::NotRun;
    match f {
        ExecFailure::NotRun { why, .. } => match why {
            NotRun::Unreachable(m) => format!("cannot reach the host: {m}"),
            NotRun::TimedOut(m) => format!("command stopped: {m}"),
            NotRun::Failed(m) => format!("command failed to run: {m}"),
        },
        other => {
            let text = other.to_string();
            let host = format!("{}: ", other.host());
            text.strip_prefix(&host).map(str::to_string).unwrap_or(text)
        }
    }
}

/// `3 host(s): 2 ok, 1 failed, 0 unreachable`.
fn summary(ended: &[Ended]) -> String {
    let count = |e: Ended| ended.iter().filter(|x| **x == e).count();
    format!(
        "{} host(s): {} ok, {} failed, {} unreachable",
        ended.len(),
        count(Ended::Ok),
        count(Ended::Failed),
        count(Ended::Unreachable)
    )
}

/// `runbook facts -i INV PATTERN KIND [ARG]`: one JSON object, each host's name to its fact
/// as `h.fact(KIND, ARG)` returns it; hosts that could not say are errors on stderr.
/// Returns the exit code.
pub fn facts(target: &Target, kind: &str, arg: Option<&str>) -> Result<i32> {
    let key = crate::facts::key_for(kind, arg).map_err(Error::Usage)?;
    let Hosts { hosts, secrets, _rt } = hosts(target)?;
    let results =
        crate::playbook::executor::parallel(&hosts, target.forks, |h| h.read_fact(key.clone(), &target.become_));
    let mut doc = serde_json::Map::new();
    let mut ended = Vec::new();
    for (h, result) in hosts.iter().zip(results) {
        match result {
            Ok(fact) => {
                doc.insert(
                    h.name().to_string(),
                    serde_json::to_value(&fact).expect("facts serialize"),
                );
                ended.push(Ended::Ok);
            }
            Err(f) => {
                eprintln!("error: {}: {}", h.name(), secrets.mask(&failure(&f)));
                ended.push(ended_by(&f));
            }
        }
    }
    let text = serde_json::to_string_pretty(&doc).expect("JSON values serialize");
    println!("{}", secrets.mask(&text));
    Ok(exit_code(&ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_is_shell_text_several_are_quoted_words() {
        let w = |ws: &[&str]| command_text(&ws.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(w(&["df -h | tail -1"]), "df -h | tail -1");
        assert_eq!(w(&["ls", "a file", "$HOME"]), "ls 'a file' '$HOME'");
    }

    #[test]
    fn the_exit_code_tells_failures_from_unreachable_hosts() {
        use Ended::*;
        assert_eq!(exit_code(&[Ok, Ok]), 0);
        assert_eq!(exit_code(&[Ok, Unreachable]), 4);
        assert_eq!(exit_code(&[Unreachable, Failed]), 2);
        assert_eq!(
            summary(&[Ok, Unreachable, Failed]),
            "3 host(s): 1 ok, 1 failed, 1 unreachable"
        );
    }
}
