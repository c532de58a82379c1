//! `inventory::refresh()` and `inventory::groups()`: the inventory as it is now, with the
//! droplets made (or, in a dry run, planned) earlier in the play.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Module, NativeCallContext};

use super::call::RhaiResult;
use super::cloud::{Cloud, add, op};

pub fn register(engine: &mut Engine, c: &Arc<Cloud>) {
    let mut m = Module::new();
    let x = c.clone();
    add(&mut m, "refresh", move |ctx: NativeCallContext| {
        op(&ctx, &x, "inventory::refresh()".into(), || refresh(&x))
    });
    // The inventory's group names (discovered ones included), so a playbook can ask whether
    // a tier exists before `hosts()` would call its name a typo.
    let x = c.clone();
    add(&mut m, "groups", move |_: NativeCallContext| -> RhaiResult<Array> {
        let inv = x.run.inventory.read().unwrap();
        Ok(inv.groups.keys().map(|g| Dynamic::from(g.clone())).collect())
    });
    engine.register_static_module("inventory", m.into());
}

/// Re-reads the inventory file and the cloud's droplets, so hosts made earlier in the play
/// can be targeted. In a dry run the droplets it would have made join as pending hosts.
fn refresh(c: &Cloud) -> Result<(), String> {
    let mut inv = crate::inventory::Inventory::load(&c.run.inventory_file).map_err(|e| e.to_string())?;
    if inv.cloud.is_some() {
        let (p, _) = c.provider()?;
        c.block(crate::cloud::discover::discover(&mut inv, p.as_ref()))?;
    }
    if c.dry_run() {
        crate::cloud::discover::add_planned(&mut inv, &c.planned.lock().unwrap());
    }
    c.run.replace_inventory(inv);
    Ok(())
}
