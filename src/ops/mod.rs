//! Host operations, one file per family. Each one *looks* (facts), *decides* (a `Plan`:
//! what differs and the commands that fix it) and *acts* only on a difference. In a dry
//! run the plan is reported and its predicted facts go into the overlay instead, so the
//! dry run lists exactly the changes the real run will make.

pub mod archive;
pub mod command;
pub mod files;
pub mod firewall;
pub mod package;
pub mod service;
pub mod template;
pub mod transfer;
pub mod user;

use rhai::Map;

use crate::connection::ExecRequest;
use crate::facts::{Fact, FactKey};
use crate::host::Host;
use crate::playbook::convert::Opts;
use crate::shell::Become;

/// An operation's failure, shown to the user with the host's name.
pub type OpResult<T> = Result<T, String>;

/// What an operation would do to make the host match.
pub struct Plan {
    pub op: &'static str,
    pub target: String,
    /// One line: what changes ("create, mode 0644", "content", "install 2.1.3").
    pub summary: String,
    /// The shell that makes the change (one command, so one round trip).
    pub script: String,
    pub stdin: Option<Vec<u8>>,
    pub become_: Become,
    pub diff: Option<String>,
    /// The facts as they will be afterwards.
    pub predicts: Vec<(FactKey, Fact)>,
}

/// Carries out a plan (or, in a dry run, reports it); `None` means nothing to do.
pub fn apply(host: &Host, plan: Option<Plan>) -> OpResult<Map> {
    let Some(plan) = plan else {
        return Ok(outcome(false, None));
    };
    if !host.dry_run() {
        let req = ExecRequest {
            script: plan.script.clone(),
            stdin: plan.stdin.clone(),
            become_: plan.become_.clone(),
            ..Default::default()
        };
        let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
        if out.code != 0 {
            let what = format!("{} {}: {}", plan.op, plan.target, plan.summary);
            let mut msg = command::failure(
                host.name(),
                &plan.script,
                out.code,
                &out.stderr_text(),
                &out.stdout_text(),
            );
            msg = msg.replacen(": command exited", &format!(": {what}: command exited"), 1);
            return Err(msg);
        }
    }
    report(
        host,
        plan.op,
        &plan.target,
        &plan.summary,
        Some(&plan.script),
        plan.diff.as_deref(),
    );
    for (k, f) in plan.predicts {
        host.predict(k, f);
    }
    Ok(outcome(true, plan.diff.as_deref()))
}

/// Counts one change on the host and reports it (planned, in a dry run).
pub fn report(host: &Host, op: &str, target: &str, summary: &str, script: Option<&str>, diff: Option<&str>) {
    host.state.record_change();
    let settings = &host.run.settings;
    let diff = diff.filter(|_| settings.dry_run || settings.show_diff);
    let script = script.filter(|_| settings.dry_run);
    host.run.reporter.change(host.name(), op, target, summary, script, diff);
}

pub fn outcome(changed: bool, diff: Option<&str>) -> Map {
    let mut m = Map::new();
    m.insert("changed".into(), changed.into());
    m.insert("diff".into(), diff.unwrap_or("").into());
    m
}

/// The options of host operation `func`, checked against its declaration (`h.FUNC` in
/// `crate::builtins`).
pub fn options<'a>(func: &'a str, map: Map) -> OpResult<Opts<'a>> {
    Opts::declared(func, &format!("h.{func}"), map)
}
