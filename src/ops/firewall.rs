//! `h.ufw(#{ incoming, outgoing, rules, enabled, exact, confirm })`: the host firewall
//! through ufw. Rules are compared in the form `ufw show added` prints them. The firewall is
//! never enabled unless a rule lets SSH in, and a change to an enabled firewall undoes
//! itself unless a new SSH login works afterwards: locking the operator out is the one
//! mistake a remote tool cannot undo.

use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use super::{OpResult, Plan, apply, options};
use crate::connection::ExecRequest;
use crate::facts::{Fact, FactKey, UfwFact};
use crate::host::Host;
use crate::inventory::ConnectionKind;
use crate::playbook::convert::Opts;
use crate::shell::{join, quote};

use super::command::become_of;

/// One rule, as the words after `ufw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: String,
    pub port: Option<String>,
    pub proto: Option<String>,
    pub from: Option<String>,
}

impl Rule {
    fn parse(d: &Dynamic) -> OpResult<Rule> {
        let map = d
            .read_lock::<Map>()
            .ok_or("ufw: each rule must be a map like #{ port: 22, proto: \"tcp\" }")?
            .clone();
        let o = Opts::new("ufw rule", map, &["port", "proto", "from", "action"])?;
        let port = o.raw("port").map(|p| port_of(&p)).transpose()?;
        let rule = Rule {
            action: o.string("action")?.unwrap_or_else(|| "allow".into()),
            port,
            proto: o.string("proto")?,
            from: o.string("from")?.filter(|f| f != "any"),
        };
        let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "./:-_".contains(c));
        if !["allow", "deny", "reject", "limit"].contains(&rule.action.as_str()) {
            return Err(format!(
                "ufw: action must be allow, deny, reject or limit, not {:?}",
                rule.action
            ));
        }
        for v in [&rule.port, &rule.proto, &rule.from].into_iter().flatten() {
            // A dry run's address of a droplet it would create: only ever planned (see `ufw`).
            if v == crate::playbook::cloud_api::PENDING_TEXT {
                continue;
            }
            if !word(v) {
                return Err(format!("ufw: invalid value {v:?} in a rule"));
            }
        }
        if rule.port.is_none() && rule.from.is_none() {
            return Err("ufw: a rule needs a `port` or a `from`".into());
        }
        Ok(rule)
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

pub fn ufw(host: &Host, opts: Map) -> OpResult<Map> {
    let opts = options("ufw", opts)?;
    let who = become_of(&opts)?;
    let policy = |key: &str| -> OpResult<Option<String>> {
        match opts.string(key)? {
            Some(p) if ["allow", "deny", "reject"].contains(&p.as_str()) => Ok(Some(p)),
            Some(p) => Err(format!("ufw: `{key}` must be allow, deny or reject, not {p:?}")),
            None => Ok(None),
        }
    };
    let (incoming, outgoing) = (policy("incoming")?, policy("outgoing")?);
    let rules: Vec<Rule> = match opts.raw("rules") {
        None => vec![],
        Some(r) => r
            .read_lock::<Array>()
            .ok_or("ufw: `rules` must be an array")?
            .iter()
            .map(Rule::parse)
            .collect::<Result<_, _>>()?,
    };
    let enabled = opts.opt_bool("enabled")?;
    let exact = opts.bool("exact", false)?;
    let confirm = opts.duration("confirm")?.unwrap_or(CONFIRM_DEFAULT);
    if !host.dry_run()
        && rules
            .iter()
            .any(|r| r.from.as_deref() == Some(crate::playbook::cloud_api::PENDING_TEXT))
    {
        return Err("ufw: a rule's address is not known yet".into());
    }

    let facts = host.facts(&[FactKey::Ufw, FactKey::Package("ufw".into())], &who)?;
    let (Fact::Ufw(mut cur), Fact::Package(pkg)) = (facts[0].clone(), &facts[1]) else {
        unreachable!()
    };
    if !cur.installed {
        // In a dry run, ufw may be about to be installed by an earlier operation.
        if !(host.dry_run() && pkg.installed) {
            return Err(format!(
                "{}: ufw is not installed (install it first: h.apt([\"ufw\"]))",
                host.name()
            ));
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
    for r in &rules {
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
    if will_be_enabled {
        let port = host.state.spec.port.unwrap_or(22).to_string();
        let ssh_ok = after
            .rules
            .iter()
            .filter_map(|r| Rule::from_text(r))
            .any(|r| r.admits_ssh(&port));
        if !ssh_ok {
            return Err(format!(
                "{}: ufw: refusing to enable the firewall: no rule lets SSH (port {port}) in, and runbook would lock itself out; add #{{ port: {port}, proto: \"tcp\" }}",
                host.name()
            ));
        }
    }
    if enabled == Some(true) && !cur.enabled {
        what.push("enable".into());
        cmds.push("ufw --force enable".into());
    } else if enabled == Some(false) && cur.enabled {
        what.push("disable".into());
        cmds.push("ufw disable".into());
    }
    after.enabled = will_be_enabled;
    if cmds.is_empty() {
        return Ok(super::outcome(false, None));
    }
    let plan = Plan {
        op: "ufw",
        target: "firewall".into(),
        summary: what.join(", "),
        script: cmds.join(" && "),
        stdin: None,
        become_: who,
        diff: None,
        predicts: vec![(FactKey::Ufw, Fact::Ufw(after))],
    };
    // Only an enabled firewall can lock SSH out; a dry run and the controller cannot.
    let guarded = will_be_enabled && !host.dry_run() && host.state.spec.connection == ConnectionKind::Ssh;
    match guarded && !confirm.is_zero() {
        true => apply_confirmed(host, plan, confirm),
        false => apply(host, Some(plan)),
    }
}

/// How long a firewall change may stand before the host undoes it, unless a new SSH
/// connection proves it leaves runbook (and so the operator) a way in.
const CONFIRM_DEFAULT: Duration = Duration::from_secs(60);

/// Commit-confirmed, as network operating systems call it: before the change the host saves
/// its firewall and schedules its own restore (a transient systemd timer, else a detached
/// `sleep`); after it runbook opens a NEW SSH connection. If that works the restore is
/// cancelled. If not, the change is undone at once over the connection that is still open
/// (ufw keeps established connections), or by the host's timer, and the step fails saying
/// the change locked SSH out and was reverted.
fn apply_confirmed(host: &Host, mut plan: Plan, confirm: Duration) -> OpResult<Map> {
    let id = format!("runbook-revert-{:08x}", fastrand::u32(..));
    let backup = format!("/var/lib/runbook/{id}.tar");
    let restore = format!(
        // `ufw enable` on an active firewall keeps its loaded rules: disable, then enable.
        "tar -C / -xf {backup} && if grep -qi '^ENABLED=yes' /etc/ufw/ufw.conf; then ufw --force disable && ufw --force enable; else ufw --force disable; fi; rm -f {backup}"
    );
    let secs = confirm.as_secs().max(1);
    let schedule = format!(
        "mkdir -p /var/lib/runbook && tar -C / -cf {backup} etc/ufw etc/default/ufw && \
         if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then \
         systemd-run --quiet --unit={id} --on-active={secs}s /bin/sh -c {restore_q}; \
         else setsid nohup sh -c {sleep_q} >/dev/null 2>&1 </dev/null & echo $! > /var/lib/runbook/{id}.pid; fi",
        restore_q = quote(&restore),
        sleep_q = quote(&format!("sleep {secs}; {restore}")),
    );
    let cancel = format!(
        "systemctl stop {id}.timer 2>/dev/null; systemctl reset-failed {id}.service 2>/dev/null; \
         if [ -f /var/lib/runbook/{id}.pid ]; then kill $(cat /var/lib/runbook/{id}.pid) 2>/dev/null; rm -f /var/lib/runbook/{id}.pid; fi; true"
    );
    let become_ = plan.become_.clone();
    let run_as_root = |script: String| -> Result<crate::connection::ExecOutput, String> {
        let req = ExecRequest {
            script,
            become_: become_.clone(),
            timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        host.exec(&req).map_err(|e| host.exec_error(&e, &req))
    };
    // The restore is in place before the change, in the same round trip.
    plan.script = format!("{schedule} && {{ {}; }}", plan.script);
    let applied = apply(host, Some(plan));
    if let Err(e) = applied {
        // The change failed half-way: put the firewall back as it was, now.
        let _ = run_as_root(format!("{cancel}; {restore}"));
        return Err(e);
    }
    match new_login(host) {
        Ok(()) => {
            run_as_root(format!("{cancel}; rm -f {backup}"))?;
            applied
        }
        Err(why) => {
            let how = match run_as_root(format!("{cancel}; {restore}")) {
                Ok(out) if out.code == 0 => "at once, over the connection still open".to_string(),
                _ => {
                    // The open connection is gone too: the host's own timer restores it.
                    std::thread::sleep(confirm + Duration::from_secs(5));
                    format!("by the host's timer after {}", humantime::format_duration(confirm))
                }
            };
            host.state.facts.begin_step();
            let back = (0..6).find_map(|_| match new_login(host) {
                Ok(()) => Some(()),
                Err(_) => {
                    std::thread::sleep(Duration::from_secs(5));
                    None
                }
            });
            let after = match back {
                Some(()) => "the firewall is as it was and SSH answers again",
                None => "but a new SSH connection still fails: check the host's console",
            };
            Err(format!(
                "{}: ufw: the change locked SSH out (a new connection failed: {why}); runbook reverted it {how}; {after}",
                host.name()
            ))
        }
    }
}

/// A new SSH login to the host (not the open connection, which established-state rules
/// keep alive), running `true`.
fn new_login(host: &Host) -> Result<(), String> {
    host.fresh_login(&host.state.spec, "true", LOGIN_TIMEOUT).map(|_| ())
}

const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

/// A rule's port as ufw writes it: a number (`22`, or `"22"` from a `--var`), a range
/// (`"6000:6007"`) or a service name (`"ssh"`); anything else is an error.
fn port_of(v: &Dynamic) -> OpResult<String> {
    let wrong = || {
        format!(
            "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not {}",
            crate::playbook::convert::describe(v)
        )
    };
    let number = |n: i64| {
        u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .map(|p| p.to_string())
            .ok_or_else(|| format!("ufw rule: option `port` {n} is out of range (1-65535)"))
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Ok(n) = v.as_int() {
        return number(n);
    }
    if !v.is_string() {
        return Err(wrong());
    }
    let s = v.to_string();
    if digits(&s) {
        return number(s.parse().map_err(|_| wrong())?);
    }
    if let Some((a, b)) = s.split_once(':').filter(|(a, b)| digits(a) && digits(b)) {
        let (a, b) = (
            number(a.parse().map_err(|_| wrong())?)?,
            number(b.parse().map_err(|_| wrong())?)?,
        );
        return Ok(format!("{a}:{b}"));
    }
    let service = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if service { Ok(s) } else { Err(wrong()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_numbers_numeric_text_ranges_or_service_names() {
        let ok: &[(Dynamic, &str)] = &[
            (Dynamic::from(22_i64), "22"),
            (Dynamic::from("22"), "22"),
            (Dynamic::from("022"), "22"),
            (Dynamic::from("6000:6007"), "6000:6007"),
            (Dynamic::from("ssh"), "ssh"),
        ];
        for (v, want) in ok {
            assert_eq!(port_of(v).as_deref(), Ok(*want), "{v:?}");
        }
        let err: &[(Dynamic, &str)] = &[
            (
                Dynamic::from(0_i64),
                "ufw rule: option `port` 0 is out of range (1-65535)",
            ),
            (
                Dynamic::from("70000"),
                "ufw rule: option `port` 70000 is out of range (1-65535)",
            ),
            (
                Dynamic::from("22.5"),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not \"22.5\"",
            ),
            (
                Dynamic::from(22.0_f64),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not 22.0",
            ),
            (
                Dynamic::from(true),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not true",
            ),
        ];
        for (v, want) in err {
            assert_eq!(port_of(v).unwrap_err(), *want, "{v:?}");
        }
    }

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
