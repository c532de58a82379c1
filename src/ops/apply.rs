//! The one path every operation's change takes: run its actions (or, in a dry run, only
//! show them), count and report the change, and record what it did to the host's facts.

use std::time::Duration;

use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Guard, Outcome, Plan};
use crate::connection::failure::ExecFailure;
use crate::connection::{ExecOutput, ExecRequest};
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
        let what = || format!("{} {}: {}", plan.op, plan.target, plan.summary);
        host.ctx.reporter.doing(host.name(), &what());
        for action in &plan.actions {
            match action {
                Action::Script { script, stdin } => {
                    let req = ExecRequest {
                        script: script.clone(),
                        stdin: stdin.clone(),
                        become_: plan.become_.clone(),
                        ..Default::default()
                    };
                    host.checked(&req).map_err(|f| f.doing(what()))?;
                }
                Action::Upload { local, remote, mode } => {
                    host.upload(local, remote, *mode).map_err(|f| f.doing(what()))?;
                }
                Action::Pipe { local, script } => {
                    let bytes = std::fs::read(local)
                        .map_err(|e| OpError::invalid(plan.op, format!("cannot read {}: {e}", local.display())))?;
                    let req = ExecRequest {
                        script: script.clone(),
                        stdin: Some(bytes),
                        become_: plan.become_.clone(),
                        ..Default::default()
                    };
                    host.checked(&req).map_err(|f| f.doing(what()))?;
                }
            }
        }
    }
    report(host, &plan);
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
    Ok(Outcome {
        changed: true,
        diff: plan.diff,
    })
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

/// Applies `plan` with `guard` scheduled first, then proves with a new login that runbook
/// (and so the operator) can still get in.
fn guarded(host: &Host, mut plan: Plan, guard: Guard) -> OpResult<Outcome> {
    let (op, target) = (plan.op, plan.target.clone());
    // The undo is in place before the change, in the same round trip.
    if let Some(Action::Script { script, .. }) = plan.actions.first_mut() {
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
    let applied = carry_out(host, plan);
    if applied.is_err() {
        // The change failed half-way: put it back as it was, now.
        let _ = run(guard.revert.clone());
        return applied;
    }
    let Err(why) = new_login(host) else {
        run(guard.cancel.clone())?;
        return applied;
    };
    let how = match run(guard.revert.clone()) {
        Ok(out) if out.code == 0 => "at once, over the connection still open".to_string(),
        _ => {
            // The open connection is gone too: the host's own timer undoes it.
            std::thread::sleep(guard.confirm + Duration::from_secs(5));
            format!(
                "by the host's timer after {}",
                humantime::format_duration(guard.confirm)
            )
        }
    };
    host.state.facts.begin_step();
    let back = (0..6).any(|_| match new_login(host) {
        Ok(()) => true,
        Err(_) => {
            std::thread::sleep(Duration::from_secs(5));
            false
        }
    });
    let after = match back {
        true => format!("the {target} is as it was and SSH answers again"),
        false => "but a new SSH connection still fails: check the host's console".to_string(),
    };
    let why = format!("the change locked SSH out (a new connection failed: {why}); runbook reverted it {how}; {after}");
    Err(OpError::refused(host.name(), op, &target, why))
}

/// A new SSH login to the host (not the open connection, which established-state rules
/// keep alive), running `true`.
fn new_login(host: &Host) -> Result<(), String> {
    host.fresh_login(&host.state.spec, "true", LOGIN_TIMEOUT).map(|_| ())
}

const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
