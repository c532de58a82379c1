//! An inventory's monthly cost as it is now (`runbook cost`, and the "before" of a run):
//! its droplets and their snapshots as the provider lists them, and its DNS.

use std::sync::Arc;

use serde_json::json;

use super::{Bill, Item, Kind, Money, Prices};
use crate::cloud::dns::Dns;
use crate::cloud::{CloudResult, Provider};
use crate::inventory::Inventory;

/// The prices for an inventory: the provider's sizes (an error is kept, not fatal: only
/// items that need them become unknown) and the `[cost]` table.
pub async fn prices(inv: &Inventory, provider: Option<&dyn Provider>) -> Prices {
    let sizes = match provider {
        Some(p) => p.sizes().await,
        None => Ok(Vec::new()),
    };
    Prices::new(&inv.cost, sizes)
}

/// Droplets with the inventory's tag, their snapshots, and DNS.
pub async fn bill(
    inv: &Inventory,
    provider: Option<&dyn Provider>,
    dns: Option<Result<Arc<dyn Dns>, String>>,
    prices: &Prices,
) -> CloudResult<Bill> {
    let mut items = Vec::new();
    if let (Some(p), Some(c)) = (provider, &inv.cloud) {
        let mut droplets = p.list(&c.tag).await?;
        droplets.sort_by(|a, b| a.name.cmp(&b.name));
        for d in &droplets {
            items.push(prices.droplet(&d.name, &d.size, d.price.as_ref()));
        }
        for s in p.snapshots(&c.tag, &droplets).await? {
            items.push(prices.snapshot(&s.name, &s.size));
        }
    }
    items.extend(dns_items(inv, dns, prices).await);
    Ok(Bill { items })
}

/// Which DNS service the inventory uses, as `cloud::dns::dns_for` picks it.
pub fn dns_kind(inv: &Inventory) -> Option<String> {
    match (&inv.dns, &inv.cloud) {
        (Some(d), _) => Some(d.provider.clone()),
        (None, Some(c)) if c.provider == "digitalocean" || c.provider == "docker" => Some(c.provider.clone()),
        _ => None,
    }
}

async fn dns_items(inv: &Inventory, dns: Option<Result<Arc<dyn Dns>, String>>, prices: &Prices) -> Vec<Item> {
    let free = |name: String, detail: &str| Item {
        kind: Kind::Dns,
        name,
        detail: detail.into(),
        monthly: Some(Money::ZERO),
        estimate: false,
    };
    let unknown = |name: String, why: String| Item {
        kind: Kind::Dns,
        name,
        detail: why,
        monthly: None,
        estimate: false,
    };
    match dns_kind(inv).as_deref() {
        None => Vec::new(),
        Some("digitalocean") => vec![free("DigitalOcean DNS".into(), "not billed")],
        Some("docker") => vec![free(
            format!("hosts file {}", crate::cloud::dns::hosts_file_path(inv).display()),
            "local",
        )],
        Some("route53") if inv.cost.dns_zones.is_empty() => vec![unknown(
            "Route 53 hosted zones".into(),
            "name the inventory's zones in [cost] dns_zones to price them".into(),
        )],
        Some("route53") => {
            let mut items = Vec::new();
            for zone in &inv.cost.dns_zones {
                items.push(Item {
                    kind: Kind::DnsZone,
                    name: zone.clone(),
                    detail: "Route 53 hosted zone".into(),
                    monthly: Some(prices.route53_zone_month),
                    estimate: false,
                });
                let checks = match &dns {
                    Some(Ok(d)) => d.health_checks(zone).await,
                    Some(Err(e)) => Err(e.clone()),
                    None => Err("no DNS service".into()),
                };
                match checks {
                    Ok(names) => items.extend(names.iter().map(|n| prices.health_check(n))),
                    Err(e) => items.push(unknown(
                        format!("Route 53 health checks in {zone}"),
                        format!("cannot list them: {e}"),
                    )),
                }
            }
            items
        }
        Some(other) => vec![unknown(format!("{other} DNS"), "no price known".into())],
    }
}

/// `runbook cost`: the bill as text (or one JSON object) and whether it is within `budget`.
pub fn report(inv: &Inventory, bill: &Bill, prices: &Prices, budget: Option<Money>, json: bool) -> (String, bool) {
    let cur = &prices.currency;
    let over = budget.is_some_and(|b| bill.total() > b);
    if json {
        let doc = json!({
            "inventory": inv.name, "path": inv.file_label(), "currency": cur.code(),
            "items": bill.items.iter().map(Item::to_json).collect::<Vec<_>>(),
            "total_cents": bill.total().cents(), "estimate": bill.estimated(),
            "unknown": bill.unknown().len(),
            "budget_cents": budget.map(Money::cents), "over_budget": over,
        });
        return (
            serde_json::to_string_pretty(&doc).expect("JSON values serialize"),
            !over,
        );
    }
    let mut t = format!("COST inventory {} ({}), a month in {cur}", inv.name, inv.file_label());
    let name_width = bill.items.iter().map(|i| i.name.len()).max().unwrap_or(0).max(5);
    let detail_width = bill.items.iter().map(|i| i.detail.len()).max().unwrap_or(0);
    if bill.items.is_empty() {
        t.push_str("\n  nothing billed: no droplets, snapshots or DNS");
    }
    for i in &bill.items {
        t.push_str(&format!(
            "\n  {:<12}  {:<name_width$}  {:<detail_width$}  {:>10}",
            i.kind.label(),
            i.name,
            i.detail,
            i.price_text(cur)
        ));
    }
    t.push_str(&format!("\n  total {}", bill.total_text(cur)));
    if bill.estimated() {
        t.push_str("\n  (~: an estimate)");
    }
    if let Some(b) = budget {
        if over {
            t.push_str(&format!(
                "\n  OVER the budget of {} by {}",
                b.show(cur),
                (bill.total() - b).show(cur)
            ));
        } else {
            t.push_str(&format!(
                "\n  within the budget of {} ({} to spare)",
                b.show(cur),
                (b - bill.total()).show(cur)
            ));
        }
    }
    t.push_str("\n  not included: usage-based charges (transfer beyond the droplets' allowance, DNS queries)");
    (t, !over)
}
