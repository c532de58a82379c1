//! A step's operations on a host, carried out together: the facts every queued operation
//! needs are read in one script, the operations are planned in order against them (each
//! seeing what the ones before it will have changed, as a dry run does), and all their
//! changes are made by one more script, which stops at the first failure. So a step that
//! changes nothing costs one round trip per host, and one that changes things two.
//!
//! What the batch cannot predict ends it: a change it cannot foresee the result of (a
//! command that writes, an upload, a change guarded by a new login) is carried out with the
//! ones before it, and the operations after it are planned against the host as it then is.
//! Every operation keeps its meaning: the same plans, the same order, the same errors.

use std::cell::RefCell;
use std::collections::HashMap;

use super::apply::{self, item_of, judge, settle, what};
use super::command::{self, Command, Ran};
use super::error::{OpError, OpResult};
use super::plan::{Action, Effect, Outcome, Plan};
use crate::connection::failure::ExecFailure;
use crate::connection::framed::{self, Item};
use crate::connection::{ExecOutput, ExecRequest};
use crate::facts::{Fact, FactKey, FileFact, Look, at_or_below, probe};
use crate::host::Host;
use crate::shell::Become;

/// Plans one operation against what a `Look` shows (called again when it needed a fact
/// not read yet).
pub type Planner = Box<dyn Fn(&dyn Look) -> OpResult<Option<Plan>> + Send + Sync>;

/// A queued piece of work.
pub enum Work {
    /// An idempotent operation (`h.file`, `h.dir`, …).
    Op(Planner),
    /// `h.run`.
    Run(Command),
}

/// What a piece of work did.
#[derive(Debug, Clone)]
pub enum Done {
    Op(Outcome),
    Run(Ran),
}

impl Done {
    pub fn changed(&self) -> bool {
        match self {
            Done::Op(o) => o.changed,
            Done::Run(r) => r.changed,
        }
    }
}

/// Where a batch stopped: the index of the work that failed, and why.
#[derive(Debug)]
pub struct Stopped {
    pub index: usize,
    pub error: String,
}

/// Told each piece's outcome as soon as it is known, in order, before anything after it
/// happens (`notify` journals there); an error stops the batch at that piece.
pub type Told<'a> = &'a mut dyn FnMut(usize, &Done) -> Result<(), String>;

/// Carries out `work` in order on `host`; the outcome of each piece until the first failure.
/// A piece marked in `tells` ends its script, so `told` hears of its change before any later
/// command runs (a handler notified by a change is journaled before what follows it).
pub fn carry_out(host: &Host, work: &[Work], tells: &[bool], told: Told) -> (Vec<Done>, Option<Stopped>) {
    let mut batch = Batch::new(host, told);
    let mut done = Vec::with_capacity(work.len());
    while done.len() < work.len() {
        let from = done.len();
        let result = batch
            .segment(&work[from..])
            .and_then(|planned| batch.execute(&work[from..], &tells[from..], planned, &mut done));
        if let Err(Stopped { index, error }) = result {
            return (
                done,
                Some(Stopped {
                    index: from + index,
                    error,
                }),
            );
        }
    }
    (done, None)
}

/// A planned piece of work.
enum Planned {
    Op(Option<Box<Plan>>),
    Run,
}

/// What one batch knows beyond the host's fact store.
struct Batch<'h, 't> {
    host: &'h Host,
    told: Told<'t>,
    /// Answers to queries and file contents read this batch, by (script, who).
    answers: HashMap<(String, Become), ExecOutput>,
    /// Read-only commands run ahead with the first probe, by index in the work.
    early: HashMap<usize, ExecOutput>,
    /// Whether a change was made (or planned) since the batch began: a read-only command
    /// run ahead no longer shows the host as it is at its turn.
    changed_since_probe: bool,
}

/// What planning found it needs to read.
#[derive(Default)]
struct Needs {
    /// Each with the index of the first work that needs it.
    facts: Vec<(FactKey, Become, usize)>,
    queries: Vec<(String, Become)>,
}

impl<'h, 't> Batch<'h, 't> {
    fn new(host: &'h Host, told: Told<'t>) -> Self {
        Batch {
            host,
            told,
            answers: HashMap::new(),
            early: HashMap::new(),
            changed_since_probe: false,
        }
    }

    fn dry_run(&self) -> bool {
        self.host.ctx.dry_run
    }

    /// Plans work from the start of `work` up to (and with) the first piece whose result
    /// the batch cannot predict, reading what the plans need in as few scripts as it takes
    /// (one, unless a plan's need depends on another fact's answer).
    fn segment(&mut self, work: &[Work]) -> Result<Vec<Planned>, Stopped> {
        let mut first_round = self.early.is_empty() && !self.changed_since_probe;
        loop {
            let needs = RefCell::new(Needs::default());
            let mut planned = Vec::new();
            // What the plans so far will have changed (a real run's predictions), and the
            // paths a planned `absent` removes: nothing is left at or below them.
            let mut ahead: HashMap<FactKey, Fact> = HashMap::new();
            let mut removed: Vec<String> = Vec::new();
            let mut error = None;
            for (i, w) in work.iter().enumerate() {
                match w {
                    Work::Run(c) => {
                        planned.push(Planned::Run);
                        // A command that writes: what comes after it sees the host it leaves.
                        if !c.readonly && !self.dry_run() {
                            break;
                        }
                    }
                    Work::Op(plan) => {
                        let look = Ahead {
                            index: i,
                            batch: self,
                            ahead: &ahead,
                            removed: &removed,
                            needs: &needs,
                        };
                        match plan(&look) {
                            Ok(p) => {
                                let stop = p.as_ref().is_some_and(|p| self.unforeseeable(p));
                                if let Some(p) = &p {
                                    foresee(p, &mut ahead, &mut removed);
                                }
                                planned.push(Planned::Op(p.map(Box::new)));
                                if stop {
                                    break;
                                }
                            }
                            Err(e) if needed(&e) => {
                                // Planned again once read; later work may need facts too.
                                planned.push(Planned::Op(None));
                            }
                            Err(e) => {
                                if error.is_none() {
                                    error = Some((i, e));
                                }
                                break;
                            }
                        }
                    }
                }
            }
            let needs = needs.into_inner();
            if needs.facts.is_empty() && needs.queries.is_empty() {
                if let Some((index, error)) = error {
                    // Work before the failing piece still happens, as it did one by one.
                    if index > 0 {
                        planned.truncate(index);
                        return Ok(planned);
                    }
                    return Err(Stopped {
                        index,
                        error: error.to_string(),
                    });
                }
                return Ok(planned);
            }
            let early: Vec<usize> = match first_round {
                true => early_reads(work),
                false => Vec::new(),
            };
            first_round = false;
            match self.read(needs, work, &early) {
                Ok(()) => {}
                // Reading what a later piece needs failed: the pieces before it go on as
                // they did one by one (its own failure comes when the batch reaches it).
                Err(stopped) if stopped.index > 0 => return self.segment(&work[..stopped.index]),
                Err(stopped) => return Err(stopped),
            }
        }
    }

    /// Whether the batch cannot foresee the host after `plan`: it must be carried out before
    /// anything after it is planned.
    fn unforeseeable(&self, plan: &Plan) -> bool {
        if self.dry_run() {
            return false;
        }
        plan.guard.is_some()
            || plan.actions.iter().any(|a| matches!(a, Action::Upload { .. }))
            || plan
                .effects
                .iter()
                .any(|e| matches!(e, Effect::ForgetUnder(_) | Effect::PackagesPending(_)))
    }

    /// Reads `needs` (and runs the read-only commands `early` ahead) in one script.
    fn read(&mut self, needs: Needs, work: &[Work], early: &[usize]) -> Result<(), Stopped> {
        let host = self.host;
        let mut items = Vec::new();
        // Facts, one probe per user they are read as (sudo or not).
        // (with the first work that needs each)
        let mut groups: Vec<(Become, Vec<FactKey>)> = Vec::new();
        let mut first: Vec<usize> = Vec::new();
        for (key, who, index) in needs.facts {
            match groups.iter().position(|(w, _)| *w == who) {
                Some(g) => {
                    if !groups[g].1.contains(&key) {
                        groups[g].1.push(key);
                    }
                    first[g] = first[g].min(index);
                }
                None => {
                    groups.push((who, vec![key]));
                    first.push(index);
                }
            }
        }
        for (who, keys) in &groups {
            let refs: Vec<&FactKey> = keys.iter().collect();
            items.push(Item::own(probe::script(&refs), who));
        }
        let mut queries = needs.queries;
        queries.dedup();
        for (script, who) in &queries {
            items.push(Item::own(script.clone(), who));
        }
        let timeout = host.ctx.command_timeout.map(crate::shell::limit_secs);
        for &i in early {
            if let Work::Run(c) = &work[i] {
                items.push(run_item(c, timeout));
            }
        }
        let names: Vec<String> = groups
            .iter()
            .flat_map(|(_, k)| k.iter().map(|k| k.to_string()))
            .collect();
        if !names.is_empty() {
            host.ctx
                .reporter
                .doing(host.name(), &format!("looking at {}", names.join(", ")));
        }
        let mut probes = vec![true; items.len()];
        probes.truncate(items.len() - early.len());
        probes.resize(items.len(), false);
        let outs = match self.send(&items, &probes) {
            Ok(outs) => outs,
            Err(e) => {
                return Err(Stopped {
                    index: 0,
                    error: OpError::from(ExecFailure::not_run(host.name(), &e, "(reading facts)")).to_string(),
                });
            }
        };
        let mut outs = outs.into_iter();
        for ((_, keys), index) in groups.into_iter().zip(first) {
            let out = outs.next().flatten().unwrap_or_default();
            if out.code != 0 {
                return Err(Stopped {
                    index,
                    error: OpError::from(ExecFailure::exited(host.name(), "(reading facts)", &out)).to_string(),
                });
            }
            let refs: Vec<&FactKey> = keys.iter().collect();
            let parsed = probe::parse(&refs, &out.stdout_text()).map_err(|why| Stopped {
                index,
                error: OpError::from(ExecFailure::Garbled {
                    host: host.name().into(),
                    command: "(reading facts)".into(),
                    why,
                })
                .to_string(),
            })?;
            host.state.facts.probed(keys.into_iter().zip(parsed));
        }
        for q in queries {
            let out = outs.next().flatten().unwrap_or_default();
            self.answers.insert(q, out);
        }
        for &i in early {
            if let Some(out) = outs.next().flatten() {
                self.early.insert(i, out);
            }
        }
        Ok(())
    }

    /// Sends `items` as one script (one round trip); each item's answer.
    /// `probes[i]`: item i only looks (shown at `-vv`, as probes are).
    fn send(&self, items: &[Item], probes: &[bool]) -> Result<Vec<Option<ExecOutput>>, crate::connection::ConnError> {
        let host = self.host;
        let (script, nonce) = framed::script(items);
        // The script goes on standard input, never in a command line: what it carries (file
        // contents, secrets among them) would show in `ps` to every user of the host while
        // it runs, and a command line has a limit. It is read whole (`cat`), then run:
        // `sh -s` would read it from the pipe a byte per system call.
        let mut req = ExecRequest {
            script: "__rb_batch=$(cat) && eval \"$__rb_batch\"".into(),
            stdin: Some(script.into_bytes()),
            stdin_script: true,
            ..Default::default()
        };
        // Each item has its own time limit (`timeout` on the host); the script has the sum,
        // which also ends the wait for output something left running still holds.
        req.timeout = items
            .iter()
            .map(|i| {
                i.timeout_secs
                    .map(std::time::Duration::from_secs)
                    .or(host.ctx.command_timeout)
            })
            .sum::<Option<std::time::Duration>>()
            // (after the host's own `timeout`, which kills with KILL 5 s after TERM)
            .map(|t| t + std::time::Duration::from_secs(5));
        let started = std::time::Instant::now();
        let out = host.exec_unlimited(&req)?;
        LASTED.with(|l| l.set(started.elapsed()));
        let outs = framed::parse(&nonce, items.len(), &out);
        let reporter = &host.ctx.reporter;
        for ((item, out), probe) in items.iter().zip(&outs).zip(probes) {
            if let Some(out) = out
                && reporter.shows_commands(*probe)
            {
                reporter.command(
                    host.name(),
                    &wrap_plain(item),
                    &out.stdout_text(),
                    &out.stderr_text(),
                    out.code,
                );
            }
        }
        Ok(outs)
    }

    /// Carries out the planned work: a dry run reports it; a real run makes every change in
    /// one script (an upload or a guarded change on its own, in its place).
    fn execute(
        &mut self,
        work: &[Work],
        tells: &[bool],
        planned: Vec<Planned>,
        done: &mut Vec<Done>,
    ) -> Result<(), Stopped> {
        let base = done.len();
        let host = self.host;
        let timeout = host.ctx.command_timeout.map(crate::shell::limit_secs);
        // Pieces waiting for the next script: (index in `work`, plan, the items of its actions).
        let mut pending: Vec<Pending> = Vec::new();
        let count = planned.len();
        for (i, p) in planned.into_iter().enumerate() {
            match (p, &work[i]) {
                (Planned::Op(None), _) => pending.push(Pending::Unchanged(i)),
                (Planned::Op(Some(plan)), _) if self.dry_run() => {
                    pending.push(Pending::Reported(i, apply::apply(host, Some(*plan))))
                }
                (Planned::Op(Some(plan)), _) => {
                    let items: Option<Vec<(Action, Item)>> = plan
                        .actions
                        .iter()
                        .map(|a| item_of(&plan, a).map(|it| it.map(|it| (a.clone(), limited(it, timeout)))))
                        .collect::<OpResult<Vec<_>>>()
                        .map_err(|e| Stopped {
                            index: i,
                            error: e.to_string(),
                        })?
                        .into_iter()
                        .collect();
                    match items {
                        Some(items) if plan.guard.is_none() => {
                            pending.push(Pending::Change(i, plan, items));
                            if tells[i] {
                                self.flush(work, &mut pending, done, base)?;
                            }
                        }
                        // On its own: its upload, or its guard's new login, comes between commands.
                        _ => {
                            self.flush(work, &mut pending, done, base)?;
                            let outcome = apply::apply(host, Some(*plan)).map_err(|error| Stopped {
                                index: i,
                                error: error.to_string(),
                            })?;
                            let outcome = Done::Op(outcome);
                            (self.told)(base + i, &outcome).map_err(|error| Stopped { index: i, error })?;
                            done.push(outcome);
                        }
                    }
                    self.changed_since_probe = true;
                }
                (Planned::Run, Work::Run(c)) => match command::announce(host, c) {
                    Some(ran) => pending.push(Pending::Ran(i, ran)),
                    None => match self.early.remove(&i).filter(|_| !self.changed_since_probe) {
                        Some(out) => pending.push(Pending::RanEarly(i, out)),
                        None => {
                            let mut item = run_item(c, timeout);
                            item.stop_on_failure = c.check;
                            if !c.readonly {
                                self.changed_since_probe = true;
                            }
                            pending.push(Pending::Command(i, item));
                            // A dry run changes nothing: a command runs in its place in the output.
                            if self.dry_run() || tells[i] {
                                self.flush(work, &mut pending, done, base)?;
                            }
                        }
                    },
                },
                (Planned::Run, Work::Op(_)) => unreachable!("planned as its work"),
            }
        }
        self.flush(work, &mut pending, done, base)?;
        debug_assert_eq!(done.len(), base + count);
        // Read ahead for this segment only.
        self.early.clear();
        Ok(())
    }

    /// Sends the changes and commands waiting in `pending` as one script, then settles each
    /// piece in order: its report, its facts, its outcome; the first failure stops.
    fn flush(
        &mut self,
        work: &[Work],
        pending: &mut Vec<Pending>,
        done: &mut Vec<Done>,
        base: usize,
    ) -> Result<(), Stopped> {
        let host = self.host;
        let pieces = std::mem::take(pending);
        let mut items: Vec<Item> = Vec::new();
        for p in &pieces {
            match p {
                Pending::Change(_, _, its) => items.extend(its.iter().map(|(_, it)| it.clone())),
                Pending::Command(_, it) => items.push(it.clone()),
                _ => {}
            }
        }
        let mut outs = match items.is_empty() {
            true => Ok(Vec::new()),
            false => {
                let changes: Vec<String> = pieces
                    .iter()
                    .filter_map(|p| match p {
                        Pending::Change(_, plan, _) => Some(what(plan)),
                        Pending::Command(_, it) => Some(format!("run {}", it.script)),
                        _ => None,
                    })
                    .collect();
                host.ctx.reporter.doing(host.name(), &changes.join("; "));
                self.send(&items, &vec![false; items.len()])
            }
        }
        .map(|o| o.into_iter());
        // The connection failed: what it was doing did not (or may not) happen.
        let lost = |e: &crate::connection::ConnError, command: &str| -> ExecFailure {
            ExecFailure::not_run(host.name(), e, command)
        };
        for p in pieces {
            let (i, result): (usize, OpResult<Done>) = match p {
                Pending::Unchanged(i) => (i, Ok(Done::Op(Outcome::unchanged()))),
                Pending::Reported(i, r) => (i, r.map(Done::Op)),
                Pending::Ran(i, ran) => (i, Ok(Done::Run(ran))),
                Pending::RanEarly(i, out) => {
                    let Work::Run(c) = &work[i] else { unreachable!() };
                    let item = run_item(c, host.ctx.command_timeout.map(crate::shell::limit_secs));
                    match timed_out(host, &item, c.req.timeout, &c.req.script, &out) {
                        Some(f) => (i, Err(f.into())),
                        None => (i, command::finish(host, c, out).map(Done::Run)),
                    }
                }
                Pending::Command(i, item) => {
                    let Work::Run(c) = &work[i] else { unreachable!() };
                    let r = match &mut outs {
                        Ok(o) => match o.next().flatten() {
                            Some(out) => match timed_out(host, &item, c.req.timeout, &c.req.script, &out) {
                                Some(f) => Err(f.into()),
                                None => command::finish(host, c, out).map(Done::Run),
                            },
                            None => Err(cut_short(host, &c.req.script).into()),
                        },
                        // The script's limit is the sum of its commands': told as this one's.
                        Err(crate::connection::ConnError::Timeout(_)) => {
                            let limit = c.req.timeout.or(host.ctx.command_timeout).unwrap_or_default();
                            Err(lost(&crate::connection::ConnError::Timeout(limit), &c.req.script).into())
                        }
                        Err(e) => Err(lost(e, &c.req.script).into()),
                    };
                    (i, r)
                }
                Pending::Change(i, plan, its) => {
                    let mut r = Ok(());
                    for (action, item) in &its {
                        r = match &mut outs {
                            Ok(o) => match o.next().flatten() {
                                Some(out) => {
                                    let cmd = wrap_plain(item);
                                    match timed_out(host, item, None, &item.script, &out) {
                                        Some(f) => Err(f.doing(what(&plan)).into()),
                                        None => judge(host, &plan, action, &cmd, &out),
                                    }
                                }
                                None => Err(cut_short(host, &wrap_plain(item)).doing(what(&plan)).into()),
                            },
                            Err(e) => Err(lost(e, &item.script).doing(what(&plan)).into()),
                        };
                        if r.is_err() {
                            break;
                        }
                    }
                    match r {
                        Ok(()) => {
                            apply::report(host, &plan);
                            (i, Ok(Done::Op(settle(host, *plan))))
                        }
                        Err(e) => {
                            // What it changed before failing is not what the facts say.
                            for e in &plan.effects {
                                if let Effect::Predict(k, _) = e {
                                    host.state.facts.forget(k);
                                }
                            }
                            (i, Err(e))
                        }
                    }
                }
            };
            match result {
                Ok(d) => {
                    (self.told)(base + i, &d).map_err(|error| Stopped { index: i, error })?;
                    done.push(d);
                }
                Err(error) => {
                    return Err(Stopped {
                        index: i,
                        error: error.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A piece of work on its way to the host.
enum Pending {
    Unchanged(usize),
    /// A dry run's plan, reported.
    Reported(usize, Result<Outcome, OpError>),
    /// A dry run's command that writes: announced, not run.
    Ran(usize, Ran),
    /// A read-only command run ahead with the probe, nothing having changed since.
    RanEarly(usize, ExecOutput),
    Command(usize, Item),
    Change(usize, Box<Plan>, Vec<(Action, Item)>),
}

/// The command line of a plan's action as messages showed it when it ran alone (without
/// the time limit the batch adds).
fn wrap_plain(item: &Item) -> String {
    crate::shell::wrap(&item.script, &[], None, &item.who, None)
}

/// An item the host's `timeout` stopped: the error a command that ran alone gave then
/// (`limit`: its time limit as given, the run's default else).
fn timed_out(
    host: &Host,
    item: &Item,
    limit: Option<std::time::Duration>,
    command: &str,
    out: &ExecOutput,
) -> Option<ExecFailure> {
    let secs = item.timeout_secs?;
    // 124 and 137 are also what a command killed otherwise exits with: a time limit the
    // whole script did not even last cannot have stopped it.
    let lasted = LASTED.with(|l| l.get());
    let could = lasted >= std::time::Duration::from_secs(secs);
    (could && matches!(out.code, 124 | 137)).then(|| {
        let limit = limit
            .or(host.ctx.command_timeout)
            .unwrap_or(std::time::Duration::from_secs(secs));
        let e = crate::connection::ConnError::Timeout(limit);
        ExecFailure::not_run(host.name(), &e, command)
    })
}

/// A playbook's command (a `validate`) gets the run's time limit of its own; runbook's
/// own commands only the script's (the sum of its commands' limits).
fn limited(mut item: Item, secs: Option<u64>) -> Item {
    if !item.bare {
        item.timeout_secs = secs;
    }
    item
}

/// `h.run`'s command as one item: its env and directory inside, its user and limit around.
fn run_item(c: &Command, default_timeout: Option<u64>) -> Item {
    let req = &c.req;
    let inner = crate::shell::wrap(&req.script, &req.env, req.cwd.as_deref(), &Become::Me, None);
    let mut item = Item::new(inner, &req.become_);
    item.stdin = req.stdin.clone();
    item.timeout_secs = req.timeout.map(crate::shell::limit_secs).or(default_timeout);
    item
}

/// A command the script never finished (the connection dropped during it).
fn cut_short(host: &Host, command: &str) -> ExecFailure {
    ExecFailure::not_run(
        host.name(),
        &crate::connection::ConnError::Other("the batch script ended before this command finished".into()),
        command,
    )
}

/// The read-only commands ahead of the first command that writes: run with the first probe,
/// their answers stand when nothing before them changes anything.
fn early_reads(work: &[Work]) -> Vec<usize> {
    let mut early = Vec::new();
    for (i, w) in work.iter().enumerate() {
        if let Work::Run(c) = w {
            if !c.readonly {
                break;
            }
            early.push(i);
        }
    }
    early
}

/// Records what `plan` will leave, for the plans after it in the same batch.
fn foresee(plan: &Plan, ahead: &mut HashMap<FactKey, Fact>, removed: &mut Vec<String>) {
    for e in &plan.effects {
        match e {
            Effect::Predict(k, f) => {
                ahead.insert(k.clone(), f.clone());
            }
            Effect::RemovedUnder(p) => {
                ahead.retain(|k, _| !matches!(k, FactKey::File(f) if at_or_below(f, p)));
                removed.push(p.clone());
            }
            Effect::ForgetUnder(_) | Effect::PackagesPending(_) => {}
        }
    }
}

thread_local! {
    /// How long the last script sent from this thread took.
    static LASTED: std::cell::Cell<std::time::Duration> = const { std::cell::Cell::new(std::time::Duration::ZERO) };
}

const NEEDED: &str = "(needed by the batch)";

fn needed(e: &OpError) -> bool {
    matches!(e, OpError::Command(f) if matches!(&f.failure, ExecFailure::Garbled { command, .. } if command == NEEDED))
}

/// The host as the batch sees it while planning: the facts read, with the changes planned
/// before applied on top; what is not known yet is noted as needed.
struct Ahead<'a, 'h, 't> {
    /// The work being planned.
    index: usize,
    batch: &'a Batch<'h, 't>,
    ahead: &'a HashMap<FactKey, Fact>,
    removed: &'a [String],
    needs: &'a RefCell<Needs>,
}

impl Ahead<'_, '_, '_> {
    fn need(&self) -> ExecFailure {
        ExecFailure::Garbled {
            host: self.batch.host.name().into(),
            command: NEEDED.into(),
            why: "not read yet".into(),
        }
    }

    fn removed(&self, key: &FactKey) -> bool {
        let FactKey::File(p) = key else { return false };
        self.removed.iter().any(|r| at_or_below(p, r))
    }
}

impl Look for Ahead<'_, '_, '_> {
    fn host_name(&self) -> &str {
        self.batch.host.name()
    }

    fn dry_run(&self) -> bool {
        self.batch.host.dry_run()
    }

    fn show_diff(&self) -> bool {
        Look::show_diff(self.batch.host)
    }

    fn facts(&self, keys: &[FactKey], who: &Become) -> Result<Vec<Fact>, ExecFailure> {
        let mut found = Vec::with_capacity(keys.len());
        let mut missing = false;
        for k in keys {
            match self.known(k) {
                Some(f) => found.push(f),
                None => {
                    self.needs.borrow_mut().facts.push((k.clone(), who.clone(), self.index));
                    missing = true;
                }
            }
        }
        match missing {
            true => Err(self.need()),
            false => Ok(found),
        }
    }

    fn known(&self, key: &FactKey) -> Option<Fact> {
        if let Some(f) = self.ahead.get(key) {
            return Some(f.clone());
        }
        if self.removed(key) {
            return Some(Fact::File(FileFact::missing()));
        }
        self.batch.host.state.facts.known(key)
    }

    fn content(&self, path: &str, who: &Become) -> Result<Vec<u8>, ExecFailure> {
        let script = format!("cat -- {}", crate::shell::quote(path));
        let out = self.query(&script, who)?;
        match out.code {
            0 => Ok(out.stdout),
            _ => Err(ExecFailure::exited(
                self.host_name(),
                &crate::shell::wrap(&script, &[], None, who, None),
                &out,
            )),
        }
    }

    fn query(&self, script: &str, who: &Become) -> Result<ExecOutput, ExecFailure> {
        let key = (script.to_string(), who.clone());
        match self.batch.answers.get(&key) {
            Some(out) => Ok(out.clone()),
            None => {
                self.needs.borrow_mut().queries.push(key);
                Err(self.need())
            }
        }
    }

    fn packages_pending(&self) -> Vec<String> {
        self.batch.host.packages_pending()
    }
}
