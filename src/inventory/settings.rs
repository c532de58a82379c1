//! The inventory file's settings tables `[ssh]`, `[cloud]` and `[dns]`: plain data, read by
//! `file`, held by `model`'s `Inventory` (a file of its own, so both import it and it
//! imports neither).

use serde::Deserialize;

/// `[ssh]`: connection defaults for ssh hosts.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Private key file; `~` is expanded.
    pub key: Option<String>,
    /// A host (inventory name or `user@host:port`) to jump through.
    pub jump: Option<String>,
    /// An extra known_hosts file, relative to the inventory file.
    pub known_hosts: Option<String>,
    /// Name of the secret holding the login password; password auth is used only when set.
    pub password_secret: Option<String>,
    /// Name of the secret (or environment variable) holding the key's passphrase.
    pub passphrase_secret: Option<String>,
    /// Seconds to wait for a connection.
    pub connect_timeout: Option<u64>,
    /// The user to log in as while `user` does not exist yet (a fresh droplet has only
    /// root; hardening creates the admin and then refuses root). Tried only when `user` is
    /// refused, and never for a host that names its own user.
    pub bootstrap_user: Option<String>,
}

/// `[cloud]`: discover hosts from a provider's tags.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSettings {
    pub provider: String,
    pub tag: String,
    /// Provider API endpoint (tests point it at a local server).
    pub endpoint: Option<String>,
    /// Secret name of the API token (default `DIGITALOCEAN_TOKEN`).
    pub token_secret: Option<String>,
    /// Which address to connect to: "public" (default) or "private".
    pub address: Option<String>,
    /// docker: the network droplets join (default `runbook-<inventory name>`).
    pub network: Option<String>,
    /// docker: the public key put into root's authorized_keys (a `.pub` file or the key
    /// itself); default: `[ssh] key` + `.pub`.
    pub ssh_public_key: Option<String>,
    /// Seconds one request to the provider's API (or the Docker engine) may take (default
    /// 60); one that gets no answer is tried once more at most.
    pub request_timeout: Option<u64>,
}

/// `[dns]`: where `dns::a_record` writes. Without it, a DigitalOcean `[cloud]` serves DNS too.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// "digitalocean", "route53" or "docker" (the inventory's local hosts file).
    pub provider: String,
    /// API endpoint (tests point it at a local server).
    pub endpoint: Option<String>,
    /// DigitalOcean: secret name of the API token (default: `[cloud]`'s, else
    /// `DIGITALOCEAN_TOKEN`). Route 53 reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and `AWS_SESSION_TOKEN`.
    pub token_secret: Option<String>,
    /// Seconds one request to the DNS API may take (default: `[cloud]`'s when it serves DNS,
    /// else 60); one that gets no answer is tried once more at most.
    pub request_timeout: Option<u64>,
}
