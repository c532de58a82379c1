//! The `docker` provider, the local stand-in for a cloud (Docker Engine API over the local
//! socket, through bollard). A droplet is a container named like the droplet, booting
//! systemd with sshd (what the container is granted for that: `docker_grants.rs`), on a
//! private network named after the inventory; its address there is both its private and
//! public IP. A snapshot is `docker commit`; power off/on is stop/start; destroy removes
//! the container.
//!
//! Tags live in one label (`runbook.tags`, a JSON list): a committed snapshot carries the
//! labels of its container into every container made from it, and one label that each
//! new container sets itself replaces the inherited list instead of merging with it.
//! Labels cannot change after creation, so adding tags to an existing droplet is refused.
//!
//! Every droplet gets its own SSH host keys on its first boot (a snapshot carries the
//! original's), and the provider records them in the inventory's known_hosts file, read
//! through the Engine API from the container itself: the machine that owns the droplet
//! vouches for its keys, so no `--trust-new-hosts` is needed.
//!
//! A droplet keeps its address for life, like a real one: the network has a subnet of its
//! own whose lower half is for droplets, each pinned to an address there when it is
//! created (the endpoint's IPAM config), while Docker hands out addresses to any other
//! container on the network from the upper half only (the network's IP range). Without
//! the pin, a container started again gets whatever address is free at that moment.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointIpamConfig, EndpointSettings,
    HostConfig, Ipam, IpamConfig, NetworkCreateRequest, NetworkInspect, NetworkingConfig,
};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use super::common::expand_home;
use super::docker_grants;
use super::types::{CloudResult, Droplet, DropletSpec, Provider, Snapshot, SnapshotSize};
use crate::connection::ssh::known_hosts;
use crate::cost::table::{self, SizePrice};

/// The image droplets are made from when the spec names none.
pub const DEFAULT_IMAGE: &str = "runbook/testhost:bookworm";
const TAGS_LABEL: &str = "runbook.tags";
/// Marks containers this provider made (value: the droplet name).
const DROPLET_LABEL: &str = "runbook.droplet";
const SNAPSHOT_LABEL: &str = "runbook.snapshot";
/// The DigitalOcean size slug the droplet stands in for (priced from the local table); a
/// snapshot carries its container's, so its storage is priced by that size's disk.
const SIZE_LABEL: &str = "runbook.size";
const SNAPSHOT_REPO: &str = "runbook-snapshot";

/// First boot of each container (its `RUNBOOK_DROPLET_ID` differs from the one recorded
/// in the image): fresh host keys and the authorized keys, like cloud-init on a droplet.
/// Later boots (power on) keep both. Then systemd takes over as PID 1.
const BOOT_SCRIPT: &str = r#"
if [ "$(cat /etc/runbook-droplet 2>/dev/null)" != "$RUNBOOK_DROPLET_ID" ]; then
  rm -f /etc/ssh/ssh_host_*
  if command -v ssh-keygen >/dev/null; then ssh-keygen -A >/dev/null; fi
  mkdir -p /root/.ssh && chmod 700 /root/.ssh && touch /root/.ssh/authorized_keys
  printf '%s\n' "$RUNBOOK_SSH_KEYS" | while IFS= read -r k; do
    [ -z "$k" ] || grep -qxF "$k" /root/.ssh/authorized_keys || printf '%s\n' "$k" >> /root/.ssh/authorized_keys
  done
  chmod 600 /root/.ssh/authorized_keys
  echo "$RUNBOOK_DROPLET_ID" > /etc/runbook-droplet
fi
exec /sbin/init
"#;

#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// `unix:///path/to/docker.sock`; default: `DOCKER_HOST` or the standard socket.
    pub endpoint: Option<String>,
    pub network: String,
    /// Where droplets' host keys are recorded.
    pub known_hosts: PathBuf,
    /// Public keys (`ssh-ed25519 AAAA…`) every droplet's root accepts.
    pub ssh_keys: Vec<String>,
    /// How long a container may take until sshd answers.
    pub boot_timeout: Duration,
    /// How long one call to the engine may take (`[cloud] request_timeout`); a stop gets its
    /// grace period more, a snapshot ten times as long.
    pub request_timeout: Duration,
    /// The run's stop request: once it comes, calls and waits are abandoned.
    pub stop: crate::stop::StopRequest,
}

pub struct DockerCloud {
    opts: DockerOptions,
    client: tokio::sync::OnceCell<Docker>,
    /// Held while making the network and choosing an address, so that droplets created
    /// in parallel by one run neither make the network twice nor pick the same address.
    net_lock: tokio::sync::Mutex<()>,
}

/// A Docker API error as text; 404 is told apart by callers through `is_not_found`.
fn err(what: &str, e: DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { status_code, message } => {
            format!("docker: {what}: {status_code} {}", message.trim())
        }
        e => format!("docker: {what}: {e}"),
    }
}

/// How long a container gets to stop (systemd's shutdown) before it is killed.
const STOP_GRACE_SECS: i32 = 60;

fn is_not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 404, .. })
}

impl DockerCloud {
    pub fn new(opts: DockerOptions) -> Self {
        DockerCloud {
            opts,
            client: tokio::sync::OnceCell::new(),
            net_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The client, connected on first use and speaking the engine's API version (older
    /// engines refuse requests for newer versions).
    async fn client(&self) -> CloudResult<&Docker> {
        self.client
            .get_or_try_init(|| async {
                // Bollard's own limit only covers the start of an answer: `call` bounds
                // each call whole, so bollard's is set out of its way.
                let d = match &self.opts.endpoint {
                    Some(e) => Docker::connect_with_unix(e, 3600, bollard::API_DEFAULT_VERSION),
                    None => Docker::connect_with_local_defaults().map(|d| d.with_timeout(Duration::from_secs(3600))),
                }
                .map_err(|e| format!("docker: cannot connect to the engine: {e}"))?;
                self.call("GET /version", d.negotiate_version()).await?.map_err(|e| {
                    format!("docker: the engine does not answer ({e}); is dockerd running? (scripts/testbed.sh setup starts it)")
                })
            })
            .await
    }

    /// The engine's address, for messages.
    fn endpoint(&self) -> String {
        match (&self.opts.endpoint, std::env::var("DOCKER_HOST")) {
            (Some(e), _) => e.clone(),
            (None, Ok(h)) if !h.is_empty() => h,
            _ => "unix:///var/run/docker.sock".into(),
        }
    }

    /// One call to the engine (`what` names it), bounded by the request timeout: an engine
    /// that stops answering, or a body or stream that stops coming, ends in an error that
    /// says so, never in a hang.
    async fn call<F: std::future::Future>(&self, what: &str, call: F) -> CloudResult<F::Output> {
        self.call_within(what, self.opts.request_timeout, call).await
    }

    /// `call` with a limit of its own (a stop: its grace period more). After a stop request
    /// nothing is sent, and a call in flight is abandoned (the engine carries on with it).
    async fn call_within<F: std::future::Future>(
        &self,
        what: &str,
        limit: Duration,
        call: F,
    ) -> CloudResult<F::Output> {
        if self.opts.stop.requested() {
            return Err(format!("docker: `{what}` not sent, the run is stopping"));
        }
        match self.opts.stop.unless(tokio::time::timeout(limit, call)).await {
            Some(Ok(out)) => Ok(out),
            Some(Err(_)) => Err(format!(
                "docker: the engine at {} did not answer `{what}` within {}; is dockerd running and responsive? \
                 ([cloud] request_timeout sets the limit)",
                self.endpoint(),
                crate::cloud::common::seconds(limit)
            )),
            None => Err(format!(
                "docker: `{what}` was still in progress when the run stopped waiting for it (the engine carries on with it)"
            )),
        }
    }

    async fn inspect(&self, name_or_id: &str) -> CloudResult<Option<ContainerInspectResponse>> {
        let d = self.client().await?;
        let what = format!("inspect container {name_or_id}");
        match self.call(&what, d.inspect_container(name_or_id, None)).await? {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err(&format!("inspect container {name_or_id}"), e)),
        }
    }

    /// The container's address on the inventory network (any network as a fallback); for
    /// a stopped container, which has none, the address it is pinned to.
    fn address(&self, c: &ContainerInspectResponse) -> Option<String> {
        let nets = c.network_settings.as_ref()?.networks.as_ref()?;
        let ip_of = |e: &EndpointSettings| e.ip_address.clone().filter(|ip| !ip.is_empty()).or_else(|| pinned(e));
        nets.get(&self.opts.network)
            .and_then(ip_of)
            .or_else(|| nets.values().find_map(ip_of))
    }

    /// The droplet a container is; `active` means running with sshd answering.
    async fn describe(&self, c: &ContainerInspectResponse) -> Droplet {
        let config = c.config.clone().unwrap_or_default();
        let labels = config.labels.unwrap_or_default();
        let state = c.state.as_ref().and_then(|s| s.status);
        let ip = self.address(c);
        let status = match state {
            Some(ContainerStateStatusEnum::RUNNING) => match &ip {
                Some(ip) if ssh_banner(ip).await.is_ok() => "active",
                _ => "new",
            },
            Some(ContainerStateStatusEnum::CREATED) | Some(ContainerStateStatusEnum::RESTARTING) => "new",
            _ => "off",
        };
        Droplet {
            id: c.id.clone().unwrap_or_default(),
            name: c.name.clone().unwrap_or_default().trim_start_matches('/').to_string(),
            status: status.into(),
            tags: labels
                .get(TAGS_LABEL)
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default(),
            public_ip: ip.clone(),
            private_ip: ip,
            image: config.image.unwrap_or_default(),
            region: "local".into(),
            price: labels.get(SIZE_LABEL).and_then(|s| table::local_size(s).ok()),
            size: labels.get(SIZE_LABEL).cloned().unwrap_or_default(),
        }
    }

    /// The inventory network, made if missing (call with `net_lock` held). A pinned
    /// address needs a subnet configured by the user, so the network gets one explicitly:
    /// the one Docker picks for a probe network (free among the engine's networks), with
    /// its upper half as the range Docker allocates from for containers other than droplets.
    async fn ensure_network(&self) -> CloudResult<NetworkInspect> {
        let d = self.client().await?;
        let net = &self.opts.network;
        match self
            .call(&format!("inspect network {net}"), d.inspect_network(net, None))
            .await?
        {
            Ok(n) => return Ok(n),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("inspect network {net}"), e)),
        }
        for attempt in 1.. {
            let probe = format!("{net}-probe-{:08x}", fastrand::u32(..));
            let create = d.create_network(NetworkCreateRequest {
                name: probe.clone(),
                driver: Some("bridge".into()),
                ..Default::default()
            });
            let what = format!("create network {probe}");
            self.call(&what, create).await?.map_err(|e| err(&what, e))?;
            let assigned = self
                .call(&format!("inspect network {probe}"), d.inspect_network(&probe, None))
                .await?;
            let what = format!("remove network {probe}");
            self.call(&what, d.remove_network(&probe))
                .await?
                .map_err(|e| err(&what, e))?;
            let assigned = assigned.map_err(|e| err(&format!("inspect network {probe}"), e))?;
            let config = ipv4_config(&assigned)
                .and_then(|c| {
                    let (base, prefix) = parse_cidr(c.subnet.as_deref()?)?;
                    let gateway = c
                        .gateway
                        .clone()
                        .unwrap_or_else(|| Ipv4Addr::from(u32::from(base) + 1).to_string());
                    Some(IpamConfig {
                        subnet: Some(format!("{base}/{prefix}")),
                        ip_range: (prefix <= 29)
                            .then(|| format!("{}/{}", Ipv4Addr::from(upper_half(base, prefix)), prefix + 1)),
                        gateway: Some(gateway),
                        ..Default::default()
                    })
                })
                .ok_or_else(|| format!("docker: network {probe} got no IPv4 subnet from the engine"))?;
            let req = NetworkCreateRequest {
                name: net.clone(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    driver: Some("default".into()),
                    config: Some(vec![config]),
                    ..Default::default()
                }),
                labels: Some(HashMap::from([("runbook.network".to_string(), net.clone())])),
                ..Default::default()
            };
            match self
                .call(&format!("create network {net}"), d.create_network(req))
                .await?
            {
                Ok(_) => break,
                // Another network took the subnet since the probe gave it back: probe again.
                Err(DockerError::DockerResponseServerError { message, .. })
                    if attempt < 5 && message.to_lowercase().contains("overlaps") => {}
                Err(e) => return Err(err(&format!("create network {net}"), e)),
            }
        }
        let what = format!("inspect network {net}");
        self.call(&what, d.inspect_network(net, None))
            .await?
            .map_err(|e| err(&what, e))
    }

    /// Every address taken on the inventory network: by running containers, and the
    /// addresses stopped containers are pinned to (they get them back when started).
    async fn taken_addresses(&self, network: &NetworkInspect) -> CloudResult<HashSet<Ipv4Addr>> {
        let mut taken: HashSet<Ipv4Addr> = network
            .containers
            .iter()
            .flat_map(|c| c.values())
            .filter_map(|e| e.ipv4_address.as_deref())
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect();
        for c in self.containers_on_network().await? {
            let Some(c) = self.inspect(&c).await? else { continue };
            let nets = c.network_settings.and_then(|s| s.networks).unwrap_or_default();
            if let Some(e) = nets.get(&self.opts.network) {
                for a in [e.ip_address.clone(), pinned(e)].into_iter().flatten() {
                    if let Ok(a) = a.parse() {
                        taken.insert(a);
                    }
                }
            }
        }
        Ok(taken)
    }

    /// Ids of all containers attached to the inventory network, stopped ones too.
    async fn containers_on_network(&self) -> CloudResult<Vec<String>> {
        let d = self.client().await?;
        let filters = HashMap::from([("network".to_string(), vec![self.opts.network.clone()])]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let what = format!("list containers on network {}", self.opts.network);
        Ok(self
            .call(&what, d.list_containers(Some(opts)))
            .await?
            .map_err(|e| err(&what, e))?
            .into_iter()
            .filter_map(|s| s.id)
            .collect())
    }

    /// Removes the inventory network once no container uses it, stopped ones included:
    /// they would not start again without it (networks are a scarce resource of the
    /// engine; a later create makes it again).
    async fn remove_network_if_unused(&self) {
        let Ok(d) = self.client().await else { return };
        let _held = self.net_lock.lock().await;
        let net = &self.opts.network;
        if let Ok(Ok(n)) = self
            .call(&format!("inspect network {net}"), d.inspect_network(net, None))
            .await
            && n.containers.as_ref().is_none_or(|c| c.is_empty())
            && self.containers_on_network().await.is_ok_and(|c| c.is_empty())
        {
            let _ = self.call(&format!("remove network {net}"), d.remove_network(net)).await;
        }
    }

    /// Runs a command in a running container; its stdout, or an error with its stderr.
    async fn exec(&self, container: &str, cmd: &[&str]) -> CloudResult<String> {
        let d = self.client().await?;
        let what = format!("exec in {container}");
        // The whole exec (create, start, its output, its exit code) within one limit.
        self.call(&what, self.exec_with(d, container, cmd)).await?
    }

    async fn exec_with(&self, d: &Docker, container: &str, cmd: &[&str]) -> CloudResult<String> {
        let what = format!("exec in {container}");
        let created = d
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| err(&what, e))?;
        let (mut out, mut errs) = (Vec::new(), Vec::new());
        if let StartExecResults::Attached { mut output, .. } =
            d.start_exec(&created.id, None).await.map_err(|e| err(&what, e))?
        {
            while let Some(msg) = output.next().await {
                match msg.map_err(|e| err(&what, e))? {
                    bollard::container::LogOutput::StdOut { message } => out.extend_from_slice(&message),
                    bollard::container::LogOutput::StdErr { message } => errs.extend_from_slice(&message),
                    _ => {}
                }
            }
        }
        let code = d
            .inspect_exec(&created.id)
            .await
            .map_err(|e| err(&what, e))?
            .exit_code
            .unwrap_or(-1);
        if code != 0 {
            return Err(format!(
                "docker: `{}` in {container} exited with {code}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&errs).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Waits until the container runs and its sshd answers; fails early if it stops.
    async fn wait_active(&self, name: &str) -> CloudResult<Droplet> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        let mut last = String::from("not inspected yet");
        while start.elapsed() < self.opts.boot_timeout {
            let c = self
                .inspect(name)
                .await?
                .ok_or_else(|| format!("docker: container {name} disappeared while booting"))?;
            let state = c.state.clone().unwrap_or_default();
            match state.status {
                Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
                    return Err(format!(
                        "docker: container {name} stopped while booting (exit code {}{}); see `docker logs {name}`",
                        state.exit_code.unwrap_or(-1),
                        state
                            .error
                            .filter(|e| !e.is_empty())
                            .map(|e| format!(", {e}"))
                            .unwrap_or_default()
                    ));
                }
                Some(ContainerStateStatusEnum::RUNNING) => match self.address(&c) {
                    None => last = "no address on the network yet".into(),
                    Some(ip) => match ssh_banner(&ip).await {
                        Ok(()) => return Ok(self.describe(&c).await),
                        Err(e) => last = format!("sshd on {ip}: {e}"),
                    },
                },
                s => last = format!("container status {s:?}"),
            }
            if !self.opts.stop.pause(pause).await {
                return Err(format!(
                    "docker: droplet {name} was still booting (last: {last}) when the run stopped waiting for it"
                ));
            }
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        Err(format!(
            "docker: droplet {name} did not become active within {} (last: {last})",
            humantime::format_duration(self.opts.boot_timeout)
        ))
    }

    /// Reads the droplet's host keys from the container and makes them the entries for its
    /// address in the inventory's known_hosts (an address may have served an older droplet).
    async fn record_host_keys(&self, d: &Droplet) -> CloudResult<()> {
        let Some(ip) = &d.public_ip else {
            return Ok(());
        };
        let out = self
            .exec(&d.id, &["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
            .await?;
        let keys: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .filter(|k| russh::keys::PublicKey::from_openssh(k).is_ok())
            .collect();
        if keys.is_empty() {
            return Err(format!("docker: droplet {} has no SSH host keys", d.name));
        }
        known_hosts::replace(&self.opts.known_hosts, &known_hosts::lookup_name(ip, 22), &keys).map_err(|e| {
            format!(
                "recording the host keys of {} in {}: {e}",
                d.name,
                self.opts.known_hosts.display()
            )
        })
    }

    /// Public keys for root: the inventory's, then the spec's (keys or `.pub` files).
    fn authorized_keys(&self, spec: &DropletSpec) -> CloudResult<Vec<String>> {
        let mut keys = self.opts.ssh_keys.clone();
        for k in &spec.ssh_keys {
            let key = public_key_text(k)?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "no SSH public key for droplet {}: set [ssh] key (its .pub beside it), [cloud] ssh_public_key, or ssh_keys in the spec",
                spec.name
            ));
        }
        Ok(keys)
    }
}

/// A public key given as text or as a `.pub` file.
pub fn public_key_text(k: &str) -> CloudResult<String> {
    let k = k.trim();
    let text = if k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-") {
        k.to_string()
    } else {
        let path = expand_home(k);
        std::fs::read_to_string(&path)
            .map_err(|e| format!("ssh key {k}: not a public key, and unreadable as a file: {e}"))?
            .trim()
            .to_string()
    };
    russh::keys::PublicKey::from_openssh(&text).map_err(|e| format!("ssh key {k}: not an OpenSSH public key ({e})"))?;
    Ok(text)
}

/// The address a container is pinned to on a network (kept while it is stopped).
fn pinned(e: &EndpointSettings) -> Option<String> {
    e.ipam_config.as_ref()?.ipv4_address.clone().filter(|ip| !ip.is_empty())
}

/// The network's IPv4 IPAM config.
fn ipv4_config(n: &NetworkInspect) -> Option<&IpamConfig> {
    n.ipam
        .as_ref()?
        .config
        .as_ref()?
        .iter()
        .find(|c| c.subnet.as_deref().and_then(parse_cidr).is_some())
}

/// `10.1.2.0/24` as the network address and the prefix length.
fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u32)> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Some((Ipv4Addr::from(u32::from(addr) & mask), prefix))
}

/// The first address of the upper half of a subnet.
fn upper_half(base: Ipv4Addr, prefix: u32) -> u32 {
    u32::from(base) | (1 << (31 - prefix))
}

/// The lowest host address of the network's subnet for a droplet: below the range Docker
/// allocates from, not the gateway, not taken, not refused; `None` when the network has no
/// IPv4 subnet (no pinning then).
fn free_address(
    n: &NetworkInspect,
    taken: &HashSet<Ipv4Addr>,
    refused: &HashSet<Ipv4Addr>,
) -> Result<Option<Ipv4Addr>, String> {
    let Some(config) = ipv4_config(n) else {
        return Ok(None);
    };
    let (base, prefix) = config
        .subnet
        .as_deref()
        .and_then(parse_cidr)
        .expect("checked by ipv4_config");
    let broadcast = u32::from(base) | (u32::MAX.checked_shr(prefix).unwrap_or(0));
    // Docker allocates from the range when there is one; droplets take the addresses
    // before it (a range that starts at the subnet's beginning leaves the rest after it).
    let (first, last) = match config.ip_range.as_deref().and_then(parse_cidr) {
        Some((start, _)) if u32::from(start) > u32::from(base) => (u32::from(base) + 1, u32::from(start) - 1),
        Some((start, p)) => {
            let end = u32::from(start) | u32::MAX.checked_shr(p).unwrap_or(0);
            (end + 1, broadcast - 1)
        }
        None => (u32::from(base) + 1, broadcast.saturating_sub(1)),
    };
    let gateway = config.gateway.as_deref().and_then(|g| g.parse::<Ipv4Addr>().ok());
    (first..=last.min(broadcast.saturating_sub(1)))
        .map(Ipv4Addr::from)
        .find(|a| Some(*a) != gateway && !taken.contains(a) && !refused.contains(a))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "no free address for a droplet in {}",
                config.subnet.as_deref().unwrap_or_default()
            )
        })
}

/// Connects to sshd and reads its banner (no login).
pub async fn ssh_banner(ip: &str) -> Result<(), String> {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect((ip, 22))
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        if &buf == b"SSH-" {
            Ok(())
        } else {
            Err(format!("not an SSH banner: {:?}", String::from_utf8_lossy(&buf)))
        }
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .map_err(|_| "no banner within 2s".to_string())?
}

/// What a stand-in snapshot is billed by: the disk of its droplet's size.
fn size_of(slug: &str) -> SnapshotSize {
    if slug.is_empty() {
        SnapshotSize::Unknown
    } else {
        SnapshotSize::OfDropletSize(slug.to_string())
    }
}

/// An image tag for a snapshot name (tags allow `[A-Za-z0-9_.-]`, 128 characters).
fn snapshot_tag(name: &str) -> String {
    let t: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    t.trim_start_matches(['.', '-']).to_string()
}

#[async_trait]
impl Provider for DockerCloud {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn prepare(&self, mut spec: DropletSpec) -> CloudResult<DropletSpec> {
        if spec.image.is_empty() {
            spec.image = DEFAULT_IMAGE.into();
        }
        for (set, what) in [
            (spec.user_data.is_some(), "user_data"),
            (
                spec.vpc_uuid.is_some(),
                "vpc_uuid (droplets join the inventory's network)",
            ),
        ] {
            if set {
                return Err(format!("the docker provider does not support {what}"));
            }
        }
        if !spec.size.is_empty() {
            table::local_size(&spec.size)?;
        }
        self.authorized_keys(&spec)?;
        Ok(spec)
    }

    async fn find(&self, name: &str) -> CloudResult<Option<Droplet>> {
        // Inspect also matches id prefixes: only an exact name is this droplet.
        match self.inspect(name).await? {
            Some(c) if c.name.as_deref() == Some(&format!("/{name}")) => Ok(Some(self.describe(&c).await)),
            _ => Ok(None),
        }
    }

    async fn list(&self, tag: &str) -> CloudResult<Vec<Droplet>> {
        let d = self.client().await?;
        let filters = HashMap::from([("label".to_string(), vec![DROPLET_LABEL.to_string()])]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .call("list containers", d.list_containers(Some(opts)))
            .await?
            .map_err(|e| err("list containers", e))?;
        let mut out = Vec::new();
        for s in summaries {
            let tagged = s
                .labels
                .as_ref()
                .and_then(|l| l.get(TAGS_LABEL))
                .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
                .is_some_and(|tags| tags.iter().any(|t| t == tag));
            if !tagged {
                continue;
            }
            // Gone between list and inspect: not a droplet any more.
            if let Some(c) = self.inspect(s.id.as_deref().unwrap_or_default()).await? {
                out.push(self.describe(&c).await);
            }
        }
        Ok(out)
    }

    async fn create(&self, spec: &DropletSpec) -> CloudResult<Droplet> {
        let spec = self.prepare(spec.clone())?;
        let d = self.client().await?;
        let what = format!("inspect image {}", spec.image);
        if let Err(e) = self.call(&what, d.inspect_image(&spec.image)).await? {
            return Err(if is_not_found(&e) {
                format!(
                    "docker: image {} is not on this machine (the docker provider does not pull; build it, e.g. scripts/testbed.sh setup)",
                    spec.image
                )
            } else {
                err(&format!("inspect image {}", spec.image), e)
            });
        }
        let keys = self.authorized_keys(&spec)?;
        let droplet_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let net = self.opts.network.clone();
        let mut labels = HashMap::from([
            (
                TAGS_LABEL.to_string(),
                serde_json::to_string(&spec.tags).expect("strings serialize"),
            ),
            (DROPLET_LABEL.to_string(), spec.name.clone()),
        ]);
        // Also when empty: a container made from a snapshot must not inherit the size label.
        labels.insert(SIZE_LABEL.to_string(), spec.size.clone());
        let body = ContainerCreateBody {
            hostname: Some(spec.name.clone()),
            image: Some(spec.image.clone()),
            cmd: Some(vec!["/bin/sh".into(), "-c".into(), BOOT_SCRIPT.into()]),
            env: Some(vec![
                format!("RUNBOOK_DROPLET_ID={droplet_id}"),
                format!("RUNBOOK_SSH_KEYS={}", keys.join("\n")),
            ]),
            labels: Some(labels),
            // systemd halts on SIGRTMIN+3 (SIGTERM would only make it re-execute).
            stop_signal: Some("SIGRTMIN+3".into()),
            // What the container is granted to boot a whole system: see docker_grants.rs.
            host_config: Some(HostConfig {
                network_mode: Some(net.clone()),
                ..docker_grants::host_config()
            }),
            ..Default::default()
        };
        // Pin an address (see the module doc) and start; held until the container runs, so
        // that the next droplet of this run sees the address as taken.
        let held = self.net_lock.lock().await;
        let network = self.ensure_network().await?;
        let mut pin = true;
        let mut refused = HashSet::new();
        loop {
            let ip = if pin {
                free_address(&network, &self.taken_addresses(&network).await?, &refused)
                    .map_err(|e| format!("docker: network {net}: {e}"))?
            } else {
                None
            };
            let endpoint = EndpointSettings {
                ipam_config: ip.map(|ip| EndpointIpamConfig {
                    ipv4_address: Some(ip.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let body = ContainerCreateBody {
                networking_config: Some(NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(net.clone(), endpoint)])),
                }),
                ..body.clone()
            };
            let opts = CreateContainerOptionsBuilder::default().name(&spec.name).build();
            let what = format!("create container {}", spec.name);
            let started = match self.call(&what, d.create_container(Some(opts), body)).await? {
                Ok(created) => {
                    let what = format!("start container {}", spec.name);
                    self.call(&what, d.start_container(&created.id, None))
                        .await?
                        .map_err(|e| (true, e))
                }
                Err(e) => Err((false, e)),
            };
            let (was_created, e) = match started {
                Ok(()) => break,
                Err(failed) => failed,
            };
            let message = match &e {
                DockerError::DockerResponseServerError { message, .. } => message.to_lowercase(),
                _ => String::new(),
            };
            let retry = match ip {
                // A network made by an older version of this provider, without a subnet of
                // its own: Docker cannot pin there, so this droplet gets what Docker gives
                // (the behaviour of those versions) rather than failing.
                Some(_) if message.contains("user configured subnet") => {
                    pin = false;
                    true
                }
                // Taken meanwhile, by a droplet another run made at the same time, or a
                // container that was given an address below the network's range.
                Some(ip) if message.contains("address already in use") && refused.len() < 5 => refused.insert(ip),
                _ => false,
            };
            if !retry {
                let what = if was_created { "start" } else { "create" };
                return Err(err(&format!("{what} container {}", spec.name), e));
            }
            if was_created {
                let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
                let what = format!("remove container {}", spec.name);
                self.call(&what, d.remove_container(&spec.name, Some(opts)))
                    .await?
                    .map_err(|e| err(&what, e))?;
            }
        }
        drop(held);
        let droplet = self.wait_active(&spec.name).await?;
        self.record_host_keys(&droplet).await?;
        Ok(droplet)
    }

    async fn add_tags(&self, droplet: &Droplet, tags: &[String]) -> CloudResult<()> {
        Err(format!(
            "docker: the tags of droplet {} are container labels, fixed when it was created; destroy it and create it again to add {}",
            droplet.name,
            tags.join(", ")
        ))
    }

    async fn power_off(&self, droplet: &Droplet) -> CloudResult<()> {
        let d = self.client().await?;
        let opts = StopContainerOptionsBuilder::default().t(STOP_GRACE_SECS).build();
        let what = format!("stop container {}", droplet.name);
        let limit = self.opts.request_timeout + Duration::from_secs(STOP_GRACE_SECS as u64);
        self.call_within(&what, limit, d.stop_container(&droplet.id, Some(opts)))
            .await?
            .map_err(|e| err(&what, e))
    }

    async fn power_on(&self, droplet: &Droplet) -> CloudResult<()> {
        let d = self.client().await?;
        let what = format!("start container {}", droplet.name);
        self.call(&what, d.start_container(&droplet.id, None))
            .await?
            .map_err(|e| err(&what, e))?;
        // The address is pinned (a droplet made by an older version may get another one);
        // the keys do not change either.
        let on = self.wait_active(&droplet.name).await?;
        self.record_host_keys(&on).await
    }

    async fn snapshot(&self, droplet: &Droplet, name: &str) -> CloudResult<Snapshot> {
        let d = self.client().await?;
        let label = serde_json::to_string(name).expect("strings serialize");
        let changes = format!("LABEL {SNAPSHOT_LABEL}={label}");
        let opts = CommitContainerOptionsBuilder::default()
            .container(&droplet.id)
            .repo(SNAPSHOT_REPO)
            .tag(&snapshot_tag(name))
            .changes(&changes)
            .pause(true)
            .build();
        // A snapshot writes the container's files: given ten times as long as a request.
        let what = format!("commit container {}", droplet.name);
        let commit = d.commit_container(opts, bollard::models::ContainerConfig::default());
        let id = self
            .call_within(&what, self.opts.request_timeout * 10, commit)
            .await?
            .map_err(|e| err(&what, e))?
            .id;
        Ok(Snapshot {
            id,
            name: name.to_string(),
            size: size_of(&droplet.size),
        })
    }

    async fn find_snapshot(&self, name: &str) -> CloudResult<Option<Snapshot>> {
        let d = self.client().await?;
        let reference = format!("{SNAPSHOT_REPO}:{}", snapshot_tag(name));
        match self
            .call(&format!("inspect image {reference}"), d.inspect_image(&reference))
            .await?
        {
            Ok(img) => {
                let labels = img.config.and_then(|c| c.labels).unwrap_or_default();
                Ok(
                    (labels.get(SNAPSHOT_LABEL).map(String::as_str) == Some(name)).then(|| Snapshot {
                        id: img.id.unwrap_or_default(),
                        name: name.to_string(),
                        size: size_of(labels.get(SIZE_LABEL).map(String::as_str).unwrap_or("")),
                    }),
                )
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err(&format!("inspect image {reference}"), e)),
        }
    }

    async fn destroy(&self, droplet: &Droplet) -> CloudResult<()> {
        let d = self.client().await?;
        let ip = self
            .inspect(&droplet.id)
            .await?
            .and_then(|c| self.address(&c))
            .or(droplet.public_ip.clone());
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let what = format!("remove container {}", droplet.name);
        match self.call(&what, d.remove_container(&droplet.id, Some(opts))).await? {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("remove container {}", droplet.name), e)),
        }
        if let Some(ip) = ip {
            known_hosts::forget(&self.opts.known_hosts, &known_hosts::lookup_name(&ip, 22)).map_err(|e| {
                format!(
                    "forgetting the host keys of {} in {}: {e}",
                    droplet.name,
                    self.opts.known_hosts.display()
                )
            })?;
        }
        self.remove_network_if_unused().await;
        Ok(())
    }

    async fn sizes(&self) -> CloudResult<Vec<SizePrice>> {
        Ok(table::digitalocean_sizes())
    }

    /// The snapshot images whose droplet carried `tag` (a snapshot keeps its container's labels).
    async fn snapshots(&self, tag: &str, _droplets: &[Droplet]) -> CloudResult<Vec<Snapshot>> {
        let d = self.client().await?;
        let filters = HashMap::from([("label".to_string(), vec![SNAPSHOT_LABEL.to_string()])]);
        let opts = ListImagesOptionsBuilder::default().filters(&filters).build();
        let images = self
            .call("list images", d.list_images(Some(opts)))
            .await?
            .map_err(|e| err("list images", e))?;
        let mut out: Vec<Snapshot> = images
            .into_iter()
            .filter(|i| {
                i.labels
                    .get(TAGS_LABEL)
                    .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
                    .is_some_and(|tags| tags.iter().any(|t| t == tag))
            })
            .map(|i| Snapshot {
                name: i.labels.get(SNAPSHOT_LABEL).cloned().unwrap_or_default(),
                size: size_of(i.labels.get(SIZE_LABEL).map(String::as_str).unwrap_or("")),
                id: i.id,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes the snapshot's name (forced: droplets made from it keep running, as on a
    /// cloud; the image itself goes once no container uses it).
    async fn delete_snapshot(&self, snapshot: &Snapshot) -> CloudResult<()> {
        let d = self.client().await?;
        let reference = format!("{SNAPSHOT_REPO}:{}", snapshot_tag(&snapshot.name));
        let opts = RemoveImageOptionsBuilder::new().force(true).build();
        let what = format!("remove image {reference}");
        match self.call(&what, d.remove_image(&reference, Some(opts), None)).await? {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(err(&format!("remove image {reference}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_tags_are_valid_image_tags() {
        assert_eq!(snapshot_tag("web1-base"), "web1-base");
        assert_eq!(snapshot_tag("-Web 1/base:v2"), "Web-1-base-v2");
    }

    fn network(subnet: &str, range: Option<&str>, gateway: &str) -> NetworkInspect {
        NetworkInspect {
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.into()),
                    ip_range: range.map(Into::into),
                    gateway: Some(gateway.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn droplet_addresses_are_the_lowest_free_below_the_dynamic_range() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let n = network("172.20.0.0/16", Some("172.20.128.0/17"), "172.20.0.1");
        let none = HashSet::new();
        assert_eq!(free_address(&n, &none, &none), Ok(Some(ip("172.20.0.2"))));
        let taken = HashSet::from([ip("172.20.0.2"), ip("172.20.0.4")]);
        assert_eq!(free_address(&n, &taken, &none), Ok(Some(ip("172.20.0.3"))));
        assert_eq!(
            free_address(&n, &taken, &HashSet::from([ip("172.20.0.3")])),
            Ok(Some(ip("172.20.0.5")))
        );
        let (base, prefix) = parse_cidr("172.20.0.0/16").unwrap();
        assert_eq!(Ipv4Addr::from(upper_half(base, prefix)), ip("172.20.128.0"));
        let tiny = network("10.0.0.0/30", None, "10.0.0.1");
        assert_eq!(free_address(&tiny, &none, &none), Ok(Some(ip("10.0.0.2"))));
        assert!(free_address(&tiny, &HashSet::from([ip("10.0.0.2")]), &none).is_err());
        assert_eq!(free_address(&NetworkInspect::default(), &none, &none), Ok(None));
    }
}
