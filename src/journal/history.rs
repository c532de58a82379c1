//! `runbook history`: the runs a store has journaled, and one run's steps × hosts.

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::lock::format_time;
use super::store::{RunRow, StepRecord, Store};
use crate::error::{Error, Result};
use crate::report::{CONTROLLER, OutputFormat};

/// The list of runs (of one inventory), oldest first.
pub fn list(journal: &dyn Store, inventory: Option<&str>, format: OutputFormat) -> Result<String> {
    let runs = journal.runs(inventory)?;
    if format == OutputFormat::Json {
        let items: Vec<Value> = runs.iter().map(run_json).collect();
        return Ok(serde_json::to_string_pretty(&items).expect("JSON values serialize"));
    }
    if runs.is_empty() {
        return Ok(format!("no runs in {}", journal.label()));
    }
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|r| {
            let mut outcome = r.shown_outcome().to_string();
            if let Some(n) = r.resumes {
                outcome.push_str(&format!(" (resumes {n})"));
            }
            [
                r.id.to_string(),
                r.playbook.clone(),
                r.inventory.clone(),
                outcome,
                format_time(r.started_ms),
                duration(r),
                r.changes.to_string(),
            ]
        })
        .collect();
    let header = [
        "RUN",
        "PLAYBOOK",
        "INVENTORY",
        "OUTCOME",
        "STARTED",
        "DURATION",
        "CHANGES",
    ];
    Ok(table(&header, &rows))
}

/// One run: its header, a grid of steps × hosts, then the errors.
pub fn show(journal: &dyn Store, id: i64, format: OutputFormat) -> Result<String> {
    let run = journal
        .run(id)?
        .ok_or_else(|| Error::Usage(format!("no run {id} in {}", journal.label())))?;
    let records = journal.results(id)?;
    // Steps in the order they first appear, each with its hosts' records.
    let mut steps: IndexMap<String, Vec<&StepRecord>> = IndexMap::new();
    let mut hosts: Vec<&str> = Vec::new();
    for r in &records {
        steps.entry(r.step_key.clone()).or_default().push(r);
        if !hosts.contains(&r.host.as_str()) {
            hosts.push(&r.host);
        }
    }
    // A handler's row under its step's, though its notification was written first.
    let order: Vec<String> = steps.keys().cloned().collect();
    let base = |k: &str| k.split_once("/handler ").map_or(k, |(s, _)| s).to_string();
    steps.sort_by_cached_key(|k, _| {
        let b = base(k);
        let at = |key: &str| order.iter().position(|o| o == key);
        (at(&b).or(at(k)), b != *k)
    });
    // Hosts finish in any order; show them by name, the controller last.
    hosts.sort_by_key(|h| (*h == CONTROLLER, *h));
    for recs in steps.values_mut() {
        recs.sort_by_key(|r| (r.host == CONTROLLER, r.host.clone()));
    }
    if format == OutputFormat::Json {
        let steps: Vec<Value> = steps
            .values()
            .map(|recs| {
                let hosts: serde_json::Map<String, Value> = recs
                    .iter()
                    .map(|r| {
                        (
                            r.host.clone(),
                            json!({"status": r.status, "changes": r.changes, "error": r.error, "reason": r.reason,
                                   "value": r.value, "done_in": r.done_in, "fingerprint": r.fingerprint,
                                   "started_ms": r.started_ms, "finished_ms": r.finished_ms}),
                        )
                    })
                    .collect();
                json!({"key": recs[0].step_key, "id": recs[0].step_id, "name": recs[0].step_name, "hosts": hosts})
            })
            .collect();
        let doc = json!({"run": run_json(&run), "steps": steps});
        return Ok(serde_json::to_string_pretty(&doc).expect("JSON values serialize"));
    }

    let mut out = format!(
        "run {} · {} · inventory {} · {}",
        run.id,
        run.playbook,
        run.inventory,
        run.shown_outcome()
    );
    if let Some(n) = run.resumes {
        out.push_str(&format!(" · resumes run {n}"));
    }
    out.push_str(&format!(
        "\nstarted {} · {} · {} change(s) · {}@{} pid {}\n",
        format_time(run.started_ms),
        duration(&run),
        run.changes,
        run.user,
        run.controller,
        run.pid
    ));
    if steps.is_empty() {
        out.push_str("\nno step recorded\n");
        return Ok(out);
    }
    let rows: Vec<Vec<String>> = steps
        .values()
        .map(|recs| {
            let mut row = vec![recs[0].step_name.clone()];
            for h in &hosts {
                row.push(recs.iter().find(|r| r.host == *h).map_or("-".into(), |r| cell(r)));
            }
            row
        })
        .collect();
    let mut header = vec!["STEP"];
    header.extend(hosts.iter().copied());
    out.push('\n');
    out.push_str(&table(&header, &rows));
    let errors: Vec<&StepRecord> = records.iter().filter(|r| r.error.is_some()).collect();
    if !errors.is_empty() {
        out.push_str("\n\nERRORS");
        for r in errors {
            out.push_str(&format!("\n  {} on {}:", r.step_name, r.host));
            for l in r.error.as_deref().unwrap_or_default().lines() {
                out.push_str("\n    ");
                out.push_str(l);
            }
        }
    }
    Ok(out)
}

fn cell(r: &StepRecord) -> String {
    match (r.status.as_str(), r.done_in) {
        ("changed", _) => format!("changed {}", r.changes),
        ("failed", _) => "FAILED".into(),
        ("skipped", Some(n)) => format!("done in {n}"),
        (s, _) => s.to_string(),
    }
}

fn run_json(r: &RunRow) -> Value {
    json!({
        "id": r.id, "resumes": r.resumes, "playbook": r.playbook, "playbook_sha256": r.playbook_sha256,
        "inventory": r.inventory, "vars": r.vars, "limit": r.limit, "outcome": r.shown_outcome(),
        "user": r.user, "controller": r.controller, "pid": r.pid,
        "started": format_time(r.started_ms), "started_ms": r.started_ms, "finished_ms": r.finished_ms,
        "duration_ms": r.finished_ms.map(|f| f - r.started_ms), "changes": r.changes,
    })
}

fn duration(r: &RunRow) -> String {
    match r.finished_ms {
        Some(f) => format!("{:.1}s", (f - r.started_ms) as f64 / 1000.0),
        None => "-".into(),
    }
}

/// Left-aligned columns, two spaces apart.
fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.as_ref().iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for row in rows {
        out.push(line(row.as_ref().iter().map(String::as_str).collect()));
    }
    out.join("\n")
}
