//! `h.service(name, "started"|"stopped"|"restarted"|"reloaded", #{ enabled })`: systemd when
//! it is the init system, else the `service` command and update-rc.d.

use rhai::Map;

use super::{OpResult, Plan, apply, options};
use crate::facts::{Fact, FactKey, ServiceFact};
use crate::host::Host;
use crate::shell::quote;

use super::command::become_of;

pub fn service(host: &Host, name: &str, state: &str, opts: Map) -> OpResult<Map> {
    let opts = options("service", opts)?;
    let who = become_of(&opts)?;
    let enabled = opts.opt_bool("enabled")?;
    if !matches!(state, "started" | "stopped" | "restarted" | "reloaded") {
        return Err(format!(
            "service: state must be started, stopped, restarted or reloaded, not {state:?}"
        ));
    }
    let facts = host.facts(&[FactKey::Service(name.into()), FactKey::Init], &who)?;
    let (Fact::Service(cur), Fact::Init(init)) = (&facts[0], &facts[1]) else {
        unreachable!()
    };
    if !cur.exists {
        return Err(format!(
            "{}: service {name}: no such unit on the host (is its package installed?)",
            host.name()
        ));
    }
    let systemd = init == "systemd";
    let q = quote(name);
    let ctl = |verb: &str| {
        if systemd {
            format!("systemctl {verb} -- {q}")
        } else {
            format!("service {q} {verb}")
        }
    };
    let (mut what, mut cmds) = (Vec::new(), Vec::new());
    let mut act = |verb: &str| {
        what.push(verb.to_string());
        cmds.push(ctl(verb));
    };
    match state {
        "started" if !cur.active => act("start"),
        "stopped" if cur.active => act("stop"),
        "restarted" => act("restart"),
        "reloaded" if cur.active => act("reload"),
        "reloaded" => act("start"),
        _ => {}
    }
    match enabled {
        Some(true) if !cur.enabled => {
            what.push("enable".into());
            cmds.push(if systemd {
                format!("systemctl enable -- {q}")
            } else {
                format!("update-rc.d {q} enable")
            });
        }
        Some(false) if cur.enabled => {
            what.push("disable".into());
            cmds.push(if systemd {
                format!("systemctl disable -- {q}")
            } else {
                format!("update-rc.d {q} disable")
            });
        }
        _ => {}
    }
    if cmds.is_empty() {
        return Ok(super::outcome(false, None));
    }
    let after = ServiceFact {
        exists: true,
        active: state != "stopped",
        enabled: enabled.unwrap_or(cur.enabled),
    };
    apply(
        host,
        Some(Plan {
            op: "service",
            target: name.into(),
            summary: what.join(", "),
            script: cmds.join(" && "),
            stdin: None,
            become_: who,
            diff: None,
            predicts: vec![(FactKey::Service(name.into()), Fact::Service(after))],
        }),
    )
}
