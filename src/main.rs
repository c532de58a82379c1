use clap::Parser;

fn main() {
    // Usage errors exit 1 like every other mistake in what runbook was given (clap's own
    // exit would be 2, which means that some host failed); --help and --version exit 0.
    let cli = match runbook::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(match e.use_stderr() {
                true => runbook::error::exit::USAGE,
                false => runbook::error::exit::OK,
            });
        }
    };
    std::process::exit(runbook::run(cli));
}
