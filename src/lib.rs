//! runbook: Rhai playbooks run against an inventory's hosts through idempotent built-ins.

pub mod adhoc;
pub mod builtins;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod connection;
pub mod cost;
pub mod error;
pub mod facts;

pub mod host;
pub mod init;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod ops;
pub mod pending;
pub mod play;
pub mod playbook;
pub mod reference;
pub mod report;
pub mod run;
pub mod secrets;
pub mod shell;
pub mod ship;
pub mod stop;
pub mod tunnel_http;
pub mod wait;

use cli::{Cli, Command, CostArgs, HistoryArgs, InventoryArgs, PlayArgs, StateCommand};
use error::{Error, Result};
use inventory::Vars;

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if !matches!(cli.command, Command::Play(_)) {
        // Printing commands end quietly when their reader goes away (`runbook doc | head`).
        // Not a play: one must finish its running commands and journal them.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        Command::Play(args) => match settings(*args) {
            Ok(s) => return run::play(s),
            Err(e) => Err(e),
        },
        Command::Check {
            playbook,
            inventory,
            vars,
        } => run::check(&playbook, inventory.as_deref(), &vars).map(|msg| println!("{msg}")),
        Command::Inventory(args) => show_inventory(args),
        Command::History(args) => history(args),
        Command::Unlock(args) => unlock(args),
        Command::Doc { name, markdown } => match markdown {
            true => {
                print!("{}", reference::markdown());
                Ok(())
            }
            false => reference::doc(name.as_deref())
                .map(|t| println!("{t}"))
                .map_err(Error::Usage),
        },
        Command::State(StateCommand::Migrate { from, to }) => migrate(&from, &to),
        Command::Cost(args) => match cost(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "runbook", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { command } => man(command.as_deref()),
        Command::Run(args) => match adhoc::run(&target(&args.on), &args.command, args.output) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Facts(args) => match adhoc::facts(&target(&args.on), &args.kind, args.arg.as_deref()) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Init { dir, force } => init::init(&dir, force).map(|said| println!("{said}")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Where and how `runbook run` and `runbook facts` act.
fn target(args: &cli::AdhocArgs) -> adhoc::Target {
    adhoc::Target {
        inventory: args.inventory.clone(),
        pattern: args.pattern.clone(),
        forks: args.forks as usize,
        become_: match (&args.user, args.sudo) {
            (Some(user), _) => shell::Become::from(user.clone()),
            (None, true) => shell::Become::Root,
            (None, false) => shell::Become::Me,
        },
        timeout: args.timeout,
        trust_new_hosts: args.trust_new_hosts,
    }
}

/// `runbook man [COMMAND]`: runbook(1), or runbook-COMMAND(1), in roff.
fn man(command: Option<&str>) -> Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let page = match command {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect();
            let Some(sub) = cmd.find_subcommand(name) else {
                return Err(Error::Usage(format!(
                    "no command `{name}`; the commands are {}",
                    names.join(", ")
                )));
            };
            // Titled runbook-play(1), as the main page lists it; the synopsis as typed.
            let (title, typed) = (format!("runbook-{name}"), format!("runbook {name}"));
            sub.clone().name(title).bin_name(typed)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Error::io("cannot render the man page", e))?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::io("cannot write the man page", e))
}

/// The command line's variables: `--vars-file`s, then `--var`/`--var-json` in order.
fn parse_vars(args: &cli::VarArgs) -> Result<Vars> {
    inventory::overrides(&args.files, &args.vars)
}

fn settings(args: PlayArgs) -> Result<run::Settings> {
    Ok(run::Settings {
        playbook: args.playbook,
        inventory: args.inventory,
        limit: args.limit,
        vars: parse_vars(&args.vars)?,
        forks: args.forks as usize,
        // Listing runs nothing: the script as in a dry run, no step's closure.
        dry_run: args.dry_run || args.list_steps || args.list_hosts,
        listing: match (args.list_steps, args.list_hosts) {
            (true, _) => Some(play::Listing::Steps),
            (_, true) => Some(play::Listing::Hosts),
            _ => None,
        },
        show_diff: args.diff,

        output: args.output,
        color: args.color,
        verbose: args.verbose,
        selection: play::Selection {
            tags: args.tags,
            skip_tags: args.skip_tags,
            start_at: args.start_at_step,
        },
        command_timeout: Some(args.command_timeout),
        max_operations: args.max_operations,
        trust_new_hosts: args.trust_new_hosts,
        resume: args.resume,
        state: journal::Location::parse(&args.state.location),
        wait_lock: args.wait_lock.unwrap_or_default(),
        force_unlock: args.force_unlock,
        budget: args.budget,
    })
}

/// `runbook unlock`: a lock whose holder runbook cannot check (another machine) or that a
/// person knows to be stale, removed after showing its holder and asking.
fn unlock(args: cli::UnlockArgs) -> Result<()> {
    let store = journal::Location::parse(&args.state.location).open_existing(&|_| {})?;
    let name = inventory_name(&args.inventory);
    let Some(holder) = store.lock_holder(&name)? else {
        println!("inventory {name} is not locked");
        return Ok(());
    };
    journal::lock::check_breakable(&*store, &name, &holder)?;
    println!("inventory {name} is locked by {}", holder.describe());
    if !args.yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "unlock asks before removing a lock; without a terminal, pass --yes".into(),
            ));
        }
        print!(
            "{} [y/N] ",
            match store.ends_holder_session() {
                true => "End that run's session and remove the lock? Only if that run is gone or stuck",
                false => "Remove it? Only if that run is gone",
            }
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("left as it is");
            return Ok(());
        }
    }
    match store.break_lock(&name, &holder)? {
        true => println!("lock removed"),
        false => println!("the lock changed hands meanwhile; left as it is"),
    }
    Ok(())
}

/// Runs are journaled under the inventory's name; accept the path of its file too.
fn inventory_name(i: &str) -> String {
    let stem = [".toml", ".ini", ".yml", ".yaml"]
        .iter()
        .find_map(|x| i.strip_suffix(x));
    match stem {
        Some(path) => std::path::Path::new(path)
            .file_name()
            .map_or(i.to_string(), |n| n.to_string_lossy().into_owned()),
        None => i.to_string(),
    }
}

fn history(args: HistoryArgs) -> Result<()> {
    let store = journal::Location::parse(&args.state.location).open_existing(&|_| {})?;
    let text = match args.run {
        Some(id) => journal::history::show(&*store, id, args.output)?,
        None => {
            let inventory = args.inventory.as_deref().map(inventory_name);
            journal::history::list(&*store, inventory.as_deref(), args.output)?
        }
    };
    println!("{text}");
    Ok(())
}

/// `runbook state migrate`: one store's history copied into another that holds none.
fn migrate(from: &str, to: &str) -> Result<()> {
    let (from, to) = (journal::Location::parse(from), journal::Location::parse(to));
    if from == to {
        return Err(Error::Usage(format!(
            "--from and --to are the same store: {}",
            from.label()
        )));
    }
    let source = from.open_existing(&|_| {})?;
    let target = to.open(&|_| {})?;
    let copied = journal::migrate::copy(&*source, &*target)?;
    println!(
        "copied {} run(s) and {} result(s) from {} to {}",
        copied.runs,
        copied.results,
        source.label(),
        target.label()
    );
    Ok(())
}

/// `runbook cost`: the inventory's monthly cost now; exit 2 when it is over the budget.
fn cost(args: CostArgs) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let secrets = secrets::Secrets::default();
    let inv = inventory::Inventory::load(&args.inventory)?;
    let fail = |e: String| Error::Usage(secrets.mask(&format!("cannot price inventory {}: {e}", inv.file_label())));
    let provider = match &inv.cloud {
        Some(_) => Some(cloud::provider_for(&inv, &|t| secrets.remember(t), &Default::default()).map_err(fail)?),
        None => None,
    };
    let dns = (cost::bill::dns_kind(&inv).as_deref() == Some("route53"))
        .then(|| cloud::dns::dns_for(&inv, &|t| secrets.remember(t), &Default::default()));
    let (prices, bill) = rt.block_on(async {
        let prices = cost::bill::prices(&inv, provider.as_deref()).await;
        let bill = cost::bill::bill(&inv, provider.as_deref(), dns, &prices).await;
        (prices, bill)
    });
    let bill = bill.map_err(fail)?;
    let budget = args.budget.or(inv.cost.budget_monthly);
    let json = args.output == report::OutputFormat::Json;
    let (text, within) = cost::bill::report(&inv, &bill, &prices, budget, json);
    println!("{}", secrets.mask(&text));
    Ok(if within { 0 } else { error::exit::FAILED })
}

fn show_inventory(args: InventoryArgs) -> Result<()> {
    // Multi-threaded: `Handle::block_on` on a current-thread runtime would not drive its I/O.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let inv = cloud::discover::load(&args.inventory, rt.handle(), &|_| {})?;
    let overrides = parse_vars(&args.vars)?;
    if args.graph {
        print!("{}", inventory::graph(&inv));
        return Ok(());
    }
    let groups: serde_json::Map<String, serde_json::Value> = std::iter::once(("all".to_string(), {
        serde_json::json!({"hosts": inv.hosts.keys().collect::<Vec<_>>(), "children": [], "vars": inv.vars})
    }))
    .chain(inv.groups.iter().map(|(name, g)| {
        (
            name.clone(),
            serde_json::json!({"hosts": g.hosts, "children": g.children, "vars": g.vars}),
        )
    }))
    .collect();
    let hosts: serde_json::Map<String, serde_json::Value> = inv
        .hosts
        .values()
        .map(|h| {
            (
                h.name.clone(),
                serde_json::json!({
                    "address": h.address, "private_ip": h.private_ip, "public_ip": h.public_ip, "port": h.port, "user": h.user, "connection": h.connection,
                    "groups": inv.groups_of(&h.name), "vars": inv.host_vars(&h.name, &overrides),
                }),
            )
        })
        .collect();
    if args.json {
        let doc = serde_json::json!({"name": inv.name, "path": inv.file_label(), "groups": groups, "hosts": hosts});
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON values serialize"));
        return Ok(());
    }
    println!("inventory {} ({})", inv.name, inv.file_label());
    print!("{}", inventory::graph(&inv));
    for (name, h) in &hosts {
        println!("\n{name}  {}", h["address"].as_str().unwrap_or(""));
        if let Some(vars) = h["vars"].as_object() {
            for (k, v) in vars {
                println!("  {k} = {v}");
            }
        }
    }
    Ok(())
}
