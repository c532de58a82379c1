//! The script-facing cloud API: `cloud::` (droplets, snapshots), `dns::a_record` and
//! `inventory::refresh()`. Each call looks first (lists, reads) and acts only on a
//! difference; in dry-run it reports what it would do and returns `Pending` values for
//! what cannot be known before acting.

use std::sync::{Arc, OnceLock};

use rhai::{Array, Dynamic, Engine, EvalAltResult, FuncRegistration, Map, Module, NativeCallContext, RhaiNativeFunc};

use super::call::fail;
use crate::cloud::dns::Dns;
use crate::cloud::{self, Droplet, DropletPlan, DropletSpec, Provider};
use crate::cost::{Change, Ledger, Prices, bill};
use crate::play::Play;
use crate::playbook::convert::Opts;
use crate::report::CONTROLLER;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub use crate::pending::{PENDING_TEXT, Pending};

/// A script value as text; `Pending` as `(known after apply)`.
pub fn text(v: &Dynamic) -> String {
    if v.is::<Pending>() {
        PENDING_TEXT.to_string()
    } else {
        v.to_string()
    }
}

/// The run plus its providers, made on first use and kept (they hold rate-limit state).
pub struct Cloud {
    pub run: Arc<Play>,
    provider: OnceLock<Result<Arc<dyn Provider>, String>>,
    dns: OnceLock<Result<Arc<dyn Dns>, String>>,
    /// Droplets this dry run would have created: hosts after `inventory::refresh()`.
    pub planned: std::sync::Mutex<Vec<DropletSpec>>,
}

impl Cloud {
    pub fn settings(&self) -> Result<crate::inventory::CloudSettings, String> {
        let inv = self.run.inventory.read().unwrap();
        inv.cloud.clone().ok_or_else(|| {
            format!(
                "no [cloud] table in inventory {}: add one with `provider` and `tag`",
                inv.file_label()
            )
        })
    }

    pub fn provider(&self) -> Result<(Arc<dyn Provider>, String), String> {
        let settings = self.settings()?;
        let p = self
            .provider
            .get_or_init(|| {
                let inv = self.run.inventory.read().unwrap();
                cloud::provider_for(&inv, &|t| self.run.secrets.remember(t), &self.stop())
            })
            .clone()?;
        Ok((p, settings.tag))
    }

    pub fn dns(&self) -> Result<Arc<dyn Dns>, String> {
        self.dns
            .get_or_init(|| {
                let inv = self.run.inventory.read().unwrap();
                cloud::dns::dns_for(&inv, &|t| self.run.secrets.remember(t), &self.stop())
            })
            .clone()
    }

    /// The run's stop request, as the providers see it.
    fn stop(&self) -> crate::stop::StopRequest {
        crate::stop::StopRequest::new(self.run.cancel.clone())
    }

    /// The droplet called `name`, as the provider reports it now.
    pub fn find(&self, name: &str) -> Result<Option<Droplet>, String> {
        let (p, _) = self.provider()?;
        self.block(p.find(name))
    }

    pub fn dry_run(&self) -> bool {
        self.run.ctx.dry_run
    }

    /// Reports an action done or, in dry-run, planned; both count as a change.
    /// `op` is the built-in that made the change (`cloud::droplet`), the same in a dry run
    /// and a real one.
    pub fn changed(&self, op: &str, what: &str) {
        self.run.ctx.reporter.change(CONTROLLER, op, "", what, None, None);
        self.run.controller.record_change();
    }

    pub fn block<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.run.ctx.rt.block_on(fut)
    }

    /// The ledger of the run's first billed change: the prices, and what the inventory's
    /// droplets, snapshots and DNS cost before it.
    fn ledger(&self) -> Result<Ledger, String> {
        let inv = self.run.inventory.read().unwrap().clone();
        let provider = match inv.cloud {
            Some(_) => Some(self.provider()?.0),
            None => None,
        };
        let dns = (bill::dns_kind(&inv).as_deref() == Some("route53")).then(|| self.dns());
        self.block(async {
            let prices = bill::prices(&inv, provider.as_deref()).await;
            let before = bill::bill(&inv, provider.as_deref(), dns, &prices).await?;
            Ok(Ledger {
                prices,
                before,
                changes: Vec::new(),
            })
        })
        .map_err(|e: String| format!("cannot work out what the inventory costs now: {e}"))
    }

    /// Records a change to what is billed. An addition in a real run is checked against
    /// the budget first, and refused (nothing made) when the monthly cost would exceed it; a
    /// dry run records it and checks the whole plan at its end.
    pub fn cost(&self, change: impl FnOnce(&Prices) -> Change) -> Result<(), String> {
        let budget = self.run.budget();
        let real = !self.dry_run();
        self.run.cost.with(
            || self.ledger(),
            |state| match state {
                Ok(l) => {
                    let change = change(&l.prices);
                    if let (Some(b), true, Change::Add(_)) = (budget, real, &change) {
                        l.check(b, &change)
                            .map_err(|e| format!("refused by the budget, nothing was made: {e}"))?;
                    }
                    l.changes.push(change);
                    Ok(())
                }
                Err(e) if budget.is_some() && real => Err(format!("the budget cannot be checked: {e}")),
                Err(_) => Ok(()),
            },
        )
    }
}

/// Registers a function in a module; volatile, so the optimizer never folds a cloud call.
pub fn add<A: 'static, const N: usize, const X: bool, R: rhai::Variant + Clone>(
    m: &mut Module,
    name: &str,
    f: impl RhaiNativeFunc<A, N, X, R, true> + Send + Sync + 'static,
) {
    FuncRegistration::new(name)
        .in_internal_namespace()
        .with_volatility(true)
        .set_into_module(m, f);
}

/// A script error at the call, prefixed with the call (`cloud::droplet("web1"): …`).
/// The live display shows the call while it runs (on the controller's line).
pub fn op<T>(ctx: &NativeCallContext, c: &Cloud, call: String, f: impl FnOnce() -> Result<T, String>) -> RhaiResult<T> {
    // What a step queued on its hosts happens before the cloud is asked.
    crate::playbook::queue::flush()?;
    c.run.ctx.reporter.doing(CONTROLLER, &call);
    f().or_else(|e| {
        let e = if e.starts_with(&call) {
            e
        } else {
            format!("{call}: {e}")
        };
        stopped_or(ctx, &c.run, e)
    })
}

/// The error of a call that failed: after a stop request, the stop (the providers abandon
/// their waits and send nothing more then, so that is why it failed): what it left in
/// flight is said and journaled, and the play ends as interrupted, resumable.
pub fn stopped_or<T>(ctx: &NativeCallContext, run: &Play, e: String) -> RhaiResult<T> {
    if !run.cancelled() {
        return fail(ctx, e);
    }
    run.left_in_flight(e);
    Err(EvalAltResult::ErrorTerminated(crate::playbook::executor::stop_token(), ctx.call_position()).into())
}

pub fn register(engine: &mut Engine, run: &Arc<Play>) -> Arc<Cloud> {
    let c = Arc::new(Cloud {
        run: run.clone(),
        provider: OnceLock::new(),
        dns: OnceLock::new(),
        planned: Default::default(),
    });
    engine
        .register_type_with_name::<Pending>("Pending")
        .register_fn("to_string", |_: &mut Pending| PENDING_TEXT.to_string())
        .register_fn("to_debug", |_: &mut Pending| PENDING_TEXT.to_string());

    let mut m = Module::new();
    let x = c.clone();
    add(
        &mut m,
        "droplet",
        move |ctx: NativeCallContext, name: &str, spec: Map| {
            op(&ctx, &x, format!("cloud::droplet({name:?})"), || {
                droplet(&x, name, spec)
            })
        },
    );
    let x = c.clone();
    add(&mut m, "droplets", move |ctx: NativeCallContext| {
        op(&ctx, &x, "cloud::droplets()".into(), || {
            x.settings().and_then(|s| droplets(&x, &s.tag))
        })
    });
    let x = c.clone();
    add(&mut m, "droplets", move |ctx: NativeCallContext, tag: &str| {
        op(&ctx, &x, format!("cloud::droplets({tag:?})"), || droplets(&x, tag))
    });
    let x = c.clone();
    add(
        &mut m,
        "snapshot",
        move |ctx: NativeCallContext, d: Dynamic, name: &str| {
            op(
                &ctx,
                &x,
                format!("cloud::snapshot({}, {name:?})", target_label(&d)),
                || droplet_arg(&d).and_then(|target| snapshot(&x, &target, name)),
            )
        },
    );
    let x = c.clone();
    add(&mut m, "destroy", move |ctx: NativeCallContext, d: Dynamic| {
        op(&ctx, &x, format!("cloud::destroy({})", target_label(&d)), || {
            droplet_arg(&d).and_then(|target| destroy(&x, &target))
        })
    });
    let x = c.clone();
    add(&mut m, "delete_snapshot", move |ctx: NativeCallContext, name: &str| {
        op(&ctx, &x, format!("cloud::delete_snapshot({name:?})"), || {
            delete_snapshot(&x, name)
        })
    });
    let x = c.clone();
    add(&mut m, "power_off", move |ctx: NativeCallContext, d: Dynamic| {
        op(&ctx, &x, format!("cloud::power_off({})", target_label(&d)), || {
            droplet_arg(&d).and_then(|target| power(&x, &target, false))
        })
    });
    let x = c.clone();
    add(&mut m, "power_on", move |ctx: NativeCallContext, d: Dynamic| {
        op(&ctx, &x, format!("cloud::power_on({})", target_label(&d)), || {
            droplet_arg(&d).and_then(|target| power(&x, &target, true))
        })
    });
    engine.register_static_module("cloud", m.into());

    c
}

pub fn droplet_map(d: &Droplet) -> Map {
    let ip = |v: &Option<String>| v.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
    [
        ("id", Dynamic::from(d.id.clone())),
        ("name", d.name.clone().into()),
        ("status", d.status.clone().into()),
        ("tags", tags(&d.tags)),
        ("public_ip", ip(&d.public_ip)),
        ("private_ip", ip(&d.private_ip)),
        ("image", d.image.clone().into()),
        ("region", d.region.clone().into()),
        ("size", d.size.clone().into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v))
    .collect()
}

pub fn tags(t: &[String]) -> Dynamic {
    t.iter().map(|s| Dynamic::from(s.clone())).collect::<Array>().into()
}

/// What a dry run returns for a droplet it would create.
fn planned_map(spec: &DropletSpec) -> Map {
    [
        ("id", Dynamic::from(Pending)),
        ("name", spec.name.clone().into()),
        ("status", "new".into()),
        ("tags", tags(&spec.tags)),
        ("public_ip", Dynamic::from(Pending)),
        ("private_ip", Dynamic::from(Pending)),
        ("image", spec.image.clone().into()),
        ("region", spec.region.clone().unwrap_or_default().into()),
        ("size", spec.size.clone().into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v))
    .collect()
}

fn parse_spec(name: &str, spec: Map) -> Result<DropletSpec, String> {
    if name.trim().is_empty() {
        return Err("the droplet name is empty".into());
    }
    let func = format!("cloud::droplet({name:?})");
    let o = Opts::declared(&func, "cloud::droplet", spec)?;
    // A snapshot as `cloud::snapshot` returned it stands for its id.
    let image = match o.raw("image") {
        None => String::new(),
        Some(v) => match v.read_lock::<Map>() {
            Some(m) => m.get("id").map(text).unwrap_or_default(),
            None => text(&v),
        },
    };
    Ok(DropletSpec {
        name: name.to_string(),
        region: o.string("region")?,
        size: o.string("size")?.unwrap_or_default(),
        image,
        ssh_keys: o.string_list("ssh_keys")?,
        tags: o.string_list("tags")?,
        vpc_uuid: o.string("vpc_uuid")?,
        user_data: o.string("user_data")?,
        ipv6: o.bool("ipv6", false)?,
        monitoring: o.bool("monitoring", false)?,
        backups: o.bool("backups", false)?,
    })
}

fn droplet(c: &Cloud, name: &str, spec: Map) -> Result<Map, String> {
    let (p, tag) = c.provider()?;
    let spec = p.prepare(parse_spec(name, spec)?)?;
    let plan = c.block(cloud::plan_droplet(p.as_ref(), &tag, &spec))?;
    match &plan {
        DropletPlan::Exists(d) => return Ok(droplet_map(d)),
        DropletPlan::Tag(d, missing) => c.changed(
            "cloud::droplet",
            &format!("tag droplet {} with {}", d.name, missing.join(", ")),
        ),
        DropletPlan::Create(s) => {
            let mut what = format!("create droplet {} (", s.name);
            if !s.size.is_empty() {
                what.push_str(&format!("{}, ", s.size));
            }
            what.push_str(&format!("image {}", s.image));
            if let Some(r) = &s.region {
                what.push_str(&format!(", region {r}"));
            }
            what.push_str(&format!(", tags {})", s.tags.join(" ")));
            c.cost(|p| Change::Add(p.droplet(&s.name, &s.size, None)))?;
            c.changed("cloud::droplet", &what);
        }
    }
    if c.dry_run() {
        return Ok(match plan {
            DropletPlan::Tag(mut d, missing) => {
                d.tags.extend(missing);
                droplet_map(&d)
            }
            DropletPlan::Create(s) => {
                let map = planned_map(&s);
                c.planned.lock().unwrap().push(s);
                map
            }
            DropletPlan::Exists(d) => droplet_map(&d),
        });
    }
    let d = c.block(cloud::apply_droplet(p.as_ref(), plan))?;
    c.run.ctx.reporter.log(
        None,
        &format!(
            "droplet {} is {} (id {}, public {}, private {})",
            d.name,
            d.status,
            d.id,
            d.public_ip.as_deref().unwrap_or("-"),
            d.private_ip.as_deref().unwrap_or("-")
        ),
    );
    Ok(droplet_map(&d))
}

fn droplets(c: &Cloud, tag: &str) -> Result<Array, String> {
    let (p, _) = c.provider()?;
    let mut list = c.block(p.list(tag))?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list.iter().map(|d| Dynamic::from(droplet_map(d))).collect())
}

/// A droplet argument: its map (as `cloud::droplet` returned it) or its name.
pub fn droplet_name(d: &Dynamic) -> String {
    match d.read_lock::<Map>() {
        Some(m) => m.get("name").map(|n| n.to_string()).unwrap_or_default(),
        None => d.to_string(),
    }
}

/// A droplet argument checked: a non-empty name, or a map with one. Anything else (`5`, a
/// map without `name`) is an error, in a dry run as in a real one.
fn droplet_arg(d: &Dynamic) -> Result<String, String> {
    let name = if let Some(m) = d.read_lock::<Map>() {
        match m.get("name") {
            Some(n) if n.is_string() => n.to_string(),
            _ => {
                return Err(
                    "the droplet map has no `name` (give a droplet as cloud::droplet returned it, or its name)".into(),
                );
            }
        }
    } else if d.is_string() {
        d.to_string()
    } else {
        return Err(format!(
            "expects a droplet (as cloud::droplet returned it) or its name, not {} ({})",
            text(d),
            d.type_name()
        ));
    };
    if name.trim().is_empty() {
        return Err("the droplet name is empty".into());
    }
    Ok(name)
}

/// The label of a call on a droplet argument: its name when it has one, else the value.
fn target_label(d: &Dynamic) -> String {
    match droplet_arg(d) {
        Ok(n) => format!("{n:?}"),
        Err(_) if d.is_string() => format!("{:?}", d.to_string()),
        Err(_) => text(d),
    }
}

/// The droplet called `name`, which must carry the run's tag: runbook only touches its own.
fn owned(c: &Cloud, p: &dyn Provider, tag: &str, name: &str) -> Result<Option<Droplet>, String> {
    let d = c.block(p.find(name))?;
    if let Some(d) = &d {
        cloud::check_owned(d, tag)?;
    }
    Ok(d)
}

fn snapshot(c: &Cloud, target: &str, name: &str) -> Result<Map, String> {
    if name.trim().is_empty() {
        return Err("the snapshot name is empty".into());
    }
    let (p, tag) = c.provider()?;
    let map = |id: Dynamic| -> Map { [("id".into(), id), ("name".into(), name.into())].into_iter().collect() };
    // Snapshot names identify them here: one that exists is not taken again.
    if let Some(s) = c.block(p.find_snapshot(name))? {
        return Ok(map(s.id.into()));
    }
    let droplet = owned(c, p.as_ref(), &tag, target)?;
    // A dry run plans a snapshot only of a droplet that exists or that it would create.
    if droplet.is_none() && !(c.dry_run() && c.planned.lock().unwrap().iter().any(|s| s.name == target)) {
        return Err(format!(
            "no droplet named `{target}`{}",
            if c.dry_run() {
                " (nor one this dry run would create)"
            } else {
                ""
            }
        ));
    }
    // Billed by the storage it takes, known once taken: estimated from the droplet's disk
    // (a droplet this dry run would create: its spec's size).
    let slug = match &droplet {
        Some(d) => d.size.clone(),
        None => c
            .planned
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.name == target)
            .map(|s| s.size.clone())
            .unwrap_or_default(),
    };
    let given = droplet.as_ref().and_then(|d| d.price.clone());
    c.cost(|p| Change::Add(p.snapshot_of(name, &slug, given.as_ref())))?;
    c.changed(
        "cloud::snapshot",
        &format!("snapshot droplet {target} as {name} (power off, snapshot, power on)"),
    );
    match droplet {
        Some(d) if !c.dry_run() => {
            let snap = c.block(cloud::snapshot_with_power_off(p.as_ref(), &d, name))?;
            c.cost(|p| Change::Settle(p.snapshot(name, &snap.size)))?;
            Ok(map(snap.id.into()))
        }
        _ => Ok(map(Dynamic::from(Pending))),
    }
}

fn delete_snapshot(c: &Cloud, name: &str) -> Result<bool, String> {
    let (p, _) = c.provider()?;
    let Some(snap) = c.block(p.find_snapshot(name))? else {
        return Ok(false);
    };
    c.cost(|p| Change::Remove(p.snapshot(name, &snap.size)))?;
    c.changed(
        "cloud::delete_snapshot",
        &format!("delete snapshot {name} (id {})", snap.id),
    );
    if !c.dry_run() {
        c.block(p.delete_snapshot(&snap))?;
    }
    Ok(true)
}

fn destroy(c: &Cloud, target: &str) -> Result<bool, String> {
    let (p, tag) = c.provider()?;
    let Some(droplet) = owned(c, p.as_ref(), &tag, target)? else {
        return Ok(false);
    };
    c.cost(|p| Change::Remove(p.droplet(&droplet.name, &droplet.size, droplet.price.as_ref())))?;
    c.changed(
        "cloud::destroy",
        &format!("destroy droplet {} (id {})", droplet.name, droplet.id),
    );
    if !c.dry_run() {
        c.block(p.destroy(&droplet))?;
    }
    Ok(true)
}

fn power(c: &Cloud, target: &str, on: bool) -> Result<bool, String> {
    let (p, tag) = c.provider()?;
    let droplet = owned(c, p.as_ref(), &tag, target)?.ok_or_else(|| format!("no droplet named `{target}`"))?;
    if droplet.status == if on { "active" } else { "off" } {
        return Ok(false);
    }
    c.changed(
        if on { "cloud::power_on" } else { "cloud::power_off" },
        &format!("power {} droplet {target}", if on { "on" } else { "off" }),
    );
    if !c.dry_run() {
        if on {
            c.block(p.power_on(&droplet))?;
        } else {
            c.block(p.power_off(&droplet))?;
        }
    }
    Ok(true)
}
