//! What an inventory costs a month, and what a plan changes about it: droplets at their
//! size's price (from the provider), snapshots by their size, DNS (free on DigitalOcean and
//! in the docker hosts file; Route 53 zones and health checks from `table`). Amounts are
//! exact (`money`); an item without a known price is listed as such, never counted as 0.
//!
//! Two layers in one directory: `money`, `settings` and `table` are plain data below
//! `inventory` and `cloud` (which import them by their own paths, never through this
//! file); this file and `bill` price what `cloud` lists, so they sit above it.

pub mod bill;
pub mod money;
pub mod settings;
pub mod table;

use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};

use crate::cloud::SnapshotSize;
pub use money::{Currency, Money, Rate};
pub use settings::CostSettings;
pub use table::SizePrice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Droplet,
    Snapshot,
    DnsZone,
    HealthCheck,
    Dns,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Droplet => "droplet",
            Kind::Snapshot => "snapshot",
            Kind::DnsZone => "dns zone",
            Kind::HealthCheck => "health check",
            Kind::Dns => "dns",
        }
    }
}

/// One thing that is billed monthly.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: Kind,
    pub name: String,
    /// What the price is of (`s-1vcpu-1gb`, `2.34 GB`), or why it is unknown.
    pub detail: String,
    /// `None`: the price is unknown (and `detail` says why).
    pub monthly: Option<Money>,
    /// The price is an estimate: a snapshot not taken yet, or a stand-in's snapshot.
    pub estimate: bool,
}

impl Item {
    fn same(&self, other: &Item) -> bool {
        self.kind == other.kind && self.name == other.name
    }

    pub fn price_text(&self, currency: &Currency) -> String {
        match self.monthly {
            None => "price unknown".into(),
            Some(m) if m == Money::ZERO && self.kind == Kind::Dns => "free".into(),
            Some(m) if self.estimate => format!("~{}", m.show(currency)),
            Some(m) => m.show(currency),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"kind": self.kind, "name": self.name, "detail": self.detail,
               "monthly_cents": self.monthly.map(Money::cents), "estimate": self.estimate})
    }
}

/// The prices a run or a `runbook cost` works with.
#[derive(Debug, Clone)]
pub struct Prices {
    pub currency: Currency,
    /// The provider's sizes, or why they could not be had.
    pub sizes: Result<Vec<SizePrice>, String>,
    pub snapshot_gib_month: Rate,
    pub route53_zone_month: Money,
    pub route53_health_check_month: Money,
}

impl Prices {
    pub fn new(settings: &CostSettings, sizes: Result<Vec<SizePrice>, String>) -> Prices {
        Prices {
            currency: settings.currency.clone(),
            sizes,
            snapshot_gib_month: settings.snapshot_gib_month.unwrap_or(table::DO_SNAPSHOT_GIB_MONTH),
            route53_zone_month: settings.route53_zone_month.unwrap_or(table::ROUTE53_ZONE_MONTH),
            route53_health_check_month: settings
                .route53_health_check_month
                .unwrap_or(table::ROUTE53_HEALTH_CHECK_MONTH),
        }
    }

    fn size(&self, slug: &str) -> Result<&SizePrice, String> {
        if slug.is_empty() {
            return Err("no size given".into());
        }
        match &self.sizes {
            Err(e) => Err(format!("{slug}: the sizes' prices are unavailable ({e})")),
            Ok(sizes) => sizes
                .iter()
                .find(|s| s.slug == slug)
                .ok_or_else(|| format!("{slug} is not in the provider's list of sizes")),
        }
    }

    /// A droplet of size `slug`; `given` is the price the provider reports with it.
    pub fn droplet(&self, name: &str, slug: &str, given: Option<&SizePrice>) -> Item {
        let (detail, monthly) = match given.map(Ok).unwrap_or_else(|| self.size(slug)) {
            Ok(s) => (s.slug.clone(), Some(s.price_monthly)),
            Err(why) => (why, None),
        };
        Item {
            kind: Kind::Droplet,
            name: name.to_string(),
            detail,
            monthly,
            estimate: false,
        }
    }

    /// A snapshot, priced by its storage.
    pub fn snapshot(&self, name: &str, size: &SnapshotSize) -> Item {
        let (detail, monthly, estimate) = match size {
            SnapshotSize::Thousandths(t) => (
                format!("{} GB", thousandths_text(*t)),
                Some(self.snapshot_gib_month.times_thousandths(*t)),
                false,
            ),
            SnapshotSize::OfDropletSize(slug) => return self.snapshot_of(name, slug, None),
            SnapshotSize::Unknown => ("its size is unknown".into(), None, false),
        };
        Item {
            kind: Kind::Snapshot,
            name: name.to_string(),
            detail,
            monthly,
            estimate,
        }
    }

    /// A snapshot priced by the disk of the droplet size it is taken of (`given`: the size
    /// the provider reports with the droplet): an estimate, as a snapshot is billed by the
    /// storage it takes, known only once taken.
    pub fn snapshot_of(&self, name: &str, slug: &str, given: Option<&SizePrice>) -> Item {
        let (detail, monthly, estimate) = match given.map(Ok).unwrap_or_else(|| self.size(slug)) {
            Ok(s) => (
                format!("{} GB, the disk of {} (estimate)", s.disk, s.slug),
                Some(self.snapshot_gib_month.times_thousandths(s.disk as u64 * 1000)),
                true,
            ),
            Err(why) => (format!("its size is unknown: {why}"), None, false),
        };
        Item {
            kind: Kind::Snapshot,
            name: name.to_string(),
            detail,
            monthly,
            estimate,
        }
    }

    pub fn health_check(&self, name: &str) -> Item {
        Item {
            kind: Kind::HealthCheck,
            name: name.to_string(),
            detail: "Route 53 health check".into(),
            monthly: Some(self.route53_health_check_month),
            estimate: false,
        }
    }
}

fn thousandths_text(t: u64) -> String {
    let mut s = format!("{}.{:03}", t / 1000, t % 1000);
    while s.ends_with('0') && !s.ends_with(".00") {
        s.pop();
    }
    s
}

/// What an inventory's things cost a month.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bill {
    pub items: Vec<Item>,
}

impl Bill {
    /// The sum of the known prices.
    pub fn total(&self) -> Money {
        self.items.iter().filter_map(|i| i.monthly).sum()
    }

    pub fn unknown(&self) -> Vec<&Item> {
        self.items.iter().filter(|i| i.monthly.is_none()).collect()
    }

    pub fn estimated(&self) -> bool {
        self.items.iter().any(|i| i.estimate && i.monthly.is_some())
    }

    /// "$40.50", with what it leaves out: "$12.00 (excluding 1 item of unknown price: droplet web9)".
    pub fn total_text(&self, currency: &Currency) -> String {
        let mut t = self.total().show(currency);
        let unknown = self.unknown();
        if !unknown.is_empty() {
            t.push_str(&format!(
                " (excluding {} item(s) of unknown price: {})",
                unknown.len(),
                unknown
                    .iter()
                    .map(|i| format!("{} {}", i.kind.label(), i.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        t
    }

    /// The billed items, each with its price: `droplet ace-app1 (s-1vcpu-1gb) $6.00`.
    pub fn list(&self, currency: &Currency) -> String {
        self.items
            .iter()
            .filter(|i| i.monthly != Some(Money::ZERO))
            .map(|i| {
                format!(
                    "{} {} ({}) {}",
                    i.kind.label(),
                    i.name,
                    i.detail,
                    i.price_text(currency)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A change a run makes (or plans) to what is billed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Add(Item),
    Remove(Item),
    /// The real price of an item added with an estimate (a snapshot once taken).
    Settle(Item),
}

/// The before and the changes of one run.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub prices: Prices,
    pub before: Bill,
    pub changes: Vec<Change>,
}

impl Ledger {
    pub fn after(&self) -> Bill {
        apply(&self.before, &self.changes)
    }

    /// The budget check of a change about to be made: the cost with it, against the budget.
    pub fn check(&self, budget: Money, change: &Change) -> Result<(), String> {
        let mut changes = self.changes.clone();
        changes.push(change.clone());
        let with = apply(&self.before, &changes);
        if let Change::Add(item) = change
            && item.monthly.is_none()
        {
            return Err(format!(
                "the budget of {} a month cannot be checked: the price of {} {} is unknown ({})",
                budget.show(&self.prices.currency),
                item.kind.label(),
                item.name,
                item.detail
            ));
        }
        over_budget(&with, budget, &self.prices.currency)
    }
}

fn apply(before: &Bill, changes: &[Change]) -> Bill {
    let mut items = before.items.clone();
    for c in changes {
        match c {
            Change::Add(i) => items.push(i.clone()),
            Change::Remove(i) => {
                if let Some(p) = items.iter().position(|x| x.same(i)) {
                    items.remove(p);
                }
            }
            Change::Settle(i) => match items.iter().position(|x| x.same(i)) {
                Some(p) => items[p] = i.clone(),
                None => items.push(i.clone()),
            },
        }
    }
    Bill { items }
}

/// `Err` naming the total, the budget and the items when `bill` is over `budget`.
pub fn over_budget(bill: &Bill, budget: Money, currency: &Currency) -> Result<(), String> {
    if bill.total() <= budget {
        return Ok(());
    }
    Err(format!(
        "the monthly cost would be {}, over the budget of {} by {}: {}",
        bill.total_text(currency),
        budget.show(currency),
        (bill.total() - budget).show(currency),
        bill.list(currency)
    ))
}

/// What a run tracks: the ledger once the first change was priced, or why it could not be.
#[derive(Default)]
pub struct Tracker {
    state: Mutex<Option<Result<Ledger, String>>>,
}

impl Tracker {
    /// Runs `f` on the ledger, set up with `init` on first use.
    pub fn with<T>(
        &self,
        init: impl FnOnce() -> Result<Ledger, String>,
        f: impl FnOnce(&mut Result<Ledger, String>) -> T,
    ) -> T {
        let mut state = self.state.lock().unwrap();
        let ledger = state.get_or_insert_with(init);
        f(ledger)
    }

    /// The ledger, if the run changed anything billed.
    pub fn ledger(&self) -> Option<Result<Ledger, String>> {
        self.state.lock().unwrap().clone()
    }
}

/// The end of a run that changed what is billed: before → after, each change, the budget.
#[derive(Debug, Clone)]
pub struct Summary {
    pub ledger: Result<Ledger, String>,
    pub budget: Option<Money>,
}

impl Summary {
    /// `Some(message)` when the plan's after exceeds the budget.
    pub fn over_budget(&self) -> Option<String> {
        let (Ok(l), Some(b)) = (&self.ledger, self.budget) else {
            return None;
        };
        over_budget(&l.after(), b, &l.prices.currency).err()
    }

    pub fn text(&self, dry_run: bool) -> String {
        let l = match &self.ledger {
            Err(e) => return format!("\nCOST unknown: {e}"),
            Ok(l) => l,
        };
        let cur = &l.prices.currency;
        let after = l.after();
        let mut t = format!("\nCOST a month ({cur})");
        for c in &l.changes {
            // An addition as it was settled (a snapshot once taken), if it was.
            let settled = |i: &Item| -> Item {
                l.changes
                    .iter()
                    .rev()
                    .find_map(|c| match c {
                        Change::Settle(s) if s.same(i) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| i.clone())
            };
            let added;
            let (sign, i, price) = match c {
                Change::Add(i) => {
                    added = settled(i);
                    ("+", &added, added.monthly)
                }
                Change::Remove(i) => ("-", i, i.monthly.map(|m| -m)),
                Change::Settle(_) => continue,
            };
            let price = match price {
                None => "price unknown".to_string(),
                Some(p) if i.estimate => format!("~{}", p.show_signed(cur)),
                Some(p) => p.show_signed(cur),
            };
            t.push_str(&format!(
                "\n  {sign} {} {} ({})  {price}",
                i.kind.label(),
                i.name,
                i.detail
            ));
        }
        let verb = if dry_run { "would go" } else { "went" };
        t.push_str(&format!(
            "\n  monthly cost {verb} from {} to {} ({})",
            l.before.total_text(cur),
            after.total_text(cur),
            (after.total() - l.before.total()).show_signed(cur)
        ));
        if after.estimated() {
            t.push_str("\n  (~: an estimate: a snapshot is billed by the size it takes, at most its droplet's disk)");
        }
        if let Some(b) = self.budget {
            match self.over_budget() {
                Some(_) => t.push_str(&format!(
                    "\n  OVER the budget of {} by {}",
                    b.show(cur),
                    (after.total() - b).show(cur)
                )),
                None => t.push_str(&format!(
                    "\n  within the budget of {} ({} to spare)",
                    b.show(cur),
                    (b - after.total()).show(cur)
                )),
            }
        }
        t
    }

    pub fn json(&self) -> Value {
        let l = match &self.ledger {
            Err(e) => return json!({"event": "cost", "error": e}),
            Ok(l) => l,
        };
        let after = l.after();
        let changes: Vec<Value> = l
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Add(i) => Some(json!({"change": "add", "item": i.to_json()})),
                Change::Remove(i) => Some(json!({"change": "remove", "item": i.to_json()})),
                Change::Settle(_) => None,
            })
            .collect();
        json!({
            "event": "cost", "currency": l.prices.currency.code(),
            "before_cents": l.before.total().cents(), "after_cents": after.total().cents(),
            "difference_cents": (after.total() - l.before.total()).cents(),
            "estimate": after.estimated(),
            "unknown": after.unknown().iter().map(|i| i.to_json()).collect::<Vec<_>>(),
            "changes": changes, "items": after.items.iter().map(Item::to_json).collect::<Vec<_>>(),
            "budget_cents": self.budget.map(Money::cents), "over_budget": self.over_budget().is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        let sizes = table::digitalocean_sizes();
        Prices::new(&CostSettings::default(), Ok(sizes))
    }

    #[test]
    fn droplets_and_snapshots_are_priced_or_said_unknown() {
        let p = prices();
        let d = p.droplet("ace-app1", "s-1vcpu-1gb", None);
        assert_eq!(
            (d.monthly, d.detail.as_str()),
            (Some(Money::from_cents(600)), "s-1vcpu-1gb")
        );
        let unknown = p.droplet("x", "s-huge", None);
        assert_eq!(unknown.monthly, None);
        assert!(
            unknown.detail.contains("s-huge is not in the provider's list"),
            "{}",
            unknown.detail
        );
        let s = p.snapshot("a-base", &SnapshotSize::Thousandths(2340));
        assert_eq!(
            (s.monthly, s.detail.as_str(), s.estimate),
            (Some(Money::from_cents(14)), "2.34 GB", false)
        );
        let e = p.snapshot("a-base", &SnapshotSize::OfDropletSize("s-1vcpu-1gb".into()));
        assert_eq!((e.monthly, e.estimate), (Some(Money::from_cents(150)), true));
        assert_eq!(p.snapshot("b", &SnapshotSize::Unknown).monthly, None);
        assert_eq!(thousandths_text(25_000), "25.00");
        assert_eq!(thousandths_text(2_345), "2.345");
    }

    #[test]
    fn a_plan_adds_removes_and_settles_and_the_budget_names_the_items() {
        let p = prices();
        let before = Bill {
            items: vec![p.droplet("old", "s-1vcpu-1gb", None)],
        };
        let mut l = Ledger {
            prices: p.clone(),
            before,
            changes: vec![],
        };
        for n in ["app1", "web1", "db1"] {
            l.changes.push(Change::Add(p.droplet(n, "s-1vcpu-2gb", None)));
        }
        let snap = p.snapshot("app1-base", &SnapshotSize::OfDropletSize("s-1vcpu-2gb".into()));
        l.changes.push(Change::Add(snap));
        l.changes.push(Change::Remove(p.droplet("old", "s-1vcpu-1gb", None)));
        assert_eq!(l.after().total(), Money::from_cents(3 * 1200 + 300));
        assert!(l.after().estimated());
        l.changes.push(Change::Settle(
            p.snapshot("app1-base", &SnapshotSize::Thousandths(2340)),
        ));
        assert_eq!(l.after().total(), Money::from_cents(3600 + 14));
        assert!(!l.after().estimated());

        let budget = Money::parse("40").unwrap();
        let next = Change::Add(p.droplet("app2", "s-1vcpu-2gb", None));
        let e = l.check(budget, &next).unwrap_err();
        assert!(
            e.starts_with("the monthly cost would be $48.14, over the budget of $40.00 by $8.14: "),
            "{e}"
        );
        assert!(e.contains("droplet app2 (s-1vcpu-2gb) $12.00"), "{e}");
        assert!(
            l.check(Money::parse("48.14").unwrap(), &next).is_ok(),
            "a budget may be reached"
        );
        assert!(
            l.check(budget, &Change::Add(p.droplet("tiny", "s-1vcpu-512mb-10gb", None)))
                .is_err()
        );
        let unknown = Change::Add(p.droplet("x", "", None));
        assert!(
            l.check(budget, &unknown)
                .unwrap_err()
                .contains("price of droplet x is unknown")
        );
    }

    #[test]
    fn totals_say_what_they_exclude() {
        let p = prices();
        let b = Bill {
            items: vec![p.droplet("a", "s-1vcpu-1gb", None), p.droplet("b", "", None)],
        };
        assert_eq!(
            b.total_text(&p.currency),
            "$6.00 (excluding 1 item(s) of unknown price: droplet b)"
        );
    }
}
