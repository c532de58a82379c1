//! `h.service(name, "started"|"stopped"|"restarted"|"reloaded", #{ enabled })`, or
//! `h.service(name, #{ enabled })` to enable (or disable) it without starting or stopping it:
//! systemd when it is the init system, else the `service` command and update-rc.d.

use serde::Deserialize;

use super::error::{OpError, OpResult};
use super::plan::Plan;
use crate::facts::{Fact, FactKey, Look, ServiceFact};
use crate::shell::{Become, quote};

/// `h.service(name, state, #{ enabled })`; without a state only `enabled` is seen to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub who: Become,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

impl State {
    /// A state as scripts give it; `op` names the operation in the error.
    pub fn parse(op: &'static str, state: &str) -> OpResult<State> {
        Ok(match state {
            "started" => State::Started,
            "stopped" => State::Stopped,
            "restarted" => State::Restarted,
            "reloaded" => State::Reloaded,
            _ => {
                return Err(OpError::invalid(
                    op,
                    format!("state must be started, stopped, restarted or reloaded, not {state:?}"),
                ));
            }
        })
    }
}

pub fn service(look: &dyn Look, a: &Service) -> OpResult<Option<Plan>> {
    let (name, who) = (a.name.as_str(), &a.who);
    if a.state.is_none() && a.enabled.is_none() {
        let why = "give a state (\"started\", \"stopped\", \"restarted\", \"reloaded\") or `enabled: true|false`";
        return Err(OpError::invalid("service", why));
    }
    let facts = look.facts(&[FactKey::Service(name.into()), FactKey::Init], who)?;
    let (Fact::Service(cur), Fact::Init(init)) = (&facts[0], &facts[1]) else {
        unreachable!("service and init probes")
    };
    let runs = !matches!(a.state, None | Some(State::Stopped));
    if cur.masked && (runs || a.enabled == Some(true)) {
        let why = "the unit is masked: unmask it first (`systemctl unmask`)";
        return Err(OpError::refused(look.host_name(), "service", name, why));
    }
    if !cur.exists {
        let why = "no such unit on the host (is its package installed?)";
        return Err(OpError::refused(look.host_name(), "service", name, why));
    }
    let systemd = init == "systemd";
    let q = quote(name);
    let ctl = |verb: &str| match systemd {
        true => format!("systemctl {verb} -- {q}"),
        false => format!("service {q} {verb}"),
    };
    let (mut what, mut cmds) = (Vec::new(), Vec::new());
    let mut act = |verb: &str| {
        what.push(verb.to_string());
        cmds.push(ctl(verb));
    };
    match a.state {
        Some(State::Started) if !cur.active => act("start"),
        Some(State::Stopped) if cur.active => act("stop"),
        Some(State::Restarted) => act("restart"),
        Some(State::Reloaded) if cur.active => act("reload"),
        Some(State::Reloaded) => act("start"),
        _ => {}
    }
    // A process started now: when it became active is known only after apply.
    let started = what.iter().any(|w| w == "start" || w == "restart");
    let rc = |verb: &str| match systemd {
        true => format!("systemctl {verb} -- {q}"),
        false => format!("update-rc.d {q} {verb}"),
    };
    match a.enabled {
        Some(true) if !cur.enabled => {
            what.push("enable".into());
            cmds.push(rc("enable"));
        }
        Some(false) if cur.enabled => {
            what.push("disable".into());
            cmds.push(rc("disable"));
        }
        _ => {}
    }
    if cmds.is_empty() {
        return Ok(None);
    }
    let after = after(cur, a.state, a.enabled, started);
    Ok(Some(
        Plan::script("service", name, what.join(", "), who.clone(), cmds.join(" && "))
            .predicts(FactKey::Service(name.into()), Fact::Service(after)),
    ))
}

/// The service once a plan asking for `state` and `enabled` ran (`started`: it starts or
/// restarts a process, whose start time is known only after it happens).
pub fn after(cur: &ServiceFact, state: Option<State>, enabled: Option<bool>, started: bool) -> ServiceFact {
    let active = match state {
        None => cur.active,
        Some(s) => s != State::Stopped,
    };
    ServiceFact {
        exists: true,
        active,
        enabled: enabled.unwrap_or(cur.enabled),
        active_since: cur.active_since.filter(|_| active && !started),
        ..cur.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts give the state as text (the operation cases deserialize it, so cannot).
    #[test]
    fn states_parse_and_others_are_refused_naming_the_four() {
        assert_eq!(State::parse("service", "reloaded"), Ok(State::Reloaded));
        assert_eq!(
            State::parse("service", "running").unwrap_err().to_string(),
            "service: state must be started, stopped, restarted or reloaded, not \"running\""
        );
    }
}
