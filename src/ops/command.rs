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
    let changed = !c.readonly && c.changed;
    let req = &c.req;
    let plan = || Plan {
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
    };
    if host.ctx.dry_run && !c.readonly {
        // Not executed: a command that writes cannot be predicted, only announced.
        match changed {
            true => report(host, &plan()),
            false => host.ctx.reporter.log(
                Some(host.name()),
                &format!("would run (no change): {}", req.command_line()),
            ),
        }
        return Ok(Ran {
            changed,
            ..Ran::default()
        });
    }
    host.ctx.reporter.doing(host.name(), &format!("run {}", req.script));
    let out = host.exec_or_fail(req)?;
    if c.check && out.code != 0 {
        return Err(ExecFailure::exited(host.name(), &req.command_line(), &out).into());
    }
    if changed {
        report(host, &plan());
    }
    Ok(Ran {
        stdout: out.stdout_text(),
        stderr: out.stderr_text(),
        code: out.code,
        changed,
    })
}
