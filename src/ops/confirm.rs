//! Commit-confirmed, as network operating systems call it: before a change that could lock
//! runbook out (a firewall, sshd's config), the host saves what it had and schedules its
//! own restore (a transient systemd timer, else a detached `sleep`); after the change
//! runbook opens a NEW SSH connection, and only when that works cancels the restore. The
//! same saved copy undoes a file change whose `reload` fails, so the next run tries again
//! instead of finding the file already "right".
//!
//! This file writes the shell text of those guards; `apply` carries them out.

use std::time::Duration;

use super::plan::Guard;
use crate::shell::quote;

/// How long a guarded change stands before the host undoes it, unless a new SSH login
/// proves it leaves runbook (and so the operator) a way in.
pub const CONFIRM_DEFAULT: Duration = Duration::from_secs(60);

/// Where the saved copies live while a change is on probation (root's).
const STATE_DIR: &str = "/var/lib/runbook";

/// A name for one guard's timer and saved copy.
pub fn new_id() -> String {
    format!("runbook-revert-{:08x}", fastrand::u32(..))
}

/// Shell text that runs `restore` on the host after `after`, by itself: a transient
/// systemd timer (unit `id`), else a detached `sleep` whose pid is kept to cancel it.
pub fn schedule(id: &str, after: Duration, restore: &str) -> String {
    let secs = after.as_secs().max(1);
    format!(
        "if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then \
         systemd-run --quiet --unit={id} --on-active={secs}s --timer-property=AccuracySec=1s --timer-property=RemainAfterElapse=no /bin/sh -c {restore_q}; \
         else setsid nohup sh -c {sleep_q} >/dev/null 2>&1 </dev/null & echo $! > {STATE_DIR}/{id}.pid; fi",
        restore_q = quote(restore),
        sleep_q = quote(&format!("sleep {secs}; {restore}")),
    )
}

/// Shell text that drops the restore `schedule` set up (always succeeds).
pub fn unschedule(id: &str) -> String {
    format!(
        "systemctl stop {id}.timer 2>/dev/null; systemctl reset-failed {id}.service 2>/dev/null; \
         if [ -f {STATE_DIR}/{id}.pid ]; then kill $(cat {STATE_DIR}/{id}.pid) 2>/dev/null; rm -f {STATE_DIR}/{id}.pid; fi; true"
    )
}

/// What guards a file write: `path` is saved before the change; `revert` puts the saved
/// copy back (content, mode, owner; or removes a file that did not exist) only when the
/// file differs from it, and then runs `reload` again. With `confirm`, a new SSH login
/// (as `login_as`, else runbook's own user) must work after the change, and the host
/// reverts by itself after that long unless runbook cancels it.
pub fn file(path: &str, reload: Option<&str>, confirm: Option<Duration>, login_as: Option<String>) -> Guard {
    let id = new_id();
    let saved = format!("{STATE_DIR}/{id}");
    let (p, b, gone) = (quote(path), quote(&saved), quote(&format!("{saved}.absent")));
    let dir = match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((d, _)) => d.to_string(),
    };
    let tmp = quote(&format!("{}/.runbook-XXXXXX", dir.trim_end_matches('/')));
    let then_reload = reload.map(|r| format!(" && {{ {r}; }}")).unwrap_or_default();
    let attrs = |f: &str| format!("$(stat -c %a:%U:%G -- {f} 2>/dev/null)");
    let restore = format!(
        "if [ -f {b} ]; then \
         if ! cmp -s -- {b} {p} || [ \"{}\" != \"{}\" ]; then \
         t=$(mktemp {tmp}) && cp -p -- {b} \"$t\" && mv -f -- \"$t\" {p}{then_reload}; fi; \
         elif [ -f {gone} ]; then if [ -e {p} ]; then rm -f -- {p}{then_reload}; fi; fi && rm -f -- {b} {gone}",
        attrs(&b),
        attrs(&p),
    );
    let save = format!(
        "{{ mkdir -p {STATE_DIR} 2>/dev/null && [ -w {STATE_DIR} ] || \
         {{ echo 'runbook: reload and confirm keep the previous file in {STATE_DIR}: run as root (sudo: true)' >&2; exit 1; }}; }} && \
         if [ -f {p} ]; then cp -p -- {p} {b}; else : > {gone}; fi"
    );
    let schedule = match confirm {
        Some(after) => format!("{save} && {{ {}; }}", self::schedule(&id, after, &restore)),
        None => save,
    };
    let unschedule = unschedule(&id);
    Guard {
        confirm,
        login_as,
        subject: path.to_string(),
        schedule,
        cancel: format!("{unschedule}; rm -f -- {b} {gone}"),
        revert: format!("{restore} && {{ {unschedule}; }}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(script: &str) -> (i32, String) {
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned() + String::from_utf8_lossy(&out.stderr).as_ref(),
        )
    }

    /// The guard's scripts, run on this machine with its state directory moved into a
    /// temporary one: a changed file comes back with its content and mode and the reload
    /// runs; an unchanged one is left alone and nothing is reloaded; a new one is removed.
    #[test]
    fn a_file_guard_puts_back_what_changed_and_reloads_only_then() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().display().to_string();
        let here = |g: String| g.replace(STATE_DIR, &format!("{root}/state"));
        let path = format!("{root}/etc/app.conf");
        let log = format!("{root}/reloads");
        std::fs::create_dir_all(format!("{root}/etc")).unwrap();
        std::fs::write(&path, "old\n").unwrap();
        sh(&format!("chmod 640 {path}"));
        let reload = format!("echo reloaded >> {log}");

        let g = file(&path, Some(&reload), None, None);
        assert_eq!(sh(&here(g.schedule.clone())).0, 0);
        sh(&format!("echo new > {path}; chmod 600 {path}"));
        assert_eq!(sh(&here(g.revert.clone())), (0, String::new()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert_eq!(sh(&format!("stat -c %a {path}")).1, "640\n");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "reloaded\n");
        assert_eq!(
            sh(&format!("ls -A {root}/state {root}/etc")).1,
            format!("{root}/etc:\napp.conf\n\n{root}/state:\n")
        );

        // Nothing changed (the write failed its validation): nothing to put back or reload.
        let g = file(&path, Some(&reload), None, None);
        sh(&here(g.schedule.clone()));
        assert_eq!(sh(&here(g.revert.clone())).0, 0);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "reloaded\n");

        // A file that did not exist is removed again; a confirmed change is cancelled.
        let new = format!("{root}/etc/new.conf");
        let g = file(&new, None, None, None);
        sh(&here(g.schedule.clone()));
        std::fs::write(&new, "x\n").unwrap();
        assert_eq!(sh(&here(g.revert.clone())).0, 0);
        assert!(!std::path::Path::new(&new).exists());
        let g = file(&new, None, None, None);
        sh(&here(g.schedule.clone()));
        std::fs::write(&new, "x\n").unwrap();
        assert_eq!(sh(&here(g.cancel.clone())).0, 0);
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "x\n");
        assert_eq!(sh(&format!("ls -A {root}/state")).1, "");
    }

    #[test]
    fn a_confirmed_file_guard_schedules_its_own_restore() {
        let g = file(
            "/etc/ssh/sshd_config",
            Some("systemctl reload ssh"),
            Some(Duration::from_secs(30)),
            None,
        );
        assert!(g.schedule.contains("--on-active=30s"), "{}", g.schedule);
        assert!(g.schedule.contains("systemctl reload ssh"), "{}", g.schedule);
        let id = g.schedule.split("--unit=").nth(1).unwrap().split(' ').next().unwrap();
        assert!(g.cancel.contains(&format!("systemctl stop {id}.timer")), "{}", g.cancel);
        assert!(g.revert.contains(&format!("systemctl stop {id}.timer")), "{}", g.revert);
    }
}
