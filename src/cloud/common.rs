//! What the provider modules share (`digitalocean`, `docker`, `dns`): the HTTP client of
//! the APIs and `~` in key paths. Apart from `mod.rs` so they need not import it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::retry::Policy;

/// `~/x` → `$HOME/x`.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The HTTP client of the provider APIs: the policy's connect and request times, our user
/// agent.
pub fn api_client(policy: &Policy) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.request_timeout)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// One request to a service, for messages about it.
pub struct Asked<'a> {
    /// `DigitalOcean`, `Route 53`.
    pub service: &'a str,
    /// The endpoint it was sent to.
    pub base: &'a str,
    /// `GET /v2/droplets`.
    pub label: &'a str,
    /// When its first try began.
    pub started: Instant,
}

/// A request that got no (whole) answer, in words: which service and request, what the
/// time limit was, how often it was tried and for how long, and why no more.
/// `"DigitalOcean did not answer GET /v2/droplets within 1m (2 tries in 2m 1s; giving up)"`.
pub fn no_answer(asked: &Asked, e: &reqwest::Error, policy: &Policy, tries: u32, not_again: Option<&str>) -> String {
    let Asked {
        service, base, label, ..
    } = asked;
    let what = if e.is_connect() && e.is_timeout() {
        format!(
            "{service} API {label}: could not connect to {base} within {}",
            seconds(policy.connect_timeout)
        )
    } else if e.is_timeout() {
        format!(
            "{service} did not answer {label} within {}",
            seconds(policy.request_timeout)
        )
    } else {
        format!("{service} API {label}: cannot reach {base}: {}", error_chain(e))
    };
    let tried = match tries {
        1 => "1 try".to_string(),
        n => format!("{n} tries in {}", seconds(asked.started.elapsed())),
    };
    let why = not_again.unwrap_or("giving up");
    format!("{what} ({tried}; {why})")
}

/// A duration as a person reads it, to the second (`60s`, `2m 1s`; under a second: `0.5s`).
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs_f64().round() as u64)).to_string()
}

/// An error with its causes: `error sending request: connection refused`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(&format!(": {s}"));
        src = s.source();
    }
    out
}
