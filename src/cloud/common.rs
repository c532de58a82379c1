//! What the provider modules share (`digitalocean`, `docker`, `dns`): the HTTP client of
//! the APIs and `~` in key paths. Apart from `mod.rs` so they need not import it.

use std::path::PathBuf;

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
