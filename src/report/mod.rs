//! What a run tells its user: per-host results as they happen, errors, and a recap.
//! `text` for people, `json` (one object per line on stdout) for CI.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::json;

use crate::secrets::Secrets;

mod live;

use live::Live;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// `--color`: colours for changed, ok, failed and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// As the command line and `runbook.toml` write it.
    pub fn name(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && console::Term::stdout().features().is_attended()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Ok,
    Changed,
    Failed,
    Skipped,
}

impl HostStatus {
    /// As the journal and JSON events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Changed => "changed",
            HostStatus::Failed => "failed",
            HostStatus::Skipped => "skipped",
        }
    }

    fn label(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Changed => "changed",
            HostStatus::Failed => "FAILED",
            HostStatus::Skipped => "skipped",
        }
    }

    fn style(self) -> console::Style {
        match self {
            HostStatus::Ok => console::Style::new().green(),
            HostStatus::Changed => console::Style::new().yellow(),
            HostStatus::Failed => console::Style::new().red().bold(),
            HostStatus::Skipped => console::Style::new().cyan(),
        }
    }
}

/// One host's outcome of one step.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub host: String,
    pub status: HostStatus,
    /// Operations that changed something (or would, in a dry run).
    pub changes: usize,
    pub error: Option<String>,
    pub duration: Duration,
    /// Why it was skipped (failed earlier, journaled as done, …).
    pub reason: Option<String>,
}

/// Per-host totals for the recap. `ok` and `failed` count steps, `changed` counts
/// operations that changed something, `skipped` counts steps not run on the host.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    /// Counts one host's result of one step: the one rule every total follows.
    pub fn add(&mut self, r: &HostResult) {
        match r.status {
            HostStatus::Ok | HostStatus::Changed => self.ok += 1,
            HostStatus::Failed => self.failed += 1,
            HostStatus::Skipped => self.skipped += 1,
        }
        self.changed += r.changes;
    }

    pub fn of(results: &[HostResult]) -> Counts {
        let mut c = Counts::default();
        for r in results {
            c.add(r);
        }
        c
    }
}

/// The name under which controller steps (no targets) are reported.
pub const CONTROLLER: &str = "(controller)";

pub struct Reporter {
    format: OutputFormat,
    dry_run: bool,
    secrets: Arc<Secrets>,
    out: Mutex<Box<dyn Write + Send>>,
    recap: Mutex<IndexMap<String, Counts>>,
    started: Instant,
    /// The live display, on a terminal in text mode.
    live: Option<Live>,
    colors: bool,
    /// `-v` (1): commands' output; `-vv` (2): also the commands, and the probes.
    verbose: u8,
    /// A dry run's planned changes of each host in the running step, shown together with
    /// the host's result (text only), so a plan reads host by host, not interleaved.
    planned: Mutex<IndexMap<String, Vec<String>>>,
    /// Held while a host's planned lines and its result line are written, so another
    /// host's lines never come between them.
    result_lines: Mutex<()>,
    /// `--list-steps`/`--list-hosts`: a list, no recap.
    listing: bool,
    /// The failed hosts that could not be reached, named apart in the recap.
    unreachable: Mutex<Vec<String>>,
}

impl Reporter {
    pub fn new(format: OutputFormat, dry_run: bool, secrets: Arc<Secrets>) -> Self {
        Self::to_writer(format, dry_run, secrets, Box::new(std::io::stdout()))
    }

    /// On standard output: live progress when it is a terminal and the output is text,
    /// colours as `color` says.
    pub fn on_stdout(format: OutputFormat, color: ColorChoice, dry_run: bool, secrets: Arc<Secrets>) -> Self {
        let mut r = Self::new(format, dry_run, secrets);
        if format == OutputFormat::Text {
            r.live = Live::on_terminal();
            r.colors = color.enabled();
        }
        r
    }

    pub fn to_writer(format: OutputFormat, dry_run: bool, secrets: Arc<Secrets>, out: Box<dyn Write + Send>) -> Self {
        Reporter {
            format,
            dry_run,
            secrets,
            out: Mutex::new(out),
            recap: Mutex::new(IndexMap::new()),
            started: Instant::now(),
            live: None,
            colors: false,
            verbose: 0,
            planned: Mutex::new(IndexMap::new()),
            result_lines: Mutex::new(()),
            listing: false,
            unreachable: Mutex::new(Vec::new()),
        }
    }

    /// The hosts that failed because they could not be reached (or logged in to).
    pub fn unreachable(&self, hosts: &[String]) {
        *self.unreachable.lock().unwrap() = hosts.to_vec();
    }

    /// Steps are listed, not run: the header says so and no recap ends the output.
    pub fn listing(mut self, listing: bool) -> Self {
        self.listing = listing;
        self
    }

    /// Writes the planned changes held for `host` (every host's with `None`).
    fn flush_planned(&self, host: Option<&str>) {
        let held: Vec<String> = {
            let mut planned = self.planned.lock().unwrap();
            match host {
                Some(h) => planned.shift_remove(h).unwrap_or_default(),
                None => planned.drain(..).flat_map(|(_, lines)| lines).collect(),
            }
        };
        for line in held {
            self.write_line(&line);
        }
    }

    /// `-v`, `-vv`.
    pub fn with_verbosity(mut self, verbose: u8) -> Self {
        self.verbose = verbose;
        self
    }

    /// Whether a command is shown: changes at `-v`, probes (`probe`) at `-vv`.
    pub fn shows_commands(&self, probe: bool) -> bool {
        match probe {
            true => self.verbose >= 2,
            false => self.verbose >= 1,
        }
    }

    /// A command run on `host` and what it printed (`-v`; the command line too at `-vv`),
    /// each line prefixed with the host, secrets masked.
    pub fn command(&self, host: &str, command: &str, stdout: &str, stderr: &str, code: i32) {
        self.emit(
            || {
                let mut t = Vec::new();
                if self.verbose >= 2 {
                    t.extend(command.lines().map(|l| format!("  [{host}] $ {l}")));
                }
                t.extend(stdout.lines().map(|l| format!("  [{host}] {l}")));
                t.extend(stderr.lines().map(|l| format!("  [{host}] ! {l}")));
                if code != 0 {
                    t.push(format!("  [{host}] (exit code {code})"));
                }
                t.join("\n")
            },
            || {
                json!({"event": "command", "host": host, "command": command, "stdout": stdout,
                       "stderr": stderr, "code": code})
            },
        );
    }

    /// `text` in `style` when colours are on.
    fn paint(&self, style: console::Style, text: &str) -> String {
        match self.colors {
            true => style.force_styling(true).apply_to(text).to_string(),
            false => text.to_string(),
        }
    }

    /// What `host` is doing now (an operation, a probe, a wait): shown live on a terminal,
    /// nothing otherwise.
    pub fn doing(&self, host: &str, what: &str) {
        if let Some(live) = &self.live {
            live.doing(host, &self.secrets.mask(what));
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Writes one text line or one JSON event, secrets masked.
    fn emit(&self, text: impl FnOnce() -> String, event: impl FnOnce() -> serde_json::Value) {
        let line = match self.format {
            OutputFormat::Text => text(),
            OutputFormat::Json => {
                let mut ev = event();
                ev["ts_ms"] = json!(unix_ms());
                ev.to_string()
            }
        };
        if line.is_empty() {
            return;
        }
        self.write_line(&self.secrets.mask(&line));
    }

    /// One line, already masked, above the live display or to the output.
    fn write_line(&self, line: &str) {
        if let Some(live) = &self.live {
            return live.println(line);
        }
        let mut out = self.out.lock().unwrap();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// `hosts`: the inventory's; `limited`: how many of them `--limit` lets steps run on.
    pub fn run_start(&self, playbook: &str, inventory: &str, hosts: usize, limited: Option<usize>) {
        let mode = match (self.listing, self.dry_run) {
            (true, _) => "STEPS OF ",
            (false, true) => "DRY RUN ",
            (false, false) => "PLAY ",
        };
        self.emit(
            || match limited {
                Some(n) => format!("{mode}{playbook} · inventory {inventory} · {hosts} host(s), steps limited to {n}"),
                None => format!("{mode}{playbook} · inventory {inventory} · {hosts} host(s)"),
            },
            || {
                json!({"event": "run_start", "playbook": playbook, "inventory": inventory, "hosts": hosts,
                       "limited_to": limited, "dry_run": self.dry_run})
            },
        );
    }

    /// A step as `--list-steps`/`--list-hosts` show it: its name, where it is, its tags,
    /// its hosts (`--list-hosts`; `None` for the controller or when not asked), how many
    /// `--limit` leaves out, and why the selection would skip it.
    pub fn listed(
        &self,
        step: &str,
        position: &str,
        tags: &[String],
        hosts: Option<&[String]>,
        left_out: usize,
        skipped: Option<&str>,
    ) {
        self.emit(
            || {
                let mut t = format!("  {step}");
                if !tags.is_empty() {
                    t.push_str(&format!("  [tags: {}]", tags.join(", ")));
                }
                t.push_str(&format!("  ({position})"));
                if let Some(why) = skipped {
                    t.push_str(&format!("  skipped: {why}"));
                }
                if let Some(hosts) = hosts {
                    let limited = match left_out {
                        0 => String::new(),
                        n => format!(" ({n} left out by --limit)"),
                    };
                    let names = match hosts.is_empty() {
                        true => "none".to_string(),
                        false => hosts.join(", "),
                    };
                    t.push_str(&format!("\n      hosts: {names}{limited}"));
                }
                t
            },
            || {
                json!({"event": "step_listed", "step": step, "position": position, "tags": tags,
                       "hosts": hosts, "left_out": left_out, "skipped": skipped})
            },
        );
    }

    pub fn note(&self, message: &str) {
        self.emit(
            || format!("note: {message}"),
            || json!({"event": "note", "message": message}),
        );
    }

    /// `left_out`: targets of the step that `--limit` excludes.
    pub fn step_start(&self, step: &str, hosts: &[String], left_out: usize) {
        {
            let mut recap = self.recap.lock().unwrap();
            let names = if hosts.is_empty() {
                vec![CONTROLLER.to_string()]
            } else {
                hosts.to_vec()
            };
            for h in names {
                recap.entry(h).or_default();
            }
        }
        self.emit(
            || {
                let limited = match left_out {
                    0 => String::new(),
                    n => format!(", {n} left out by --limit"),
                };
                if hosts.is_empty() && left_out == 0 {
                    format!("\nSTEP {step} (controller)")
                } else {
                    format!("\nSTEP {step} ({} host(s){limited})", hosts.len())
                }
            },
            || json!({"event": "step_start", "step": step, "hosts": hosts, "left_out": left_out}),
        );
        if let Some(live) = &self.live {
            match hosts.is_empty() {
                true => live.step_start(step, &[CONTROLLER.to_string()]),
                false => live.step_start(step, hosts),
            }
        }
    }

    pub fn host_result(&self, step: &str, r: &HostResult) {
        self.result(step, None, r);
    }

    /// A handler's result on a host, in the step's output and counts: `changed  web1  handler
    /// restart app  1 changed`.
    pub fn handler_result(&self, step: &str, handler: &str, r: &HostResult) {
        self.result(step, Some(handler), r);
    }

    /// A handler is about to run on `host` because `by` notified it: in a dry run's plan,
    /// `would: [web1] run handler restart app (notified by …)` above its planned changes.
    pub fn handler_start(&self, host: &str, step: &str, handler: &str, by: &str) {
        if let Some(live) = &self.live {
            live.doing(host, &format!("handler {handler}"));
        }
        if self.dry_run && self.format == OutputFormat::Text {
            let line = format!(
                "  {} [{host}] run handler {handler} (notified by {by})",
                self.paint(HostStatus::Changed.style(), "would:")
            );
            self.hold_planned(host, &line);
            return;
        }
        self.emit(String::new, || {
            json!({"event": "handler", "host": host, "step": step, "handler": handler,
                   "notified_by": by, "planned": self.dry_run})
        });
    }

    fn result(&self, step: &str, handler: Option<&str>, r: &HostResult) {
        self.recap.lock().unwrap().entry(r.host.clone()).or_default().add(r);
        let _together = self.result_lines.lock().unwrap_or_else(|e| e.into_inner());
        self.flush_planned(Some(&r.host));
        self.emit(
            || {
                let label = self.paint(r.status.style(), &format!("{:<8}", r.status.label()));
                let mut line = format!("  {label} {}", r.host);
                if let Some(h) = handler {
                    line.push_str(&format!("  handler {h}"));
                }
                if r.changes > 0 {
                    let what = if self.dry_run { "planned" } else { "changed" };
                    line.push_str(&format!("  {} {what}", r.changes));
                }
                if let Some(reason) = &r.reason {
                    line.push_str(&format!("  ({reason})"));
                }
                if r.status != HostStatus::Skipped {
                    line.push_str(&format!("  {:.2}s", r.duration.as_secs_f64()));
                }
                if let Some(err) = &r.error {
                    for l in err.lines() {
                        line.push_str("\n      ");
                        line.push_str(l);
                    }
                }
                line
            },
            || {
                let mut e = json!({"event": "host_result", "step": step, "host": r.host, "status": r.status,
                       "changes": r.changes, "error": r.error, "reason": r.reason,
                       "duration_ms": r.duration.as_millis() as u64});
                if let Some(h) = handler {
                    e["handler"] = json!(h);
                }
                e
            },
        );
        if let Some(live) = &self.live {
            match handler {
                // The host was counted done when its closure ended.
                Some(_) => live.host_idle(&r.host),
                None => live.host_done(&r.host),
            }
        }
    }

    /// The step's totals, in the recap's units: `ok`, `failed`, `skipped` count hosts (this
    /// step on that host), `changed` counts operations that changed something (or would).
    pub fn step_end(&self, step: &str, results: &[HostResult]) {
        self.flush_planned(None);
        if let Some(live) = &self.live {
            live.clear();
        }
        let c = Counts::of(results);
        self.emit(String::new, || {
            json!({"event": "step_end", "step": step, "ok": c.ok, "changed": c.changed,
                   "failed": c.failed, "skipped": c.skipped})
        });
    }

    /// One operation that changed something on a host (or would, in a dry run): what,
    /// and in a dry run the commands; the diff when there is one to show.
    pub fn change(&self, host: &str, op: &str, target: &str, summary: &str, script: Option<&str>, diff: Option<&str>) {
        // A dry run's plan reads host by host: held until the host's result.
        if self.dry_run && self.format == OutputFormat::Text && host != CONTROLLER {
            self.hold_planned(host, &self.change_text(host, op, target, summary, script, diff));
            return;
        }
        self.emit(
            || self.change_text(host, op, target, summary, script, diff),
            || {
                json!({"event": "change", "host": host, "op": op, "target": target, "summary": summary,
                       "command": script, "diff": diff, "planned": self.dry_run})
            },
        );
    }

    fn change_text(
        &self,
        host: &str,
        op: &str,
        target: &str,
        summary: &str,
        script: Option<&str>,
        diff: Option<&str>,
    ) -> String {
        let mut t = match (host, self.dry_run) {
            // The controller's changes (cloud, DNS, local commands) read as sentences.
            (CONTROLLER, true) => format!("  would {summary}"),
            (CONTROLLER, false) => format!("  {summary}"),
            (_, true) => format!(
                "  {} [{host}] {op} {target}: {summary}",
                self.paint(HostStatus::Changed.style(), "would:")
            ),
            (_, false) => format!(
                "  {} [{host}] {op} {target}: {summary}",
                self.paint(HostStatus::Changed.style(), "changed:")
            ),
        };
        if let Some(s) = script {
            for l in s.lines() {
                t.push_str(&format!("\n      $ {l}"));
            }
        }
        if let Some(d) = diff {
            for l in d.lines() {
                t.push_str(&format!("\n      {l}"));
            }
        }
        t
    }

    /// The monthly cost before → after a run's (or a plan's) billed changes.
    pub fn cost(&self, summary: &crate::cost::Summary) {
        self.emit(|| summary.text(self.dry_run), || summary.json());
    }

    /// A line from the playbook (`print`, `log`).
    pub fn log(&self, host: Option<&str>, message: &str) {
        self.emit(
            || match host {
                Some(h) => format!("  [{h}] {message}"),
                None => format!("  {message}"),
            },
            || json!({"event": "log", "host": host, "message": message}),
        );
    }

    pub fn recap(&self) -> IndexMap<String, Counts> {
        self.recap.lock().unwrap().clone()
    }

    /// A dry run's planned line, masked, held until the host's result prints its plan.
    fn hold_planned(&self, host: &str, line: &str) {
        let line = self.secrets.mask(line);
        self.planned
            .lock()
            .unwrap()
            .entry(host.to_string())
            .or_default()
            .push(line);
    }

    /// The recap table and the closing line.
    pub fn finish(&self, exit_code: i32, error: Option<&str>) {
        self.flush_planned(None);
        if let Some(live) = &self.live {
            live.clear();
        }
        if self.listing {
            return self.emit(
                String::new,
                || json!({"event": "recap", "listing": true, "exit_code": exit_code, "error": error}),
            );
        }
        let recap = self.recap();
        let elapsed = self.started.elapsed();
        let hosts = recap.keys().filter(|h| *h != CONTROLLER).count();
        let changes: usize = recap.values().map(|c| c.changed).sum();
        let failed = recap.values().filter(|c| c.failed > 0).count();
        // Stopped before any host or step (an invalid inventory, playbook or option): the
        // error says it all, and a table of zeros would read as a run that did nothing.
        let nothing_ran = recap.is_empty() && error.is_some();
        self.emit(
            || {
                if nothing_ran {
                    return String::new();
                }
                let width = recap.keys().map(|h| h.len()).max().unwrap_or(4).max(4);
                let mut t = format!(
                    "\nRECAP\n  {:<width$}  {:>4}  {:>7}  {:>6}  {:>7}",
                    "host", "ok", "changed", "failed", "skipped"
                );
                for (h, c) in &recap {
                    t.push_str(&format!(
                        "\n  {h:<width$}  {:>4}  {:>7}  {:>6}  {:>7}",
                        c.ok, c.changed, c.failed, c.skipped
                    ));
                }
                let unreachable = self.unreachable.lock().unwrap().clone();
                if !unreachable.is_empty() {
                    t.push_str(&format!("\n  unreachable: {}", unreachable.join(", ")));
                }
                let secs = elapsed.as_secs_f64();
                if self.dry_run {
                    t.push_str(&format!("\n{hosts} hosts, {changes} changes planned ({secs:.1}s)"));
                } else {
                    t.push_str(&format!(
                        "\n{hosts} hosts, {changes} changed, {failed} failed ({secs:.1}s)"
                    ));
                }
                t
            },
            || {
                json!({"event": "recap", "hosts": recap, "changes": changes, "failed_hosts": failed,
                       "unreachable": *self.unreachable.lock().unwrap(),
                       "dry_run": self.dry_run, "duration_ms": elapsed.as_millis() as u64,
                       "exit_code": exit_code, "error": error})
            },
        );
    }

    /// A run-level error (invalid playbook, …): an event in JSON mode; text goes to stderr.
    pub fn error(&self, rendered: &str) {
        if let Some(live) = &self.live {
            live.clear();
        }
        let masked = self.secrets.mask(rendered);
        if self.format == OutputFormat::Json {
            self.emit(String::new, || json!({"event": "error", "message": masked}));
        }
        eprintln!("error: {masked}");
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
