//! The provider-independent vocabulary of `cloud`: droplets, specs, snapshots, plans and the
//! `Provider` trait. A file of its own so the providers (`digitalocean`, `docker`), `dns`
//! and the rules import it without importing `mod.rs`, which declares them.

use async_trait::async_trait;
use serde::Serialize;

use crate::cost::table::SizePrice;

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

/// How a value known only after apply (the address of a droplet a dry run did not create)
/// is written. Here, not in the playbook API that shows it, because discovery
/// (`discover::add_planned`) gives planned hosts this address and sits below the playbook.
pub use crate::pending::PENDING_TEXT;
