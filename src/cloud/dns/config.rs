//! From an inventory to its DNS service: `[dns]`, or the `[cloud]` provider's own. Above the
//! services it builds, so apart from `mod.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use super::hosts_file;
use super::record::Dns;
use super::route53;
use crate::cloud::retry::Policy;
use crate::cloud::types::CloudResult;
use crate::inventory::Inventory;
use crate::stop::StopRequest;

/// The DNS service an inventory names: `[dns]`, or else the `[cloud]` provider's own
/// (DigitalOcean domains, or the docker hosts file).
pub fn dns_for(inv: &Inventory, remember: &dyn Fn(&str), stop: &StopRequest) -> CloudResult<Arc<dyn Dns>> {
    let cloud = inv.cloud.as_ref();
    let do_cloud = cloud.filter(|c| c.provider == "digitalocean");
    let (provider, endpoint, secret, policy) = match (inv.dns.as_ref(), cloud) {
        (Some(d), _) => (
            d.provider.as_str(),
            d.endpoint.as_deref(),
            d.token_secret.as_deref(),
            Policy::for_run("dns", d.request_timeout, stop)?,
        ),
        (None, Some(c)) if c.provider == "digitalocean" || c.provider == "docker" => (
            c.provider.as_str(),
            c.endpoint.as_deref(),
            c.token_secret.as_deref(),
            Policy::for_run("cloud", c.request_timeout, stop)?,
        ),
        _ => {
            return Err(
                "no [dns] table in the inventory (provider = \"digitalocean\", \"route53\" or \"docker\")".into(),
            );
        }
    };
    match provider {
        "digitalocean" => {
            let secret = secret.or(do_cloud.and_then(|c| c.token_secret.as_deref()));
            let token = crate::cloud::config::digitalocean_token(secret, &inv.secret_dirs(), remember)?;
            let endpoint = endpoint.or(do_cloud.and_then(|c| c.endpoint.as_deref()));
            Ok(Arc::new(crate::cloud::digitalocean::DigitalOcean::new(
                endpoint, token, policy,
            )?))
        }
        "route53" => {
            let creds = route53::Route53::credentials_from_env()?;
            remember(&creds.secret_key);
            if let Some(t) = &creds.session_token {
                remember(t);
            }
            Ok(Arc::new(route53::Route53::new(endpoint, creds, policy)?))
        }
        "docker" => Ok(Arc::new(hosts_file::HostsFile {
            path: hosts_file_path(inv),
        })),
        other => Err(format!(
            "unknown DNS provider `{other}` (known: digitalocean, route53, docker)"
        )),
    }
}

/// The docker DNS's file: `hosts.<inventory name>` beside the inventory file.
pub fn hosts_file_path(inv: &Inventory) -> PathBuf {
    let dir = inv.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    dir.join(format!("hosts.{}", inv.name))
}
