use clap::{CommandFactory, FromArgMatches};

use runbook::cli::Cli;
use runbook::error::exit;

fn main() {
    fewer_malloc_arenas();
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

/// glibc gives each thread that allocates an arena of its own, up to 8 per core, and each
/// keeps the memory it freed. A play's threads (one per host at once) mostly wait on the
/// network: two arenas cost them no time and the controller megabytes.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first in `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
