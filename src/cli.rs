//! Command-line interface (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::inventory::VarArg;
use crate::report::OutputFormat;

const EXAMPLES: &str = "\
Examples:
  runbook init infra
  runbook play playbooks/provision.rhai --inventory local
  runbook play playbooks/release.rhai -i prod --var version=1.4.2 --limit 'app*'
  runbook play playbooks/release.rhai -i prod --vars-file release.toml --var-json serial=2
  runbook play playbooks/harden.rhai -i prod --dry-run
  runbook play playbooks/harden.rhai -i prod --resume
  runbook history -i prod
  runbook state migrate --from .runbook/state.db --to postgres://runbook@db.internal/runbook
  runbook cost -i prod --budget 40
  runbook check playbooks/replicate.rhai
  runbook inventory -i prod --graph
  runbook doc h.file";

#[derive(Debug, Parser)]
#[command(name = "runbook", version, about = "Infrastructure as code you can read, dry-run, resume and repeat", after_help = format!("{EXAMPLES}\n\n{}", crate::error::exit::TABLE))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new project that runs at once on this machine (no file is written over)
    ///
    /// An inventory of this machine and a commented Docker example, a playbook, a
    /// template, inventory/secrets/, a .gitignore and a README.
    Init {
        /// Where (made if missing)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite the project's files where they exist
        #[arg(long)]
        force: bool,
    },
    /// Run a playbook against the hosts of an inventory
    #[command(after_help = format!("{EXAMPLES}\n\n{}", crate::error::exit::TABLE))]
    Play(Box<PlayArgs>),
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
    /// Run one command on the hosts a pattern matches, in parallel, and print their output
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Print one fact of the hosts a pattern matches, as JSON (`h.fact(KIND, ARG)`)
    #[command(after_help = FACTS_HELP)]
    Facts(FactsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = COMPLETIONS)]
    Completions {
        /// The shell to complete runbook's commands and options in
        shell: clap_complete::Shell,
    },
    /// Print runbook's man page (roff), or one command's: `runbook man | man -l -`
    Man {
        /// A command (`play`): its page, runbook-play(1)
        command: Option<String>,
    },
    /// The run journal's store: copy its history to another store
    #[command(subcommand)]
    State(StateCommand),
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Copy every run and its results (numbers kept) into a store that holds none yet
    Migrate {
        /// The store to copy from (PATH of an SQLite journal, or postgres:// URL)
        #[arg(long, value_name = "PATH|URL")]
        from: String,
        /// The store to copy into (PATH or postgres:// URL)
        #[arg(long, value_name = "PATH|URL")]
        to: String,
    },
}

const RUN_HELP: &str = "\
Examples:
  runbook run -i prod web -- uptime
  runbook run -i prod 'web,!web2' --sudo -- systemctl reload nginx
  runbook run -i prod all -- 'df -h / | tail -1'
  runbook run -i prod db -o json -- pg_lsclusters

One word after -- is shell text (pipes, $VARS); several are one command's words, each quoted.
Every line a host prints is shown after its name, stdout on stdout and stderr on stderr.
Exit code 0 when the command exited 0 everywhere, 4 when the only failures are hosts that could
not be reached, 2 otherwise. Nothing is journaled; the inventory's lock is not taken.";

const FACTS_HELP: &str = "\
Kinds: file PATH, package NAME, service UNIT, user NAME, group NAME, ufw, os, init.

Examples:
  runbook facts -i prod all os
  runbook facts -i prod web service nginx
  runbook facts -i prod db file /etc/postgresql/15/main/pg_hba.conf --sudo

Prints one JSON object: each host's name, then its fact as h.fact returns it. Hosts that
cannot answer are errors on stderr; the exit code is then 2 (or 4 when they only could not
be reached).";

#[derive(Debug, Args)]
pub struct AdhocArgs {
    /// Inventory name (inventory/NAME.toml) or path
    #[arg(short, long, env = "RUNBOOK_INVENTORY")]
    pub inventory: String,
    /// The hosts: groups, names, globs (web*), unions (web,db), exclusions (!db2)
    pub pattern: String,
    /// How many hosts at once
    #[arg(short, long, default_value_t = 32, env = "RUNBOOK_FORKS", value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
    /// As root, through sudo (NOPASSWD)
    #[arg(long, conflicts_with = "user")]
    pub sudo: bool,
    /// As this user, through sudo
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Stop the command on a host after this long (e.g. 30s, 10m)
    #[arg(long, default_value = "10m", value_parser = crate::playbook::convert::cli_duration)]
    pub timeout: std::time::Duration,
    /// Record the host keys of hosts not yet in known_hosts (trust on first use)
    #[arg(long)]
    pub trust_new_hosts: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub on: AdhocArgs,
    /// Output format: text (each line after its host's name) or json (one object per host)
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The command, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    #[command(flatten)]
    pub on: AdhocArgs,
    /// The kind of fact
    #[arg(value_parser = ["file", "package", "service", "user", "group", "ufw", "os", "init"])]
    pub kind: String,
    /// What it is about: a path, a package, unit, user or group name
    pub arg: Option<String>,
}

const COMPLETIONS: &str = "\
Install:
  bash  runbook completions bash > ~/.local/share/bash-completion/completions/runbook
  zsh   runbook completions zsh > ~/.zfunc/_runbook   (with fpath+=~/.zfunc before compinit)
  fish  runbook completions fish > ~/.config/fish/completions/runbook.fish";

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
    /// Colours for changed, ok, failed and skipped: auto (on a terminal, unless NO_COLOR
    /// is set), always or never
    #[arg(long, value_enum, env = "RUNBOOK_COLOR", default_value_t = crate::report::ColorChoice::Auto)]
    pub color: crate::report::ColorChoice,
    /// Run only the steps tagged with one of these (`step(…, #{ tags: ["web"] }, …)`); steps
    /// tagged `always` run too
    #[arg(long, value_delimiter = ',', value_name = "TAG,…")]
    pub tags: Vec<String>,
    /// Skip the steps tagged with one of these
    #[arg(long, value_delimiter = ',', value_name = "TAG,…")]
    pub skip_tags: Vec<String>,
    /// Skip the steps before the first step of this name
    #[arg(long, value_name = "STEP")]
    pub start_at_step: Option<String>,
    /// List the steps the play would run, in order, with their tags, without running any
    /// (script code between steps runs as in a dry run)
    #[arg(long, conflicts_with = "list_hosts")]
    pub list_steps: bool,
    /// List the hosts each step would run on (after --limit), without running any step
    #[arg(long)]
    pub list_hosts: bool,
    /// -v: show what each command that changes something printed (host-prefixed);
    /// -vv: also the commands themselves and the probes that read facts
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Time limit of every command unless the playbook sets one (e.g. 10m, 1h)
    #[arg(long, default_value = "30m", value_parser = crate::playbook::convert::cli_duration)]
    pub command_timeout: std::time::Duration,
    /// Stop script code that runs more than N Rhai operations (an endless loop) with an
    /// error at the line it reached: counted from the play's start, a step's closure on
    /// each host on top of the count where the step began; 0: no limit
    #[arg(long, value_name = "N", env = "RUNBOOK_MAX_OPERATIONS", default_value_t = 0)]
    pub max_operations: u64,
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
    /// End the lock of run RUN_ID, which a person knows to be stuck, and take it (a live
    /// holder on PostgreSQL loses its session: its next journal write fails)
    #[arg(long, value_name = "RUN_ID")]
    pub force_unlock: Option<i64>,
    /// The monthly cost the inventory may reach (e.g. 40): a dry run whose plan exceeds it
    /// fails; a real run refuses each cloud change that would (overrides [cost] budget_monthly)
    #[arg(long, value_name = "AMOUNT", value_parser = parse_money)]
    pub budget: Option<crate::cost::Money>,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StateArg {
    /// The run journal: an SQLite file, relative to the current directory, or a PostgreSQL
    /// database shared by a team (postgres://USER@HOST[:PORT]/DB; the password from
    /// RUNBOOK_STATE_PASSWORD or the secret state_password)
    #[arg(long = "state", value_name = "PATH|URL", env = "RUNBOOK_STATE", default_value = crate::journal::DEFAULT_PATH)]
    pub location: String,
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
