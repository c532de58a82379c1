//! DigitalOcean API v2: droplets, actions, snapshots, tags, SSH keys, domain records.
//! Every request goes through `request`, which respects the `ratelimit-*` headers and
//! retries with backoff; the token only ever travels in the `Authorization` header.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use super::common::{Asked, api_client, expand_home, no_answer};
use super::retry::Policy;
use super::sigv4::encode;
use super::types::{CloudResult, Droplet, DropletSpec, Provider, Snapshot, SnapshotSize};
use crate::cost::money::Money;
use crate::cost::table::SizePrice;

pub const DEFAULT_ENDPOINT: &str = "https://api.digitalocean.com";

pub struct DigitalOcean {
    http: reqwest::Client,
    base: String,
    token: String,
    pub policy: Policy,
    limit: Mutex<Limit>,
    /// `GET /v2/sizes`, asked once.
    sizes: tokio::sync::OnceCell<Vec<SizePrice>>,
}

#[derive(Default)]
struct Limit {
    remaining: Option<u64>,
    reset: Option<u64>,
}

/// Whether a failed request may be sent again. A POST that creates something is retried
/// only when the API surely did not act on it (429, or no connection at all).
#[derive(Clone, Copy, PartialEq)]
pub enum Retry {
    All,
    Safe,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: Option<StatusCode>,
    pub message: String,
}

impl ApiError {
    fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s.is_server_error())
    }
    fn is_not_found(&self) -> bool {
        self.status == Some(StatusCode::NOT_FOUND)
    }
}

impl From<ApiError> for String {
    fn from(e: ApiError) -> String {
        e.message
    }
}

/// `?a=b&c=d`, encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, true), encode(v, true)))
        .collect();
    format!("?{}", q.join("&"))
}

impl DigitalOcean {
    pub fn new(endpoint: Option<&str>, token: String, policy: Policy) -> CloudResult<Self> {
        let http = api_client(&policy)?;
        Ok(DigitalOcean {
            http,
            base: endpoint.unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/').to_string(),
            token,
            policy,
            limit: Mutex::new(Limit::default()),
            sizes: tokio::sync::OnceCell::new(),
        })
    }

    /// One API call; `path` starts with `/v2` and carries its query. Returns the JSON body
    /// (`Null` for 204). Tries again after a 429, a 5xx or no answer while the policy allows
    /// (`Policy::try_again`: within its attempts and its time budget).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, ApiError> {
        let label = format!("{method} {path}");
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            self.wait_for_quota().await;
            // After a stop request nothing new is sent (a retry neither).
            if self.policy.stop.requested() {
                return Err(ApiError {
                    status: None,
                    message: format!("DigitalOcean API {label}: not sent, the run is stopping"),
                });
            }
            attempt += 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            // The answer whole: a body that stops coming is no answer either.
            let asking = async {
                match req.send().await {
                    Ok(resp) => {
                        let (status, headers) = (resp.status(), resp.headers().clone());
                        self.note_limits(&headers);
                        resp.text().await.map(|text| (status, headers, text))
                    }
                    Err(e) => Err(e),
                }
            };
            // A read is abandoned at a stop request; a change, once sent, gets its answer.
            let answer = match method == Method::GET {
                true => match self.policy.stop.unless(asking).await {
                    Some(a) => a,
                    None => {
                        return Err(ApiError {
                            status: None,
                            message: format!("DigitalOcean API {label}: abandoned, the run is stopping"),
                        });
                    }
                },
                false => asking.await,
            };
            let (status, headers, text) = match answer {
                Ok(a) => a,
                Err(e) => {
                    // A refused connection never reached the API: safe to send again.
                    let repeatable = retry == Retry::All || e.is_connect();
                    let pause = self.policy.backoff(attempt - 1);
                    if repeatable && self.policy.try_again(attempt, started, pause + self.quota_wait()) {
                        self.policy.stop.pause(pause).await;
                        continue;
                    }
                    let not_again = (!repeatable).then_some("not sent again: DigitalOcean may have acted on it");
                    let asked = Asked {
                        service: "DigitalOcean",
                        base: &self.base,
                        label: &label,
                        started,
                    };
                    return Err(ApiError {
                        status: None,
                        message: no_answer(&asked, &e, &self.policy, attempt, not_again),
                    });
                }
            };
            if status.is_success() {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| ApiError {
                    status: Some(status),
                    message: format!("DigitalOcean API {label}: invalid JSON in the answer ({e})"),
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = self.rate_limit_wait(&headers, attempt);
                if self.policy.try_again(attempt, started, wait) {
                    self.policy.stop.pause(wait).await;
                    continue;
                }
            }
            if status.is_server_error() && retry == Retry::All {
                let pause = self.policy.backoff(attempt - 1);
                if self.policy.try_again(attempt, started, pause + self.quota_wait()) {
                    self.policy.stop.pause(pause).await;
                    continue;
                }
            }
            return Err(ApiError {
                status: Some(status),
                message: describe(&label, status, &text, attempt),
            });
        }
    }

    fn note_limits(&self, headers: &HeaderMap) {
        let mut l = self.limit.lock().unwrap();
        if let Some(r) = header_u64(headers, "ratelimit-remaining") {
            l.remaining = Some(r);
        }
        if let Some(r) = header_u64(headers, "ratelimit-reset") {
            l.reset = Some(r);
        }
    }

    /// With the hourly quota used up, waiting for the reset beats collecting 429s.
    async fn wait_for_quota(&self) {
        let wait = self.quota_wait();
        if !wait.is_zero() {
            self.policy.stop.pause(wait).await;
        }
    }

    /// How long `wait_for_quota` would wait now.
    fn quota_wait(&self) -> Duration {
        let l = self.limit.lock().unwrap();
        match (l.remaining, l.reset) {
            (Some(0), Some(reset)) if reset > now_secs() => self.policy.until_epoch(reset),
            _ => Duration::ZERO,
        }
    }

    /// After a 429: until `ratelimit-reset` when the quota is used up; `retry-after` when
    /// only the per-minute burst limit was hit; otherwise exponential backoff.
    fn rate_limit_wait(&self, headers: &HeaderMap, attempt: u32) -> Duration {
        let remaining = header_u64(headers, "ratelimit-remaining");
        let reset = header_u64(headers, "ratelimit-reset");
        let retry_after = header_u64(headers, "retry-after");
        match (remaining, reset, retry_after) {
            (Some(0), Some(reset), _) | (None, Some(reset), None) => self.policy.until_epoch(reset),
            (_, _, Some(secs)) => self.policy.until_epoch(now_secs() + secs),
            _ => self.policy.backoff(attempt - 1),
        }
    }

    /// Every item of a paginated list, following `links.pages.next`.
    pub async fn list_all(&self, path: &str, key: &str) -> Result<Vec<Value>, ApiError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}per_page={}", self.policy.per_page));
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(p) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(ApiError {
                    status: None,
                    message: format!("DigitalOcean API GET {path}: more than 1000 pages; giving up"),
                });
            }
            let v = self.request(Method::GET, &p, None, Retry::All).await?;
            if let Some(a) = v[key].as_array() {
                items.extend(a.iter().cloned());
            }
            next = v["links"]["pages"]["next"].as_str().map(path_of);
        }
        Ok(items)
    }

    async fn droplet(&self, id: &str) -> Result<Droplet, ApiError> {
        let v = self
            .request(Method::GET, &format!("/v2/droplets/{id}"), None, Retry::All)
            .await?;
        parse_droplet(&v["droplet"]).ok_or_else(|| bad_answer(&format!("GET /v2/droplets/{id}")).into())
    }

    /// Posts a droplet action and waits until it completes.
    async fn action(&self, droplet: &Droplet, body: Value) -> CloudResult<()> {
        let path = format!("/v2/droplets/{}/actions", droplet.id);
        let v = self.request(Method::POST, &path, Some(&body), Retry::Safe).await?;
        let id = v["action"]["id"]
            .as_i64()
            .ok_or_else(|| bad_answer(&format!("POST {path}")))?;
        let kind = body["type"].as_str().unwrap_or("?");
        self.wait_action(id, kind, &droplet.name).await
    }

    /// Polls an action (`kind`: `shutdown`, …) until `completed`; `errored` is an error
    /// naming the action. At a stop request the wait is abandoned, and the error says which
    /// action was left in progress (DigitalOcean carries on with it).
    pub async fn wait_action(&self, id: i64, kind: &str, droplet: &str) -> CloudResult<()> {
        let start = Instant::now();
        let mut n = 0;
        let mut last = (kind.to_string(), "in-progress".to_string());
        let left = |(kind, status): &(String, String)| {
            format!(
                "DigitalOcean action {id} ({kind}) on droplet `{droplet}` was still `{status}` when the run stopped \
                 waiting for it (DigitalOcean carries on with it)"
            )
        };
        loop {
            let v = match self
                .request(Method::GET, &format!("/v2/actions/{id}"), None, Retry::All)
                .await
            {
                Ok(v) => v,
                Err(_) if self.policy.stop.requested() => return Err(left(&last)),
                Err(e) => return Err(e.into()),
            };
            let a = &v["action"];
            let (status, kind) = (a["status"].as_str().unwrap_or(""), a["type"].as_str().unwrap_or(kind));
            last = (kind.to_string(), status.to_string());
            match status {
                "completed" => return Ok(()),
                "errored" => {
                    return Err(format!(
                        "DigitalOcean action {id} ({kind}) on droplet `{droplet}` errored (started {}, resource {})",
                        a["started_at"].as_str().unwrap_or("?"),
                        a["resource_id"]
                    ));
                }
                _ if start.elapsed() > self.policy.timeout => {
                    return Err(format!(
                        "DigitalOcean action {id} ({kind}) on droplet `{droplet}` still `{status}` after {}s",
                        start.elapsed().as_secs()
                    ));
                }
                _ => {}
            }
            if !self.policy.stop.pause(self.policy.poll_interval(n)).await {
                return Err(left(&last));
            }
            n += 1;
        }
    }

    /// Polls a droplet until it is `active` and has its IPv4 addresses (abandoned at a stop
    /// request, as `wait_action`).
    pub async fn wait_active(&self, id: &str, name: &str) -> CloudResult<Droplet> {
        let start = Instant::now();
        let mut n = 0;
        let mut last = "new".to_string();
        let left = |status: &str| {
            format!(
                "droplet `{name}` (id {id}) was still `{status}` when the run stopped waiting for it to be active \
                 (DigitalOcean carries on with it)"
            )
        };
        loop {
            let d = match self.droplet(id).await {
                Ok(d) => d,
                Err(_) if self.policy.stop.requested() => return Err(left(&last)),
                Err(e) => return Err(e.into()),
            };
            last = d.status.clone();
            if d.status == "active" && (d.public_ip.is_some() || d.private_ip.is_some()) {
                return Ok(d);
            }
            if start.elapsed() > self.policy.timeout {
                return Err(format!(
                    "droplet `{name}` (id {id}) is still `{}` after {}s",
                    d.status,
                    start.elapsed().as_secs()
                ));
            }
            if !self.policy.stop.pause(self.policy.poll_interval(n)).await {
                return Err(left(&last));
            }
            n += 1;
        }
    }

    /// `ssh_keys` entries as the API takes them: ids and fingerprints as they are; public
    /// keys (or `.pub` files) by fingerprint, registered on the account when missing.
    async fn resolve_keys(&self, keys: &[String]) -> CloudResult<Vec<Value>> {
        let mut out = Vec::new();
        for k in keys {
            let k = k.trim();
            if let Ok(id) = k.parse::<i64>() {
                out.push(json!(id));
                continue;
            }
            if is_fingerprint(k) {
                out.push(json!(k));
                continue;
            }
            let (public_key, fp) = local_key(k)?;
            match self
                .request(Method::GET, &format!("/v2/account/keys/{fp}"), None, Retry::All)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    let name = public_key.split_whitespace().nth(2).unwrap_or("runbook");
                    let body = json!({"name": name, "public_key": public_key});
                    self.request(Method::POST, "/v2/account/keys", Some(&body), Retry::Safe)
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
            out.push(json!(fp));
        }
        Ok(out)
    }

    /// DELETE `path`; a 404 means gone already (e.g. a retried DELETE whose first try went through).
    async fn delete(&self, path: &str) -> CloudResult<()> {
        match self.request(Method::DELETE, path, None, Retry::All).await {
            Err(e) if e.is_not_found() => Ok(()),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    async fn find_snapshot_in(&self, path: &str, name: &str) -> CloudResult<Option<Snapshot>> {
        let items = self.list_all(path, "snapshots").await?;
        // Names are not unique: the newest wins (ISO 8601 UTC times sort as text).
        let best = items
            .iter()
            .filter(|s| s["name"].as_str() == Some(name))
            .max_by_key(|s| s["created_at"].as_str().unwrap_or("").to_string());
        Ok(best.map(|s| Snapshot {
            id: id_text(&s["id"]),
            name: name.to_string(),
            size: SnapshotSize::from_gigabytes(s["size_gigabytes"].as_f64()),
        }))
    }
}

#[async_trait]
impl Provider for DigitalOcean {
    fn name(&self) -> &'static str {
        "digitalocean"
    }

    fn prepare(&self, spec: DropletSpec) -> CloudResult<DropletSpec> {
        if spec.image.is_empty() {
            return Err("`image` is required (a slug, an image id or a snapshot)".into());
        }
        if spec.size.is_empty() {
            return Err("`size` is required, e.g. \"s-1vcpu-1gb\"".into());
        }
        check_name(&spec.name)?;
        // A key file that is missing or not a public key fails here, in a dry run too, and
        // before any request of a real one.
        for k in &spec.ssh_keys {
            local_key(k)?;
        }
        Ok(spec)
    }

    async fn find(&self, name: &str) -> CloudResult<Option<Droplet>> {
        // `name` matches case-insensitively; droplet names are compared exactly here.
        let items = self
            .list_all(&format!("/v2/droplets{}", query(&[("name", name)])), "droplets")
            .await?;
        Ok(items.iter().filter_map(parse_droplet).find(|d| d.name == name))
    }

    async fn list(&self, tag: &str) -> CloudResult<Vec<Droplet>> {
        let items = self
            .list_all(&format!("/v2/droplets{}", query(&[("tag_name", tag)])), "droplets")
            .await?;
        Ok(items.iter().filter_map(parse_droplet).collect())
    }

    async fn create(&self, spec: &DropletSpec) -> CloudResult<Droplet> {
        let image = match spec.image.parse::<i64>() {
            Ok(id) => json!(id),
            Err(_) => json!(spec.image),
        };
        let mut body = json!({
            "name": spec.name, "size": spec.size, "image": image,
            "ssh_keys": self.resolve_keys(&spec.ssh_keys).await?,
            "tags": spec.tags, "ipv6": spec.ipv6, "monitoring": spec.monitoring, "backups": spec.backups,
        });
        for (k, v) in [
            ("region", &spec.region),
            ("vpc_uuid", &spec.vpc_uuid),
            ("user_data", &spec.user_data),
        ] {
            if let Some(v) = v {
                body[k] = json!(v);
            }
        }
        let mut attempt = 0;
        let (id, action) = loop {
            attempt += 1;
            match self
                .request(Method::POST, "/v2/droplets", Some(&body), Retry::Safe)
                .await
            {
                Ok(v) => {
                    let id = id_text(&v["droplet"]["id"]);
                    if id.is_empty() {
                        return Err(bad_answer("POST /v2/droplets"));
                    }
                    break (id, v["links"]["actions"][0]["id"].as_i64());
                }
                // A 5xx may come after the droplet was made: look before creating again.
                Err(e) if e.retryable() && attempt < self.policy.attempts => {
                    self.policy.stop.pause(self.policy.backoff(attempt - 1)).await;
                    if let Some(d) = self.find(&spec.name).await? {
                        break (d.id, None);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(a) = action {
            self.wait_action(a, "create", &spec.name).await?;
        }
        self.wait_active(&id, &spec.name).await
    }

    async fn add_tags(&self, droplet: &Droplet, tags: &[String]) -> CloudResult<()> {
        for tag in tags {
            // Tagging needs the tag to exist; creating an existing tag is harmless.
            self.request(Method::POST, "/v2/tags", Some(&json!({"name": tag})), Retry::All)
                .await?;
            let body = json!({"resources": [{"resource_id": droplet.id, "resource_type": "droplet"}]});
            self.request(
                Method::POST,
                &format!("/v2/tags/{}/resources", encode(tag, true)),
                Some(&body),
                Retry::All,
            )
            .await?;
        }
        Ok(())
    }

    /// `shutdown` first, as DigitalOcean recommends; the hard `power_off` only if the
    /// graceful one fails, and never after a stop request (the shutdown may still finish).
    async fn power_off(&self, droplet: &Droplet) -> CloudResult<()> {
        if let Err(graceful) = self.action(droplet, json!({"type": "shutdown"})).await {
            if self.policy.stop.requested() {
                return Err(graceful);
            }
            self.action(droplet, json!({"type": "power_off"}))
                .await
                .map_err(|e| format!("{e} (after shutdown failed: {graceful})"))?;
        }
        Ok(())
    }

    async fn power_on(&self, droplet: &Droplet) -> CloudResult<()> {
        self.action(droplet, json!({"type": "power_on"})).await
    }

    async fn snapshot(&self, droplet: &Droplet, name: &str) -> CloudResult<Snapshot> {
        self.action(droplet, json!({"type": "snapshot", "name": name})).await?;
        self.find_snapshot_in(&format!("/v2/droplets/{}/snapshots", droplet.id), name)
            .await?
            .ok_or_else(|| {
                format!(
                    "snapshot `{name}` of droplet `{}` completed but is not listed",
                    droplet.name
                )
            })
    }

    async fn find_snapshot(&self, name: &str) -> CloudResult<Option<Snapshot>> {
        self.find_snapshot_in("/v2/snapshots?resource_type=droplet", name).await
    }

    async fn destroy(&self, droplet: &Droplet) -> CloudResult<()> {
        self.delete(&format!("/v2/droplets/{}", droplet.id)).await
    }

    async fn delete_snapshot(&self, snapshot: &Snapshot) -> CloudResult<()> {
        self.delete(&format!("/v2/snapshots/{}", snapshot.id)).await
    }

    async fn sizes(&self) -> CloudResult<Vec<SizePrice>> {
        self.sizes
            .get_or_try_init(|| async {
                let items = self.list_all("/v2/sizes", "sizes").await?;
                items
                    .iter()
                    .map(|v| parse_size(v).ok_or_else(|| bad_answer("GET /v2/sizes")))
                    .collect::<CloudResult<Vec<_>>>()
            })
            .await
            .cloned()
    }

    /// `GET /v2/snapshots?resource_type=droplet`, those whose `resource_id` is one of the droplets.
    async fn snapshots(&self, _tag: &str, droplets: &[Droplet]) -> CloudResult<Vec<Snapshot>> {
        let items = self
            .list_all("/v2/snapshots?resource_type=droplet", "snapshots")
            .await?;
        let mut out: Vec<Snapshot> = items
            .iter()
            .filter(|s| droplets.iter().any(|d| d.id == id_text(&s["resource_id"])))
            .map(|s| Snapshot {
                id: id_text(&s["id"]),
                name: s["name"].as_str().unwrap_or("").to_string(),
                size: SnapshotSize::from_gigabytes(s["size_gigabytes"].as_f64()),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// A size object (`GET /v2/sizes`, or the one a droplet embeds); `None` without the
/// fields a price needs.
pub fn parse_size(v: &Value) -> Option<SizePrice> {
    Some(SizePrice {
        slug: v["slug"].as_str()?.to_string(),
        vcpus: v["vcpus"].as_u64()? as u32,
        memory: v["memory"].as_u64()? as u32,
        disk: v["disk"].as_u64()? as u32,
        price_monthly: Money::from_api(v["price_monthly"].as_f64()?)?,
    })
}

/// Our view of a droplet object; `None` when it lacks an id or a name.
pub fn parse_droplet(v: &Value) -> Option<Droplet> {
    let id = id_text(&v["id"]);
    let name = v["name"].as_str()?.to_string();
    if id.is_empty() {
        return None;
    }
    let v4 = v["networks"]["v4"].as_array().cloned().unwrap_or_default();
    let ip = |kind: &str| {
        v4.iter()
            .find(|n| n["type"].as_str() == Some(kind))
            .and_then(|n| n["ip_address"].as_str())
            .map(str::to_string)
    };
    let image = &v["image"];
    Some(Droplet {
        id,
        name,
        status: v["status"].as_str().unwrap_or("").to_string(),
        tags: v["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        public_ip: ip("public"),
        private_ip: ip("private"),
        image: image["slug"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| id_text(&image["id"])),
        region: v["region"]["slug"].as_str().unwrap_or("").to_string(),
        size: v["size_slug"].as_str().unwrap_or("").to_string(),
        price: parse_size(&v["size"]),
    })
}

/// Ids are integers in most places and strings in some (`/v2/snapshots`): text either way.
fn id_text(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// The path and query of a `links.pages` URL. Only the path is followed, against our own
/// endpoint, so the token never goes to a host the answer names.
fn path_of(link: &str) -> String {
    match link.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/".to_string(), |i| rest[i..].to_string()),
        None => link.to_string(),
    }
}

/// "DigitalOcean API POST /v2/droplets: 422 unprocessable_entity: request payload validation failed".
fn describe(label: &str, status: StatusCode, body: &str, attempts: u32) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let detail = match (v["id"].as_str(), v["message"].as_str()) {
        (Some(id), Some(msg)) => format!("{id}: {msg}"),
        // `POST /v2/tags` errors have their own shape.
        _ => match v["error"].as_str() {
            Some(e) => e.to_string(),
            None => body.chars().take(300).collect(),
        },
    };
    let mut msg = format!("DigitalOcean API {label}: {} {detail}", status.as_u16());
    if let Some(r) = v["request_id"].as_str() {
        msg.push_str(&format!(" (request id {r})"));
    }
    if attempts > 1 {
        msg.push_str(&format!(" (after {attempts} tries)"));
    }
    msg
}

fn bad_answer(label: &str) -> String {
    format!("DigitalOcean API {label}: the answer lacks the expected fields")
}

impl From<String> for ApiError {
    fn from(message: String) -> Self {
        ApiError { status: None, message }
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A droplet name as the API accepts it (`POST /v2/droplets`: at most 255 characters,
/// pattern `^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$`): letters, digits, `.` and `-`,
/// ending in a letter or digit.
pub fn check_name(name: &str) -> CloudResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        return Ok(());
    }
    Err(format!(
        "{name:?} is not a droplet name DigitalOcean accepts: use at most 255 letters, digits, `.` and `-`, \
         ending in a letter or digit (e.g. \"{}\")",
        suggest(name)
    ))
}

/// A name close to `name` that the API accepts.
fn suggest(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' })
        .take(255)
        .collect();
    let s = s.trim_end_matches(['.', '-']);
    if s.is_empty() { "web1".into() } else { s.into() }
}

/// A key given as a public key or a `.pub` file: its text and fingerprint. The file is read
/// and the key parsed before anything is asked of the API.
fn local_key(k: &str) -> CloudResult<(String, String)> {
    let k = k.trim();
    if k.is_empty() {
        return Err("ssh_keys: an empty entry (give a key id, fingerprint, public key or .pub file)".into());
    }
    if k.parse::<i64>().is_ok() || is_fingerprint(k) {
        return Ok((k.to_string(), k.to_string()));
    }
    let public_key = if k.starts_with("ssh-") || k.starts_with("ecdsa-") || k.starts_with("sk-") {
        k.to_string()
    } else {
        let path = expand_home(k);
        std::fs::read_to_string(&path)
            .map_err(|e| {
                format!(
                    "ssh key {k}: not an id, fingerprint or public key, and unreadable as a file ({}): {e}",
                    path.display()
                )
            })?
            .trim()
            .to_string()
    };
    let fp = fingerprint(&public_key).map_err(|e| format!("ssh key {k}: {}", e.trim_start_matches("ssh key: ")))?;
    Ok((public_key, fp))
}

fn is_fingerprint(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 16
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The MD5 fingerprint DigitalOcean shows for a public key (`ssh-keygen -E md5 -l`).
pub fn fingerprint(public_key: &str) -> CloudResult<String> {
    use base64::Engine;
    let blob = public_key
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| "ssh key: expected `TYPE BASE64 [COMMENT]`".to_string())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|e| format!("ssh key: invalid base64 ({e})"))?;
    let digest = md5::compute(bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}
