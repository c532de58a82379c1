//! `h.run(cmd, opts)`: a command, run as given. Unlike the other operations it cannot look
//! before it acts: in a dry run a command that may write is announced, not run.

use super::apply::report;
use super::error::OpResult;
use super::plan::{Action, Plan};
use crate::connection::ExecRequest;
use crate::connection::failure::ExecFailure;
use crate::host::Host;

/// A command and how to take its result.
#[derive(Debug, Clone)]
pub struct Command {
    pub req: ExecRequest,
    /// A failure code fails the step.
    pub check: bool,
    /// Only reads: run in a dry run too, never counted as a change.
    pub readonly: bool,
    /// Counted as a change (unless `readonly`).
    pub changed: bool,
}

/// What the command printed and returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub changed: bool,
}

pub fn run(host: &Host, c: &Command) -> OpResult<Ran> {
    if let Some(ran) = announce(host, c) {
        return Ok(ran);
    }
    host.ctx.reporter.doing(host.name(), &format!("run {}", c.req.script));
    let out = host.exec_or_fail(&c.req)?;
    finish(host, c, out)
}

/// The plan a command that writes is shown and counted as.
fn plan_of(req: &ExecRequest) -> Plan {
    Plan {
        op: "run",
        target: req.script.clone(),
        summary: "run".into(),
        become_: req.become_.clone(),
        actions: vec![Action::Script {
            script: req.command_line(),
            stdin: None,
        }],
        diff: None,
        effects: Vec::new(),
        guard: None,
    }
}

/// In a dry run a command that may write is announced, not run: what it "returns" then.
pub fn announce(host: &Host, c: &Command) -> Option<Ran> {
    let changed = !c.readonly && c.changed;
    if !host.ctx.dry_run || c.readonly {
        return None;
    }
    let req = &c.req;
    match changed {
        true => report(host, &plan_of(req)),
        false => host.ctx.reporter.log(
            Some(host.name()),
            &format!("would run (no change): {}", req.command_line()),
        ),
    }
    Some(Ran {
        changed,
        ..Ran::default()
    })
}

/// What the command's output means: its failure (with `check`), else its result, counted
/// as a change unless it only reads.
pub fn finish(host: &Host, c: &Command, out: crate::connection::ExecOutput) -> OpResult<Ran> {
    let changed = !c.readonly && c.changed;
    if c.check && out.code != 0 {
        return Err(ExecFailure::exited(host.name(), &c.req.command_line(), &out).into());
    }
    if changed {
        report(host, &plan_of(&c.req));
    }
    Ok(Ran {
        stdout: out.stdout_text(),
        stderr: out.stderr_text(),
        code: out.code,
        changed,
    })
}
