//! Opening the connection a host asks for: above `local` and `ssh`, which it picks from.

use super::local;
use super::ssh;
use super::types::{ConnError, Connection};

/// What opening a connection needs beyond the host's own entry; shared by the run.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub ssh: std::sync::Arc<ssh::SshContext>,
}

impl ConnectSettings {
    pub fn new(inv: &crate::inventory::Inventory, trust_new_hosts: bool) -> Self {
        ConnectSettings {
            ssh: std::sync::Arc::new(ssh::SshContext::new(inv, trust_new_hosts)),
        }
    }
}

/// Opens the connection an inventory host asks for.
pub async fn open(
    spec: &crate::inventory::HostSpec,
    settings: &ConnectSettings,
) -> Result<std::sync::Arc<dyn Connection>, ConnError> {
    use crate::inventory::ConnectionKind;
    match spec.connection {
        ConnectionKind::Local => Ok(std::sync::Arc::new(local::LocalConnection)),
        ConnectionKind::Ssh => Ok(std::sync::Arc::new(settings.ssh.connect(spec).await?)),
        ConnectionKind::Docker => Err(ConnError::Connect(
            "connection `docker` is not available in this build".into(),
        )),
    }
}
