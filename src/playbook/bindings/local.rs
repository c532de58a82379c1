//! The `local::` module: work on the controller itself. `pack` (a deterministic tarball,
//! see `ship`), `run` (a command, with `h.run`'s options and dry-run rule) and `read_file`.
//! Relative paths are relative to the directory runbook runs in.

use std::path::Path;
use std::sync::Arc;

use rhai::{Dynamic, Engine, FuncRegistration, Map, Module, NativeCallContext};

use super::call::{RhaiResult, fail};
use super::host::{request, result_map};
use crate::connection::Connection;
use crate::connection::failure::ExecFailure;
use crate::connection::local::LocalConnection;
use crate::play::Play;
use crate::playbook::convert::Opts;
use crate::report::CONTROLLER;
use crate::ship;

pub fn register(engine: &mut Engine, run: &Arc<Play>) {
    let mut m = Module::new();
    let r = run.clone();
    FuncRegistration::new("pack")
        .with_volatility(true)
        .set_into_module(&mut m, move |ctx: NativeCallContext, dir: &str, name: &str| {
            pack(&r, &ctx, dir, name, Map::new())
        });
    let r = run.clone();
    FuncRegistration::new("pack").with_volatility(true).set_into_module(
        &mut m,
        move |ctx: NativeCallContext, dir: &str, name: &str, opts: Map| pack(&r, &ctx, dir, name, opts),
    );
    let r = run.clone();
    FuncRegistration::new("run")
        .with_volatility(true)
        .set_into_module(&mut m, move |ctx: NativeCallContext, cmd: Dynamic| {
            run_here(&r, &ctx, &cmd, Map::new())
        });
    let r = run.clone();
    FuncRegistration::new("run")
        .with_volatility(true)
        .set_into_module(&mut m, move |ctx: NativeCallContext, cmd: Dynamic, opts: Map| {
            run_here(&r, &ctx, &cmd, opts)
        });
    FuncRegistration::new("read_file")
        .with_volatility(true)
        .set_into_module(&mut m, |ctx: NativeCallContext, path: &str| -> RhaiResult<String> {
            // `~/` as in the inventory's key paths (a public key is the usual thing to read).
            let file = crate::connection::ssh::target::expand(path, Path::new("."));
            std::fs::read_to_string(file).or_else(|e| fail(&ctx, format!("local::read_file({path:?}): {e}")))
        });
    engine.register_static_module("local", m.into());
}

/// `local::pack(dir, name, #{ exclude, prepare })` → `#{ path, sha256, size }`. Runs in
/// dry-run too: it only writes on the controller, and later steps need its sha256.
fn pack(run: &Play, ctx: &NativeCallContext, dir: &str, name: &str, opts: Map) -> RhaiResult<Map> {
    // What the step queued on its hosts happens first, as the script reads.
    crate::playbook::queue::flush()?;
    let parsed = Opts::declared("pack", "local::pack", opts).and_then(|o| {
        Ok(ship::PackOptions {
            exclude: o.string_list("exclude")?,
            prepare: o.string("prepare")?,
        })
    });
    let opts = parsed.or_else(|e| fail(ctx, e))?;
    let packed = ship::pack(Path::new(dir), name, &opts).or_else(|e| fail(ctx, e))?;
    run.ctx.reporter.log(
        None,
        &format!(
            "packed {} into {} ({} entries, {} bytes, sha256 {})",
            dir,
            packed.path.display(),
            packed.entries.len(),
            packed.size,
            &packed.sha256[..12]
        ),
    );
    let mut m = Map::new();
    m.insert("path".into(), packed.path.display().to_string().into());
    m.insert("sha256".into(), packed.sha256.into());
    m.insert("size".into(), (packed.size as i64).into());
    Ok(m)
}

/// `local::run`: after what the step queued on its hosts, as the script reads.
fn run_here(run: &Play, ctx: &NativeCallContext, cmd: &Dynamic, opts: Map) -> RhaiResult<Map> {
    crate::playbook::queue::flush()?;
    local_run(run, cmd, opts).or_else(|e| fail(ctx, e))
}

/// `local::run(cmd, opts)`: like `h.run` on the controller, without sudo. In dry-run only
/// `readonly: true` commands run.
fn local_run(run: &Play, cmd: &Dynamic, opts: Map) -> Result<Map, String> {
    let opts = Opts::declared("local::run", "local::run", opts)?;
    let readonly = opts.bool("readonly", false)?;
    let changed = !readonly && opts.bool("changed", true)?;
    let req = request(cmd, &opts)?;
    if run.ctx.dry_run && !readonly {
        if changed {
            let what = format!("run locally: {}", req.command_line());
            run.ctx.reporter.change(CONTROLLER, "local::run", "", &what, None, None);
            run.controller.record_change();
        } else {
            let what = format!("would run locally (no change): {}", req.command_line());
            run.ctx.reporter.log(None, &what);
        }
        return Ok(result_map("", "", 0, changed));
    }
    let out = run
        .ctx
        .rt
        .block_on(LocalConnection.exec(&req))
        .map_err(|e| format!("local: {e}\n  command: {}", req.script))?;
    if opts.bool("check", true)? && out.code != 0 {
        return Err(ExecFailure::exited("local", &req.command_line(), &out).to_string());
    }
    if changed {
        let what = format!("ran locally: {}", req.command_line());
        run.ctx.reporter.change(CONTROLLER, "local::run", "", &what, None, None);
        run.controller.record_change();
    }
    Ok(result_map(&out.stdout_text(), &out.stderr_text(), out.code, changed))
}
