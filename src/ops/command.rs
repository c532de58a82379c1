//! `h.run(cmd, opts)`: a shell command (string) or an argv (array, every word quoted).

use rhai::{Array, Dynamic, Map};

use crate::connection::ExecRequest;
use crate::host::Host;
use crate::playbook::convert::Opts;
use crate::shell::{self, Become};

use super::OpResult;

/// Turns `cmd` into shell text: a string is used as written, an array is quoted word by word.
pub fn script_of(cmd: &Dynamic) -> OpResult<String> {
    if cmd.is_string() {
        return Ok(cmd.to_string());
    }
    match cmd.read_lock::<Array>() {
        Some(argv) if !argv.is_empty() => {
            let words =
                crate::playbook::convert::strings(&argv).map_err(|e| format!("run: the command's words: {e}"))?;
            Ok(shell::join(&words))
        }
        Some(_) => Err("run: the command is an empty array".into()),
        None => Err(format!(
            "run: the command must be a string or an array of words, not {}",
            cmd.type_name()
        )),
    }
}

/// Who to run as, from `sudo: true` / `user: "nodejs"`.
pub fn become_of(opts: &Opts) -> OpResult<Become> {
    Ok(match (opts.string("user")?, opts.bool("sudo", false)?) {
        (Some(u), _) if u == "root" => Become::Root,
        (Some(u), _) => Become::User(u),
        (None, true) => Become::Root,
        (None, false) => Become::Me,
    })
}

/// The command `cmd` with the `env`, `cwd`, `stdin`, `timeout`, `sudo`/`user` options.
pub fn request(cmd: &Dynamic, opts: &Opts) -> OpResult<ExecRequest> {
    Ok(ExecRequest {
        script: script_of(cmd)?,
        env: opts.string_map("env")?,
        cwd: opts.string("cwd")?,
        stdin: opts.string("stdin")?.map(String::into_bytes),
        timeout: opts.duration("timeout")?,
        become_: become_of(opts)?,
    })
}

pub fn run(host: &Host, cmd: &Dynamic, opts: Map) -> OpResult<Map> {
    let opts = Opts::declared("run", "h.run", opts)?;
    let check = opts.bool("check", true)?;
    let readonly = opts.bool("readonly", false)?;
    let changed = !readonly && opts.bool("changed", true)?;
    let req = request(cmd, &opts)?;

    if host.dry_run() && !readonly {
        // Not executed: a command that writes cannot be predicted, only announced.
        if changed {
            super::report(host, "run", &req.script, "run", Some(&req.command_line()), None);
        } else {
            host.run.reporter.log(
                Some(host.name()),
                &format!("would run (no change): {}", req.command_line()),
            );
        }
        return Ok(result_map("", "", 0, changed));
    }

    let out = host.exec(&req).map_err(|e| host.exec_error(&e, &req))?;
    if check && out.code != 0 {
        return Err(failure(
            host.name(),
            &req.command_line(),
            out.code,
            &out.stderr_text(),
            &out.stdout_text(),
        ));
    }
    if changed {
        super::report(host, "run", &req.script, "run", None, None);
    }
    Ok(result_map(&out.stdout_text(), &out.stderr_text(), out.code, changed))
}

pub fn result_map(stdout: &str, stderr: &str, code: i32, changed: bool) -> Map {
    let mut m = Map::new();
    m.insert("stdout".into(), stdout.into());
    m.insert("stderr".into(), stderr.into());
    m.insert("code".into(), (code as i64).into());
    m.insert("changed".into(), changed.into());
    m
}

/// The message of a failed command: host, command, exit code and the last lines of output.
pub fn failure(host: &str, command: &str, code: i32, stderr: &str, stdout: &str) -> String {
    let mut msg = format!("{host}: command exited with code {code}\n  command: {command}");
    if stderr.contains("sudo: a password is required") {
        msg.push_str(
            "\n  sudo needs a password here; runbook runs sudo without a terminal (-n): give this user NOPASSWD sudo",
        );
    }
    let (label, text) = if stderr.trim().is_empty() {
        ("stdout", stdout)
    } else {
        ("stderr", stderr)
    };
    let lines: Vec<&str> = text.trim_end().lines().collect();
    if !lines.is_empty() {
        msg.push_str(&format!("\n  {label} (last lines):"));
        for l in &lines[lines.len().saturating_sub(10)..] {
            msg.push_str("\n    ");
            msg.push_str(l);
        }
    }
    msg
}
