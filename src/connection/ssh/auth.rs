//! Logging in: ssh-agent keys, then key files (passphrases from a secret, the environment
//! or a prompt), then a password only when the inventory asks for one. A failure lists
//! every method tried and how it ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle, Handler};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};

use super::target::Target;

/// Environment variable holding the passphrase of encrypted key files.
pub const PASSPHRASE_ENV: &str = "RUNBOOK_SSH_PASSPHRASE";

/// How a login refused by the server starts (the bootstrap user is tried only then).
pub const AUTH_FAILED: &str = "authentication failed";

/// What logging in needs of the run's ssh context (`SshContext`): its key files, each
/// loaded once, and its password secret. A trait, so this file does not import the context,
/// which calls `login`.
pub trait Credentials {
    /// The key in `path`, loaded (and its passphrase asked) once per run.
    fn private_key(&self, path: &Path) -> impl Future<Output = Result<Arc<PrivateKey>, String>> + Send;
    /// `[ssh] password_secret`: the secret holding the login password, when set.
    fn password_secret(&self) -> Option<&str>;
    /// Where secret files are looked for.
    fn secret_dirs(&self) -> &[PathBuf];
}

pub async fn login<H: Handler>(handle: &mut Handle<H>, target: &Target, ctx: &impl Credentials) -> Result<(), String> {
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let rsa_hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();

    if let Some(sock) = std::env::var_os("SSH_AUTH_SOCK") {
        match AgentClient::connect_uds(&sock).await {
            Ok(mut agent) => {
                let ids = agent.request_identities().await.unwrap_or_default();
                let keys: Vec<_> = ids
                    .iter()
                    .filter_map(|id| match id {
                        AgentIdentity::PublicKey { key, .. } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                for key in &keys {
                    if let Ok(AuthResult::Success) = handle
                        .authenticate_publickey_with(user, key.clone(), rsa_hash, &mut agent)
                        .await
                    {
                        return Ok(());
                    }
                }
                tried.push(format!("ssh-agent ({} key(s) rejected)", keys.len()));
            }
            Err(e) => tried.push(format!("ssh-agent (cannot connect: {e})")),
        }
    }

    let explicit = !target.identity_files.is_empty();
    let files: Vec<PathBuf> = if explicit {
        target.identity_files.clone()
    } else {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|f| super::target::home().join(".ssh").join(f))
            .collect()
    };
    for file in &files {
        if !file.exists() {
            if explicit {
                tried.push(format!("key {} (file not found)", file.display()));
            }
            continue;
        }
        let key = match ctx.private_key(file).await {
            Ok(k) => k,
            Err(e) => {
                tried.push(format!("key {} ({e})", file.display()));
                continue;
            }
        };
        let with_hash = PrivateKeyWithHashAlg::new(key, rsa_hash);
        match handle.authenticate_publickey(user, with_hash).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => tried.push(format!("key {} (rejected)", file.display())),
            Err(e) => tried.push(format!("key {} ({e})", file.display())),
        }
    }
    if !explicit && files.iter().all(|f| !f.exists()) {
        tried.push("default keys ~/.ssh/id_ed25519, id_ecdsa, id_rsa (none found)".into());
    }

    if let Some(name) = ctx.password_secret() {
        match crate::secrets::lookup(name, ctx.secret_dirs()) {
            Some(password) => match handle.authenticate_password(user, password).await {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(AuthResult::Failure { .. }) => tried.push(format!("password from secret `{name}` (rejected)")),
                Err(e) => tried.push(format!("password ({e})")),
            },
            None => tried.push(format!("password (secret `{name}` is not set)")),
        }
    }
    Err(format!("{AUTH_FAILED} for {target}: tried {}", tried.join("; ")))
}

/// Loads a key file, asking for its passphrase only when it is encrypted.
pub fn load_key(
    path: &Path,
    passphrase_secret: Option<&str>,
    secret_dirs: &[PathBuf],
) -> Result<Arc<PrivateKey>, String> {
    match russh::keys::load_secret_key(path, None) {
        Ok(k) => return Ok(Arc::new(k)),
        Err(russh::keys::Error::KeyIsEncrypted) => {}
        Err(e) => return Err(format!("unreadable: {e}")),
    }
    let passphrase = passphrase_secret
        .and_then(|n| crate::secrets::lookup(n, secret_dirs))
        .or_else(|| std::env::var(PASSPHRASE_ENV).ok())
        .or_else(|| prompt(path))
        .ok_or_else(|| {
            format!(
                "encrypted, and no passphrase: set {PASSPHRASE_ENV}, or [ssh] passphrase_secret, or run in a terminal"
            )
        })?;
    russh::keys::load_secret_key(path, Some(&passphrase))
        .map(Arc::new)
        .map_err(|_| "wrong passphrase".to_string())
}

fn prompt(path: &Path) -> Option<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    rpassword::prompt_password(format!("Passphrase for {}: ", path.display())).ok()
}
