//! runbook: Rhai playbooks run against an inventory's hosts through idempotent built-ins.

pub mod builtins;
pub mod cli;
pub mod cloud;
pub mod connection;
pub mod cost;
pub mod error;
pub mod facts;

pub mod host;
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
pub mod wait;

use cli::{Cli, Command, CostArgs, HistoryArgs, InventoryArgs, PlayArgs};
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
        Command::Play(args) => match settings(args) {
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
        Command::Cost(args) => match cost(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
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
        dry_run: args.dry_run,
        show_diff: args.diff,

        output: args.output,
        command_timeout: Some(args.command_timeout),
        trust_new_hosts: args.trust_new_hosts,
        resume: args.resume,
        state: args.state.path,
        wait_lock: args.wait_lock.unwrap_or_default(),
        budget: args.budget,
    })
}

/// `runbook unlock`: a lock whose holder runbook cannot check (another machine) or that a
/// person knows to be stale, removed after showing its holder and asking.
fn unlock(args: cli::UnlockArgs) -> Result<()> {
    let journal = journal::Journal::open_existing(&args.state.path)?;
    let name = inventory_name(&args.inventory);
    let Some(holder) = journal::lock::holder(&journal, &name)? else {
        println!("inventory {name} is not locked");
        return Ok(());
    };
    if holder.alive() && holder.controller == journal::lock::hostname() {
        return Err(Error::Journal(format!(
            "inventory {name} is locked by a run that is still running here: {}; stop it instead (Ctrl-C)",
            holder.describe()
        )));
    }
    println!("inventory {name} is locked by {}", holder.describe());
    if !args.yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "unlock asks before removing a lock; without a terminal, pass --yes".into(),
            ));
        }
        print!("Remove it? Only if that run is gone [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("left as it is");
            return Ok(());
        }
    }
    match journal::lock::remove(&journal, &name, &holder)? {
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
    let journal = journal::Journal::open_existing(&args.state.path)?;
    let text = match args.run {
        Some(id) => journal::history::show(&journal, id, args.output)?,
        None => {
            let inventory = args.inventory.as_deref().map(inventory_name);
            journal::history::list(&journal, inventory.as_deref(), args.output)?
        }
    };
    println!("{text}");
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
        Some(_) => Some(cloud::provider_for(&inv, &|t| secrets.remember(t)).map_err(fail)?),
        None => None,
    };
    let dns = (cost::bill::dns_kind(&inv).as_deref() == Some("route53"))
        .then(|| cloud::dns::dns_for(&inv, &|t| secrets.remember(t)));
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
    Ok(if within {
        0
    } else {
        Error::HostsFailed { failed: 0 }.exit_code()
    })
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
