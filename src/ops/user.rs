//! `h.user(name, #{ home, shell, groups, append, system, uid, create_home })`: a local user.
//! `groups` is the exact set of supplementary groups unless `append: true`.

use rhai::Map;

use super::{OpResult, Plan, apply, options};
use crate::facts::{Fact, FactKey, UserFact};
use crate::host::Host;
use crate::shell::join;

use super::command::become_of;

pub fn user(host: &Host, name: &str, opts: Map) -> OpResult<Map> {
    let opts = options("user", opts)?;
    let who = become_of(&opts)?;
    let home = opts.string("home")?;
    let shell = opts.string("shell")?;
    let groups = opts.raw("groups").map(|_| opts.string_list("groups")).transpose()?;
    let append = opts.bool("append", false)?;
    let system = opts.bool("system", false)?;
    let uid = opts.int("uid")?;
    let create_home = opts.bool("create_home", !system)?;
    if name.is_empty() || name.starts_with('-') {
        return Err(format!("user: invalid user name {name:?}"));
    }
    let Fact::User(cur) = host.fact(FactKey::User(name.into()), &who)? else {
        unreachable!()
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
            let missing: Vec<&String> = g.iter().filter(|x| !supplementary.contains(x)).collect();
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
                what.push(format!("groups → {}", target.join(",")));
                argv.extend(["--groups".into(), target.join(",")]);
                new_groups = cur.groups.iter().take(1).cloned().chain(target).collect();
            }
        }
        if what.is_empty() {
            return Ok(super::outcome(false, None));
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
    apply(
        host,
        Some(Plan {
            op: "user",
            target: name.into(),
            summary,
            script,
            stdin: None,
            become_: who,
            diff: None,
            predicts: vec![(FactKey::User(name.into()), Fact::User(after))],
        }),
    )
}
