//! The one path every operation's change takes: run its actions (or, in a dry run, only
//! show them), count and report the change, and record what it did to the host's facts.

use std::time::Duration;

use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Guard, Outcome, Plan};
use super::validate;
use crate::connection::failure::ExecFailure;
use crate::connection::framed::Item;
use crate::connection::{Connection, ExecOutput, ExecRequest};
use crate::host::Host;

/// Carries out `plan` (`None`: nothing to do).
pub fn apply(host: &Host, plan: Option<Plan>) -> OpResult<Outcome> {
    let Some(mut plan) = plan else {
        return Ok(Outcome::unchanged());
    };
    match plan.guard.take().filter(|_| !host.ctx.dry_run) {
        Some(guard) => guarded(host, plan, guard),
        None => carry_out(host, plan),
    }
}

fn carry_out(host: &Host, plan: Plan) -> OpResult<Outcome> {
    if !host.ctx.dry_run {
        host.ctx.reporter.doing(host.name(), &what(&plan));
        for action in &plan.actions {
            act(host, &plan, action)?;
        }
    }
    report(host, &plan);
    Ok(settle(host, plan))
}

/// After a plan was carried out (or, in a dry run, reported): what it did to the facts, and
/// its outcome.
pub fn settle(host: &Host, plan: Plan) -> Outcome {
    let dry_run = host.ctx.dry_run;
    let facts = &host.state.facts;
    for effect in plan.effects {
        match effect {
            Effect::Predict(k, f) => facts.predict(dry_run, k, f),
            Effect::RemovedUnder(p) => facts.removed_under(dry_run, &p),
            Effect::ForgetUnder(p) => facts.forget_files_under(dry_run, &p),
            Effect::PackagesPending(names) if dry_run => facts.note_packages_pending(&names),
            Effect::PackagesPending(_) => {}
        }
    }
    Outcome {
        changed: true,
        diff: plan.diff,
    }
}

/// `file /etc/motd: create`, what a failed command was doing.
pub fn what(plan: &Plan) -> String {
    format!("{} {}: {}", plan.op, plan.target, plan.summary)
}

/// The command that carries out `action` (none for an upload, which is not a command).
pub fn item_of(plan: &Plan, action: &Action) -> OpResult<Option<Item>> {
    // runbook's own commands (writes, mkdir, ln); a `validate` command is the playbook's.
    let item = |script: &str, stdin: Option<Vec<u8>>| {
        let mut item = Item::own(script, &plan.become_);
        item.stdin = stdin;
        item.stop_on_failure = true;
        Some(item)
    };
    Ok(match action {
        Action::Script { script, stdin } => item(script, stdin.clone()),
        Action::Pipe { local, script } => {
            let bytes = std::fs::read(local)
                .map_err(|e| OpError::invalid(plan.op, format!("cannot read {}: {e}", local.display())))?;
            item(script, Some(bytes))
        }
        Action::Validated { write, .. } => item_of(plan, write)?.map(|item| Item { bare: false, ..item }),
        Action::Upload { .. } => None,
    })
}

/// What the output of `action`'s command means: nothing when it succeeded, else the
/// operation's error (a refusal of its `validate` command told as the playbook's problem).
pub fn judge(host: &Host, plan: &Plan, action: &Action, command_line: &str, out: &ExecOutput) -> OpResult<()> {
    if out.code == 0 {
        return Ok(());
    }
    let failed = ExecFailure::exited(host.name(), command_line, out).doing(what(plan));
    match action {
        // A refusal of the validating command is the playbook's problem, told as such: the
        // command as it ran and what it printed (the target was not touched).
        Action::Validated { command, .. } => match validate::failure(command, &failed.failure) {
            Some(refusal) => Err(OpError::refused(host.name(), plan.op, &plan.target, refusal.why())),
            None => Err(OpError::Command(Box::new(failed))),
        },
        _ => Err(OpError::Command(Box::new(failed))),
    }
}

/// Carries out one action of `plan`.
fn act(host: &Host, plan: &Plan, action: &Action) -> OpResult<()> {
    let Some(item) = item_of(plan, action)? else {
        let Action::Upload { local, remote, mode } = action else {
            unreachable!("only an upload is not a command")
        };
        host.upload(local, remote, *mode).map_err(|f| f.doing(what(plan)))?;
        return Ok(());
    };
    let req = ExecRequest {
        script: item.script,
        stdin: item.stdin,
        become_: item.who,
        ..Default::default()
    };
    let out = host.exec_or_fail(&req).map_err(|f| f.doing(what(plan)))?;
    judge(host, plan, action, &req.command_line(), &out)
}

/// Counts one change on the host and reports it (planned, in a dry run).
pub fn report(host: &Host, plan: &Plan) {
    host.state.record_change();
    let ctx = &host.ctx;
    let diff = plan.diff.as_deref().filter(|_| ctx.dry_run || ctx.show_diff);
    let shown = plan.shown().filter(|_| ctx.dry_run);
    ctx.reporter.change(
        host.name(),
        plan.op,
        &plan.target,
        &plan.summary,
        shown.as_deref(),
        diff,
    );
}

/// Applies `plan` with `guard` scheduled first, then (with `confirm`) proves with a new
/// login that runbook (and so the operator) can still get in; a change that fails half-way
/// (a failed `reload`) or locks SSH out is undone.
fn guarded(host: &Host, mut plan: Plan, guard: Guard) -> OpResult<Outcome> {
    let (op, target) = (plan.op, plan.target.clone());
    // The saved copy (and the host's own undo) are in place before the change, in the same
    // round trip as its first command.
    if let Some(script) = plan.actions.iter_mut().find_map(Action::script_mut) {
        *script = format!("{} && {{ {script}; }}", guard.schedule);
    }
    let become_ = plan.become_.clone();
    let run = |script: String| -> Result<ExecOutput, ExecFailure> {
        let req = ExecRequest {
            script,
            become_: become_.clone(),
            timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        host.exec_or_fail(&req)
    };
    let login_as = guard.login_as.as_deref();
    let applied = match carry_out(host, plan) {
        Ok(outcome) => outcome,
        // Refused by `validate` before anything changed: only the saved copy goes.
        Err(e @ OpError::Refused { .. }) => {
            let _ = run(guard.revert.clone());
            return Err(e);
        }
        // Failed half-way (its reload): put back what it changed.
        Err(e) => {
            let note = match undo(host, &guard, &run) {
                Ok((how, by_timer)) => {
                    // The connection was lost on the way: make a working one the host's.
                    if by_timer {
                        answers_again(host, login_as);
                    }
                    format!("runbook put {} back as it was, {how}", guard.subject)
                }
                Err(problem) => format!("runbook could not put {} back: {problem}", guard.subject),
            };
            return Err(OpError::Reverted {
                error: Box::new(e),
                note,
            });
        }
    };
    let lockout = match guard.confirm {
        Some(confirm) => confirming_login(host, login_as, confirm).err(),
        None => None,
    };
    let Some(why) = lockout else {
        run(guard.cancel.clone())?;
        return Ok(applied);
    };
    let who = login_as.map(|u| format!(" as {u}")).unwrap_or_default();
    let locked = format!("the change locked SSH out (a new connection{who} failed: {why})");
    let how = match undo(host, &guard, &run) {
        // (a firewall keeps established connections, sshd its sessions)
        Ok((how, false)) => format!("{how}, over the connection still open"),
        Ok((how, true)) => how,
        Err(problem) => {
            let why = format!("{locked}; runbook could not revert it: {problem}; check the host's console");
            return Err(OpError::refused(host.name(), op, &target, why));
        }
    };
    let back = answers_again(host, login_as);
    let after = match back {
        true => format!("{} is as it was and SSH answers again", guard.subject),
        false => "but a new SSH connection still fails: check the host's console".to_string(),
    };
    let why = format!("{locked}; runbook reverted it {how}; {after}");
    Err(OpError::refused(host.name(), op, &target, why))
}

/// Undoes a guarded change: at once over the open connection, else (the connection is gone
/// too) by the host's own timer. Says how (and whether the timer did it), or why it could not.
fn undo(
    host: &Host,
    guard: &Guard,
    run: &dyn Fn(String) -> Result<ExecOutput, ExecFailure>,
) -> Result<(String, bool), String> {
    let done = match run(guard.revert.clone()) {
        Ok(out) if out.code == 0 => Ok(("at once".to_string(), false)),
        Ok(out) => {
            let said = out.stderr_text();
            let said = said.trim().lines().last().unwrap_or("").to_string();
            Err(format!("undoing it exited with code {}: {said}", out.code))
        }
        Err(e) => match guard.confirm {
            Some(after) => {
                std::thread::sleep(after + Duration::from_secs(5));
                Ok((
                    format!("by the host's timer after {}", humantime::format_duration(after)),
                    true,
                ))
            }
            None => Err(format!("the host cannot be reached ({e})")),
        },
    };
    // What the step knew of the host's facts predates the undo.
    host.state.facts.begin_step();
    done
}

/// A new login right after the change, tried again for a little while (half of `confirm`,
/// at most 10 s): a reloaded sshd re-executes itself and refuses connections for a moment.
fn confirming_login(host: &Host, login_as: Option<&str>, confirm: Duration) -> Result<(), String> {
    let until = std::time::Instant::now() + (confirm / 2).min(Duration::from_secs(10));
    loop {
        match new_login(host, login_as) {
            Ok(_) => return Ok(()),
            Err(why) if std::time::Instant::now() >= until => return Err(why),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Whether a new login works again (tried for half a minute); a working login as runbook's
/// own user becomes the host's connection, since its old one may have died with the change.
fn answers_again(host: &Host, login_as: Option<&str>) -> bool {
    (0..6).any(|_| match new_login(host, login_as) {
        Ok(conn) => {
            if login_as.is_none() {
                host.adopt_connection(conn);
            }
            true
        }
        Err(_) => {
            std::thread::sleep(Duration::from_secs(5));
            false
        }
    })
}

/// A new SSH login to the host (not the open connection, which established-state rules
/// keep alive), as `user` (else runbook's own), running `true`.
fn new_login(host: &Host, user: Option<&str>) -> Result<std::sync::Arc<dyn Connection>, String> {
    let mut spec = host.state.spec.clone();
    if let Some(u) = user {
        spec.user = Some(u.to_string());
    }
    host.fresh_login(&spec, "true", LOGIN_TIMEOUT)
}

const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
