//! `runbook.toml`: a project's defaults, in the directory runbook runs in (where
//! `.runbook/` is). Each key is the default of an option that also has an environment
//! variable, so the precedence is the command line's, then the environment's, then the
//! file's, then runbook's own: the file's values become the options' defaults before clap
//! parses (and `--help` shows them).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Diagnostic, Error, Location, Result};

/// Where runbook looks for it: the current directory.
pub const FILE: &str = "runbook.toml";

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `--inventory` (`RUNBOOK_INVENTORY`) of every command that takes one.
    pub inventory: Option<String>,
    /// `--forks` (`RUNBOOK_FORKS`).
    pub forks: Option<u16>,
    /// `--state` (`RUNBOOK_STATE`): the run journal, a file or a `postgres://` URL.
    pub state: Option<String>,
    /// `--color` (`RUNBOOK_COLOR`): `auto`, `always` or `never`.
    pub color: Option<crate::report::ColorChoice>,
    /// `play --max-operations` (`RUNBOOK_MAX_OPERATIONS`): the Rhai operations script code
    /// may run before it is stopped; 0 for no limit.
    pub max_operations: Option<u64>,
}

impl Config {
    /// `runbook.toml` of the current directory; none is the empty config.
    pub fn load() -> Result<Config> {
        Self::read(Path::new(FILE))
    }

    pub fn read(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        let label = path.display().to_string();
        let config: Config = toml::from_str(&text).map_err(|e| {
            let at = Location::at_offset(&label, &text, e.span().map_or(0, |s| s.start));
            Error::Usage(
                Diagnostic::new(format!("invalid {label}: {}", e.message().trim_end()))
                    .at(at)
                    .render(),
            )
        })?;
        if config.forks == Some(0) {
            return Err(Error::Usage(format!("invalid {label}: forks must be at least 1")));
        }
        Ok(config)
    }

    /// The command line with the file's values as the defaults of the options they stand
    /// for: options whose environment variable is that of the key (so `history -i`, a
    /// filter without one, is left alone).
    pub fn apply(&self, cmd: clap::Command) -> clap::Command {
        let defaults: Vec<(&str, String)> = [
            ("RUNBOOK_INVENTORY", self.inventory.clone()),
            ("RUNBOOK_FORKS", self.forks.map(|f| f.to_string())),
            ("RUNBOOK_STATE", self.state.clone()),
            ("RUNBOOK_COLOR", self.color.map(|c| c.name().to_string())),
            ("RUNBOOK_MAX_OPERATIONS", self.max_operations.map(|n| n.to_string())),
        ]
        .into_iter()
        .filter_map(|(env, value)| value.map(|v| (env, v)))
        .collect();
        if defaults.is_empty() {
            return cmd;
        }
        cmd.mut_subcommands(|sub| {
            sub.mut_args(|arg| {
                let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default().to_string();
                match defaults.iter().find(|(e, _)| *e == env) {
                    // A required option (`play -i`) is given by the default.
                    Some((_, value)) => arg.default_value(value.clone()).required(false),
                    None => arg,
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(config: &Config, args: &[&str]) -> crate::cli::Cli {
        let m = config
            .apply(crate::cli::Cli::command())
            .try_get_matches_from(args)
            .unwrap();
        <crate::cli::Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap()
    }

    #[test]
    fn the_file_s_values_are_the_defaults_and_flags_win() {
        let config = Config {
            inventory: Some("local".into()),
            forks: Some(3),
            state: Some("elsewhere.db".into()),
            color: Some(crate::report::ColorChoice::Never),
            max_operations: Some(5000),
        };
        let crate::cli::Command::Play(play) = parse(&config, &["runbook", "play", "site.rhai"]).command else {
            panic!()
        };
        assert_eq!((play.inventory.as_str(), play.forks), ("local", 3));
        assert_eq!(play.state.location, "elsewhere.db");
        assert_eq!(play.color, crate::report::ColorChoice::Never);
        assert_eq!(play.max_operations, 5000);
        let crate::cli::Command::Play(play) =
            parse(&config, &["runbook", "play", "site.rhai", "-i", "prod", "-f", "9"]).command
        else {
            panic!()
        };
        assert_eq!((play.inventory.as_str(), play.forks), ("prod", 9));
        // `history -i` filters; the file does not choose a filter.
        let crate::cli::Command::History(h) = parse(&config, &["runbook", "history"]).command else {
            panic!()
        };
        assert_eq!(h.inventory, None);
        assert_eq!(h.state.location, "elsewhere.db");
    }

    #[test]
    fn a_mistake_is_shown_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runbook.toml");
        std::fs::write(&path, "inventory = \"local\"\nforkz = 2\n").unwrap();
        let e = Config::read(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `forkz`"), "{e}");
        assert!(e.contains("runbook.toml:2:1"), "{e}");
        assert_eq!(Config::read(&dir.path().join("none.toml")).unwrap(), Config::default());
    }
}
