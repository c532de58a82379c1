//! From an inventory's `[cloud]` table to a provider: which one, its token, the docker
//! provider's options. Above the providers it builds (and the inventory and ssh settings
//! it reads), so it is a file of its own rather than `mod.rs`, which the providers'
//! siblings must not need.

use std::path::PathBuf;
use std::sync::Arc;

use super::digitalocean;
use super::docker;
use super::retry;
use super::types::{CloudResult, Provider};
use crate::inventory::{CloudSettings, Inventory};
use crate::stop::StopRequest;

/// The provider an inventory's `[cloud]` table names. The token may come from a secret
/// file beside the inventory; `remember` masks it in all output. After `stop` is requested
/// the provider sends nothing more and abandons its waits.
pub fn provider_for(inv: &Inventory, remember: &dyn Fn(&str), stop: &StopRequest) -> CloudResult<Arc<dyn Provider>> {
    let settings = inv.cloud.as_ref().ok_or_else(|| {
        format!(
            "no [cloud] table in inventory {}: add one with `provider` and `tag`",
            inv.file_label()
        )
    })?;
    match settings.provider.as_str() {
        "digitalocean" => {
            let token = digitalocean_token(settings.token_secret.as_deref(), &inv.secret_dirs(), remember)?;
            let policy = retry::Policy::for_run("cloud", settings.request_timeout, stop)?;
            let do_ = digitalocean::DigitalOcean::new(settings.endpoint.as_deref(), token, policy)?;
            Ok(Arc::new(do_))
        }
        "docker" => Ok(Arc::new(docker::DockerCloud::new(docker_options(inv, settings, stop)?))),
        other => Err(format!(
            "unknown cloud provider `{other}` (known: digitalocean, docker)"
        )),
    }
}

/// The docker provider's settings from an inventory: network `runbook-<inventory>`, host
/// keys recorded where ssh looks for them, root's key from `[ssh] key`.
pub fn docker_options(
    inv: &Inventory,
    settings: &CloudSettings,
    stop: &StopRequest,
) -> CloudResult<docker::DockerOptions> {
    let dir = inv.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let ssh_keys = match (&settings.ssh_public_key, &inv.ssh.key) {
        (Some(k), _) => {
            let k = if k.trim_start().starts_with("ssh-") || k.trim_start().starts_with("ecdsa-") {
                k.clone()
            } else {
                crate::connection::ssh::target::expand(k, &dir).display().to_string()
            };
            vec![docker::public_key_text(&k).map_err(|e| format!("[cloud] ssh_public_key: {e}"))?]
        }
        (None, Some(key)) => {
            let public = format!("{}.pub", crate::connection::ssh::target::expand(key, &dir).display());
            vec![docker::public_key_text(&public).map_err(|e| format!("[ssh] key: {e}"))?]
        }
        (None, None) => Vec::new(),
    };
    Ok(docker::DockerOptions {
        endpoint: settings.endpoint.clone(),
        network: settings
            .network
            .clone()
            .unwrap_or_else(|| format!("runbook-{}", inv.name)),
        known_hosts: crate::connection::ssh::learn_file(&inv.ssh, &dir),
        ssh_keys,
        boot_timeout: std::time::Duration::from_secs(180),
        request_timeout: retry::Policy::with_request_timeout("cloud", settings.request_timeout)?.request_timeout,
        stop: stop.clone(),
    })
}

/// The DigitalOcean API token from the secret `name` (default `DIGITALOCEAN_TOKEN`): the
/// environment or a secret file. Remembered for masking; never put into messages.
pub fn digitalocean_token(name: Option<&str>, secret_dirs: &[PathBuf], remember: &dyn Fn(&str)) -> CloudResult<String> {
    let name = name.unwrap_or("DIGITALOCEAN_TOKEN");
    let token = crate::secrets::lookup(name, secret_dirs).ok_or_else(|| {
        format!(
            "the DigitalOcean API token is not set: export {name} or write it to {}",
            secret_dirs
                .iter()
                .map(|d| d.join(name).display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })?;
    remember(&token);
    Ok(token)
}
