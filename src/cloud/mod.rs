//! Cloud providers: droplets (virtual servers) created from a spec, listed by tag, powered
//! off and on, snapshotted and destroyed. The provider-independent rules (idempotent
//! create, safe destroy, snapshot with power-off) live here; providers only speak their API.

pub mod digitalocean;
pub mod dns;
pub mod docker;
pub mod retry;
pub mod sigv4;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::cost::SizePrice;
use crate::inventory::{CloudSettings, Inventory};

pub type CloudResult<T> = Result<T, String>;

/// A server as the provider reports it. For a container-backed provider a droplet is a
/// container, its image a Docker image and its tags labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Droplet {
    /// The provider's id, as text (DigitalOcean ids are integers, Docker's are hex).
    pub id: String,
    pub name: String,
    /// `new`, `active`, `off` or `archive`.
    pub status: String,
    pub tags: Vec<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    /// Image slug, or its id when it has none (snapshots).
    pub image: String,
    pub region: String,
    pub size: String,
    /// The size's price as the provider gives it with the droplet (DigitalOcean embeds its
    /// size object; the docker provider looks its size label up in its local table).
    #[serde(skip)]
    pub price: Option<SizePrice>,
}

/// What to create. `image` is a slug, an image id or a snapshot id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DropletSpec {
    pub name: String,
    pub region: Option<String>,
    pub size: String,
    pub image: String,
    /// Key ids, fingerprints, public keys (`ssh-ed25519 AAAA…`) or paths to `.pub` files.
    pub ssh_keys: Vec<String>,
    pub tags: Vec<String>,
    pub vpc_uuid: Option<String>,
    pub user_data: Option<String>,
    pub ipv6: bool,
    pub monitoring: bool,
    pub backups: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The image id a droplet can be created from.
    pub id: String,
    pub name: String,
    /// What its storage is billed by.
    #[serde(skip)]
    pub size: SnapshotSize,
}

/// The size a snapshot's storage is billed by.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SnapshotSize {
    #[default]
    Unknown,
    /// DigitalOcean's `size_gigabytes`, in thousandths (2.34 GB = 2340).
    Thousandths(u64),
    /// The docker provider's stand-in: the disk of the droplet size it was taken from.
    OfDropletSize(String),
}

impl SnapshotSize {
    /// `size_gigabytes` as the API sends it (a float with two decimals).
    pub fn from_gigabytes(gb: Option<f64>) -> SnapshotSize {
        match gb {
            Some(g) if g.is_finite() && g >= 0.0 => SnapshotSize::Thousandths((g * 1000.0).round() as u64),
            _ => SnapshotSize::Unknown,
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// Checks a spec and fills in the provider's defaults, before anything is looked up.
    fn prepare(&self, spec: DropletSpec) -> CloudResult<DropletSpec> {
        Ok(spec)
    }
    async fn find(&self, name: &str) -> CloudResult<Option<Droplet>>;
    async fn list(&self, tag: &str) -> CloudResult<Vec<Droplet>>;
    /// Creates a droplet and waits until it is active with its addresses.
    async fn create(&self, spec: &DropletSpec) -> CloudResult<Droplet>;
    async fn add_tags(&self, droplet: &Droplet, tags: &[String]) -> CloudResult<()>;
    /// Stops the droplet (gracefully if the provider can) and waits until it is off.
    async fn power_off(&self, droplet: &Droplet) -> CloudResult<()>;
    async fn power_on(&self, droplet: &Droplet) -> CloudResult<()>;
    /// Takes a snapshot and waits until it is usable.
    async fn snapshot(&self, droplet: &Droplet, name: &str) -> CloudResult<Snapshot>;
    async fn find_snapshot(&self, name: &str) -> CloudResult<Option<Snapshot>>;
    async fn destroy(&self, droplet: &Droplet) -> CloudResult<()>;
    /// Deletes a snapshot (gone already is fine).
    async fn delete_snapshot(&self, snapshot: &Snapshot) -> CloudResult<()>;
    /// The droplet sizes with their monthly prices (asked once per run).
    async fn sizes(&self) -> CloudResult<Vec<SizePrice>>;
    /// The snapshots taken of `droplets` (the inventory's, tagged `tag`), with their sizes.
    async fn snapshots(&self, tag: &str, droplets: &[Droplet]) -> CloudResult<Vec<Snapshot>>;
}

/// What `ensure` would do for a spec: decided from reads only, so dry-run can report it.
#[derive(Debug, Clone, PartialEq)]
pub enum DropletPlan {
    Exists(Droplet),
    /// Exists, but lacks some of the spec's tags.
    Tag(Droplet, Vec<String>),
    Create(DropletSpec),
}

/// Looks at the droplet called `spec.name`. One without the run's `tag` is someone else's:
/// adopting (or later destroying) it would be wrong, so it is an error naming both.
pub async fn plan_droplet(p: &dyn Provider, tag: &str, spec: &DropletSpec) -> CloudResult<DropletPlan> {
    let spec = tagged(spec, tag);
    match p.find(&spec.name).await? {
        None => Ok(DropletPlan::Create(spec)),
        Some(d) => {
            check_owned(&d, tag)?;
            let missing: Vec<String> = spec.tags.iter().filter(|t| !d.tags.contains(t)).cloned().collect();
            Ok(if missing.is_empty() {
                DropletPlan::Exists(d)
            } else {
                DropletPlan::Tag(d, missing)
            })
        }
    }
}

/// The spec with the run's tag added (every droplet runbook makes carries it).
pub fn tagged(spec: &DropletSpec, tag: &str) -> DropletSpec {
    let mut spec = spec.clone();
    if !spec.tags.iter().any(|t| t == tag) {
        spec.tags.push(tag.to_string());
    }
    spec
}

pub fn check_owned(d: &Droplet, tag: &str) -> CloudResult<()> {
    if d.tags.iter().any(|t| t == tag) {
        return Ok(());
    }
    Err(format!(
        "droplet `{}` (id {}) already exists without tag `{tag}` (its tags: [{}]); it belongs to something else: \
         pick another name, or add the tag `{tag}` to adopt it",
        d.name,
        d.id,
        d.tags.join(", ")
    ))
}

/// Carries out a plan; returns the droplet as it is afterwards.
pub async fn apply_droplet(p: &dyn Provider, plan: DropletPlan) -> CloudResult<Droplet> {
    match plan {
        DropletPlan::Exists(d) => Ok(d),
        DropletPlan::Tag(mut d, missing) => {
            p.add_tags(&d, &missing).await?;
            d.tags.extend(missing);
            Ok(d)
        }
        DropletPlan::Create(spec) => p.create(&spec).await,
    }
}

/// Snapshot of a running droplet, consistent on disk: power off, snapshot, power on again
/// (also when the snapshot failed, so a failed snapshot does not leave the server down).
pub async fn snapshot_with_power_off(p: &dyn Provider, d: &Droplet, name: &str) -> CloudResult<Snapshot> {
    let was_on = d.status == "active";
    if was_on {
        p.power_off(d).await?;
    }
    let result = p.snapshot(d, name).await;
    if was_on {
        let on = p.power_on(d).await;
        if let (Ok(_), Err(e)) = (&result, on) {
            return Err(e);
        }
    }
    result
}

/// The provider an inventory's `[cloud]` table names. The token may come from a secret
/// file beside the inventory; `remember` masks it in all output.
pub fn provider_for(inv: &Inventory, remember: &dyn Fn(&str)) -> CloudResult<Arc<dyn Provider>> {
    let settings = inv.cloud.as_ref().ok_or_else(|| {
        format!(
            "no [cloud] table in inventory {}: add one with `provider` and `tag`",
            inv.file_label()
        )
    })?;
    match settings.provider.as_str() {
        "digitalocean" => {
            let token = digitalocean_token(settings.token_secret.as_deref(), &inv.secret_dirs(), remember)?;
            let do_ = digitalocean::DigitalOcean::new(settings.endpoint.as_deref(), token, retry::Policy::default())?;
            Ok(Arc::new(do_))
        }
        "docker" => Ok(Arc::new(docker::DockerCloud::new(docker_options(inv, settings)?))),
        other => Err(format!(
            "unknown cloud provider `{other}` (known: digitalocean, docker)"
        )),
    }
}

/// The docker provider's settings from an inventory: network `runbook-<inventory>`, host
/// keys recorded where ssh looks for them, root's key from `[ssh] key`.
pub fn docker_options(inv: &Inventory, settings: &CloudSettings) -> CloudResult<docker::DockerOptions> {
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

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The HTTP client of the provider APIs: bounded connect and request times, our user agent.
pub fn api_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}
