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
    if let Some(a) = d.read_lock::<rhai::Array>() {
        return Value::Array(a.iter().map(to_json).collect());
    }
    if let Some(m) = d.read_lock::<Map>() {
        return Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect());
    }
    rhai::serde::from_dynamic(d).unwrap_or(Value::Null)
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
            return Err(format!("{func}: unknown option `{k}` (known: {})", allowed.join(", ")));
        }
        Ok(Opts { func, map })
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
            Some(v) if v.is::<super::cloud_api::Pending>() => Ok(Some(super::cloud_api::PENDING_TEXT.into())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A whole number, or text of one ("3": a `--var` value).
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        self.get(key).map(|v| to_int(v, &self.what(key))).transpose()
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
                Some(m) => Ok(m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
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
                Some(a) => Ok(a.iter().map(|x| x.to_string()).collect()),
                None => Err(self.wrong(key, "a list of strings", v)),
            },
        }
    }

    pub fn raw(&self, key: &str) -> Option<Dynamic> {
        self.get(key).cloned()
    }
}

pub fn parse_duration(v: &Dynamic) -> Result<Duration, String> {
    if let Ok(n) = v.as_int() {
        return u64::try_from(n)
            .map(Duration::from_secs)
            .map_err(|_| format!("negative duration {n}"));
    }
    if let Ok(f) = v.as_float() {
        return Duration::try_from_secs_f64(f).map_err(|_| format!("invalid duration {f}"));
    }
    let s = v.to_string();
    humantime::parse_duration(&s).map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"30s\" or \"5m\""))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Dynamic {
        Dynamic::from(v.to_string())
    }

    #[test]
    fn options_name_the_function_and_option() {
        let mut m = Map::new();
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
            &["serial", "n", "neg", "flag", "off", "yes", "float", "list", "none"],
        )
        .unwrap();
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
