//! Variables from the command line, over the inventory's: `--vars-file FILE` (TOML, typed),
//! then `--var KEY=VALUE` (always text) and `--var-json KEY=JSON` (typed) in the order given.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{Vars, merge};
use crate::error::{Diagnostic, Error, Location, Result, display_path};

/// One `--var` or `--var-json`, as given (in command-line order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarArg {
    /// `--var KEY=VALUE`: the value is text, whatever it looks like.
    Text(String),
    /// `--var-json KEY=JSON`: a typed value.
    Json(String),
}

/// The variables the command line sets, merged: every `--vars-file` in order, then each
/// `--var` / `--var-json` in order; a later one replaces an earlier one's key.
pub fn overrides(files: &[PathBuf], args: &[VarArg]) -> Result<Vars> {
    let mut vars = Vars::new();
    for f in files {
        merge(&mut vars, &read_vars_file(f)?);
    }
    for a in args {
        let (k, v) = match a {
            VarArg::Text(a) => parse_var(a),
            VarArg::Json(a) => parse_var_json(a),
        }
        .map_err(Error::Usage)?;
        vars.insert(k, v);
    }
    Ok(vars)
}

fn split<'a>(flag: &str, arg: &'a str) -> std::result::Result<(&'a str, &'a str), String> {
    let (k, v) = arg
        .split_once('=')
        .ok_or_else(|| format!("{flag} {arg:?} is not of the form key=value"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("{flag} {arg:?} has an empty key"));
    }
    Ok((k, v))
}

/// Parses `--var key=value`: the value is always text, exactly as given (`1.10`, `007`,
/// `true` and `"x"` stay those characters); typed values come from `--var-json` or
/// `--vars-file`.
pub fn parse_var(arg: &str) -> std::result::Result<(String, Value), String> {
    let (k, v) = split("--var", arg)?;
    Ok((k.to_string(), Value::String(v.to_string())))
}

/// Parses `--var-json key=JSON`: a number, boolean, string (`'"1.10"'`), list or map.
pub fn parse_var_json(arg: &str) -> std::result::Result<(String, Value), String> {
    let (k, v) = split("--var-json", arg)?;
    let value: Value = serde_json::from_str(v).map_err(|e| {
        let hint = if v.starts_with(['"', '[', '{']) {
            String::new()
        } else {
            format!(" (text needs JSON quotes, --var-json '{k}=\"{v}\"', or pass it as --var {k}={v})")
        };
        format!("--var-json {k}: {v:?} is not valid JSON: {e}{hint}")
    })?;
    if let Some(n) = find_big_integer(&value) {
        return Err(format!(
            "--var-json {k}: the integer {n} is out of range (scripts take integers from {} to {})",
            i64::MIN,
            i64::MAX
        ));
    }
    Ok((k.to_string(), value))
}

/// An integer too large for a script's 64-bit integers (it would not arrive as itself).
fn find_big_integer(v: &Value) -> Option<&serde_json::Number> {
    match v {
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => Some(n),
        Value::Array(a) => a.iter().find_map(find_big_integer),
        Value::Object(m) => m.values().find_map(find_big_integer),
        _ => None,
    }
}

/// Reads a `--vars-file`: a TOML document whose top-level keys become variables, with their
/// TOML types (dates become text). Errors name the file, line and column.
pub fn read_vars_file(path: &Path) -> Result<Vars> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!("--vars-file {} does not exist", path.display())),
        _ => Error::io(format!("--vars-file: cannot read {}", path.display()), e),
    })?;
    parse_vars_file(&display_path(path), &text)
}

pub fn parse_vars_file(label: &str, text: &str) -> Result<Vars> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let message = format!("invalid vars file {label}: {}", e.message().trim_end());
        Error::Usage(
            Diagnostic::new(message)
                .at(Location::at_offset(label, text, offset))
                .render(),
        )
    })?;
    super::file::to_vars(table).map_err(|e| Error::Usage(format!("invalid vars file {label}: {e}")))
}
