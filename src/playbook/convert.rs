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
    if d.is::<crate::pending::Pending>() {
        return Value::String(crate::pending::PENDING_TEXT.into());
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
        true => Value::String(crate::pending::PENDING_TEXT.into()),
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

    /// Options of the built-in written `builtin` (`h.file`, `wait::http`), checked against
    /// its declaration in `crate::builtins`: the one list of its options. `func` names the
    /// call in messages.
    pub fn declared(func: &'a str, builtin: &str, map: Map) -> Result<Self, String> {
        let b = crate::builtins::lookup(builtin).unwrap_or_else(|| panic!("{builtin} is declared in builtins.rs"));
        // `notify` is taken out before the operation runs (`call::on_host_op`): one that gets
        // here was bound around it, and ignoring it would skip the handlers silently.
        if b.notifies() && map.contains_key(crate::builtins::NOTIFY.name) {
            return Err(format!(
                "{func}: option `notify` is not handled by this operation's binding (a runbook bug: bind it through call::on_host_op)"
            ));
        }
        Self::new(func, map, &b.option_names())
    }

    fn get(&self, key: &str) -> Option<&Dynamic> {
        self.map.get(key).filter(|v| !v.is_unit())
    }

    fn wrong(&self, key: &str, want: &str, v: &Dynamic) -> String {
        format!("{}: option `{key}` must be {want}, not {}", self.func, v.type_name())
    }

    /// What an option is called in messages: "step: option `serial`".
    fn what(&self, key: &str) -> String {
        format!("{}: option `{key}`", self.func)
    }

    /// `true`/`false`, or the text "true"/"false" (a `--var` value).
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        Ok(self.opt_bool(key)?.unwrap_or(default))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, String> {
        self.get(key).map(|v| to_bool(v, &self.what(key))).transpose()
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_string() => Ok(Some(v.to_string())),
            // An address a dry run cannot know yet (a droplet it would create): planned as such.
            Some(v) if v.is::<crate::pending::Pending>() => Ok(Some(crate::pending::PENDING_TEXT.into())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A whole number, or text of one ("3": a `--var` value).
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        self.get(key).map(|v| to_int(v, &self.what(key))).transpose()
    }

    /// A file mode: see [`parse_mode`].
    pub fn mode(&self, key: &str) -> Result<Option<u32>, String> {
        self.get(key)
            .map(|v| parse_mode(v).map_err(|e| format!("{}: option `{key}` {e}", self.func)))
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

    /// `true` (`when_true`), `false` or a duration; `None` for false or zero.
    pub fn confirm(&self, key: &str, when_true: Duration) -> Result<Option<Duration>, String> {
        let d = match self.get(key) {
            None => return Ok(None),
            Some(v) if v.is_bool() => match v.as_bool() == Ok(true) {
                true => when_true,
                false => Duration::ZERO,
            },
            Some(v) if matches!(v.to_string().as_str(), "true" | "false") && v.is_string() => {
                match v.to_string() == "true" {
                    true => when_true,
                    false => Duration::ZERO,
                }
            }
            Some(v) => parse_duration(v).map_err(|e| {
                format!(
                    "{}: option `{key}`: {e} (or true for {})",
                    self.func,
                    humantime::format_duration(when_true)
                )
            })?,
        };
        Ok(Some(d).filter(|d| !d.is_zero()))
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
    if v.is::<crate::pending::Pending>() {
        return Some(crate::pending::PENDING_TEXT.into());
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

/// A value as messages show it: text quoted (`"abc"`), numbers and booleans as written,
/// anything else by its type.
pub fn describe(v: &Dynamic) -> String {
    if v.is_string() {
        format!("{:?}", v.to_string())
    } else if v.is_int() || v.is_float() || v.is_bool() {
        v.to_string()
    } else if v.is_unit() {
        "()".to_string()
    } else {
        let t = v.type_name();
        let t = t.rsplit("::").next().unwrap_or(t);
        let article = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {t}")
    }
}

/// A whole number: an integer, or text of one (`"3"`, `"-1"`): `--var` values are text, and
/// everything that wants a number takes them. `what` names the value in the error
/// (`step: option `serial` must be a whole number, not "abc"`).
pub fn to_int(v: &Dynamic, what: &str) -> Result<i64, String> {
    if let Ok(n) = v.as_int() {
        return Ok(n);
    }
    if v.is_string() {
        let s = v.to_string();
        let digits = s.strip_prefix('-').unwrap_or(&s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map_err(|_| format!("{what} is out of range: {s}"));
        }
    }
    Err(format!("{what} must be a whole number, not {}", describe(v)))
}

/// `true`/`false`, or the text "true"/"false" (a `--var` value). Anything else ("yes", 1,
/// "") is an error: a flag must not be guessed.
pub fn to_bool(v: &Dynamic, what: &str) -> Result<bool, String> {
    if let Ok(b) = v.as_bool() {
        return Ok(b);
    }
    if v.is_string() {
        match v.to_string().as_str() {
            "true" => return Ok(true),
            "false" => return Ok(false),
            _ => {}
        }
    }
    Err(format!("{what} must be true or false, not {}", describe(v)))
}

/// The highest file mode (setuid, setgid, sticky, rwxrwxrwx).
const MAX_MODE: u32 = 0o7777;

/// A file mode, always a string:
/// - octal, 3 or 4 digits, optionally prefixed with `0o`: `"644"`, `"0644"`, `"0o644"`,
///   `"4755"` (at most `"7777"`);
/// - symbolic, every class given its exact permissions: `"u=rw,g=r,o=r"`, `"u=rwx,go="`,
///   `"a=r,u=rw"` (later clauses win); `a` stands for `ugo`; only `r`, `w` and `x`
///   (special bits in octal); no `+`/`-`, since this is the whole mode, not a change to it.
///
/// An integer is refused: Rhai reads `644` as decimal (chmod 1204) and `0o644` as 420, so
/// the error shows the string to write instead. The error text follows "option `mode`".
pub fn parse_mode(v: &Dynamic) -> Result<u32, String> {
    if let Ok(n) = v.as_int() {
        return Err(integer_mode(n));
    }
    if !v.is_string() {
        return Err(format!(
            "must be a string like \"0644\" or \"u=rw,g=r,o=r\", not {}",
            describe(v)
        ));
    }
    let s = v.to_string();
    if s.contains('=') {
        return symbolic_mode(&s);
    }
    let digits = s.strip_prefix("0o").unwrap_or(&s);
    let bad = || {
        format!(
            "{s:?} is not a mode: write 3 or 4 octal digits like \"0644\", or a symbolic mode like \"u=rw,g=r,o=r\""
        )
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let m = u32::from_str_radix(digits, 8).map_err(|_| format!("{s:?} is out of range: modes go up to \"7777\""))?;
    if m > MAX_MODE {
        return Err(format!("{s:?} is out of range: modes go up to \"7777\""));
    }
    if digits.len() < 3 {
        return Err(format!(
            "{s:?} is too short to be sure: write 3 or 4 octal digits, e.g. \"{m:04o}\""
        ));
    }
    Ok(m)
}

/// The error for an integer mode, with the string to write instead.
fn integer_mode(n: i64) -> String {
    // 644 meant as the digits 0644, or 420 being 0o644 (Rhai's octal literal) by value.
    let text = n.to_string();
    let as_digits =
        (n >= 0 && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b))).then(|| format!("{text:0>4}"));
    let as_value = (0..=MAX_MODE as i64).contains(&n).then(|| format!("{n:04o}"));
    // A mode people write gives the owner at least what the group has, and the group at
    // least what others have: 0644, 0755, 0600, 0750 (1204, the digits of 644 read as
    // octal, is not one).
    let usual = |m: &str| {
        let d: Vec<u32> = m.chars().filter_map(|c| c.to_digit(8)).collect();
        d[2] & !d[1] == 0 && d[3] & !d[2] == 0
    };
    let write = match (as_digits, as_value) {
        (Some(d), Some(v)) if d == v || usual(&d) && !usual(&v) => format!("\"{d}\""),
        (Some(d), Some(v)) if usual(&v) && !usual(&d) => format!("\"{v}\""),
        (Some(d), Some(v)) if usual(&d) => format!("\"{d}\" (or \"{v}\" if you meant 0o{})", v.trim_start_matches('0')),
        (Some(d), _) => format!("\"{d}\""),
        (None, Some(v)) => format!("\"{v}\""),
        (None, None) => {
            return format!(
                "must be a string like \"0644\", not the integer {n}, which is out of range for a mode too (modes go up to \"7777\")"
            );
        }
    };
    format!("must be a string, not the integer {n}: write mode: {write}")
}

/// `"u=rw,g=r,o=r"`: comma-separated `WHO=PERMS` clauses; later clauses override earlier
/// ones for the classes they name; every class must end up given.
fn symbolic_mode(s: &str) -> Result<u32, String> {
    let bad = |why: &str| format!("{s:?} is not a mode: {why} (write e.g. \"u=rw,g=r,o=r\" or \"0644\")");
    // Permission bits of user, group, others; None while not given.
    let mut classes: [Option<u32>; 3] = [None; 3];
    for clause in s.split(',') {
        let Some((who, perms)) = clause.split_once('=') else {
            return Err(bad(&format!(
                "{clause:?} has no `=`; only exact permissions like u=rw are taken"
            )));
        };
        if who.is_empty() {
            return Err(bad(&format!(
                "{clause:?} does not say whose permissions (u, g, o or a)"
            )));
        }
        let mut bits = 0;
        for c in perms.chars() {
            bits |= match c {
                'r' => 4,
                'w' => 2,
                'x' => 1,
                _ => {
                    return Err(bad(&format!(
                        "unknown permission {c:?} in {clause:?} (r, w, x; special bits in octal)"
                    )));
                }
            };
        }
        for c in who.chars() {
            let idx: &[usize] = match c {
                'u' => &[0],
                'g' => &[1],
                'o' => &[2],
                'a' => &[0, 1, 2],
                _ => return Err(bad(&format!("unknown class {c:?} in {clause:?} (u, g, o or a)"))),
            };
            for &i in idx {
                classes[i] = Some(bits);
            }
        }
    }
    let missing: Vec<&str> = ["u", "g", "o"]
        .iter()
        .zip(&classes)
        .filter(|(_, b)| b.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(bad(&format!(
            "it does not say {} (the mode is the whole mode: write {}= for none)",
            missing.join(" and "),
            missing.join("")
        )));
    }
    Ok(classes.iter().fold(0, |m, b| m << 3 | b.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Dynamic {
        Dynamic::from(v.to_string())
    }

    #[test]
    fn modes_are_strings_octal_or_symbolic() {
        let ok: &[(&str, u32)] = &[
            ("644", 0o644),
            ("0644", 0o644),
            ("0o644", 0o644),
            ("0o0644", 0o644),
            ("755", 0o755),
            ("0600", 0o600),
            ("000", 0),
            ("4755", 0o4755),
            ("1777", 0o1777),
            ("7777", 0o7777),
            ("u=rw,g=r,o=r", 0o644),
            ("u=rwx,go=rx", 0o755),
            ("u=rw,go=", 0o600),
            ("a=r,u=rw", 0o644),
            ("ugo=rwx", 0o777),
            ("o=,g=,u=r", 0o400),
        ];
        for (text, want) in ok {
            assert_eq!(parse_mode(&s(text)), Ok(*want), "{text}");
        }
        let err: &[(Dynamic, &str)] = &[
            // Integers: the string to write instead.
            (
                Dynamic::from(644_i64),
                "must be a string, not the integer 644: write mode: \"0644\"",
            ),
            (
                Dynamic::from(755_i64),
                "must be a string, not the integer 755: write mode: \"0755\"",
            ),
            (
                Dynamic::from(600_i64),
                "must be a string, not the integer 600: write mode: \"0600\"",
            ),
            (
                Dynamic::from(4755_i64),
                "must be a string, not the integer 4755: write mode: \"4755\"",
            ),
            (
                Dynamic::from(7_i64),
                "must be a string, not the integer 7: write mode: \"0007\"",
            ),
            // 0o644, 0o755, 0o600 in Rhai: their values.
            (
                Dynamic::from(0o644_i64),
                "must be a string, not the integer 420: write mode: \"0644\"",
            ),
            (
                Dynamic::from(0o755_i64),
                "must be a string, not the integer 493: write mode: \"0755\"",
            ),
            (
                Dynamic::from(0o600_i64),
                "must be a string, not the integer 384: write mode: \"0600\"",
            ),
            (
                Dynamic::from(0o777_i64),
                "must be a string, not the integer 511: write mode: \"0511\" (or \"0777\" if you meant 0o777)",
            ),
            (
                Dynamic::from(99999_i64),
                "must be a string like \"0644\", not the integer 99999, which is out of range for a mode too (modes go up to \"7777\")",
            ),
            (
                Dynamic::from(-1_i64),
                "must be a string like \"0644\", not the integer -1, which is out of range for a mode too (modes go up to \"7777\")",
            ),
            (
                Dynamic::from(6.44_f64),
                "must be a string like \"0644\" or \"u=rw,g=r,o=r\", not 6.44",
            ),
            (
                Dynamic::from(true),
                "must be a string like \"0644\" or \"u=rw,g=r,o=r\", not true",
            ),
            (s("10000"), "\"10000\" is out of range: modes go up to \"7777\""),
            (s("0o17777"), "\"0o17777\" is out of range: modes go up to \"7777\""),
            (
                s("0689"),
                "\"0689\" is not a mode: write 3 or 4 octal digits like \"0644\", or a symbolic mode like \"u=rw,g=r,o=r\"",
            ),
            (
                s(""),
                "\"\" is not a mode: write 3 or 4 octal digits like \"0644\", or a symbolic mode like \"u=rw,g=r,o=r\"",
            ),
            (
                s("0x1a4"),
                "\"0x1a4\" is not a mode: write 3 or 4 octal digits like \"0644\", or a symbolic mode like \"u=rw,g=r,o=r\"",
            ),
            (
                s(" 644"),
                "\" 644\" is not a mode: write 3 or 4 octal digits like \"0644\", or a symbolic mode like \"u=rw,g=r,o=r\"",
            ),
            (
                s("44"),
                "\"44\" is too short to be sure: write 3 or 4 octal digits, e.g. \"0044\"",
            ),
            (
                s("u=rw"),
                "\"u=rw\" is not a mode: it does not say g and o (the mode is the whole mode: write go= for none) (write e.g. \"u=rw,g=r,o=r\" or \"0644\")",
            ),
            (
                s("u=rw,g+r,o=r"),
                "\"u=rw,g+r,o=r\" is not a mode: \"g+r\" has no `=`; only exact permissions like u=rw are taken (write e.g. \"u=rw,g=r,o=r\" or \"0644\")",
            ),
            (
                s("u=rws,go=r"),
                "\"u=rws,go=r\" is not a mode: unknown permission 's' in \"u=rws\" (r, w, x; special bits in octal) (write e.g. \"u=rw,g=r,o=r\" or \"0644\")",
            ),
            (
                s("=rw"),
                "\"=rw\" is not a mode: \"=rw\" does not say whose permissions (u, g, o or a) (write e.g. \"u=rw,g=r,o=r\" or \"0644\")",
            ),
            (
                s("x=rw,go=r"),
                "\"x=rw,go=r\" is not a mode: unknown class 'x' in \"x=rw\" (u, g, o or a) (write e.g. \"u=rw,g=r,o=r\" or \"0644\")",
            ),
        ];
        for (v, want) in err {
            assert_eq!(parse_mode(v).unwrap_err(), *want, "{v:?}");
        }
    }

    #[test]
    fn options_name_the_function_and_option() {
        let mut m = Map::new();
        m.insert("mode".into(), Dynamic::from(644_i64));
        m.insert("serial".into(), s("abc"));
        m.insert("n".into(), s("3"));
        m.insert("neg".into(), s("-2"));
        m.insert("flag".into(), s("true"));
        m.insert("off".into(), s("false"));
        m.insert("yes".into(), s("yes"));
        m.insert("float".into(), Dynamic::from(1.5_f64));
        m.insert("list".into(), Dynamic::from(rhai::Array::new()));
        let o = Opts::new(
            "file",
            m,
            &[
                "mode", "serial", "n", "neg", "flag", "off", "yes", "float", "list", "none",
            ],
        )
        .unwrap();
        assert_eq!(
            o.mode("mode").unwrap_err(),
            "file: option `mode` must be a string, not the integer 644: write mode: \"0644\""
        );
        assert_eq!(o.mode("none"), Ok(None));
        assert_eq!(o.int("n"), Ok(Some(3)));
        assert_eq!(o.int("neg"), Ok(Some(-2)));
        assert_eq!(o.int("none"), Ok(None));
        assert_eq!(
            o.int("serial").unwrap_err(),
            "file: option `serial` must be a whole number, not \"abc\""
        );
        assert_eq!(
            o.int("float").unwrap_err(),
            "file: option `float` must be a whole number, not 1.5"
        );
        assert_eq!(
            o.int("list").unwrap_err(),
            "file: option `list` must be a whole number, not an array"
        );
        assert_eq!(o.bool("flag", false), Ok(true));
        assert_eq!(o.bool("off", true), Ok(false));
        assert_eq!(o.bool("none", true), Ok(true));
        assert_eq!(o.opt_bool("none"), Ok(None));
        assert_eq!(
            o.bool("yes", false).unwrap_err(),
            "file: option `yes` must be true or false, not \"yes\""
        );
        assert_eq!(
            o.bool("n", false).unwrap_err(),
            "file: option `n` must be true or false, not \"3\""
        );
    }

    #[test]
    fn whole_numbers_and_flags_from_text() {
        let ok: &[(Dynamic, i64)] = &[(Dynamic::from(3_i64), 3), (s("3"), 3), (s("007"), 7), (s("-1"), -1)];
        for (v, want) in ok {
            assert_eq!(to_int(v, "x"), Ok(*want), "{v:?}");
        }
        for (v, shown) in [
            (s("1.10"), "\"1.10\""),
            (s(""), "\"\""),
            (s(" 3"), "\" 3\""),
            (s("+3"), "\"+3\""),
            (s("-"), "\"-\""),
            (Dynamic::from(3.0_f64), "3.0"),
            (Dynamic::from(true), "true"),
            (Dynamic::UNIT, "()"),
        ] {
            assert_eq!(
                to_int(&v, "variable `serial`").unwrap_err(),
                format!("variable `serial` must be a whole number, not {shown}")
            );
        }
        assert_eq!(
            to_int(&s("99999999999999999999"), "x").unwrap_err(),
            "x is out of range: 99999999999999999999"
        );
        assert_eq!(to_bool(&Dynamic::from(true), "x"), Ok(true));
        assert_eq!(to_bool(&s("true"), "x"), Ok(true));
        assert_eq!(to_bool(&s("false"), "x"), Ok(false));
        for (v, shown) in [
            (s("True"), "\"True\""),
            (s("yes"), "\"yes\""),
            (s("1"), "\"1\""),
            (s(""), "\"\""),
            (Dynamic::from(1_i64), "1"),
        ] {
            assert_eq!(
                to_bool(&v, "variable `rollback`").unwrap_err(),
                format!("variable `rollback` must be true or false, not {shown}")
            );
        }
    }
}
