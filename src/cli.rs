//! Command-line interface (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::inventory::VarArg;
use crate::report::OutputFormat;

const EXAMPLES: &str = "\
Examples:
  runbook play playbooks/provision.rhai --inventory local
  runbook play playbooks/release.rhai -i prod --var version=1.4.2 --limit 'app*'
  runbook play playbooks/release.rhai -i prod --vars-file release.toml --var-json serial=2
  runbook play playbooks/harden.rhai -i prod --dry-run
  runbook play playbooks/harden.rhai -i prod --resume
  runbook history -i prod
  runbook cost -i prod --budget 40
  runbook check playbooks/replicate.rhai
  runbook inventory -i prod --graph
  runbook doc h.file";

#[derive(Debug, Parser)]
#[command(name = "runbook", version, about = "Infrastructure as code you can read, dry-run, resume and repeat", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook against the hosts of an inventory
    #[command(after_help = EXAMPLES)]
    Play(PlayArgs),
    /// Compile a playbook and the modules it imports, without touching any host
    Check {
        /// The playbook (.rhai)
        playbook: PathBuf,
        /// Also check `hosts("…")` patterns and `var("…")` names against this inventory
        /// (its file only: nothing is connected to, no cloud is asked)
        #[arg(short, long, env = "RUNBOOK_INVENTORY")]
        inventory: Option<String>,
        /// Variables the run will be given (--var NAME=…): defined for the check
        #[arg(short = 'e', long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
    },
    /// Show an inventory's groups, hosts and merged variables
    Inventory(InventoryArgs),
    /// Remove an inventory's run lock left by a run that is gone (asks first)
    Unlock(UnlockArgs),
    /// The API reference: every built-in, or one (`runbook doc h.file`)
    Doc {
        /// A built-in as playbooks write it: h.file, step, cloud::droplet, wait::http
        name: Option<String>,
        /// The whole reference as Markdown (docs/reference.md)
        #[arg(long, conflicts_with = "name")]
        markdown: bool,
    },
    /// List the journaled runs, or show one run's steps × hosts
    History(HistoryArgs),
    /// What the inventory's droplets, snapshots and DNS cost a month now
    Cost(CostArgs),
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The playbook (.rhai)
    pub playbook: PathBuf,
    /// Inventory name (inventory/NAME.toml, or an Ansible NAME.ini/.yml/.yaml) or path
    #[arg(short, long, env = "RUNBOOK_INVENTORY")]
    pub inventory: String,
    /// Only these hosts: groups, names, globs (web*), unions (web,db), exclusions (!db2)
    #[arg(short, long)]
    pub limit: Option<String>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// How many hosts a step runs on at once
    #[arg(short, long, default_value_t = 32, env = "RUNBOOK_FORKS", value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
    /// Look at every host and print what would change, changing nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Show a diff of every file changed (dry runs always show them)
    #[arg(long)]
    pub diff: bool,

    /// Output format: text for people, json (one event per line) for CI
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Time limit of every command unless the playbook sets one (e.g. 10m, 1h)
    #[arg(long, default_value = "30m", value_parser = crate::playbook::convert::cli_duration)]
    pub command_timeout: std::time::Duration,
    /// Record the host keys of hosts not yet in known_hosts (trust on first use)
    #[arg(long)]
    pub trust_new_hosts: bool,
    /// Continue the latest run of this playbook and inventory if it did not finish (or run
    /// RUN_ID): on each host, steps already done and unchanged are skipped and return their
    /// journaled values; a host that failed resumes at its failed step
    #[arg(long, value_name = "RUN_ID", num_args = 0..=1, conflicts_with = "dry_run")]
    pub resume: Option<Option<i64>>,
    /// If another run holds the inventory's lock, wait this long (e.g. 10m) instead of failing
    #[arg(long, value_name = "DURATION", value_parser = crate::playbook::convert::cli_duration)]
    pub wait_lock: Option<std::time::Duration>,
    /// The monthly cost the inventory may reach (e.g. 40): a dry run whose plan exceeds it
    /// fails; a real run refuses each cloud change that would (overrides [cost] budget_monthly)
    #[arg(long, value_name = "AMOUNT", value_parser = parse_money)]
    pub budget: Option<crate::cost::Money>,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StateArg {
    /// The run journal (SQLite), relative to the current directory
    #[arg(long = "state", value_name = "PATH", env = "RUNBOOK_STATE", default_value = crate::journal::DEFAULT_PATH)]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Inventory name (inventory/NAME.toml, or an Ansible NAME.ini/.yml/.yaml) or path
    #[arg(short, long, env = "RUNBOOK_INVENTORY")]
    pub inventory: String,
    /// Do not ask (for scripts): remove the lock whoever holds it
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show this run's steps × hosts instead of the list of runs
    pub run: Option<i64>,
    /// Only runs of this inventory (name, or path of its file)
    #[arg(short, long)]
    pub inventory: Option<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Inventory name (inventory/NAME.toml, or an Ansible NAME.ini/.yml/.yaml) or path
    #[arg(short, long, env = "RUNBOOK_INVENTORY")]
    pub inventory: String,
    /// Show the group tree
    #[arg(long, conflicts_with = "json")]
    pub graph: bool,
    /// Print groups, hosts and merged variables as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

/// `--var`, `--var-json` and `--vars-file`. By hand rather than derived: the first two
/// apply in the order they are given, interleaved, which needs clap's argument indices.
#[derive(Debug, Clone, Default)]
pub struct VarArgs {
    /// `--var` and `--var-json`, in command-line order.
    pub vars: Vec<VarArg>,
    /// `--vars-file`, in command-line order.
    pub files: Vec<PathBuf>,
}

const VAR_HELP: &str = "Set a variable to text, overriding the inventory (repeatable): --var version=1.10 is the text \"1.10\", never a number";
const VAR_JSON_HELP: &str =
    "Set a variable to a typed JSON value (repeatable): --var-json serial=2, --var-json 'ips=[\"10.0.0.5\"]'";
const VARS_FILE_HELP: &str = "Read variables from a TOML file, its top-level keys with their types (repeatable)";
const VARS_LONG: &str = "Precedence, lowest first: the inventory, then the --vars-file files in the order given, \
then --var and --var-json in the order given (a later one wins).";

impl clap::Args for VarArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        use clap::{Arg, ArgAction};
        cmd.arg(
            Arg::new("var")
                .short('e')
                .long("var")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .help(VAR_HELP)
                .long_help(format!("{VAR_HELP}.\n{VARS_LONG}")),
        )
        .arg(
            Arg::new("var_json")
                .long("var-json")
                .value_name("KEY=JSON")
                .action(ArgAction::Append)
                .help(VAR_JSON_HELP)
                .long_help(format!("{VAR_JSON_HELP}.\n{VARS_LONG}")),
        )
        .arg(
            Arg::new("vars_file")
                .long("vars-file")
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(PathBuf))
                .help(VARS_FILE_HELP)
                .long_help(format!("{VARS_FILE_HELP}.\n{VARS_LONG}")),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for VarArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut vars: Vec<(usize, VarArg)> = Vec::new();
        let mut take = |id: &str, kind: fn(String) -> VarArg| {
            if let (Some(values), Some(at)) = (m.get_many::<String>(id), m.indices_of(id)) {
                vars.extend(at.zip(values.cloned().map(kind)));
            }
        };
        take("var", VarArg::Text);
        take("var_json", VarArg::Json);
        vars.sort_by_key(|(i, _)| *i);
        Ok(VarArgs {
            vars: vars.into_iter().map(|(_, v)| v).collect(),
            files: m
                .get_many::<PathBuf>("vars_file")
                .map(|f| f.cloned().collect())
                .unwrap_or_default(),
        })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Inventory name (inventory/NAME.toml, or an Ansible NAME.ini/.yml/.yaml) or path
    #[arg(short, long, env = "RUNBOOK_INVENTORY")]
    pub inventory: String,
    /// Compare with this monthly budget (overrides [cost] budget_monthly); exit 2 when over
    #[arg(long, value_name = "AMOUNT", value_parser = parse_money)]
    pub budget: Option<crate::cost::Money>,
    /// Output format: text for people, json (one object) for CI
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `40`, `39.50`: an exact amount.
fn parse_money(s: &str) -> Result<crate::cost::Money, String> {
    crate::cost::Money::parse(s)
}
