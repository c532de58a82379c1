use clap::Parser;

fn main() {
    let cli = runbook::cli::Cli::parse();
    std::process::exit(runbook::run(cli));
}
