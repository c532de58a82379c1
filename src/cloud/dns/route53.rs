//! Amazon Route 53 (API 2013-04-01, restXml): A record sets read with
//! `ListResourceRecordSets` and changed with one `ChangeResourceRecordSets` batch, signed
//! with SigV4. Without health checks the record is one set holding every address; with
//! them, one multivalue-answer set per address, each with its own health check.

use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::record::{ARecord, Dns, DnsChange, HealthCheck, check_ips, diff, fqdn};
use crate::cloud::common::{Asked, no_answer};
use crate::cloud::retry::Policy;
use crate::cloud::sigv4::{self, Credentials};
use crate::cloud::types::CloudResult;

mod delete;

pub const DEFAULT_ENDPOINT: &str = "https://route53.amazonaws.com";
const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const DEFAULT_TTL: u32 = 300;

pub struct Route53 {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    pub policy: Policy,
    zones: Mutex<Vec<(String, String)>>,
}

/// One resource record set, as listed or as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    pub name: String,
    pub set_id: Option<String>,
    pub multivalue: bool,
    pub ttl: Option<u32>,
    pub values: Vec<String>,
    pub health_check: Option<String>,
}

impl Route53 {
    pub fn new(endpoint: Option<&str>, creds: Credentials, policy: Policy) -> CloudResult<Self> {
        let http = crate::cloud::common::api_client(&policy)?;
        Ok(Route53 {
            http,
            base: endpoint.unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/').to_string(),
            creds,
            policy,
            zones: Mutex::new(Vec::new()),
        })
    }

    /// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary
    /// ones, `AWS_SESSION_TOKEN`.
    pub fn credentials_from_env() -> CloudResult<Credentials> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Ok(Credentials {
                access_key,
                secret_key,
                session_token: get("AWS_SESSION_TOKEN"),
            }),
            _ => Err("Route 53 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment".into()),
        }
    }

    /// A signed request; retried on 5xx, throttling and connection errors (every call
    /// made here is safe to repeat: reads, UPSERTs, deletes, and health checks keyed by
    /// reference).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> CloudResult<(StatusCode, String)> {
        self.send(method, path, query, body).await.map_err(|f| f.message)
    }

    /// As `call`, keeping the error code of a refusal.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> Result<(StatusCode, String), Failure> {
        let qs = sigv4::canonical_query(query);
        let url = if qs.is_empty() {
            format!("{}{}", self.base, sigv4::encode(path, false))
        } else {
            format!("{}{}?{qs}", self.base, sigv4::encode(path, false))
        };
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| Failure::other(format!("Route 53: bad endpoint {url}: {e}")))?;
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or("")),
            None => parsed.host_str().unwrap_or("").to_string(),
        };
        let label = format!("{method} {path}");
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            // After a stop request nothing new is sent (a retry neither).
            if self.policy.stop.requested() {
                return Err(Failure::other(format!(
                    "Route 53 {label}: not sent, the run is stopping"
                )));
            }
            attempt += 1;
            let mut headers = vec![
                ("host".to_string(), host.clone()),
                ("x-amz-date".to_string(), sigv4::amz_date(SystemTime::now())),
            ];
            if body.is_some() {
                headers.push(("content-type".into(), "application/xml".into()));
            }
            if let Some(t) = &self.creds.session_token {
                headers.push(("x-amz-security-token".into(), t.clone()));
            }
            let signed = sigv4::sign(
                &sigv4::Request {
                    method: method.as_str(),
                    path,
                    query,
                    headers: &headers,
                    payload_hash: sigv4::sha256_hex(body.as_deref().unwrap_or("").as_bytes()),
                },
                &self.creds,
                "us-east-1",
                "route53",
                &headers[1].1,
            );
            let mut req = self.http.request(method.clone(), parsed.clone());
            for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
                req = req.header(k, v);
            }
            req = req.header("authorization", signed.authorization);
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            // The answer whole: a body that stops coming is no answer either.
            let asking = async {
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        resp.text().await.map(|text| (status, text))
                    }
                    Err(e) => Err(e),
                }
            };
            // A read is abandoned at a stop request; a change, once sent, gets its answer.
            let answer = match method == Method::GET {
                true => match self.policy.stop.unless(asking).await {
                    Some(a) => a,
                    None => {
                        return Err(Failure::other(format!(
                            "Route 53 {label}: abandoned, the run is stopping"
                        )));
                    }
                },
                false => asking.await,
            };
            let (status, text) = match answer {
                Ok(a) => a,
                Err(e) => {
                    let pause = self.policy.backoff(attempt - 1);
                    if self.policy.try_again(attempt, started, pause) {
                        self.policy.stop.pause(pause).await;
                        continue;
                    }
                    let asked = Asked {
                        service: "Route 53",
                        base: &self.base,
                        label: &label,
                        started,
                    };
                    return Err(Failure::other(no_answer(&asked, &e, &self.policy, attempt, None)));
                }
            };
            if status.is_success() {
                return Ok((status, text));
            }
            let (code, message) = error_of(&text);
            let again = status.is_server_error() || code == "Throttling" || code == "PriorRequestNotComplete";
            let pause = self.policy.backoff(attempt - 1);
            if again && self.policy.try_again(attempt, started, pause) {
                self.policy.stop.pause(pause).await;
                continue;
            }
            return Err(Failure {
                message: format!("Route 53 {label}: {} {code}: {message}", status.as_u16()),
                code,
            });
        }
    }

    /// The hosted zone's (id, name), from its name (`example.com`) or its id (`Z1D633PJN98FT9`
    /// or `/hostedzone/Z1D633PJN98FT9`, looked up with GetHostedZone: record names are
    /// built from the zone's name).
    async fn zone(&self, zone: &str) -> CloudResult<(String, String)> {
        let zone = zone.trim().trim_end_matches('.');
        let bare = zone
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("/hostedzone/"))
            .map(|_| &zone[12..]);
        if bare.is_some() || !zone.contains('.') {
            let id = bare.unwrap_or(zone).to_ascii_uppercase();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "Route 53: {zone:?} is neither a zone name nor a hosted zone id"
                ));
            }
            if let Some((name, _)) = self.zones.lock().unwrap().iter().find(|(_, i)| *i == id) {
                return Ok((id, name.clone()));
            }
            let (_, text) = self
                .call(Method::GET, &format!("/2013-04-01/hostedzone/{id}"), &[], None)
                .await?;
            let doc = parse(&text)?;
            let name = doc
                .descendants()
                .find(|n| n.has_tag_name((NS, "HostedZone")))
                .and_then(|z| child_text(z, "Name"))
                .map(|n| unescape(n).trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("Route 53 GetHostedZone {id}: the answer has no HostedZone Name"))?;
            self.zones.lock().unwrap().push((name.clone(), id.clone()));
            return Ok((id, name));
        }
        let zone = zone.to_ascii_lowercase();
        if let Some((_, id)) = self.zones.lock().unwrap().iter().find(|(z, _)| *z == zone) {
            return Ok((id.clone(), zone));
        }
        let q = [
            ("dnsname".to_string(), zone.clone()),
            ("maxitems".to_string(), "1".to_string()),
        ];
        let (_, text) = self
            .call(Method::GET, "/2013-04-01/hostedzonesbyname", &q, None)
            .await?;
        let doc = parse(&text)?;
        // The listing starts at `dnsname`: the first zone may be a different one.
        let id = doc
            .descendants()
            .filter(|n| n.has_tag_name((NS, "HostedZone")))
            .find(|z| child_text(*z, "Name").is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&zone)))
            .and_then(|z| child_text(z, "Id"))
            .map(|id| id.trim_start_matches("/hostedzone/").to_string())
            .ok_or_else(|| format!("Route 53: no hosted zone named {zone}"))?;
        self.zones.lock().unwrap().push((zone.clone(), id.clone()));
        Ok((id, zone))
    }

    /// The A record sets named `name`.
    async fn record_sets(&self, zone_id: &str, name: &str) -> CloudResult<Vec<RecordSet>> {
        Ok(self
            .listed_sets(zone_id, name)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// The A record sets named `name`, each with its `ResourceRecordSet` element as listed
    /// (a DELETE must repeat the set exactly, whatever its routing).
    async fn listed_sets(&self, zone_id: &str, name: &str) -> CloudResult<Vec<(RecordSet, String)>> {
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
        let mut query = vec![
            ("name".to_string(), name.to_string()),
            ("type".to_string(), "A".to_string()),
        ];
        let mut out = Vec::new();
        let mut listed = Vec::new();
        for _ in 0..100 {
            let (_, text) = self.call(Method::GET, &path, &query, None).await?;
            let doc = parse(&text)?;
            let mut past = false;
            for set in doc.descendants().filter(|n| n.has_tag_name((NS, "ResourceRecordSet"))) {
                let set_name = unescape(child_text(set, "Name").unwrap_or(""))
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if set_name != name || child_text(set, "Type") != Some("A") {
                    past = true; // sorted by name, then type: nothing more of ours follows
                    continue;
                }
                out.push(RecordSet {
                    name: set_name,
                    set_id: child_text(set, "SetIdentifier").map(str::to_string),
                    multivalue: child_text(set, "MultiValueAnswer") == Some("true"),
                    ttl: child_text(set, "TTL").and_then(|t| t.parse().ok()),
                    values: set
                        .descendants()
                        .filter(|n| n.has_tag_name((NS, "Value")))
                        .filter_map(|n| n.text().map(str::to_string))
                        .collect(),
                    health_check: child_text(set, "HealthCheckId").map(str::to_string),
                });
                listed.push(text[set.range()].to_string());
            }
            let root = doc.root_element();
            if past || child_text(root, "IsTruncated") != Some("true") {
                return Ok(out.into_iter().zip(listed).collect());
            }
            query = vec![
                (
                    "name".to_string(),
                    child_text(root, "NextRecordName").unwrap_or(name).to_string(),
                ),
                (
                    "type".to_string(),
                    child_text(root, "NextRecordType").unwrap_or("A").to_string(),
                ),
            ];
            if let Some(id) = child_text(root, "NextRecordIdentifier") {
                query.push(("identifier".to_string(), id.to_string()));
            }
        }
        Err(format!("Route 53: listing {name} did not end after 100 pages"))
    }

    /// Calls `each` with every record set of the zone, page by page (ListResourceRecordSets).
    pub(super) async fn each_record_set(
        &self,
        zone_id: &str,
        mut each: impl FnMut(roxmltree::Node<'_, '_>) + Send,
    ) -> CloudResult<()> {
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
        let mut query: Vec<(String, String)> = Vec::new();
        for _ in 0..1000 {
            let (_, text) = self.call(Method::GET, &path, &query, None).await?;
            let doc = parse(&text)?;
            doc.descendants()
                .filter(|n| n.has_tag_name((NS, "ResourceRecordSet")))
                .for_each(&mut each);
            let root = doc.root_element();
            if child_text(root, "IsTruncated") != Some("true") {
                return Ok(());
            }
            query = vec![(
                "name".to_string(),
                child_text(root, "NextRecordName").unwrap_or("").to_string(),
            )];
            if let Some(t) = child_text(root, "NextRecordType") {
                query.push(("type".to_string(), t.to_string()));
            }
            if let Some(id) = child_text(root, "NextRecordIdentifier") {
                query.push(("identifier".to_string(), id.to_string()));
            }
        }
        Err(format!(
            "Route 53: listing the zone {zone_id} did not end after 1000 pages"
        ))
    }

    /// A new health check for one address. `CallerReference` is the settings' hash plus a
    /// unique suffix: Route 53 refuses a reference once used, even after the check is
    /// deleted. Retries of this one request reuse it, so they return the same check.
    async fn health_check(&self, fqdn: &str, ip: &str, hc: &HealthCheck) -> CloudResult<String> {
        let mut config = format!(
            "    <IPAddress>{}</IPAddress>\n    <Port>{}</Port>\n    <Type>{}</Type>\n",
            xml_escape(ip),
            hc.port,
            xml_escape(&hc.kind)
        );
        if let Some(p) = &hc.path {
            config.push_str(&format!("    <ResourcePath>{}</ResourcePath>\n", xml_escape(p)));
        }
        config.push_str(&format!(
            "    <FullyQualifiedDomainName>{}</FullyQualifiedDomainName>\n",
            xml_escape(fqdn)
        ));
        let reference = caller_reference(&config);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateHealthCheckRequest xmlns=\"{NS}\">\n  \
             <CallerReference>{reference}</CallerReference>\n  <HealthCheckConfig>\n{config}  </HealthCheckConfig>\n\
             </CreateHealthCheckRequest>"
        );
        let (_, text) = self
            .call(Method::POST, "/2013-04-01/healthcheck", &[], Some(body))
            .await?;
        let doc = parse(&text)?;
        doc.descendants()
            .find(|n| n.has_tag_name((NS, "HealthCheck")))
            .and_then(|n| child_text(n, "Id"))
            .map(str::to_string)
            .ok_or_else(|| "Route 53 CreateHealthCheck: the answer has no HealthCheck Id".into())
    }

    /// A health check's settings (GetHealthCheck); `None` when it no longer exists.
    async fn get_health_check(&self, id: &str) -> CloudResult<Option<CheckInfo>> {
        let path = format!("/2013-04-01/healthcheck/{id}");
        let text = match self.send(Method::GET, &path, &[], None).await {
            Ok((_, text)) => text,
            Err(f) if f.code == "NoSuchHealthCheck" => return Ok(None),
            Err(f) => return Err(f.message),
        };
        let doc = parse(&text)?;
        let check = doc
            .descendants()
            .find(|n| n.has_tag_name((NS, "HealthCheck")))
            .ok_or_else(|| format!("Route 53 GetHealthCheck {id}: the answer has no HealthCheck"))?;
        check_info(check)
            .map(|(_, info)| Some(info))
            .ok_or_else(|| format!("Route 53 GetHealthCheck {id}: the answer has no HealthCheckConfig"))
    }

    /// The health checks runbook made for the record `fqdn` (ours, probing that name), by id,
    /// from ListHealthChecks.
    async fn checks_for(&self, fqdn: &str) -> CloudResult<Vec<String>> {
        let path = "/2013-04-01/healthcheck";
        let mut query = vec![("maxitems".to_string(), "100".to_string())];
        let mut out = Vec::new();
        for _ in 0..1000 {
            let (_, text) = self.call(Method::GET, path, &query, None).await?;
            let doc = parse(&text)?;
            for (id, info) in doc
                .descendants()
                .filter(|n| n.has_tag_name((NS, "HealthCheck")))
                .filter_map(check_info)
            {
                if info.ours()
                    && info
                        .fqdn
                        .as_deref()
                        .is_some_and(|f| f.trim_end_matches('.').eq_ignore_ascii_case(fqdn))
                {
                    out.push(id);
                }
            }
            let root = doc.root_element();
            match (child_text(root, "IsTruncated"), child_text(root, "NextMarker")) {
                (Some("true"), Some(next)) => {
                    query = vec![
                        ("marker".to_string(), next.to_string()),
                        ("maxitems".to_string(), "100".to_string()),
                    ];
                }
                _ => return Ok(out),
            }
        }
        Err("Route 53: listing the health checks did not end after 1000 pages".into())
    }

    /// DeleteHealthCheck; one already gone counts as deleted.
    async fn delete_health_check(&self, id: &str) -> CloudResult<()> {
        let path = format!("/2013-04-01/healthcheck/{id}");
        match self.send(Method::DELETE, &path, &[], None).await {
            Ok(_) => Ok(()),
            Err(f) if f.code == "NoSuchHealthCheck" => Ok(()),
            Err(f) => Err(f.message),
        }
    }

    /// Deletes health checks made for a change that was not made (best effort: the error
    /// that stopped the change is the one reported, with the ids left behind).
    async fn undo_health_checks(&self, created: &[String], err: String) -> String {
        if self.policy.stop.requested() && !created.is_empty() {
            // Deleting them would be new remote actions: the next `dns::a_record` of this
            // record deletes checks of ours that no record uses.
            return format!(
                "{err} (health checks {} were made for it and are left: the next dns::a_record of this record \
                 deletes them)",
                created.join(", ")
            );
        }
        let mut left = Vec::new();
        for id in created {
            if self.delete_health_check(id).await.is_err() {
                left.push(id.as_str());
            }
        }
        if left.is_empty() {
            err
        } else {
            format!(
                "{err} (health checks {} were made for it and could not be deleted: delete them by hand)",
                left.join(", ")
            )
        }
    }
}

/// A refused or failed request: the error code (when there was an answer) and the message.
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn other(message: String) -> Failure {
        Failure {
            code: String::new(),
            message,
        }
    }
}

/// A health check's settings, as GetHealthCheck reports them.
#[derive(Debug, Clone, PartialEq)]
struct CheckInfo {
    reference: String,
    ip: Option<String>,
    port: Option<u16>,
    kind: String,
    path: Option<String>,
    /// The name it probes (runbook sets the record's).
    fqdn: Option<String>,
}

/// A `HealthCheck` element: its id and settings; `None` without its config.
fn check_info(check: roxmltree::Node) -> Option<(String, CheckInfo)> {
    let config = check.children().find(|n| n.has_tag_name((NS, "HealthCheckConfig")))?;
    let info = CheckInfo {
        reference: child_text(check, "CallerReference").unwrap_or("").to_string(),
        ip: child_text(config, "IPAddress").map(str::to_string),
        port: child_text(config, "Port").and_then(|p| p.parse().ok()),
        kind: child_text(config, "Type").unwrap_or("").to_string(),
        path: child_text(config, "ResourcePath").map(str::to_string),
        fqdn: child_text(config, "FullyQualifiedDomainName").map(unescape),
    };
    Some((child_text(check, "Id").unwrap_or("").to_string(), info))
}

impl CheckInfo {
    /// The check probes `ip` with the wanted type, port and path.
    fn matches(&self, ip: &str, hc: &HealthCheck) -> bool {
        self.ip.as_deref() == Some(ip)
            && self.kind.eq_ignore_ascii_case(&hc.kind)
            && self.port == Some(hc.port)
            && self.path == hc.path
    }

    /// Made by runbook: only those are deleted when no record uses them any more.
    fn ours(&self) -> bool {
        self.reference.starts_with("runbook-")
    }
}

/// `runbook-` + 32 hex digits of the settings' hash + `-` + a unique suffix (61 characters;
/// the limit is 64).
fn caller_reference(config: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    format!(
        "runbook-{}-{:012x}{:08x}",
        &sigv4::sha256_hex(config.as_bytes())[..32],
        millis & 0xffff_ffff_ffff,
        fastrand::u32(..)
    )
}

#[async_trait]
impl Dns for Route53 {
    fn name(&self) -> &'static str {
        "route53"
    }

    async fn record_name(&self, zone: &str, name: &str) -> CloudResult<String> {
        Ok(fqdn(&self.zone(zone).await?.1, name))
    }

    /// Every record set of the zone with a `HealthCheckId`, as `NAME VALUE`.
    async fn health_checks(&self, zone: &str) -> CloudResult<Vec<String>> {
        let (zone_id, _) = self.zone(zone).await?;
        let mut out = Vec::new();
        self.each_record_set(&zone_id, |set| {
            if child_text(set, "HealthCheckId").is_none() {
                return;
            }
            let name = unescape(child_text(set, "Name").unwrap_or(""))
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let values: Vec<String> = set
                .descendants()
                .filter(|n| n.has_tag_name((NS, "Value")))
                .filter_map(|n| n.text().map(str::to_string))
                .collect();
            out.push(format!("{name} {}", values.join(" ")));
        })
        .await?;
        Ok(out)
    }

    async fn delete_a(&self, zone: &str, name: &str, comment: Option<&str>, apply: bool) -> CloudResult<DnsChange> {
        self.delete_sets(zone, name, comment, apply).await
    }

    async fn a_record(&self, rec: &ARecord, apply: bool) -> CloudResult<DnsChange> {
        check_ips(&rec.ips)?;
        let (zone_id, zone_name) = self.zone(&rec.zone).await?;
        let name = fqdn(&zone_name, &rec.name);
        let sets = self.record_sets(&zone_id, &name).await?;
        let mut changes: Vec<(&str, RecordSet)> = Vec::new();
        let mut change = DnsChange::default();
        // Health checks made for this change, and those it leaves unused.
        let mut created: Vec<String> = Vec::new();
        let mut unused: Vec<String> = Vec::new();
        let mut leftovers: Vec<String> = Vec::new();
        match &rec.health_check {
            None => {
                if sets.iter().any(|s| s.set_id.is_some()) {
                    return Err(format!(
                        "Route 53: {name} A has multivalue or weighted record sets; give `health_check` to manage them"
                    ));
                }
                let current = sets.first();
                let values = current.map(|s| s.values.clone()).unwrap_or_default();
                let (wanted, added, removed) = diff(&values, &rec.ips, rec.exact);
                let old_ttl = current.and_then(|s| s.ttl);
                let ttl = rec.ttl.or(old_ttl).unwrap_or(DEFAULT_TTL);
                change = DnsChange {
                    added,
                    removed,
                    ttl: (current.is_some() && old_ttl != Some(ttl)).then_some(ttl),
                    ..Default::default()
                };
                if change.changed() {
                    changes.push((
                        "UPSERT",
                        RecordSet {
                            name: name.clone(),
                            set_id: None,
                            multivalue: false,
                            ttl: Some(ttl),
                            values: wanted,
                            health_check: None,
                        },
                    ));
                }
            }
            Some(hc) => {
                if sets.iter().any(|s| s.set_id.is_none()) {
                    return Err(format!(
                        "Route 53: {name} A is a simple record set; delete it before managing it with health checks"
                    ));
                }
                let current: Vec<String> = sets.iter().flat_map(|s| s.values.clone()).collect();
                let (_, added, removed) = diff(&current, &rec.ips, rec.exact);
                let ttl = rec.ttl.unwrap_or(60); // Route 53 recommends ≤ 60 s with health checks
                // The settings of the checks the record uses now.
                let mut checks: Vec<(String, Option<CheckInfo>)> = Vec::new();
                for id in sets.iter().filter_map(|s| s.health_check.as_ref()) {
                    if !checks.iter().any(|(i, _)| i == id) {
                        checks.push((id.clone(), self.get_health_check(id).await?));
                    }
                }
                // Checks runbook made for this record that no set of it uses: left by a run
                // that died between making them and the change that would use them. Looked
                // for before this call makes any.
                leftovers = self
                    .checks_for(&name)
                    .await?
                    .into_iter()
                    .filter(|id| !sets.iter().any(|s| s.health_check.as_ref() == Some(id)))
                    .collect();
                let info = |id: &str| checks.iter().find(|(i, _)| i == id).and_then(|(_, c)| c.as_ref());
                for s in &sets {
                    if s.values.iter().any(|v| removed.contains(v)) {
                        changes.push(("DELETE", s.clone()));
                        continue;
                    }
                    let Some(ip) = s.values.first() else { continue };
                    // The check must probe one of the set's addresses, with the wanted settings.
                    let fits = s
                        .health_check
                        .as_deref()
                        .and_then(info)
                        .is_some_and(|c| s.values.iter().any(|v| c.matches(v, hc)));
                    let retune = rec.ttl.is_some() && s.ttl != Some(ttl);
                    if fits && !retune {
                        continue;
                    }
                    let mut new = s.clone();
                    if retune {
                        change.ttl = Some(ttl);
                        new.ttl = Some(ttl);
                    }
                    if !fits {
                        change.health_checks.push(ip.clone());
                        new.health_check = None;
                        if apply {
                            match self.health_check(&name, ip, hc).await {
                                Ok(id) => {
                                    created.push(id.clone());
                                    new.health_check = Some(id);
                                }
                                Err(e) => return Err(self.undo_health_checks(&created, e).await),
                            }
                        }
                    }
                    changes.push(("UPSERT", new));
                }
                for ip in &added {
                    let id = if apply {
                        match self.health_check(&name, ip, hc).await {
                            Ok(id) => {
                                created.push(id.clone());
                                Some(id)
                            }
                            Err(e) => return Err(self.undo_health_checks(&created, e).await),
                        }
                    } else {
                        None
                    };
                    changes.push((
                        "UPSERT",
                        RecordSet {
                            name: name.clone(),
                            set_id: Some(ip.clone()),
                            multivalue: true,
                            ttl: Some(ttl),
                            values: vec![ip.clone()],
                            health_check: id,
                        },
                    ));
                }
                // Checks no set of this name uses after the change; only runbook's own are
                // deleted (another could serve records elsewhere).
                let kept: Vec<&String> = sets
                    .iter()
                    .filter(|s| !changes.iter().any(|(_, c)| c.set_id == s.set_id))
                    .chain(changes.iter().filter(|(a, _)| *a != "DELETE").map(|(_, c)| c))
                    .filter_map(|s| s.health_check.as_ref())
                    .collect();
                unused = checks
                    .iter()
                    .filter(|(id, c)| !kept.contains(&id) && c.as_ref().is_some_and(CheckInfo::ours))
                    .map(|(id, _)| id.clone())
                    .collect();
                change.added = added;
                change.removed = removed;
                change.leftover_checks = leftovers.clone();
            }
        }
        if apply && !changes.is_empty() {
            let refs: Vec<(&str, &RecordSet)> = changes.iter().map(|(a, s)| (*a, s)).collect();
            let body = change_batch_xml(rec.comment.as_deref(), &refs);
            let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
            if let Err(e) = self.call(Method::POST, &path, &[], Some(body)).await {
                return Err(self.undo_health_checks(&created, e).await);
            }
        }
        if apply {
            // Only now: a check is deleted once no record points at it. One that is in use
            // after all (a record of another name) is not a leftover: it is kept.
            let mut left = Vec::new();
            for id in unused.iter().chain(&leftovers) {
                match self.delete_health_check(id).await {
                    Ok(()) => {}
                    Err(e) if leftovers.contains(id) && e.contains("HealthCheckInUse") => {
                        change.leftover_checks.retain(|l| l != id);
                    }
                    Err(e) => left.push(format!("{id} ({e})")),
                }
            }
            if !left.is_empty() {
                let was = if changes.is_empty() {
                    "needed no change"
                } else {
                    "was changed"
                };
                return Err(format!(
                    "Route 53: {name} A {was}, but health checks it no longer uses could not be deleted \
                     (they are still billed; delete them by hand): {}",
                    left.join("; ")
                ));
            }
        }
        Ok(change)
    }
}

/// The `ChangeResourceRecordSetsRequest` document, elements in the model's order, laid out
/// as route53.md shows it.
pub fn change_batch_xml(comment: Option<&str>, changes: &[(&str, &RecordSet)]) -> String {
    let mut x = String::new();
    for (action, s) in changes {
        x.push_str(&format!(
            "      <Change>\n        <Action>{action}</Action>\n        <ResourceRecordSet>\n          <Name>{}</Name>\n          <Type>A</Type>\n",
            xml_escape(&s.name)
        ));
        let p = "          ";
        if let Some(id) = &s.set_id {
            x.push_str(&format!("{p}<SetIdentifier>{}</SetIdentifier>\n", xml_escape(id)));
        }
        if s.multivalue {
            x.push_str(&format!("{p}<MultiValueAnswer>true</MultiValueAnswer>\n"));
        }
        if let Some(t) = s.ttl {
            x.push_str(&format!("{p}<TTL>{t}</TTL>\n"));
        }
        x.push_str(&format!("{p}<ResourceRecords>\n"));
        for v in &s.values {
            x.push_str(&format!(
                "{p}  <ResourceRecord>\n{p}    <Value>{}</Value>\n{p}  </ResourceRecord>\n",
                xml_escape(v)
            ));
        }
        x.push_str(&format!("{p}</ResourceRecords>\n"));
        if let Some(h) = &s.health_check {
            x.push_str(&format!("{p}<HealthCheckId>{}</HealthCheckId>\n", xml_escape(h)));
        }
        x.push_str("        </ResourceRecordSet>\n      </Change>\n");
    }
    batch_xml(comment, &x)
}

/// The request document around its `<Change>` elements.
fn batch_xml(comment: Option<&str>, changes: &str) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{NS}\">\n  <ChangeBatch>\n"
    );
    if let Some(c) = comment {
        x.push_str(&format!("    <Comment>{}</Comment>\n", xml_escape(c)));
    }
    x.push_str("    <Changes>\n");
    x.push_str(changes);
    x.push_str("    </Changes>\n  </ChangeBatch>\n</ChangeResourceRecordSetsRequest>");
    x
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Route 53 returns names with octal escapes (`\052` for `*`).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse(text: &str) -> CloudResult<roxmltree::Document<'_>> {
    roxmltree::Document::parse(text).map_err(|e| format!("Route 53: invalid XML in the answer ({e})"))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.has_tag_name((NS, name)))
        .and_then(|c| c.text())
}

/// (`Code`, `Message`) of an `ErrorResponse`, or the messages of an `InvalidChangeBatch`.
fn error_of(text: &str) -> (String, String) {
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return ("Error".into(), text.chars().take(300).collect());
    };
    let root = doc.root_element();
    if root.tag_name().name() == "InvalidChangeBatch" {
        let msgs: Vec<&str> = root
            .descendants()
            .filter(|n| n.tag_name().name() == "Message")
            .filter_map(|n| n.text())
            .collect();
        return ("InvalidChangeBatch".into(), msgs.join("; "));
    }
    let find = |name: &str| {
        root.descendants()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .unwrap_or("")
            .to_string()
    };
    (find("Code"), find("Message"))
}
