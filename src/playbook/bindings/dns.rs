//! `dns::a_record` and `dns::delete`: a name's A records (DigitalOcean, Route 53 with health
//! checks, or a hosts file), priced and checked against the budget before anything is made.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module, NativeCallContext};

use super::cloud::{Cloud, add, op, tags, text};
use crate::cloud::dns::{ARecord, HealthCheck};
use crate::cost::{Change, bill};
use crate::pending::PENDING_TEXT;
use crate::playbook::convert::Opts;

pub fn register(engine: &mut Engine, c: &Arc<Cloud>) {
    let mut m = Module::new();
    let x = c.clone();
    add(
        &mut m,
        "a_record",
        move |ctx: NativeCallContext, zone: &str, name: &str, ips: Dynamic| {
            op(&ctx, &x, format!("dns::a_record({zone:?}, {name:?})"), || {
                a_record(&x, zone, name, ips, Map::new())
            })
        },
    );
    let x = c.clone();
    add(
        &mut m,
        "a_record",
        move |ctx: NativeCallContext, zone: &str, name: &str, ips: Dynamic, opts: Map| {
            op(&ctx, &x, format!("dns::a_record({zone:?}, {name:?})"), || {
                a_record(&x, zone, name, ips, opts)
            })
        },
    );
    let x = c.clone();
    add(
        &mut m,
        "delete",
        move |ctx: NativeCallContext, zone: &str, name: &str| {
            op(&ctx, &x, format!("dns::delete({zone:?}, {name:?})"), || {
                delete_call(&x, zone, name, Map::new())
            })
        },
    );
    let x = c.clone();
    add(
        &mut m,
        "delete",
        move |ctx: NativeCallContext, zone: &str, name: &str, opts: Map| {
            op(&ctx, &x, format!("dns::delete({zone:?}, {name:?})"), || {
                delete_call(&x, zone, name, opts)
            })
        },
    );
    engine.register_static_module("dns", m.into());
}

fn delete_call(c: &Cloud, zone: &str, name: &str, opts: Map) -> Result<Map, String> {
    let func = format!("dns::delete({zone:?}, {name:?})");
    let o = Opts::declared(&func, "dns::delete", opts)?;
    delete(c, "dns::delete", zone, name, o.string("comment")?)
}

/// Deletes the name's A records (`dns::delete`, or `dns::a_record` with no addresses and
/// `exact`); Route 53's health checks that go with them leave the bill.
fn delete(c: &Cloud, op: &str, zone: &str, name: &str, comment: Option<String>) -> Result<Map, String> {
    let dns = c.dns()?;
    let full = c
        .block(dns.record_name(zone, name))
        .unwrap_or_else(|_| crate::cloud::dns::fqdn(zone, name));
    let change = c.block(dns.delete_a(zone, name, comment.as_deref(), !c.dry_run()))?;
    for ip in &change.health_checks {
        let n = format!("{full} {ip}");
        c.cost(|p| Change::Remove(p.health_check(&n)))?;
    }
    if change.changed() {
        c.changed(op, &change.describe_deletion(&full));
    }
    Ok(dns_map(
        change.changed(),
        &[],
        &change.removed,
        None,
        &change.health_checks,
    ))
}

fn a_record(c: &Cloud, zone: &str, name: &str, ips: Dynamic, opts: Map) -> Result<Map, String> {
    let func = format!("dns::a_record({zone:?}, {name:?})");
    let o = Opts::declared(&func, "dns::a_record", opts)?;
    let ips: Vec<String> = match ips.read_lock::<Array>() {
        Some(a) => a.iter().map(text).collect(),
        None => vec![text(&ips)],
    };
    let route53 = bill::dns_kind(&c.run.inventory.read().unwrap()).as_deref() == Some("route53");
    // As the DNS service names it (a Route 53 zone may be given by its id). A service that
    // fails to say fails the call: asking it again below would only take as long again.
    let full = match c.dns() {
        Ok(d) => c.block(d.record_name(zone, name))?,
        Err(_) => crate::cloud::dns::fqdn(zone, name),
    };
    if ips.iter().any(|ip| ip == PENDING_TEXT) {
        // Addresses of droplets a dry run did not create: nothing to compare with yet.
        if route53 && o.raw("health_check").is_some() {
            for ip in &ips {
                let n = format!("{full} {ip}");
                c.cost(|p| Change::Add(p.health_check(&n)))?;
            }
        }
        c.changed("dns::a_record", &format!("set A {full} to {}", ips.join(" ")));
        return Ok(dns_map(true, &ips, &[], None, &[]));
    }
    let ttl = match o.int("ttl")? {
        Some(t) => Some(u32::try_from(t).map_err(|_| format!("ttl {t} is out of range"))?),
        None => None,
    };
    let health_check = match o.raw("health_check") {
        None => None,
        Some(v) => {
            let m = v
                .read_lock::<Map>()
                .map(|m| m.clone())
                .ok_or("`health_check` must be a map #{ type, port, path }")?;
            let h = Opts::new(&func, m, &["type", "port", "path"])?;
            let port = h.int("port")?.unwrap_or(80);
            Some(HealthCheck {
                kind: h.string("type")?.unwrap_or_else(|| "HTTP".into()),
                port: u16::try_from(port).map_err(|_| format!("health check port {port} is out of range"))?,
                path: h.string("path")?,
            })
        }
    };
    if ips.is_empty() {
        // An empty list is a deletion only when asked for: a list of hosts that came out
        // empty by mistake must not take the name off the internet.
        if !o.bool("exact", false)? {
            return Err("no addresses given; to delete the record give `exact: true` \
                 (dns::a_record(zone, name, [], #{ exact: true })) or call dns::delete(zone, name)"
                .into());
        }
        return delete(c, "dns::a_record", zone, name, o.string("comment")?);
    }
    let rec = ARecord {
        zone: zone.to_string(),
        name: name.to_string(),
        ips,
        ttl,
        exact: o.bool("exact", false)?,
        health_check,
        comment: o.string("comment")?,
    };
    let dns = c.dns()?;
    // Route 53 bills each health check: priced (and, in a real run, checked against the
    // budget) before any is made.
    if route53 && rec.health_check.is_some() {
        let plan = c.block(dns.a_record(&rec, false))?;
        for ip in &plan.added {
            let n = format!("{full} {ip}");
            c.cost(|p| Change::Add(p.health_check(&n)))?;
        }
        if c.dry_run() {
            if plan.changed() {
                c.changed("dns::a_record", &format!("change A {full}: {}", plan.describe()));
            }
            return Ok(dns_map(
                plan.changed(),
                &plan.added,
                &plan.removed,
                plan.ttl,
                &plan.health_checks,
            ));
        }
    }
    let change = c.block(dns.a_record(&rec, !c.dry_run()))?;
    if change.changed() {
        c.changed("dns::a_record", &format!("change A {full}: {}", change.describe()));
    }
    Ok(dns_map(
        change.changed(),
        &change.added,
        &change.removed,
        change.ttl,
        &change.health_checks,
    ))
}

fn dns_map(changed: bool, added: &[String], removed: &[String], ttl: Option<u32>, checks: &[String]) -> Map {
    let mut m = Map::new();
    m.insert("changed".into(), changed.into());
    m.insert("added".into(), tags(added));
    m.insert("removed".into(), tags(removed));
    m.insert(
        "ttl".into(),
        ttl.map(|t| Dynamic::from(t as i64)).unwrap_or(Dynamic::UNIT),
    );
    m.insert("health_checks".into(), tags(checks));
    m
}
