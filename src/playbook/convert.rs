//! Values between Rhai, JSON (inventory variables, journal) and option maps.

use std::time::Duration;

use rhai::{Dynamic, Map};
use serde_json::Value;

pub fn to_dynamic(v: &Value) -> Dynamic {
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// Arrays and maps element by element, so one value serde cannot take (a dry run's `Pending`
/// address, shown as `(known after apply)`) does not turn its whole list into null.
pub fn to_json(d: &Dynamic) -> Value {
    if d.is::<super::cloud_api::Pending>() {
        return Value::String(super::cloud_api::PENDING_TEXT.into());
    }
    if let Some(h) = d.read_lock::<crate::host::Host>() {
        return host_to_json(&h);
    }
    if let Some(a) = d.read_lock::<rhai::Array>() {
        return Value::Array(a.iter().map(to_json).collect());
    }
    if let Some(m) = d.read_lock::<Map>() {
        return Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect());
    }
    rhai::serde::from_dynamic(d).unwrap_or(Value::Null)
}

/// The key that marks a host in JSON (journaled step values, template variables).
pub const HOST_KEY: &str = "$host";

/// A host as templates see it (name, addresses, groups), marked so that a journaled step
/// value gives the host back on resume.
fn host_to_json(h: &crate::host::Host) -> Value {
    let spec = &h.state.spec;
    let ip = |ip: &Option<String>| match spec.pending {
        true => Value::String(super::cloud_api::PENDING_TEXT.into()),
        false => Value::String(ip.clone().unwrap_or_else(|| spec.address.clone())),
    };
    serde_json::json!({
        HOST_KEY: h.name(), "name": h.name(), "address": ip(&None),
        "private_ip": ip(&spec.private_ip), "public_ip": ip(&spec.public_ip), "groups": h.state.groups,
    })
}

/// A journaled value back as a script value: hosts (see `to_json`) become hosts of this
/// run again when the inventory still has them.
pub fn from_journal(v: &Value, host: &dyn Fn(&str) -> Option<crate::host::Host>) -> Dynamic {
    match v {
        Value::Object(m) => {
            if let Some(h) = m.get(HOST_KEY).and_then(Value::as_str).and_then(host) {
                return Dynamic::from(h);
            }
            let map: Map = m
                .iter()
                .map(|(k, v)| (k.as_str().into(), from_journal(v, host)))
                .collect();
            map.into()
        }
        Value::Array(a) => a.iter().map(|v| from_journal(v, host)).collect::<rhai::Array>().into(),
        other => to_dynamic(other),
    }
}

pub fn vars_to_map(vars: &crate::inventory::Vars) -> Map {
    vars.iter().map(|(k, v)| (k.as_str().into(), to_dynamic(v))).collect()
}

/// Typed access to an options map (`#{ sudo: true, timeout: "30s" }`), with errors that name
/// the function and the option, and unknown options rejected (a typo must not be ignored).
pub struct Opts<'a> {
    func: &'a str,
    map: Map,
}

impl<'a> Opts<'a> {
    pub fn new(func: &'a str, map: Map, allowed: &[&str]) -> Result<Self, String> {
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let hint = match crate::builtins::suggest(k, allowed.iter().copied()) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            return Err(format!(
                "{func}: unknown option `{k}`{hint} (known: {})",
                allowed.join(", ")
            ));
        }
        Ok(Opts { func, map })
    }

    fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    fn wrong(&self, key: &str, want: &str, v: &Dynamic) -> String {
        format!("{}: option `{key}` must be {want}, not {}", self.func, v.type_name())
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().map_err(|_| self.wrong(key, "true or false", v)),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, String> {
        self.get(key)
            .map(|v| v.as_bool().map_err(|_| self.wrong(key, "true or false", v)))
            .transpose()
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            // An address a dry run cannot know yet (a droplet it would create): planned as such.
            Some(v) if v.is::<super::cloud_api::Pending>() => Ok(Some(super::cloud_api::PENDING_TEXT.into())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        self.get(key)
            .map(|v| v.as_int().map_err(|_| self.wrong(key, "an integer", v)))
            .transpose()
    }

    /// `"90s"`, `"5m"`, `"1h 30m"` or a number of seconds.
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_duration(v)
                .map(Some)
                .map_err(|e| format!("{}: option `{key}`: {e}", self.func)),
        }
    }

    /// A map of strings (`env: #{ NODE_ENV: "production" }`).
    pub fn string_map(&self, key: &str) -> Result<Vec<(String, String)>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(v) => match v.read_lock::<Map>() {
                Some(m) => m
                    .iter()
                    .map(|(k, v)| {
                        let text = text_of(v).ok_or_else(|| {
                            format!(
                                "{}: option `{key}`: `{k}` must be text or a number, not {}",
                                self.func,
                                v.type_name()
                            )
                        })?;
                        Ok((k.to_string(), text))
                    })
                    .collect(),
                None => Err(self.wrong(key, "a map", v)),
            },
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn string_list(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(v) if v.is_string() => Ok(vec![v.to_string()]),
            Some(v) => match v.read_lock::<rhai::Array>() {
                Some(a) => strings(&a).map_err(|e| format!("{}: option `{key}`: {e}", self.func)),
                None => Err(self.wrong(key, "a list of strings", v)),
            },
        }
    }

    pub fn raw(&self, key: &str) -> Option<Dynamic> {
        self.get(key).cloned()
    }
}

/// A value that stands for text where a string is expected: a string, a number, a
/// boolean, or an address a dry run cannot know yet. `()` (an unset value), lists, maps and
/// hosts are not text: turning them into `""` or `[…]` would run something nobody wrote.
pub fn text_of(v: &Dynamic) -> Option<String> {
    if v.is_string() || v.is_int() || v.is_float() || v.is_bool() {
        return Some(v.to_string());
    }
    if v.is::<super::cloud_api::Pending>() {
        return Some(super::cloud_api::PENDING_TEXT.into());
    }
    None
}

/// Every item of a list as text (see `text_of`); the error names the first that is not.
pub fn strings(items: &[Dynamic]) -> Result<Vec<String>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| text_of(v).ok_or_else(|| format!("item {i} of the list is {}, not text", v.type_name())))
        .collect()
}

pub fn parse_duration(v: &Dynamic) -> Result<Duration, String> {
    let d = if let Ok(n) = v.as_int() {
        u64::try_from(n)
            .map(Duration::from_secs)
            .map_err(|_| format!("negative duration {n}"))?
    } else if let Ok(f) = v.as_float() {
        Duration::try_from_secs_f64(f).map_err(|_| format!("invalid duration {f}"))?
    } else {
        let s = v.to_string();
        humantime::parse_duration(&s)
            .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"30s\" or \"5m\""))?
    };
    bounded(d)
}

/// The longest duration runbook takes anywhere (a timeout, a wait, `--wait-lock`): longer
/// ones are mistakes, and adding them to the clock would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(31_557_600); // a year, as humantime counts it

pub fn bounded(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "duration {} is longer than runbook takes (at most {})",
            humantime::format_duration(d),
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// A duration on the command line (`--wait-lock 10m`), bounded like every other.
pub fn cli_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}; write e.g. 30s, 10m or 1h"))
        .and_then(bounded)
}
