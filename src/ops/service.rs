//! `h.service(name, "started"|"stopped"|"restarted"|"reloaded", #{ enabled })`: systemd when
//! it is the init system, else the `service` command and update-rc.d.

use serde::Deserialize;

use super::error::{OpError, OpResult};
use super::plan::Plan;
use crate::facts::{Fact, FactKey, Look, ServiceFact};
use crate::shell::{Become, quote};

/// `h.service(name, state, #{ enabled })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub state: State,
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
    pub fn parse(state: &str) -> OpResult<State> {
        Ok(match state {
            "started" => State::Started,
            "stopped" => State::Stopped,
            "restarted" => State::Restarted,
            "reloaded" => State::Reloaded,
            _ => {
                return Err(OpError::invalid(
                    "service",
                    format!("state must be started, stopped, restarted or reloaded, not {state:?}"),
                ));
            }
        })
    }
}

pub fn service(look: &dyn Look, a: &Service) -> OpResult<Option<Plan>> {
    let (name, who) = (a.name.as_str(), &a.who);
    let facts = look.facts(&[FactKey::Service(name.into()), FactKey::Init], who)?;
    let (Fact::Service(cur), Fact::Init(init)) = (&facts[0], &facts[1]) else {
        unreachable!("service and init probes")
    };
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
        State::Started if !cur.active => act("start"),
        State::Stopped if cur.active => act("stop"),
        State::Restarted => act("restart"),
        State::Reloaded if cur.active => act("reload"),
        State::Reloaded => act("start"),
        _ => {}
    }
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
    let after = ServiceFact {
        exists: true,
        active: a.state != State::Stopped,
        enabled: a.enabled.unwrap_or(cur.enabled),
    };
    Ok(Some(
        Plan::script("service", name, what.join(", "), who.clone(), cmds.join(" && "))
            .predicts(FactKey::Service(name.into()), Fact::Service(after)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts give the state as text (the operation cases deserialize it, so cannot).
    #[test]
    fn states_parse_and_others_are_refused_naming_the_four() {
        assert_eq!(State::parse("reloaded"), Ok(State::Reloaded));
        assert_eq!(
            State::parse("running").unwrap_err().to_string(),
            "service: state must be started, stopped, restarted or reloaded, not \"running\""
        );
    }
}
