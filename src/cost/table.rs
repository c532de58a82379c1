//! Prices no API gives: DigitalOcean's snapshot storage, Route 53's hosted zones and health
//! checks, and the local copy of DigitalOcean's size table the docker provider prices its
//! stand-in droplets with. Each can be overridden in the inventory's `[cost]` table.

use serde::Serialize;

use super::money::{Money, Rate};

/// One droplet size with its price, as `GET /v2/sizes` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizePrice {
    pub slug: String,
    pub vcpus: u32,
    /// MiB.
    pub memory: u32,
    /// GB.
    pub disk: u32,
    /// The price of a whole month (DigitalOcean bills hourly up to this cap).
    #[serde(serialize_with = "cents")]
    pub price_monthly: Money,
}

fn cents<S: serde::Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(m.cents())
}

/// DigitalOcean snapshot storage: $0.06 per GB-month of the snapshot's `size_gigabytes`
/// (docs.digitalocean.com, "Snapshots Pricing", in effect since July 2022; the minimum
/// charge of $0.01 is not modelled).
pub const DO_SNAPSHOT_GIB_MONTH: Rate = Rate::from_micros_const(60_000);
/// Route 53: a hosted zone, $0.50 a month (the first 25 zones of an account).
pub const ROUTE53_ZONE_MONTH: Money = Money::from_cents_const(50);
/// Route 53: a basic health check of an endpoint outside AWS (a droplet), $0.75 a month.
pub const ROUTE53_HEALTH_CHECK_MONTH: Money = Money::from_cents_const(75);

/// DigitalOcean's Basic (Regular) droplet sizes, as its pricing page and `GET /v2/sizes`
/// list them: the prices in effect since 1 July 2022, copied on 2025-06-01. The docker
/// provider's stand-in droplets are priced with it, so a rehearsal shows what the real
/// droplets would cost. (slug, vCPUs, memory MiB, disk GB, dollars a month)
const DIGITALOCEAN_SIZES: &[(&str, u32, u32, u32, i64)] = &[
    ("s-1vcpu-512mb-10gb", 1, 512, 10, 4),
    ("s-1vcpu-1gb", 1, 1024, 25, 6),
    ("s-1vcpu-2gb", 1, 2048, 50, 12),
    ("s-2vcpu-2gb", 2, 2048, 60, 18),
    ("s-2vcpu-4gb", 2, 4096, 80, 24),
    ("s-4vcpu-8gb", 4, 8192, 160, 48),
    ("s-8vcpu-16gb", 8, 16384, 320, 96),
];

/// The local copy of DigitalOcean's size table (see `DIGITALOCEAN_SIZES`).
pub fn digitalocean_sizes() -> Vec<SizePrice> {
    DIGITALOCEAN_SIZES
        .iter()
        .map(|&(slug, vcpus, memory, disk, dollars)| SizePrice {
            slug: slug.to_string(),
            vcpus,
            memory,
            disk,
            price_monthly: Money::from_cents(dollars * 100),
        })
        .collect()
}

/// The size called `slug` in the local table, or an error naming the known ones.
pub fn local_size(slug: &str) -> Result<SizePrice, String> {
    digitalocean_sizes().into_iter().find(|s| s.slug == slug).ok_or_else(|| {
        format!(
            "unknown droplet size `{slug}` (the docker provider prices droplets with its copy of DigitalOcean's sizes: {})",
            DIGITALOCEAN_SIZES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_table_knows_the_recipe_sizes_and_names_them_on_a_typo() {
        for slug in ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb"] {
            assert!(local_size(slug).is_ok(), "{slug}");
        }
        let one = local_size("s-1vcpu-1gb").unwrap();
        assert_eq!((one.price_monthly, one.disk), (Money::from_cents(600), 25));
        let e = local_size("s-1cpu-1gb").unwrap_err();
        assert!(
            e.contains("unknown droplet size `s-1cpu-1gb`") && e.contains("s-2vcpu-4gb"),
            "{e}"
        );
    }
}
