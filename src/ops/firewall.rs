//! `h.ufw(#{ incoming, outgoing, rules, enabled, exact, confirm })`: the host firewall
//! through ufw. Rules are compared in the form `ufw show added` prints them. The firewall is
//! never enabled unless a rule lets SSH in, and a change to an enabled firewall undoes
//! itself unless a new SSH login works afterwards: locking the operator out is the one
//! mistake a remote tool cannot undo.

use std::time::Duration;

use serde::Deserialize;

use super::error::{OpError, OpResult};
use super::plan::{Guard, Plan};
use crate::facts::{Fact, FactKey, Look, UfwFact};
use crate::pending::PENDING_TEXT;
use crate::shell::{Become, join};

/// One rule, as the words after `ufw`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default = "allow")]
    pub action: String,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub proto: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

fn allow() -> String {
    "allow".into()
}

impl Rule {
    /// A rule runbook can write and read back: a known action, plain words, and a port or
    /// a source.
    pub fn check(&self) -> OpResult<()> {
        let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "./:-_".contains(c));
        if !["allow", "deny", "reject", "limit"].contains(&self.action.as_str()) {
            return Err(OpError::invalid(
                "ufw",
                format!("action must be allow, deny, reject or limit, not {:?}", self.action),
            ));
        }
        for v in [&self.port, &self.proto, &self.from].into_iter().flatten() {
            // A dry run's address of a droplet it would create: only ever planned (see `ufw`).
            if v == PENDING_TEXT && self.from.as_ref() == Some(v) {
                continue;
            }
            if !word(v) {
                return Err(OpError::invalid("ufw", format!("invalid value {v:?} in a rule")));
            }
        }
        if self.port.is_none() && self.from.is_none() {
            return Err(OpError::invalid("ufw", "a rule needs a `port` or a `from`"));
        }
        Ok(())
    }

    /// The words of the rule, exactly as `ufw show added` prints them.
    pub fn words(&self) -> Vec<String> {
        let mut w = vec![self.action.clone()];
        match (&self.from, &self.port) {
            (None, Some(port)) => w.push(match &self.proto {
                Some(p) => format!("{port}/{p}"),
                None => port.clone(),
            }),
            (Some(from), port) => {
                w.extend(["from".into(), from.clone()]);
                if let Some(port) = port {
                    w.extend(["to".into(), "any".into(), "port".into(), port.clone()]);
                }
                if let Some(p) = &self.proto {
                    w.extend(["proto".into(), p.clone()]);
                }
            }
            (None, None) => {}
        }
        w
    }

    /// Reads a rule back from the words `ufw show added` prints (the inverse of `words`).
    fn from_text(text: &str) -> Option<Rule> {
        let w: Vec<&str> = text.split_whitespace().collect();
        let action = w.first()?.to_string();
        let after = |key: &str| {
            w.iter()
                .position(|x| *x == key)
                .and_then(|i| w.get(i + 1))
                .map(|s| s.to_string())
        };
        if w.get(1) == Some(&"from") {
            return Some(Rule {
                action,
                from: after("from"),
                port: after("port"),
                proto: after("proto"),
            });
        }
        let (port, proto) = match w.get(1)?.split_once('/') {
            Some((p, t)) => (p.to_string(), Some(t.to_string())),
            None => (w[1].to_string(), None),
        };
        Some(Rule {
            action,
            port: Some(port),
            proto,
            from: None,
        })
    }

    fn text(&self) -> String {
        self.words().join(" ")
    }

    /// Whether the rule lets SSH (`port`) in.
    fn admits_ssh(&self, port: &str) -> bool {
        matches!(self.action.as_str(), "allow" | "limit")
            && self.port.as_deref() == Some(port)
            && self.proto.as_deref().is_none_or(|p| p == "tcp")
    }
}

/// `h.ufw(#{ incoming, outgoing, rules, enabled, exact, confirm })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ufw {
    #[serde(default)]
    pub incoming: Option<Policy>,
    #[serde(default)]
    pub outgoing: Option<Policy>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Delete the rules the host has that `rules` does not list.
    #[serde(default)]
    pub exact: bool,
    /// How long a change to an enabled firewall stands unless a new SSH login confirms it;
    /// zero turns the guard off.
    #[serde(default = "confirm_default", deserialize_with = "super::args::duration_text")]
    pub confirm: Duration,
    /// The port runbook reaches the host's SSH on: a rule must let it in.
    #[serde(default = "ssh_port")]
    pub ssh_port: u16,
    /// Reached over SSH (not the controller itself): a change can lock runbook out.
    #[serde(default)]
    pub over_ssh: bool,
    #[serde(default)]
    pub who: Become,
}

fn confirm_default() -> Duration {
    super::confirm::CONFIRM_DEFAULT
}

fn ssh_port() -> u16 {
    22
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Allow,
    Deny,
    Reject,
}

impl Policy {
    pub fn parse(key: &str, p: &str) -> OpResult<Policy> {
        match p {
            "allow" => Ok(Policy::Allow),
            "deny" => Ok(Policy::Deny),
            "reject" => Ok(Policy::Reject),
            _ => Err(OpError::invalid(
                "ufw",
                format!("`{key}` must be allow, deny or reject, not {p:?}"),
            )),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Deny => "deny",
            Policy::Reject => "reject",
        }
    }
}

pub fn ufw(look: &dyn Look, a: &Ufw) -> OpResult<Option<Plan>> {
    let who = &a.who;
    for r in &a.rules {
        r.check()?;
    }
    let rules = &a.rules;
    let (incoming, outgoing) = (
        a.incoming.map(|p| p.word().to_string()),
        a.outgoing.map(|p| p.word().to_string()),
    );
    let (enabled, exact) = (a.enabled, a.exact);
    if !look.dry_run() && rules.iter().any(|r| r.from.as_deref() == Some(PENDING_TEXT)) {
        return Err(OpError::invalid("ufw", "a rule's address is not known yet"));
    }

    let facts = look.facts(&[FactKey::Ufw, FactKey::Package("ufw".into())], who)?;
    let (Fact::Ufw(mut cur), Fact::Package(pkg)) = (facts[0].clone(), &facts[1]) else {
        unreachable!()
    };
    if !cur.installed {
        // In a dry run, ufw may be about to be installed by an earlier operation.
        if !(look.dry_run() && pkg.installed) {
            let why = "ufw is not installed (install it first: h.apt([\"ufw\"]))";
            return Err(OpError::refused(look.host_name(), "ufw", "firewall", why));
        }
        cur = UfwFact {
            installed: true,
            enabled: false,
            default_incoming: "deny".into(),
            default_outgoing: "allow".into(),
            rules: vec![],
        };
    }

    let (mut what, mut cmds) = (Vec::new(), Vec::new());
    let mut after = cur.clone();
    for (dir, want, have) in [
        ("incoming", &incoming, &mut after.default_incoming),
        ("outgoing", &outgoing, &mut after.default_outgoing),
    ] {
        if let Some(w) = want.as_ref().filter(|w| *w != have) {
            what.push(format!("default {dir} {w}"));
            cmds.push(join(&["ufw", "default", w, dir]));
            *have = w.clone();
        }
    }
    for r in rules {
        if !after.rules.contains(&r.text()) {
            what.push(format!("add `{}`", r.text()));
            let mut argv = vec!["ufw".to_string()];
            argv.extend(r.words());
            cmds.push(join(&argv));
            after.rules.push(r.text());
        }
    }
    if exact {
        let wanted: Vec<String> = rules.iter().map(Rule::text).collect();
        for extra in cur.rules.iter().filter(|r| !wanted.contains(r)) {
            what.push(format!("delete `{extra}`"));
            let mut argv = vec!["ufw".to_string(), "delete".to_string()];
            argv.extend(extra.split_whitespace().map(str::to_string));
            cmds.push(join(&argv));
        }
        after.rules.retain(|r| wanted.contains(r));
    }
    let will_be_enabled = enabled.unwrap_or(cur.enabled);
    if enabled == Some(true) && !cur.enabled {
        what.push("enable".into());
        cmds.push("ufw --force enable".into());
    } else if enabled == Some(false) && cur.enabled {
        what.push("disable".into());
        cmds.push("ufw disable".into());
    }
    after.enabled = will_be_enabled;
    // Nothing to change cannot lock anyone out.
    if cmds.is_empty() {
        return Ok(None);
    }
    if will_be_enabled {
        let port = a.ssh_port.to_string();
        let ssh_ok = after
            .rules
            .iter()
            .filter_map(|r| Rule::from_text(r))
            .any(|r| r.admits_ssh(&port));
        if !ssh_ok {
            let doing = match cur.enabled {
                true => "refusing to change the enabled firewall: afterwards",
                false => "refusing to enable the firewall:",
            };
            let why = format!(
                "{doing} no rule lets SSH (port {port}) in, and runbook would lock itself out; add #{{ port: {port}, proto: \"tcp\" }}"
            );
            return Err(OpError::refused(look.host_name(), "ufw", "firewall", why));
        }
    }
    let mut plan = Plan::script("ufw", "firewall", what.join(", "), who.clone(), cmds.join(" && "))
        .predicts(FactKey::Ufw, Fact::Ufw(after));
    // Only an enabled firewall can lock SSH out; a dry run and the controller cannot.
    if will_be_enabled && a.over_ssh && !a.confirm.is_zero() {
        plan.guard = Some(guard(a.confirm));
    }
    Ok(Some(plan))
}

/// Commit-confirmed (`ops::confirm`): before the change the host saves its firewall and
/// schedules its own restore; after it runbook opens a NEW SSH connection. If that works
/// the restore is cancelled. If not, the change is undone at once over the connection that
/// is still open (ufw keeps established connections), or by the host's timer, and the step
/// fails saying the change locked SSH out and was reverted.
fn guard(confirm: Duration) -> Guard {
    let id = super::confirm::new_id();
    let backup = format!("/var/lib/runbook/{id}.tar");
    let restore = format!(
        // `ufw enable` on an active firewall keeps its loaded rules: disable, then enable.
        "tar -C / -xf {backup} && if grep -qi '^ENABLED=yes' /etc/ufw/ufw.conf; then ufw --force disable && ufw --force enable; else ufw --force disable; fi; rm -f {backup}"
    );
    let schedule = format!(
        "mkdir -p /var/lib/runbook && tar -C / -cf {backup} etc/ufw etc/default/ufw && {{ {}; }}",
        super::confirm::schedule(&id, confirm, &restore)
    );
    let cancel = super::confirm::unschedule(&id);
    Guard {
        confirm: Some(confirm),
        login_as: None,
        subject: "the firewall".into(),
        schedule,
        cancel: format!("{cancel}; rm -f {backup}"),
        revert: format!("{cancel}; {restore}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(port: Option<&str>, proto: Option<&str>, from: Option<&str>) -> Rule {
        Rule {
            action: "allow".into(),
            port: port.map(Into::into),
            proto: proto.map(Into::into),
            from: from.map(Into::into),
        }
    }

    #[test]
    fn rules_read_like_ufw_show_added() {
        assert_eq!(rule(Some("22"), Some("tcp"), None).text(), "allow 22/tcp");
        assert_eq!(rule(Some("80"), None, None).text(), "allow 80");
        assert_eq!(
            rule(Some("5432"), Some("tcp"), Some("10.0.0.5")).text(),
            "allow from 10.0.0.5 to any port 5432 proto tcp"
        );
        assert_eq!(rule(None, None, Some("10.0.0.0/24")).text(), "allow from 10.0.0.0/24");
        for r in [
            rule(Some("22"), Some("tcp"), None),
            rule(Some("5432"), Some("tcp"), Some("10.0.0.5")),
            rule(None, None, Some("10.1.0.0/16")),
        ] {
            assert_eq!(Rule::from_text(&r.text()), Some(r));
        }
    }
}
