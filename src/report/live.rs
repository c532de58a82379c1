//! The live display on a terminal: while a step runs, a bar of the hosts done out of its
//! total with the time since it started, and under it a spinner for each host still
//! working, with what it is doing and for how long (`web1  apt nginx: install nginx  12s`).
//! Finished hosts leave their result line above the bars. Only on a terminal: piped or
//! JSON output stays one plain line per event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Live {
    multi: MultiProgress,
    step: Mutex<Option<ProgressBar>>,
    hosts: Mutex<HashMap<String, ProgressBar>>,
    /// Width of the host column: the longest name of the running step.
    width: Mutex<usize>,
}

impl Live {
    /// A display on standard output, when it is a terminal.
    pub fn on_terminal() -> Option<Live> {
        if !console::Term::stdout().features().is_attended() {
            return None;
        }
        Some(Live::to(ProgressDrawTarget::stdout()))
    }

    fn to(target: ProgressDrawTarget) -> Live {
        Live {
            multi: MultiProgress::with_draw_target(target),
            step: Mutex::new(None),
            hosts: Mutex::new(HashMap::new()),
            width: Mutex::new(8),
        }
    }

    /// A line above the bars (they are drawn again under it).
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    pub fn step_start(&self, step: &str, hosts: &[String]) {
        self.clear();
        *self.width.lock().unwrap() = hosts.iter().map(|h| h.len()).max().unwrap_or(8).max(8);
        let total = hosts.len().max(1) as u64;
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("  {prefix} [{bar:24}] {pos}/{len} hosts  {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.step.lock().unwrap() = Some(bar);
    }

    /// `host` is now doing `what`: its spinner says so, timed from now.
    pub fn doing(&self, host: &str, what: &str) {
        let width = *self.width.lock().unwrap();
        let mut hosts = self.hosts.lock().unwrap();
        let spinner = hosts.entry(host.to_string()).or_insert_with(|| {
            let s = self.multi.add(ProgressBar::new_spinner());
            s.set_style(
                ProgressStyle::with_template("    {spinner} {prefix} {wide_msg} {elapsed}").expect("a valid template"),
            );
            s.set_prefix(format!("{host:<width$}"));
            s.enable_steady_tick(Duration::from_millis(120));
            s
        });
        // One line: a multi-line command shows its first line.
        let what = what.lines().next().unwrap_or_default();
        spinner.set_message(what.to_string());
        spinner.reset_elapsed();
    }

    /// `host` finished the step: its spinner goes, the step's bar moves on.
    pub fn host_done(&self, host: &str) {
        self.host_idle(host);
        if let Some(bar) = self.step.lock().unwrap().as_ref() {
            bar.inc(1);
        }
    }

    /// `host` is idle again within the step (a handler ended): its spinner goes.
    pub fn host_idle(&self, host: &str) {
        if let Some(s) = self.hosts.lock().unwrap().remove(host) {
            s.finish_and_clear();
            self.multi.remove(&s);
        }
    }

    /// Removes every bar and spinner (a step ended, or the run did).
    pub fn clear(&self) {
        for (_, s) in self.hosts.lock().unwrap().drain() {
            s.finish_and_clear();
            self.multi.remove(&s);
        }
        if let Some(bar) = self.step.lock().unwrap().take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_and_go_and_the_bar_counts_them() {
        let live = Live::to(ProgressDrawTarget::hidden());
        live.step_start("nginx", &["web1".into(), "web2".into()]);
        live.doing("web1", "apt nginx: install nginx\nsecond line");
        live.doing("web2", "reading facts");
        assert_eq!(live.hosts.lock().unwrap()["web1"].message(), "apt nginx: install nginx");
        live.host_done("web1");
        assert_eq!(live.step.lock().unwrap().as_ref().unwrap().position(), 1);
        assert!(!live.hosts.lock().unwrap().contains_key("web1"));
        live.clear();
        assert!(live.hosts.lock().unwrap().is_empty() && live.step.lock().unwrap().is_none());
    }
}
