//! Hosts discovered from the cloud: every droplet with the `[cloud]` tag becomes an ssh
//! host, and its `role:NAME` tags put it into group NAME. Static hosts stay as written; a
//! static host of the same name gets the droplet's addresses (unless it sets its own).
//!
//! In `cloud`, not `inventory`: it needs a provider, and `cloud` already imports the
//! inventory (for `[cloud]`), so the inventory stays below and knows nothing of providers.

use super::config::provider_for;
use super::types::{CloudResult, Droplet, DropletSpec, PENDING_TEXT, Provider};
use crate::error::{Diagnostic, Error, Result};
use crate::inventory::{HostSpec, Inventory};

/// The tag prefix that names a group.
pub const ROLE_PREFIX: &str = "role:";

/// Loads an inventory and adds what its `[cloud]` table discovers. `remember` masks the
/// API token in all output.
pub fn load(name_or_path: &str, rt: &tokio::runtime::Handle, remember: &dyn Fn(&str)) -> Result<Inventory> {
    let mut inv = Inventory::load(name_or_path)?;
    let Some(settings) = inv.cloud.clone() else {
        return Ok(inv);
    };
    let fail = |e: String| {
        Error::Inventory(Diagnostic::new(format!(
            "cannot discover the hosts of [cloud] in {}: {e}",
            inv.file_label()
        )))
    };
    // Before the run's signal handlers: a signal ends the process here.
    let provider = provider_for(&inv, remember, &crate::stop::StopRequest::default()).map_err(fail)?;
    let droplets = rt.block_on(provider.list(&settings.tag)).map_err(fail)?;
    add_droplets(&mut inv, &droplets);
    Ok(inv)
}

/// Discovery with a provider at hand (`inventory::refresh()`).
pub async fn discover(inv: &mut Inventory, provider: &dyn Provider) -> CloudResult<()> {
    let Some(settings) = inv.cloud.clone() else {
        return Ok(());
    };
    let droplets = provider.list(&settings.tag).await?;
    add_droplets(inv, &droplets);
    Ok(())
}

/// The groups `role:NAME` tags name.
pub fn role_groups(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| t.strip_prefix(ROLE_PREFIX))
        .filter(|g| !g.is_empty() && *g != "all")
        .map(str::to_string)
        .collect()
}

/// Droplets a dry run would create, as hosts whose addresses are not known yet. Hosts that
/// exist already (static or discovered) are left as they are.
pub fn add_planned(inv: &mut Inventory, planned: &[DropletSpec]) {
    for spec in planned {
        if inv.hosts.contains_key(&spec.name) {
            continue;
        }
        let host = HostSpec {
            pending: true,
            ..HostSpec::new(spec.name.clone(), PENDING_TEXT.to_string())
        };
        inv.upsert_host(host, &role_groups(&spec.tags));
    }
}

pub fn add_droplets(inv: &mut Inventory, droplets: &[Droplet]) {
    let private = inv.cloud.as_ref().and_then(|c| c.address.as_deref()) == Some("private");
    let mut droplets: Vec<&Droplet> = droplets.iter().collect();
    droplets.sort_by(|a, b| a.name.cmp(&b.name));
    for d in droplets {
        let preferred = if private {
            d.private_ip.as_ref().or(d.public_ip.as_ref())
        } else {
            d.public_ip.as_ref().or(d.private_ip.as_ref())
        };
        // A droplet still being created has no address yet: nothing to connect to.
        let Some(address) = preferred.cloned() else {
            continue;
        };
        let groups = role_groups(&d.tags);
        let spec = match inv.hosts.get(&d.name) {
            Some(existing) => {
                let mut s = existing.clone();
                if s.address == s.name {
                    s.address = address;
                }
                s.private_ip = s.private_ip.or(d.private_ip.clone());
                s.public_ip = s.public_ip.or(d.public_ip.clone());
                s
            }
            None => HostSpec {
                private_ip: d.private_ip.clone(),
                public_ip: d.public_ip.clone(),
                ..HostSpec::new(d.name.clone(), address)
            },
        };
        inv.upsert_host(spec, &groups);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn droplet(name: &str, tags: &[&str], public: Option<&str>) -> Droplet {
        Droplet {
            id: "1".into(),
            name: name.into(),
            status: "active".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            public_ip: public.map(str::to_string),
            private_ip: Some(format!("10.0.0.{}", name.len())),
            image: "debian-12-x64".into(),
            region: "fra1".into(),
            size: "s-1vcpu-1gb".into(),
            price: None,
        }
    }

    #[test]
    fn droplets_join_groups_by_role_and_mix_with_static_hosts() {
        let text = "[cloud]\nprovider = \"digitalocean\"\ntag = \"t\"\n\n[groups.web]\nhosts = [\"web1\", \"static\"]\n\n\
                    [hosts.static]\naddress = \"192.0.2.1\"\n";
        let mut inv = Inventory::parse("x", Path::new("x.toml"), text).unwrap();
        add_droplets(
            &mut inv,
            &[
                droplet("web1", &["t", "role:web"], Some("203.0.113.1")),
                droplet("db1", &["t", "role:db", "role:backend"], Some("203.0.113.2")),
                droplet("new1", &["t", "role:web"], None),
                Droplet {
                    private_ip: None,
                    ..droplet("creating", &["t", "role:web"], None)
                },
            ],
        );
        assert_eq!(
            inv.select("web").unwrap(),
            ["static", "web1", "new1"].map(String::from).to_vec()
        );
        assert_eq!(inv.hosts["web1"].address, "203.0.113.1");
        assert_eq!(inv.hosts["web1"].private_ip.as_deref(), Some("10.0.0.4"));
        assert_eq!(inv.hosts["static"].address, "192.0.2.1");
        assert_eq!(
            inv.groups_of("db1"),
            ["all", "db", "backend"].map(String::from).to_vec()
        );
        assert_eq!(
            inv.hosts["new1"].address, "10.0.0.4",
            "falls back to the private address"
        );

        let mut private = Inventory::parse(
            "x",
            Path::new("x.toml"),
            &text.replace("tag = \"t\"", "tag = \"t\"\naddress = \"private\""),
        )
        .unwrap();
        add_droplets(&mut private, &[droplet("web1", &["t"], Some("203.0.113.1"))]);
        assert_eq!(private.hosts["web1"].address, "10.0.0.4");
    }
}
