use clap::{CommandFactory, FromArgMatches};

use runbook::cli::Cli;
use runbook::error::exit;

fn main() {
    // runbook.toml's values are the options' defaults: a flag, then an environment
    // variable, then the file.
    let config = match runbook::config::Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    };
    // Usage errors exit 1 like every other mistake in what runbook was given (clap's own
    // exit would be 2, which means that some host failed); --help and --version exit 0.
    let parsed = config
        .apply(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(match e.use_stderr() {
                true => exit::USAGE,
                false => exit::OK,
            });
        }
    };
    std::process::exit(runbook::run(cli));
}
