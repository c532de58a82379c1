//! The one place where values become remote shell text. Every argument that reaches a shell
//! (local `sh -c` or a remote sshd) is quoted here; nothing else glues command strings.

/// Quotes one argument for a POSIX shell: plain words stay as they are, everything else is
/// wrapped in single quotes (a `'` inside becomes `'\''`). Newlines, `$`, backticks, `;`
/// and unicode are all inert inside single quotes.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Quotes each word and joins them with spaces: an argv made safe for `sh -c`.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(|a| quote(a.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Who a command runs as on its host; in recorded operation arguments `"me"`, `"root"` or
/// a user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(from = "String")]
pub enum Become {
    /// The connecting user.
    #[default]
    Me,
    /// `sudo` to root.
    Root,
    /// `sudo -u USER`.
    User(String),
}

impl From<String> for Become {
    fn from(who: String) -> Self {
        match who.as_str() {
            "me" => Become::Me,
            "root" => Become::Root,
            _ => Become::User(who),
        }
    }
}

/// A time limit as the host's `timeout` takes it (`wrap`): whole seconds, rounded up, at
/// least one.
pub fn limit_secs(limit: std::time::Duration) -> u64 {
    limit.as_secs_f64().ceil().max(1.0) as u64
}

/// Wraps a shell script so it runs with `env`, in `cwd`, as `who`, killed after
/// `timeout_secs` when given. The result is itself shell text for `sh -c` (local) or the
/// remote login shell (ssh).
///
/// sudo runs non-interactively (`-n`): a host that needs a password fails at once with
/// sudo's own message instead of hanging on a prompt nobody can answer. `timeout` runs
/// inside sudo, so it can kill the command's whole process group whoever owns it.
pub fn wrap(
    script: &str,
    env: &[(String, String)],
    cwd: Option<&str>,
    who: &Become,
    timeout_secs: Option<u64>,
) -> String {
    let mut inner = String::new();
    for (k, v) in env {
        inner.push_str(&format!("export {}={}; ", env_name(k), quote(v)));
    }
    if let Some(dir) = cwd {
        inner.push_str(&format!("cd {} && ", quote(dir)));
    }
    inner.push_str(script);
    if let Some(secs) = timeout_secs {
        inner = format!("timeout -k 5 {secs} sh -c {}", quote(&inner));
    }
    let sudo = match who {
        Become::Me => return inner,
        Become::Root => "sudo -n -H --".to_string(),
        Become::User(u) => format!("sudo -n -H -u {} --", quote(u)),
    };
    format!("{sudo} sh -c {}", quote(&inner))
}

/// Environment names cannot be quoted, so anything but `[A-Za-z0-9_]` is dropped.
fn env_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn echo_through_sh(arg: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(arg)))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn hostile_values_survive_a_real_shell() {
        for v in [
            "; rm -rf ~/x",
            "$(touch /tmp/pwned)",
            "`id`",
            "it's",
            "a\nb",
            "ünï ☃",
            "",
            "-n",
            "*",
        ] {
            assert_eq!(echo_through_sh(v), v, "value {v:?}");
        }
    }

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(join(&["apt-get", "install", "-y", "nginx"]), "apt-get install -y nginx");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn wrap_quotes_env_cwd_and_user() {
        let env = vec![("GREETING".to_string(), "hi $USER".to_string())];
        let s = wrap("echo \"$GREETING\"; pwd", &env, Some("/tmp"), &Become::Me, None);
        let out = Command::new("sh").arg("-c").arg(&s).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "hi $USER\n/tmp\n");
        assert_eq!(
            wrap("id -u", &[], None, &Become::User("node js".into()), None),
            "sudo -n -H -u 'node js' -- sh -c 'id -u'"
        );
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn timeout_stops_the_command_with_124() {
        let s = wrap("sleep 5; echo late", &[], None, &Become::Me, Some(1));
        let out = Command::new("sh").arg("-c").arg(&s).output().unwrap();
        assert_eq!(out.status.code(), Some(124));
        assert!(out.stdout.is_empty());
    }
}
