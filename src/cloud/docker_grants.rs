//! What a container that stands in for a droplet is granted beyond Docker's defaults, and
//! why: it boots a whole Debian system (systemd as PID 1, sshd, ufw) whose service units use
//! systemd's sandboxing as on a real droplet (`PrivateUsers=`, `ProtectSystem=`,
//! `PrivateTmp=`, `ProtectProc=`, … as Debian's redis-server unit does). The docker
//! provider (`docker.rs`) creates droplets with these settings, and the test hosts
//! (`scripts/testbed.sh start`, `tests/it/support/testbed.rs`) get the same ones as `docker
//! run` flags (`run_flags`), so tests see what users see.
//!
//! Not granted: `--privileged` (every capability and device), a host PID or network
//! namespace, other host paths. Real-time scheduling (`CPUSchedulingPolicy=fifo`) stays
//! refused: a container's cgroup has no real-time budget, whatever its capabilities.

use std::collections::HashMap;

use bollard::models::{HostConfig, HostConfigCgroupnsModeEnum};

/// Added to Docker's default capabilities (which keep, e.g., CHOWN, SETUID, NET_BIND_SERVICE):
/// - SYS_ADMIN: systemd mounts /run, /sys/fs/cgroup parts and each sandboxed service's mount
///   namespace (PrivateTmp=, ProtectSystem=, ProtectHome=, …), and makes namespaces
///   (PrivateNetwork=, PrivateUsers=, ProtectHostname=).
/// - NET_ADMIN: ufw (iptables) enforces the droplet's firewall.
/// - SYS_PTRACE: a unit with `PrivateUsers=` and `User=` under `ProtectProc=invisible` (Debian's
///   redis-server) fails with 217/USER without it: systemd's helper writes the service's
///   /proc/PID/uid_map while that /proc hides processes of other credentials from all but
///   ptrace-capable callers (ENOENT). Root on a droplet has it; it reaches only this
///   container's processes (its own PID namespace).
pub const CAPABILITIES: &[&str] = &["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"];

/// - seccomp=unconfined: a droplet's kernel filters no system calls; Docker's default filter
///   refuses some a whole system uses (keyctl for services' kernel keyrings, among others)
///   and differs between engine versions.
/// - apparmor=unconfined: Docker's `docker-default` AppArmor profile (on hosts with AppArmor,
///   e.g. Ubuntu) denies every mount, which each sandboxed unit's mount namespace needs.
///   Ignored by engines on hosts without AppArmor.
pub const SECURITY_OPTS: &[&str] = &["seccomp=unconfined", "apparmor=unconfined"];

/// systemd as PID 1 manages the container's cgroups: the host's hierarchy, writable, in the
/// host's cgroup namespace (systemd in the container then works on its own cgroup within it).
pub const CGROUP_BIND: &str = "/sys/fs/cgroup:/sys/fs/cgroup:rw";

/// Empty tmpfs mounts, as systemd expects them at boot.
pub const TMPFS: &[&str] = &["/run", "/run/lock"];

/// The settings above for the Engine API (the caller adds the network).
pub fn host_config() -> HostConfig {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    HostConfig {
        cap_add: Some(strings(CAPABILITIES)),
        security_opt: Some(strings(SECURITY_OPTS)),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::HOST),
        binds: Some(vec![CGROUP_BIND.to_string()]),
        tmpfs: Some(
            TMPFS
                .iter()
                .map(|p| (p.to_string(), String::new()))
                .collect::<HashMap<_, _>>(),
        ),
        ..Default::default()
    }
}

/// The same settings as `docker run` flags.
pub fn run_flags() -> Vec<String> {
    let mut flags = Vec::new();
    for c in CAPABILITIES {
        flags.extend(["--cap-add".to_string(), c.to_string()]);
    }
    for o in SECURITY_OPTS {
        flags.extend(["--security-opt".to_string(), o.to_string()]);
    }
    flags.push("--cgroupns=host".into());
    flags.extend(["-v".to_string(), CGROUP_BIND.to_string()]);
    for t in TMPFS {
        flags.extend(["--tmpfs".to_string(), t.to_string()]);
    }
    flags
}
