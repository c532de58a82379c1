//! Amazon Route 53 (API 2013-04-01, restXml): A record sets read with
//! `ListResourceRecordSets` and changed with one `ChangeResourceRecordSets` batch, signed
//! with SigV4. Without health checks the record is one set holding every address; with
//! them, one multivalue-answer set per address, each with its own health check.

use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::{ARecord, Dns, DnsChange, HealthCheck, check_ips, diff, fqdn};
use crate::cloud::CloudResult;
use crate::cloud::retry::Policy;
use crate::cloud::sigv4::{self, Credentials};

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
        let http = crate::cloud::api_client()?;
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
    /// made here is safe to repeat: reads, UPSERTs, and health checks keyed by reference).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<String>,
    ) -> CloudResult<(StatusCode, String)> {
        let qs = sigv4::canonical_query(query);
        let url = if qs.is_empty() {
            format!("{}{}", self.base, sigv4::encode(path, false))
        } else {
            format!("{}{}?{qs}", self.base, sigv4::encode(path, false))
        };
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("Route 53: bad endpoint {url}: {e}"))?;
        let host = match parsed.port() {
            Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or("")),
            None => parsed.host_str().unwrap_or("").to_string(),
        };
        let label = format!("{method} {path}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.attempts;
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
            match req.send().await {
                Err(_) if !last => tokio::time::sleep(self.policy.backoff(attempt - 1)).await,
                Err(e) => return Err(format!("Route 53 {label}: cannot reach {}: {e}", self.base)),
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok((status, text));
                    }
                    let (code, message) = error_of(&text);
                    let again = status.is_server_error() || code == "Throttling" || code == "PriorRequestNotComplete";
                    if again && !last {
                        tokio::time::sleep(self.policy.backoff(attempt - 1)).await;
                        continue;
                    }
                    return Err(format!("Route 53 {label}: {} {code}: {message}", status.as_u16()));
                }
            }
        }
    }

    /// The hosted zone id: given as is (`Z…`), or looked up by the zone's name.
    async fn zone_id(&self, zone: &str) -> CloudResult<String> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        if !zone.contains('.') {
            return Ok(zone.to_ascii_uppercase());
        }
        if let Some((_, id)) = self.zones.lock().unwrap().iter().find(|(z, _)| *z == zone) {
            return Ok(id.clone());
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
        self.zones.lock().unwrap().push((zone, id.clone()));
        Ok(id)
    }

    /// The A record sets named `name`.
    async fn record_sets(&self, zone_id: &str, name: &str) -> CloudResult<Vec<RecordSet>> {
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
        let mut query = vec![
            ("name".to_string(), name.to_string()),
            ("type".to_string(), "A".to_string()),
        ];
        let mut out = Vec::new();
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
            }
            let root = doc.root_element();
            if past || child_text(root, "IsTruncated") != Some("true") {
                return Ok(out);
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

    /// A health check for one address; `CallerReference` is derived from its settings, so
    /// asking again returns the same check instead of making another.
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
        let reference = format!("runbook-{}", &sigv4::sha256_hex(config.as_bytes())[..32]);
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
}

#[async_trait]
impl Dns for Route53 {
    fn name(&self) -> &'static str {
        "route53"
    }

    /// Every record set of the zone with a `HealthCheckId`, as `NAME VALUE`.
    async fn health_checks(&self, zone: &str) -> CloudResult<Vec<String>> {
        let zone_id = self.zone_id(zone).await?;
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
        let mut query: Vec<(String, String)> = Vec::new();
        let mut out = Vec::new();
        for _ in 0..1000 {
            let (_, text) = self.call(Method::GET, &path, &query, None).await?;
            let doc = parse(&text)?;
            for set in doc.descendants().filter(|n| n.has_tag_name((NS, "ResourceRecordSet"))) {
                if child_text(set, "HealthCheckId").is_none() {
                    continue;
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
            }
            let root = doc.root_element();
            if child_text(root, "IsTruncated") != Some("true") {
                return Ok(out);
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
            "Route 53: listing the zone {zone} did not end after 1000 pages"
        ))
    }

    async fn a_record(&self, rec: &ARecord, apply: bool) -> CloudResult<DnsChange> {
        check_ips(&rec.ips)?;
        let name = fqdn(&rec.zone, &rec.name);
        let zone_id = self.zone_id(&rec.zone).await?;
        let sets = self.record_sets(&zone_id, &name).await?;
        let mut changes: Vec<(&str, RecordSet)> = Vec::new();
        let mut change = DnsChange::default();
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
                for s in &sets {
                    if s.values.iter().any(|v| removed.contains(v)) {
                        changes.push(("DELETE", s.clone()));
                    } else if s.ttl != Some(ttl) && rec.ttl.is_some() {
                        change.ttl = Some(ttl);
                        changes.push((
                            "UPSERT",
                            RecordSet {
                                ttl: Some(ttl),
                                ..s.clone()
                            },
                        ));
                    }
                }
                for ip in &added {
                    let id = if apply {
                        Some(self.health_check(&name, ip, hc).await?)
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
                change.added = added;
                change.removed = removed;
            }
        }
        if apply && !changes.is_empty() {
            let refs: Vec<(&str, &RecordSet)> = changes.iter().map(|(a, s)| (*a, s)).collect();
            let body = change_batch_xml(rec.comment.as_deref(), &refs);
            self.call(
                Method::POST,
                &format!("/2013-04-01/hostedzone/{zone_id}/rrset"),
                &[],
                Some(body),
            )
            .await?;
        }
        Ok(change)
    }
}

/// The `ChangeResourceRecordSetsRequest` document, elements in the model's order, laid out
/// as route53.md shows it.
pub fn change_batch_xml(comment: Option<&str>, changes: &[(&str, &RecordSet)]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{NS}\">\n  <ChangeBatch>\n"
    );
    if let Some(c) = comment {
        x.push_str(&format!("    <Comment>{}</Comment>\n", xml_escape(c)));
    }
    x.push_str("    <Changes>\n");
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
