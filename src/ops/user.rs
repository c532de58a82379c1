//! `h.user(name, #{ home, shell, groups, append, system, uid, create_home })`: a local user.
//! `groups` is the exact set of supplementary groups unless `append: true`.

use serde::Deserialize;

use super::error::{OpError, OpResult};
use super::plan::Plan;
use crate::facts::{Fact, FactKey, Look, UserFact};
use crate::shell::{Become, join};

/// `h.user(name, #{ home, shell, groups, append, system, uid, create_home })`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// Supplementary groups; `None` leaves them as they are.
    pub groups: Option<Vec<String>>,
    /// Add `groups` to the ones the user has instead of making them the whole list.
    pub append: bool,
    pub system: bool,
    /// The uid of a new user; an existing user keeps its own.
    pub uid: Option<i64>,
    /// Default: a home for a normal user, none for a system user.
    pub create_home: Option<bool>,
    pub who: Become,
}

pub fn user(look: &dyn Look, a: &User) -> OpResult<Option<Plan>> {
    let (name, who) = (a.name.as_str(), &a.who);
    let (home, shell, groups, append, system, uid) = (
        a.home.clone(),
        a.shell.clone(),
        a.groups.clone(),
        a.append,
        a.system,
        a.uid,
    );
    let create_home = a.create_home.unwrap_or(!system);
    if name.is_empty() || name.starts_with('-') {
        return Err(OpError::invalid("user", format!("invalid user name {name:?}")));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        // getent, chown and friends take such a name for a uid: the probe would see another user.
        let why = format!("invalid user name {name:?}: a name of only digits is taken for a uid");
        return Err(OpError::invalid("user", why));
    }
    if let Some(u) = uid.filter(|u| u32::try_from(*u).is_err()) {
        return Err(OpError::invalid("user", format!("uid {u} is out of range")));
    }
    let Fact::User(cur) = look.fact(FactKey::User(name.into()), who)? else {
        unreachable!("a user probe gives a user fact")
    };
    let (summary, script, after) = if !cur.exists {
        let mut argv: Vec<String> = vec!["useradd".into()];
        if system {
            argv.push("--system".into());
        }
        argv.push(
            if create_home {
                "--create-home"
            } else {
                "--no-create-home"
            }
            .into(),
        );
        if let Some(h) = &home {
            argv.extend(["--home-dir".into(), h.clone()]);
        }
        if let Some(s) = &shell {
            argv.extend(["--shell".into(), s.clone()]);
        }
        if let Some(g) = groups.as_ref().filter(|g| !g.is_empty()) {
            argv.extend(["--groups".into(), g.join(",")]);
        }
        if let Some(u) = uid {
            argv.extend(["--uid".into(), u.to_string()]);
        }
        argv.extend(["--".into(), name.into()]);
        let mut all_groups = vec![name.to_string()];
        all_groups.extend(groups.clone().unwrap_or_default());
        let after = UserFact {
            exists: true,
            uid: uid.map(|u| u as u32),
            home: Some(home.clone().unwrap_or_else(|| format!("/home/{name}"))),
            shell: Some(shell.clone().unwrap_or_else(|| "/bin/sh".into())),
            groups: all_groups,
        };
        ("create".to_string(), join(&argv), after)
    } else {
        let (mut what, mut argv) = (Vec::new(), vec!["usermod".to_string()]);
        if let Some(s) = shell.as_ref().filter(|s| cur.shell.as_ref() != Some(*s)) {
            what.push(format!("shell → {s}"));
            argv.extend(["--shell".into(), s.clone()]);
        }
        if let Some(h) = home.as_ref().filter(|h| cur.home.as_ref() != Some(*h)) {
            what.push(format!("home → {h}"));
            argv.extend(["--home".into(), h.clone(), "--move-home".into()]);
        }
        let mut new_groups = cur.groups.clone();
        if let Some(g) = &groups {
            // `id -nG` lists the primary group first; supplementary ones follow.
            let supplementary: Vec<&String> = cur.groups.iter().skip(1).collect();
            // The primary group listed too is had already (`usermod` would not change `id`).
            let missing: Vec<&String> = g.iter().filter(|x| !cur.groups.contains(x)).collect();
            let extra: Vec<&&String> = supplementary.iter().filter(|x| !g.contains(x)).collect();
            if !missing.is_empty() || (!append && !extra.is_empty()) {
                let target: Vec<String> = if append {
                    supplementary
                        .iter()
                        .map(|s| s.to_string())
                        .chain(missing.iter().map(|s| s.to_string()))
                        .collect()
                } else {
                    g.clone()
                };
                let listed = match target.is_empty() {
                    true => "(none)".to_string(),
                    false => target.join(","),
                };
                what.push(format!("groups → {listed}"));
                argv.extend(["--groups".into(), target.join(",")]);
                let primary = cur.groups.first();
                let others = target.into_iter().filter(|t| Some(t) != primary);
                new_groups = primary.cloned().into_iter().chain(others).collect();
            }
        }
        if what.is_empty() {
            return Ok(None);
        }
        argv.extend(["--".into(), name.into()]);
        let after = UserFact {
            groups: new_groups,
            shell: shell.or(cur.shell.clone()),
            home: home.or(cur.home.clone()),
            ..cur.clone()
        };
        (what.join(", "), join(&argv), after)
    };
    Ok(Some(
        Plan::script("user", name, summary, who.clone(), script)
            .predicts(FactKey::User(name.into()), Fact::User(after)),
    ))
}
