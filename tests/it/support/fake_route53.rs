//! A fake Route 53 (shared/api/route53.md) on 127.0.0.1: verifies each request's SigV4
//! signature and its XML against the documented element names and order, keeps record sets
//! and health checks, and answers with the documented response documents.

use std::sync::{Arc, Mutex, MutexGuard};

use roxmltree::{Document, Node};
use runbook::cloud::sigv4::{self, Credentials};

use super::http::{Incoming, Reply, Server};

pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const ZONE_ID: &str = "Z3M3LMPEXAMPLE";
const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub name: String,
    pub set_id: Option<String>,
    pub multivalue: bool,
    pub ttl: Option<String>,
    pub values: Vec<String>,
    pub health_check: Option<String>,
    /// The other elements (`Weight`, `Failover`, `AliasTarget`, …) as (name, content with
    /// whitespace between elements dropped), so a set made in the console (weighted, an
    /// alias) is kept, listed and compared exactly.
    pub routing: Vec<(String, String)>,
}

/// A change to the record sets made by someone else.
pub type Meddle = Box<dyn FnOnce(&mut Vec<Set>) + Send>;

pub struct State {
    pub sets: Vec<Set>,
    /// (caller reference, id, config as sent).
    pub health_checks: Vec<(String, String, String)>,
    /// Caller references of deleted health checks: Route 53 refuses them again.
    pub deleted_references: Vec<String>,
    /// Health checks made so far (ids are never reused).
    made: usize,
    pub violations: Vec<String>,
    /// (method, path, body) of every request.
    pub log: Vec<(String, String, String)>,
    /// Session token the requests must carry (and sign), if any.
    pub token: Option<String>,
    /// `maxitems` the fake uses when the client sends none.
    pub page_size: usize,
    /// Run once on the record sets right after the next listing is answered: someone else
    /// changing the zone between a client's read and its change.
    pub after_next_list: Option<Meddle>,
    changes: usize,
    /// Hold each `ChangeResourceRecordSets` this long, then lose it (never applied, answered
    /// 500): with the client killed meanwhile, a run that died after making its health checks
    /// and before its change reached Route 53.
    pub lose_changes: Option<std::time::Duration>,
}

pub struct FakeRoute53 {
    pub server: Server,
    state: Arc<Mutex<State>>,
    /// Set when a `ChangeResourceRecordSets` to lose arrived.
    pub change_held: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeRoute53 {
    pub fn start() -> FakeRoute53 {
        let state = Arc::new(Mutex::new(State {
            sets: Vec::new(),
            health_checks: Vec::new(),
            deleted_references: Vec::new(),
            made: 0,
            violations: Vec::new(),
            log: Vec::new(),
            token: None,
            page_size: 300,
            after_next_list: None,
            changes: 0,
            lose_changes: None,
        }));
        let s = state.clone();
        let change_held = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = change_held.clone();
        let server = Server::start(move |req| {
            let is_change = req.method == "POST" && req.path.ends_with("/rrset");
            let hold = s.lock().unwrap().lose_changes.filter(|_| is_change);
            if let Some(d) = hold {
                held.store(true, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(d);
                return error(500, "Receiver", "InternalFailure", "lost");
            }
            let mut st = s.lock().unwrap();
            st.log.push((req.method.clone(), req.path.clone(), req.body.clone()));
            st.handle(req)
        });
        FakeRoute53 {
            server,
            state,
            change_held,
        }
    }

    pub fn url(&self) -> String {
        self.server.url.clone()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn assert_no_violations(&self) {
        let v = self.state().violations.clone();
        assert!(
            v.is_empty(),
            "requests route53.md documents differently:\n{}",
            v.join("\n")
        );
    }

    /// Bodies of the `ChangeResourceRecordSets` requests so far.
    pub fn change_bodies(&self) -> Vec<String> {
        self.state()
            .log
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/rrset"))
            .map(|(_, _, b)| b.clone())
            .collect()
    }
}

fn xml(status: u16, body: String) -> Reply {
    Reply {
        status,
        headers: vec![
            ("Content-Type".into(), "application/xml".into()),
            ("x-amz-request-id".into(), "b25f48e8-84fd-11e6-80d9-574e0c4664cb".into()),
        ],
        body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    \
             <Message>{message}</Message>\n  </Error>\n  <RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId>\n</ErrorResponse>"
        ),
    )
}

fn invalid_batch(message: &str) -> Reply {
    xml(
        400,
        format!(
            "<InvalidChangeBatch xmlns=\"{NS}\">\n  <Messages>\n    <Message>{message}</Message>\n  </Messages>\n  \
             <RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId>\n</InvalidChangeBatch>"
        ),
    )
}

fn text<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    n.children().find(|c| c.has_tag_name((NS, name))).and_then(|c| c.text())
}

/// Element children's names, in order.
fn names(n: Node) -> Vec<String> {
    n.children()
        .filter(|c| c.is_element())
        .map(|c| c.tag_name().name().to_string())
        .collect()
}

/// `got` must be a subsequence of the model's order `order`, containing `required`.
fn in_order(got: &[String], order: &[&str], required: &[&str]) -> Result<(), String> {
    let mut i = 0;
    for g in got {
        match order[i..].iter().position(|o| o == g) {
            Some(j) => i += j + 1,
            None => {
                return Err(format!(
                    "element <{g}> unknown or out of order (model order: {order:?}), got {got:?}"
                ));
            }
        }
    }
    match required.iter().find(|r| !got.iter().any(|g| g == *r)) {
        Some(r) => Err(format!("required element <{r}> missing in {got:?}")),
        None => Ok(()),
    }
}

const SET_ORDER: &[&str] = &[
    "Name",
    "Type",
    "SetIdentifier",
    "Weight",
    "Region",
    "GeoLocation",
    "Failover",
    "MultiValueAnswer",
    "TTL",
    "ResourceRecords",
    "AliasTarget",
    "HealthCheckId",
    "TrafficPolicyInstanceId",
    "CidrRoutingConfig",
    "GeoProximityLocation",
];
const HC_ORDER: &[&str] = &[
    "IPAddress",
    "Port",
    "Type",
    "ResourcePath",
    "FullyQualifiedDomainName",
    "SearchString",
    "RequestInterval",
    "FailureThreshold",
    "MeasureLatency",
    "Inverted",
    "Disabled",
    "HealthThreshold",
    "ChildHealthChecks",
    "EnableSNI",
    "Regions",
    "AlarmIdentifier",
    "InsufficientDataHealthStatus",
    "RoutingControlArn",
];

fn norm(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// Sort key of the listing: labels reversed, then type, then set identifier.
fn sort_key(s: &Set) -> (Vec<String>, String) {
    let labels = s
        .name
        .trim_end_matches('.')
        .split('.')
        .rev()
        .map(str::to_string)
        .collect();
    (labels, s.set_id.clone().unwrap_or_default())
}

impl State {
    fn violation(&mut self, req: &Incoming, what: String) -> Reply {
        self.violations.push(format!("{}: {what}", req.target()));
        error(400, "Sender", "InvalidInput", &what)
    }

    fn handle(&mut self, req: &Incoming) -> Reply {
        if let Err(e) = self.check_signature(req) {
            self.violations.push(format!("{}: {e}", req.target()));
            return error(403, "Sender", "SignatureDoesNotMatch", &e);
        }
        let seg: Vec<&str> = req.path.split('/').skip(1).collect();
        match (req.method.as_str(), seg.as_slice()) {
            ("GET", ["2013-04-01", "hostedzonesbyname"]) => self.zones_by_name(req),
            ("GET", ["2013-04-01", "hostedzone", id, "rrset"]) if *id == ZONE_ID => self.list_sets(req),
            ("POST", ["2013-04-01", "hostedzone", id, "rrset"]) if *id == ZONE_ID => self.change_sets(req),
            ("GET" | "POST", ["2013-04-01", "hostedzone", id, "rrset"]) => error(
                404,
                "Sender",
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {id}"),
            ),
            ("GET", ["2013-04-01", "hostedzone", id]) if *id == ZONE_ID => self.get_zone(),
            ("GET", ["2013-04-01", "hostedzone", id]) => error(
                404,
                "Sender",
                "NoSuchHostedZone",
                &format!("No hosted zone found with ID: {id}"),
            ),
            ("POST", ["2013-04-01", "healthcheck"]) => self.create_health_check(req),
            ("GET", ["2013-04-01", "healthcheck"]) => self.list_health_checks(req),
            ("GET", ["2013-04-01", "healthcheck", id]) => self.get_health_check(id),
            ("DELETE", ["2013-04-01", "healthcheck", id]) => self.delete_health_check(id),
            _ => self.violation(req, "no such operation in route53.md".into()),
        }
    }

    /// Recomputes the SigV4 signature over what arrived, with the signed headers it names.
    fn check_signature(&self, req: &Incoming) -> Result<(), String> {
        let auth = req.header("authorization").ok_or("no Authorization header")?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 Credential=")
            .ok_or("Authorization does not start with `AWS4-HMAC-SHA256 Credential=`")?;
        let (cred, rest) = rest.split_once(", SignedHeaders=").ok_or("no SignedHeaders")?;
        let (signed, _sig) = rest.split_once(", Signature=").ok_or("no Signature")?;
        let date = req.header("x-amz-date").ok_or("no X-Amz-Date header")?;
        let scope = format!(
            "{ACCESS_KEY}/{}/us-east-1/route53/aws4_request",
            date.get(..8).unwrap_or("")
        );
        if cred != scope {
            return Err(format!("credential {cred:?} is not {scope:?}"));
        }
        let signed: Vec<&str> = signed.split(';').collect();
        for must in ["host", "x-amz-date"] {
            if !signed.contains(&must) {
                return Err(format!("`{must}` is not signed"));
            }
        }
        if let Some(t) = &self.token
            && (req.header("x-amz-security-token") != Some(t) || !signed.contains(&"x-amz-security-token"))
        {
            return Err("the session token is missing or not signed".into());
        }
        let headers: Vec<(String, String)> = signed
            .iter()
            .map(|h| (h.to_string(), req.header(h).unwrap_or("").to_string()))
            .collect();
        let expected = sigv4::sign(
            &sigv4::Request {
                method: &req.method,
                path: &req.path,
                query: &req.query,
                headers: &headers,
                payload_hash: sigv4::sha256_hex(req.body.as_bytes()),
            },
            &Credentials {
                access_key: ACCESS_KEY.into(),
                secret_key: SECRET_KEY.into(),
                session_token: None,
            },
            "us-east-1",
            "route53",
            date,
        );
        if expected.authorization != auth {
            return Err(format!(
                "signature mismatch; canonical request:\n{}",
                expected.canonical_request
            ));
        }
        Ok(())
    }

    fn zones_by_name(&mut self, req: &Incoming) -> Reply {
        if req
            .query
            .iter()
            .any(|(k, _)| k != "dnsname" && k != "hostedzoneid" && k != "maxitems")
        {
            return self.violation(req, "unknown query parameter".into());
        }
        let dns = req.param("dnsname").unwrap_or("");
        xml(
            200,
            format!(
                "<ListHostedZonesByNameResponse xmlns=\"{NS}\">\n  <HostedZones>\n    <HostedZone>\n      \
                 <Id>/hostedzone/{ZONE_ID}</Id>\n      <Name>example.com.</Name>\n      <CallerReference>fake</CallerReference>\n      \
                 <Config>\n        <PrivateZone>false</PrivateZone>\n      </Config>\n      <ResourceRecordSetCount>{}</ResourceRecordSetCount>\n    \
                 </HostedZone>\n  </HostedZones>\n  <DNSName>{dns}</DNSName>\n  <IsTruncated>false</IsTruncated>\n  <MaxItems>1</MaxItems>\n\
                 </ListHostedZonesByNameResponse>",
                self.sets.len()
            ),
        )
    }

    fn list_sets(&mut self, req: &Incoming) -> Reply {
        if let Some((k, _)) = req
            .query
            .iter()
            .find(|(k, _)| !["name", "type", "identifier", "maxitems"].contains(&k.as_str()))
        {
            return self.violation(req, format!("unknown query parameter `{k}`"));
        }
        if req.param("type").is_some() && req.param("name").is_none() {
            return self.violation(req, "`type` without `name`".into());
        }
        let max = req
            .param("maxitems")
            .and_then(|m| m.parse().ok())
            .unwrap_or(self.page_size);
        let mut sets = self.sets.clone();
        sets.sort_by_key(sort_key);
        let start = req.param("name").map(|n| {
            let probe = Set {
                name: norm(n),
                set_id: req.param("identifier").map(str::to_string),
                multivalue: false,
                ttl: None,
                values: vec![],
                health_check: None,
                routing: vec![],
            };
            sort_key(&probe)
        });
        let from: Vec<Set> = sets
            .into_iter()
            .filter(|s| start.as_ref().is_none_or(|k| &sort_key(s) >= k))
            .collect();
        let page: Vec<&Set> = from.iter().take(max).collect();
        let mut out = format!("<ListResourceRecordSetsResponse xmlns=\"{NS}\">\n  <ResourceRecordSets>\n");
        for s in &page {
            out.push_str(&format!(
                "    <ResourceRecordSet>\n      <Name>{}</Name>\n      <Type>A</Type>\n",
                s.name
            ));
            if let Some(id) = &s.set_id {
                out.push_str(&format!("      <SetIdentifier>{id}</SetIdentifier>\n"));
            }
            let routing = |out: &mut String, names: &[&str]| {
                for (n, c) in s.routing.iter().filter(|(n, _)| names.contains(&n.as_str())) {
                    out.push_str(&format!("      <{n}>{c}</{n}>\n"));
                }
            };
            routing(&mut out, &SET_ORDER[3..7]);
            if s.multivalue {
                out.push_str("      <MultiValueAnswer>true</MultiValueAnswer>\n");
            }
            if let Some(t) = &s.ttl {
                out.push_str(&format!("      <TTL>{t}</TTL>\n"));
            }
            if !s.values.is_empty() {
                out.push_str("      <ResourceRecords>\n");
                for v in &s.values {
                    out.push_str(&format!(
                        "        <ResourceRecord>\n          <Value>{v}</Value>\n        </ResourceRecord>\n"
                    ));
                }
                out.push_str("      </ResourceRecords>\n");
            }
            routing(&mut out, &["AliasTarget"]);
            if let Some(h) = &s.health_check {
                out.push_str(&format!("      <HealthCheckId>{h}</HealthCheckId>\n"));
            }
            routing(&mut out, &SET_ORDER[12..]);
            out.push_str("    </ResourceRecordSet>\n");
        }
        out.push_str("  </ResourceRecordSets>\n");
        match from.get(max) {
            Some(next) => {
                out.push_str(&format!(
                    "  <IsTruncated>true</IsTruncated>\n  <NextRecordName>{}</NextRecordName>\n  <NextRecordType>A</NextRecordType>\n",
                    next.name
                ));
                if let Some(id) = &next.set_id {
                    out.push_str(&format!("  <NextRecordIdentifier>{id}</NextRecordIdentifier>\n"));
                }
            }
            None => out.push_str("  <IsTruncated>false</IsTruncated>\n"),
        }
        out.push_str(&format!(
            "  <MaxItems>{max}</MaxItems>\n</ListResourceRecordSetsResponse>"
        ));
        if let Some(meddle) = self.after_next_list.take() {
            meddle(&mut self.sets);
        }
        xml(200, out)
    }

    fn change_sets(&mut self, req: &Incoming) -> Reply {
        if !req.header("content-type").is_some_and(|c| c.contains("xml")) {
            return self.violation(req, "body without an XML content type".into());
        }
        let doc = match Document::parse(&req.body) {
            Ok(d) => d,
            Err(e) => return self.violation(req, format!("body is not XML: {e}")),
        };
        let parsed = parse_batch(&doc);
        let (comment, changes) = match parsed {
            Ok(c) => c,
            Err(e) => return self.violation(req, e),
        };
        // Transactional: work on a copy, keep it only if every change applies.
        let mut sets = self.sets.clone();
        for (action, set) in changes {
            if set.name != "example.com." && !set.name.ends_with(".example.com.") {
                return invalid_batch(&format!(
                    "RRSet with DNS name {} is not permitted in zone example.com.",
                    set.name
                ));
            }
            if let Some(h) = &set.health_check
                && action != "DELETE"
                && !self.health_checks.iter().any(|(_, id, _)| id == h)
            {
                return error(
                    404,
                    "Sender",
                    "NoSuchHealthCheck",
                    &format!("A health check with id {h} does not exist."),
                );
            }
            let same = |s: &Set| s.name == set.name && s.set_id == set.set_id;
            let pos = sets.iter().position(same);
            match (action.as_str(), pos) {
                ("CREATE", Some(_)) => {
                    return invalid_batch(&format!(
                        "Tried to create resource record set {} type A, but it already exists",
                        set.name
                    ));
                }
                ("CREATE" | "UPSERT", None) => sets.push(set),
                ("UPSERT", Some(i)) => sets[i] = set,
                // A DELETE must give the set exactly as it is (route53.md: "must give all the
                // values the record set was created with"): values, TTL, routing, health check.
                ("DELETE", Some(i)) if sets[i] == set => {
                    sets.remove(i);
                }
                ("DELETE", Some(_)) => {
                    return invalid_batch(&format!(
                        "Tried to delete resource record set [{}] but the values provided do not match the current values",
                        described(&set)
                    ));
                }
                ("DELETE", None) => {
                    return invalid_batch(&format!(
                        "Tried to delete resource record set [{}] but it was not found",
                        described(&set)
                    ));
                }
                _ => unreachable!("actions are checked by parse_batch"),
            }
        }
        self.sets = sets;
        self.changes += 1;
        let comment = comment
            .map(|c| format!("\n    <Comment>{c}</Comment>"))
            .unwrap_or_default();
        xml(
            200,
            format!(
                "<ChangeResourceRecordSetsResponse xmlns=\"{NS}\">\n  <ChangeInfo>\n    <Id>/change/C2682N5HXP0BZ{}</Id>\n    \
                 <Status>PENDING</Status>\n    <SubmittedAt>2017-02-10T01:36:41.958Z</SubmittedAt>{comment}\n  </ChangeInfo>\n\
                 </ChangeResourceRecordSetsResponse>",
                self.changes
            ),
        )
    }

    fn create_health_check(&mut self, req: &Incoming) -> Reply {
        let doc = match Document::parse(&req.body) {
            Ok(d) => d,
            Err(e) => return self.violation(req, format!("body is not XML: {e}")),
        };
        let root = doc.root_element();
        if !root.has_tag_name((NS, "CreateHealthCheckRequest")) {
            return self.violation(req, format!("root element {:?}", root.tag_name()));
        }
        if let Err(e) = in_order(
            &names(root),
            &["CallerReference", "HealthCheckConfig"],
            &["CallerReference", "HealthCheckConfig"],
        ) {
            return self.violation(req, e);
        }
        let config = root
            .children()
            .find(|c| c.has_tag_name((NS, "HealthCheckConfig")))
            .unwrap();
        if let Err(e) = in_order(&names(config), HC_ORDER, &["Type"]) {
            return self.violation(req, e);
        }
        let reference = text(root, "CallerReference").unwrap_or("").to_string();
        if reference.is_empty() || reference.len() > 64 {
            return self.violation(req, "CallerReference must be 1–64 characters".into());
        }
        let config_text = req.body[config.range()].to_string();
        if self.deleted_references.contains(&reference) {
            return error(
                409,
                "Sender",
                "HealthCheckAlreadyExists",
                &format!(
                    "A health check with CallerReference {reference} was deleted; the reference cannot be reused."
                ),
            );
        }
        let id = match self.health_checks.iter().find(|(r, _, _)| *r == reference) {
            Some((_, _, c)) if *c != config_text => {
                return error(
                    409,
                    "Sender",
                    "HealthCheckAlreadyExists",
                    "same CallerReference, other settings",
                );
            }
            Some((_, id, _)) => id.clone(),
            None => {
                self.made += 1;
                let id = format!("abcdef{:02}-2222-3333-4444-555555fedcba", self.made + 10);
                self.health_checks
                    .push((reference.clone(), id.clone(), config_text.clone()));
                id
            }
        };
        let mut r = xml(
            201,
            format!(
                "<CreateHealthCheckResponse xmlns=\"{NS}\">\n  <HealthCheck>\n    <Id>{id}</Id>\n    \
                 <CallerReference>{reference}</CallerReference>\n{}    <HealthCheckVersion>1</HealthCheckVersion>\n  \
                 </HealthCheck>\n</CreateHealthCheckResponse>",
                echo_config(&config_text)
            ),
        );
        r.headers.push((
            "Location".into(),
            format!("https://route53.amazonaws.com/2013-04-01/healthcheck/{id}"),
        ));
        r
    }
}

impl State {
    /// GetHostedZone of the one zone.
    fn get_zone(&self) -> Reply {
        xml(
            200,
            format!(
                "<GetHostedZoneResponse xmlns=\"{NS}\">\n  <HostedZone>\n    <Id>/hostedzone/{ZONE_ID}</Id>\n    \
                 <Name>example.com.</Name>\n    <CallerReference>fake</CallerReference>\n    <Config>\n      \
                 <PrivateZone>false</PrivateZone>\n    </Config>\n    <ResourceRecordSetCount>{}</ResourceRecordSetCount>\n  \
                 </HostedZone>\n  <DelegationSet>\n    <NameServers>\n      <NameServer>ns-2048.awsdns-64.com</NameServer>\n      \
                 <NameServer>ns-2049.awsdns-65.net</NameServer>\n      <NameServer>ns-2050.awsdns-66.org</NameServer>\n      \
                 <NameServer>ns-2051.awsdns-67.co.uk</NameServer>\n    </NameServers>\n  </DelegationSet>\n\
                 </GetHostedZoneResponse>",
                self.sets.len() + 2
            ),
        )
    }

    fn health_check_xml(reference: &str, id: &str, config: &str) -> String {
        format!(
            "<HealthCheck>\n    <Id>{id}</Id>\n    <CallerReference>{reference}</CallerReference>\n{}    \
             <HealthCheckVersion>1</HealthCheckVersion>\n  </HealthCheck>",
            echo_config(config)
        )
    }

    fn no_such_check(id: &str) -> Reply {
        error(
            404,
            "Sender",
            "NoSuchHealthCheck",
            &format!("A health check with id {id} does not exist."),
        )
    }

    /// GetHealthCheck: the check as made, with Route 53's defaults filled in.
    fn get_health_check(&self, id: &str) -> Reply {
        match self.health_checks.iter().find(|(_, i, _)| i == id) {
            None => Self::no_such_check(id),
            Some((r, i, c)) => xml(
                200,
                format!(
                    "<GetHealthCheckResponse xmlns=\"{NS}\">\n  {}\n</GetHealthCheckResponse>",
                    Self::health_check_xml(r, i, c)
                ),
            ),
        }
    }

    /// ListHealthChecks: `marker` (an id to start at) and `maxitems` (default 100).
    fn list_health_checks(&mut self, req: &Incoming) -> Reply {
        if let Some((k, _)) = req.query.iter().find(|(k, _)| k != "marker" && k != "maxitems") {
            return self.violation(req, format!("unknown query parameter `{k}`"));
        }
        let max: usize = req.param("maxitems").and_then(|m| m.parse().ok()).unwrap_or(100);
        let start = match req.param("marker") {
            None => 0,
            Some(m) => match self.health_checks.iter().position(|(_, i, _)| i == m) {
                Some(p) => p,
                None => return self.violation(req, format!("marker {m:?} is no health check id")),
            },
        };
        let mut out = format!("<ListHealthChecksResponse xmlns=\"{NS}\">\n  <HealthChecks>\n");
        for (r, i, c) in self.health_checks.iter().skip(start).take(max) {
            out.push_str(&format!("  {}\n", Self::health_check_xml(r, i, c)));
        }
        out.push_str("  </HealthChecks>\n");
        out.push_str(&format!("  <Marker>{}</Marker>\n", req.param("marker").unwrap_or("")));
        match self.health_checks.get(start + max) {
            Some((_, next, _)) => out.push_str(&format!(
                "  <IsTruncated>true</IsTruncated>\n  <NextMarker>{next}</NextMarker>\n"
            )),
            None => out.push_str("  <IsTruncated>false</IsTruncated>\n"),
        }
        out.push_str(&format!("  <MaxItems>{max}</MaxItems>\n</ListHealthChecksResponse>"));
        xml(200, out)
    }

    /// DeleteHealthCheck. Refused while a record set names the check (`HealthCheckInUse`,
    /// as the older API reference and SDKs document it). Route 53 today documents that it
    /// no longer prevents this, leaving the record's health unpredictable: the fake stays
    /// strict so that a client deleting a check before unlinking it is caught.
    fn delete_health_check(&mut self, id: &str) -> Reply {
        let Some(pos) = self.health_checks.iter().position(|(_, i, _)| i == id) else {
            return Self::no_such_check(id);
        };
        if let Some(s) = self.sets.iter().find(|s| s.health_check.as_deref() == Some(id)) {
            return error(
                400,
                "Sender",
                "HealthCheckInUse",
                &format!(
                    "The health check {id} is still referenced by the record set {} A.",
                    s.name
                ),
            );
        }
        let (reference, _, _) = self.health_checks.remove(pos);
        self.deleted_references.push(reference);
        xml(200, format!("<DeleteHealthCheckResponse xmlns=\"{NS}\"/>"))
    }
}

/// A `HealthCheckConfig` as Route 53 returns it: the settings sent, with the defaults of
/// those not sent (`RequestInterval` 30, `FailureThreshold` 3, ...), in the model's order.
fn echo_config(sent: &str) -> String {
    let doc = Document::parse(sent).ok();
    let config = doc.as_ref().map(|d| d.root_element());
    let get = |name: &str| {
        config
            .and_then(|c| c.children().find(|n| n.tag_name().name() == name))
            .and_then(|n| n.text())
    };
    let https = get("Type").is_some_and(|t| t.starts_with("HTTPS"));
    let defaults: &[(&str, Option<&str>)] = &[
        ("RequestInterval", Some("30")),
        ("FailureThreshold", Some("3")),
        ("MeasureLatency", Some("false")),
        ("Inverted", Some("false")),
        ("Disabled", Some("false")),
        ("EnableSNI", https.then_some("true")),
    ];
    let mut out = String::from("    <HealthCheckConfig>\n");
    for name in HC_ORDER {
        let value = get(name).or_else(|| defaults.iter().find(|(d, _)| d == name).and_then(|(_, v)| *v));
        if let Some(v) = value {
            let v = v.replace('&', "&amp;").replace('<', "&lt;");
            out.push_str(&format!("      <{name}>{v}</{name}>\n"));
        }
    }
    out.push_str("    </HealthCheckConfig>\n");
    out
}

/// An element's content without the whitespace between elements: the text of a leaf, else
/// the children as `<Name>content</Name>…`.
fn content(n: Node) -> String {
    if !n.children().any(|c| c.is_element()) {
        return n.text().unwrap_or("").trim().to_string();
    }
    n.children()
        .filter(|c| c.is_element())
        .map(|c| format!("<{0}>{1}</{0}>", c.tag_name().name(), content(c)))
        .collect()
}

/// How Route 53 names a record set in a batch error: `name='www.example.com.', type='A'`.
fn described(s: &Set) -> String {
    match &s.set_id {
        Some(id) => format!("name='{}', type='A', set-identifier='{id}'", s.name),
        None => format!("name='{}', type='A'", s.name),
    }
}

/// A `ChangeResourceRecordSetsRequest`: (comment, [(action, set)]), or what is wrong with it.
type Batch = (Option<String>, Vec<(String, Set)>);

fn parse_batch(doc: &Document) -> Result<Batch, String> {
    let root = doc.root_element();
    if !root.has_tag_name((NS, "ChangeResourceRecordSetsRequest")) {
        return Err(format!(
            "root element must be ChangeResourceRecordSetsRequest in {NS}, got {:?}",
            root.tag_name()
        ));
    }
    if names(root) != ["ChangeBatch"] {
        return Err(format!(
            "ChangeResourceRecordSetsRequest must hold one ChangeBatch, got {:?}",
            names(root)
        ));
    }
    let batch = root.first_element_child().unwrap();
    in_order(&names(batch), &["Comment", "Changes"], &["Changes"])?;
    let changes = batch.children().find(|c| c.has_tag_name((NS, "Changes"))).unwrap();
    let mut out = Vec::new();
    for change in changes.children().filter(|c| c.is_element()) {
        if !change.has_tag_name((NS, "Change")) || names(change) != ["Action", "ResourceRecordSet"] {
            return Err(format!(
                "a Change must hold Action then ResourceRecordSet, got {:?}",
                names(change)
            ));
        }
        let action = text(change, "Action").unwrap_or("").to_string();
        if !["CREATE", "DELETE", "UPSERT"].contains(&action.as_str()) {
            return Err(format!("Action {action:?} is not CREATE, DELETE or UPSERT"));
        }
        let set = change.last_element_child().unwrap();
        in_order(&names(set), SET_ORDER, &["Name", "Type"])?;
        if text(set, "Type") != Some("A") {
            return Err("this fake serves A records only".into());
        }
        let multivalue = match text(set, "MultiValueAnswer") {
            None => false,
            Some("true") => true,
            Some(x) => return Err(format!("MultiValueAnswer {x:?} is not a boolean")),
        };
        if multivalue && text(set, "SetIdentifier").is_none() {
            return Err("a multivalue record set needs a SetIdentifier".into());
        }
        let values: Vec<String> = match set.children().find(|c| c.has_tag_name((NS, "ResourceRecords"))) {
            Some(rr) => {
                let mut v = Vec::new();
                for r in rr.children().filter(|c| c.is_element()) {
                    if !r.has_tag_name((NS, "ResourceRecord")) || names(r) != ["Value"] {
                        return Err(format!(
                            "ResourceRecords must hold ResourceRecord > Value, got {:?}",
                            names(r)
                        ));
                    }
                    v.push(text(r, "Value").unwrap_or("").to_string());
                }
                v
            }
            None => Vec::new(),
        };
        // The elements this fake does not model, kept as they came (in the model's order,
        // checked above).
        const MODELED: &[&str] = &[
            "Name",
            "Type",
            "SetIdentifier",
            "MultiValueAnswer",
            "TTL",
            "ResourceRecords",
            "HealthCheckId",
        ];
        let routing: Vec<(String, String)> = set
            .children()
            .filter(|c| c.is_element() && !MODELED.contains(&c.tag_name().name()))
            .map(|c| (c.tag_name().name().to_string(), content(c)))
            .collect();
        let alias = routing.iter().any(|(n, _)| n == "AliasTarget");
        if alias && (!values.is_empty() || text(set, "TTL").is_some()) {
            return Err("an alias record set has no ResourceRecords and no TTL".into());
        }
        if !alias && (values.is_empty() || values.len() > 400) {
            return Err("a record set needs 1 to 400 values".into());
        }
        let policy = [
            "Weight",
            "Region",
            "GeoLocation",
            "Failover",
            "CidrRoutingConfig",
            "GeoProximityLocation",
        ];
        if routing.iter().any(|(n, _)| policy.contains(&n.as_str())) && text(set, "SetIdentifier").is_none() {
            return Err("a weighted, latency, geolocation, failover or IP-based set needs a SetIdentifier".into());
        }
        if let Some(bad) = values.iter().find(|v| v.parse::<std::net::Ipv4Addr>().is_err()) {
            return Err(format!("Value {bad:?} is not an IPv4 address"));
        }
        if let Some(t) = text(set, "TTL").filter(|t| t.parse::<u32>().is_err()) {
            return Err(format!("TTL {t:?} is not a number"));
        }
        out.push((
            action,
            Set {
                name: norm(text(set, "Name").unwrap_or("")),
                set_id: text(set, "SetIdentifier").map(str::to_string),
                multivalue,
                ttl: text(set, "TTL").map(str::to_string),
                values,
                health_check: text(set, "HealthCheckId").map(str::to_string),
                routing,
            },
        ));
    }
    if out.is_empty() {
        return Err("Changes must hold at least one Change".into());
    }
    Ok((text(batch, "Comment").map(str::to_string), out))
}
