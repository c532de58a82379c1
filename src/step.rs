//! A step's identity (name + where its `step(` call is + which time that call ran) and
//! options.

use rhai::{Dynamic, Map};

use crate::playbook::convert::Opts;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepId {
    pub name: String,
    /// `file:line:col` of the `step(` call.
    pub position: String,
    /// 0 the first time this call runs in a play, 1 the second (a step in a loop), …
    pub occurrence: usize,
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.position, self.occurrence)
    }
}

#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// Run the hosts in batches of this many, one batch after another.
    pub serial: Option<usize>,
    /// How many hosts may fail before the play stops after this step.
    pub max_fail: usize,
    pub tags: Vec<String>,
}

impl StepOptions {
    pub fn parse(map: Map) -> Result<Self, String> {
        let opts = Opts::new("step", map, &["serial", "max_fail", "tags"])?;
        let serial = match opts.int("serial")? {
            None => None,
            Some(n) if n >= 1 => Some(n as usize),
            Some(n) => return Err(format!("step: option `serial` must be at least 1, not {n}")),
        };
        let max_fail = match opts.int("max_fail")? {
            None => 0,
            Some(n) if n >= 0 => n as usize,
            Some(n) => {
                return Err(format!("step: option `max_fail` must not be negative, not {n}"));
            }
        };
        Ok(StepOptions {
            serial,
            max_fail,
            tags: opts.string_list("tags")?,
        })
    }
}

/// A map from host name to value, the shape `step()` returns for host steps.
pub fn results_map(values: Vec<(String, Dynamic)>) -> Map {
    values.into_iter().map(|(h, v)| (h.into(), v)).collect()
}
