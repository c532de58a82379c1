//! Where and as whom to connect: the inventory entry, the inventory's `[ssh]` defaults and
//! `~/.ssh/config` (Host aliases, HostName, Port, User, IdentityFile, ProxyJump), in that
//! order of precedence, as users of OpenSSH expect.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{ParseRule, SshConfig};

use crate::inventory::{HostSpec, SshSettings};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// How the host is named in messages (its inventory name or the jump spec).
    pub label: String,
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// Keys named by the inventory or ssh config; empty means the default key files.
    pub identity_files: Vec<PathBuf>,
    /// The host to tunnel through, itself possibly behind another.
    pub jump: Option<Box<Target>>,
    pub connect_timeout: Duration,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}:{}", self.user, self.hostname, self.port)?;
        if let Some(j) = &self.jump {
            write!(f, " via {j}")?;
        }
        Ok(())
    }
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `~/x` → `$HOME/x`; relative paths are taken relative to `base`.
pub fn expand(path: &str, base: &Path) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        home().join(rest)
    } else if path == "~" {
        home()
    } else {
        base.join(path)
    }
}

/// `~/.ssh/config`, parsed once per run. A broken file is an error when ssh is used.
pub fn load_ssh_config() -> Result<SshConfig, String> {
    let path = home().join(".ssh/config");
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(SshConfig::default());
    };
    let mut reader = std::io::BufReader::new(file);
    SshConfig::default()
        .parse(
            &mut reader,
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub struct Resolver<'a> {
    pub settings: &'a SshSettings,
    pub config: &'a SshConfig,
    pub inventory_dir: &'a Path,
    /// Inventory hosts, so that `jump = "bastion"` can name one of them.
    pub hosts: &'a indexmap::IndexMap<String, HostSpec>,
}

const MAX_JUMPS: usize = 8;

impl Resolver<'_> {
    pub fn host(&self, spec: &HostSpec) -> Result<Target, String> {
        self.host_at_depth(spec, 0)
    }

    fn host_at_depth(&self, spec: &HostSpec, depth: usize) -> Result<Target, String> {
        let params = self.config.query(&spec.address);
        let mut identity_files: Vec<PathBuf> = Vec::new();
        if let Some(k) = spec.key.as_ref().or(self.settings.key.as_ref()) {
            identity_files.push(expand(k, self.inventory_dir));
        } else if let Some(files) = &params.identity_file {
            identity_files.extend(files.iter().cloned());
        }
        // The inventory's jump applies to every host but the jump host itself.
        let jump_spec = match &self.settings.jump {
            Some(j) if j != &spec.name && depth == 0 => Some(j.clone()),
            _ => params
                .proxy_jump
                .as_ref()
                .and_then(|v| v.first().cloned())
                .filter(|j| j != "none"),
        };
        let jump = match jump_spec {
            Some(j) => Some(Box::new(self.jump(&j, depth + 1)?)),
            None => None,
        };
        Ok(Target {
            label: spec.name.clone(),
            hostname: params.host_name.clone().unwrap_or_else(|| spec.address.clone()),
            port: spec.port.or(self.settings.port).or(params.port).unwrap_or(22),
            user: spec
                .user
                .clone()
                .or(self.settings.user.clone())
                .or(params.user.clone())
                .unwrap_or_else(local_user),
            identity_files,
            jump,
            connect_timeout: self
                .settings
                .connect_timeout
                .map(Duration::from_secs)
                .or(params.connect_timeout)
                .unwrap_or(Duration::from_secs(10)),
        })
    }

    /// A jump host: an inventory host name, or `[user@]host[:port]` (itself looked up in
    /// ~/.ssh/config, like `ssh -J`).
    fn jump(&self, spec: &str, depth: usize) -> Result<Target, String> {
        if depth > MAX_JUMPS {
            return Err(format!(
                "more than {MAX_JUMPS} jump hosts in a chain (a ProxyJump loop?) at `{spec}`"
            ));
        }
        if let Some(h) = self.hosts.get(spec) {
            let mut t = self.host_at_depth(h, depth)?;
            t.label = format!("jump host {spec}");
            return Ok(t);
        }
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, spec),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (
                h.to_string(),
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("invalid port in jump host `{spec}`"))?,
                ),
            ),
            _ => (rest.to_string(), None),
        };
        let params = self.config.query(&host);
        let jump = match params
            .proxy_jump
            .as_ref()
            .and_then(|v| v.first().cloned())
            .filter(|j| j != "none")
        {
            Some(j) => Some(Box::new(self.jump(&j, depth + 1)?)),
            None => None,
        };
        Ok(Target {
            label: format!("jump host {spec}"),
            hostname: params.host_name.clone().unwrap_or(host),
            port: port.or(params.port).unwrap_or(22),
            user: user
                .or(params.user.clone())
                .or(self.settings.user.clone())
                .unwrap_or_else(local_user),
            identity_files: params.identity_file.clone().unwrap_or_default(),
            jump,
            connect_timeout: params.connect_timeout.unwrap_or(Duration::from_secs(10)),
        })
    }
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, address: &str) -> HostSpec {
        HostSpec::new(name, address)
    }

    fn config(text: &str) -> SshConfig {
        SshConfig::default()
            .parse(&mut text.as_bytes(), ParseRule::ALLOW_UNKNOWN_FIELDS)
            .unwrap()
    }

    #[test]
    fn ssh_config_aliases_fill_what_the_inventory_leaves_open() {
        let cfg = config(
            "Host web1\n  HostName 10.1.1.1\n  Port 2222\n  User deploy\n  IdentityFile /keys/web\n  ProxyJump ops@bastion:2200\n\nHost bastion\n  HostName 10.9.9.9\n",
        );
        let settings = SshSettings::default();
        let hosts = indexmap::IndexMap::new();
        let r = Resolver {
            settings: &settings,
            config: &cfg,
            inventory_dir: Path::new("/inv"),
            hosts: &hosts,
        };
        let t = r.host(&spec("web1", "web1")).unwrap();
        assert_eq!(
            (t.hostname.as_str(), t.port, t.user.as_str()),
            ("10.1.1.1", 2222, "deploy")
        );
        assert_eq!(t.identity_files, vec![PathBuf::from("/keys/web")]);
        let j = t.jump.unwrap();
        assert_eq!(
            (j.hostname.as_str(), j.port, j.user.as_str()),
            ("10.9.9.9", 2200, "ops")
        );
    }

    #[test]
    fn inventory_settings_win_and_jump_can_name_an_inventory_host() {
        let cfg = config("Host web1\n  User deploy\n  Port 2222\n");
        let settings = SshSettings {
            user: Some("root".into()),
            key: Some("keys/id".into()),
            jump: Some("bastion".into()),
            ..Default::default()
        };
        let mut hosts = indexmap::IndexMap::new();
        let mut b = spec("bastion", "10.0.0.254");
        b.port = Some(2022);
        hosts.insert("bastion".to_string(), b.clone());
        let r = Resolver {
            settings: &settings,
            config: &cfg,
            inventory_dir: Path::new("/inv"),
            hosts: &hosts,
        };
        let t = r.host(&spec("web1", "web1")).unwrap();
        assert_eq!((t.user.as_str(), t.port), ("root", 2222));
        assert_eq!(t.identity_files, vec![PathBuf::from("/inv/keys/id")]);
        let j = t.jump.as_ref().unwrap();
        assert_eq!((j.hostname.as_str(), j.port), ("10.0.0.254", 2022));
        assert!(j.jump.is_none());
        assert!(r.host(&b).unwrap().jump.is_none(), "the jump host is reached directly");
    }
}
