//! `a_record` on DigitalOcean domains and Route 53, against the fake APIs.

use std::path::PathBuf;
use std::time::Duration;

use runbook::cloud::digitalocean::DigitalOcean;
use runbook::cloud::dns::route53::{RecordSet, Route53, change_batch_xml};
use runbook::cloud::dns::{ARecord, Dns, DnsChange, HealthCheck};
use runbook::cloud::retry::Policy;
use runbook::cloud::sigv4::Credentials;

use crate::support::fake_do::{self, FakeDo};
use crate::support::fake_route53::{self, FakeRoute53};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/route53")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn policy() -> Policy {
    Policy {
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(10),
        ..Policy::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ips(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn rec(name: &str, addrs: &[&str], ttl: Option<u32>, exact: bool) -> ARecord {
    ARecord {
        zone: "example.com".into(),
        name: name.into(),
        ips: ips(addrs),
        ttl,
        exact,
        health_check: None,
        comment: None,
    }
}

fn set(name: &str, id: Option<&str>, ttl: u32, values: &[&str], hc: Option<&str>) -> RecordSet {
    RecordSet {
        name: name.into(),
        set_id: id.map(str::to_string),
        multivalue: id.is_some(),
        ttl: Some(ttl),
        values: ips(values),
        health_check: hc.map(str::to_string),
    }
}

#[test]
fn change_batches_are_the_documented_xml() {
    let basic = set("example.com", None, 60, &["192.0.2.44"], None);
    assert_eq!(
        change_batch_xml(Some("Web server for example.com"), &[("CREATE", &basic)]),
        fixture("create-basic.xml")
    );
    let multi = set(
        "app.example.com",
        None,
        300,
        &["192.0.2.10", "192.0.2.11", "192.0.2.12"],
        None,
    );
    assert_eq!(
        change_batch_xml(Some("app servers"), &[("UPSERT", &multi)]),
        fixture("upsert-multiple-values.xml")
    );
    let web1 = set(
        "app.example.com",
        Some("web-1"),
        60,
        &["192.0.2.10"],
        Some("abcdef11-2222-3333-4444-555555fedcba"),
    );
    let web2 = set(
        "app.example.com",
        Some("web-2"),
        60,
        &["192.0.2.11"],
        Some("abcdef66-7777-8888-9999-000000fedcba"),
    );
    assert_eq!(
        change_batch_xml(
            Some("multivalue app.example.com"),
            &[("UPSERT", &web1), ("UPSERT", &web2)]
        ),
        fixture("upsert-multivalue-health-checks.xml")
    );
}

fn route53(fake: &FakeRoute53, token: Option<&str>) -> Route53 {
    let creds = Credentials {
        access_key: fake_route53::ACCESS_KEY.into(),
        secret_key: fake_route53::SECRET_KEY.into(),
        session_token: token.map(str::to_string),
    };
    Route53::new(Some(&fake.url()), creds, policy()).unwrap()
}

#[test]
fn route53_upserts_one_set_idempotently_and_exact_removes_extras() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let mut first = rec("app", &["192.0.2.10", "192.0.2.11", "192.0.2.12"], Some(300), false);
        first.comment = Some("app servers".into());
        let c = r.a_record(&first, true).await.unwrap();
        assert_eq!(c.added, ips(&["192.0.2.10", "192.0.2.11", "192.0.2.12"]));
        assert_eq!(fake.change_bodies(), [fixture("upsert-multiple-values.xml")]);

        // Again: read, nothing to change, nothing sent.
        assert!(!r.a_record(&first, true).await.unwrap().changed());
        assert_eq!(fake.change_bodies().len(), 1);

        // Dry run of a new value: reported, not sent.
        let more = rec("app.example.com", &["192.0.2.13"], None, false);
        assert_eq!(r.a_record(&more, false).await.unwrap().added, ips(&["192.0.2.13"]));
        assert_eq!(fake.change_bodies().len(), 1);

        // Without `exact` the others stay.
        let c = r.a_record(&more, true).await.unwrap();
        assert_eq!((c.added.clone(), c.removed.clone()), (ips(&["192.0.2.13"]), vec![]));
        assert_eq!(fake.state().sets[0].values.len(), 4);
        assert!(fake.change_bodies()[1].contains("<TTL>300</TTL>"), "the TTL is kept");

        let only = rec("app", &["192.0.2.10"], None, true);
        let c = r.a_record(&only, true).await.unwrap();
        assert_eq!(c.removed, ips(&["192.0.2.11", "192.0.2.12", "192.0.2.13"]));
        assert_eq!(fake.state().sets[0].values, ips(&["192.0.2.10"]));
        assert!(!r.a_record(&only, true).await.unwrap().changed());

        let retuned = r
            .a_record(&rec("app", &["192.0.2.10"], Some(60), true), true)
            .await
            .unwrap();
        assert_eq!(
            retuned,
            DnsChange {
                ttl: Some(60),
                ..Default::default()
            }
        );
    });
    assert_eq!(fake.change_bodies().len(), 4);
    fake.assert_no_violations();
}

#[test]
fn route53_health_checks_make_one_multivalue_set_per_address() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, Some("session-token-example"));
    fake.state().token = Some("session-token-example".into());
    let mut wanted = rec("app", &["192.0.2.10", "192.0.2.11"], Some(60), false);
    wanted.comment = Some("multivalue app.example.com".into());
    wanted.health_check = Some(HealthCheck {
        kind: "HTTP".into(),
        port: 80,
        path: Some("/health".into()),
    });
    rt().block_on(async {
        let c = r.a_record(&wanted, true).await.unwrap();
        assert_eq!(c.added, ips(&["192.0.2.10", "192.0.2.11"]));
        let hcs: Vec<String> = fake.state().health_checks.iter().map(|h| h.1.clone()).collect();
        assert_eq!(hcs.len(), 2);
        // The documented body, but with our set identifiers (the address) and check ids.
        let expected = fixture("upsert-multivalue-health-checks.xml")
            .replace("<SetIdentifier>web-1", "<SetIdentifier>192.0.2.10")
            .replace("<SetIdentifier>web-2", "<SetIdentifier>192.0.2.11")
            .replace("abcdef11-2222-3333-4444-555555fedcba", &hcs[0])
            .replace("abcdef66-7777-8888-9999-000000fedcba", &hcs[1]);
        assert_eq!(fake.change_bodies(), [expected]);

        assert!(!r.a_record(&wanted, true).await.unwrap().changed());
        assert_eq!(fake.state().health_checks.len(), 2);

        let mut one = wanted.clone();
        one.ips = ips(&["192.0.2.10"]);
        one.exact = true;
        let c = r.a_record(&one, true).await.unwrap();
        assert_eq!(c.removed, ips(&["192.0.2.11"]));
        assert!(fake.change_bodies()[1].contains("<Action>DELETE</Action>"));
        assert_eq!(fake.state().sets.len(), 1);
    });
    fake.assert_no_violations();
}

#[test]
fn route53_takes_zone_ids_and_reports_errors() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let mut by_id = rec("www", &["192.0.2.20"], None, false);
        by_id.zone = fake_route53::ZONE_ID.into();
        by_id.name = "www.example.com".into();
        assert!(r.a_record(&by_id, true).await.unwrap().changed());
        by_id.zone = "ZNOSUCHZONE".into();
        let err = r.a_record(&by_id, true).await.unwrap_err();
        assert!(
            err.contains("404 NoSuchHostedZone") && err.contains("ZNOSUCHZONE"),
            "{err}"
        );
    });
    assert!(!fake.state().log.iter().any(|(_, p, _)| p.contains("hostedzonesbyname")));
    fake.assert_no_violations();

    // A wrong secret is caught by the signature check.
    let bad = Route53::new(
        Some(&fake.url()),
        Credentials {
            access_key: fake_route53::ACCESS_KEY.into(),
            secret_key: "wrong-secret".into(),
            session_token: None,
        },
        policy(),
    )
    .unwrap();
    let err = rt()
        .block_on(bad.a_record(&rec("www", &["192.0.2.20"], None, false), true))
        .unwrap_err();
    assert!(
        err.contains("SignatureDoesNotMatch") && !err.contains("wrong-secret"),
        "{err}"
    );
}

fn checked(addrs: &[&str], port: u16, path: &str) -> ARecord {
    let mut r = rec("app", addrs, Some(60), true);
    r.health_check = Some(HealthCheck {
        kind: "HTTP".into(),
        port,
        path: Some(path.into()),
    });
    r
}

/// (id, caller reference, config) of the fake's health checks.
fn checks(fake: &FakeRoute53) -> Vec<(String, String, String)> {
    fake.state()
        .health_checks
        .iter()
        .map(|(r, id, c)| (id.clone(), r.clone(), c.clone()))
        .collect()
}

fn creates(fake: &FakeRoute53) -> usize {
    fake.state()
        .log
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/2013-04-01/healthcheck")
        .count()
}

#[test]
fn route53_changed_health_check_settings_replace_the_checks() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let old = checked(&["192.0.2.10", "192.0.2.11"], 80, "/health");
        r.a_record(&old, true).await.unwrap();
        let before = checks(&fake);
        assert_eq!(before.len(), 2);

        // Dry run: planned, nothing made or sent.
        let new = checked(&["192.0.2.10", "192.0.2.11"], 8080, "/ready");
        let plan = r.a_record(&new, false).await.unwrap();
        assert!(plan.changed(), "{plan:?}");
        assert!(
            plan.describe().contains("192.0.2.10") && plan.describe().contains("192.0.2.11"),
            "{}",
            plan.describe()
        );
        assert_eq!((fake.change_bodies().len(), checks(&fake)), (1, before.clone()));

        let c = r.a_record(&new, true).await.unwrap();
        assert!(c.changed(), "{c:?}");
        assert!(c.added.is_empty() && c.removed.is_empty(), "{c:?}");
        let after = checks(&fake);
        assert_eq!(after.len(), 2, "the old checks are deleted: {after:?}");
        for (id, _, config) in &after {
            assert!(!before.iter().any(|(b, _, _)| b == id), "{id} is an old check");
            assert!(
                config.contains("<Port>8080</Port>") && config.contains("<ResourcePath>/ready</ResourcePath>"),
                "{config}"
            );
        }
        // Each set points at the new check for its own address.
        for s in fake.state().sets.iter() {
            let id = s.health_check.clone().unwrap();
            let (_, _, config) = after.iter().find(|(i, _, _)| *i == id).unwrap();
            assert!(
                config.contains(&format!("<IPAddress>{}</IPAddress>", s.values[0])),
                "{config}"
            );
        }
        assert!(fake.change_bodies()[1].contains("<Action>UPSERT</Action>"));

        // Again: the checks fit, nothing made or sent.
        assert!(!r.a_record(&new, true).await.unwrap().changed());
        assert_eq!(
            (fake.change_bodies().len(), creates(&fake), checks(&fake)),
            (2, 4, after)
        );
    });
    fake.assert_no_violations();
}

#[test]
fn route53_health_checks_no_record_uses_are_deleted() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let two = checked(&["192.0.2.10", "192.0.2.11"], 80, "/health");
        r.a_record(&two, true).await.unwrap();
        let made = checks(&fake);

        // Unchanged: the existing checks are reused, none is made.
        assert!(!r.a_record(&two, true).await.unwrap().changed());
        assert_eq!((creates(&fake), checks(&fake)), (2, made.clone()));

        // `exact` drops 192.0.2.11: its record set and then its check go.
        let one = checked(&["192.0.2.10"], 80, "/health");
        let c = r.a_record(&one, true).await.unwrap();
        assert_eq!(c.removed, ips(&["192.0.2.11"]));
        let left = checks(&fake);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(Some(left[0].0.clone()), fake.state().sets[0].health_check);
        assert!(left[0].2.contains("<IPAddress>192.0.2.10</IPAddress>"));
        assert!(!r.a_record(&one, true).await.unwrap().changed());

        // The address comes back: a new check, although one with the same settings was
        // deleted (Route 53 refuses its caller reference again).
        let c = r.a_record(&two, true).await.unwrap();
        assert_eq!(c.added, ips(&["192.0.2.11"]));
        let now = checks(&fake);
        assert_eq!(now.len(), 2);
        let refs: Vec<&String> = made.iter().chain(now.iter()).map(|(_, r, _)| r).collect();
        let back = &now[1].1;
        assert_eq!(refs.iter().filter(|r| **r == back).count(), 1, "{back} was used before");
        assert!(back.len() <= 64 && back.starts_with("runbook-"), "{back}");
    });
    fake.assert_no_violations();
}

#[test]
fn route53_zone_ids_resolve_to_the_zone_name() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let mut by_id = rec("www", &["192.0.2.20"], None, false);
        by_id.zone = fake_route53::ZONE_ID.into();
        let c = r.a_record(&by_id, true).await.unwrap();
        assert_eq!(c.added, ips(&["192.0.2.20"]));
        assert_eq!(fake.state().sets[0].name, "www.example.com.");

        // The prefixed form, the apex, and the zone by name: the same zone.
        by_id.zone = format!("/hostedzone/{}", fake_route53::ZONE_ID);
        by_id.ips = ips(&["192.0.2.21"]);
        r.a_record(&by_id, true).await.unwrap();
        let mut apex = rec("@", &["192.0.2.1"], None, false);
        apex.zone = fake_route53::ZONE_ID.to_lowercase();
        r.a_record(&apex, true).await.unwrap();
        let names: Vec<String> = fake.state().sets.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["www.example.com.", "example.com."]);
        assert_eq!(fake.state().sets[0].values, ips(&["192.0.2.20", "192.0.2.21"]));
        let www = rec("www", &["192.0.2.20", "192.0.2.21"], None, false);
        assert!(!r.a_record(&www, true).await.unwrap().changed());
    });
    // GetHostedZone once: the name is remembered.
    let gets = fake
        .state()
        .log
        .iter()
        .filter(|(m, p, _)| m == "GET" && p == &format!("/2013-04-01/hostedzone/{}", fake_route53::ZONE_ID))
        .count();
    assert_eq!(gets, 1);
    fake.assert_no_violations();
}

/// In a play: a zone given by id, the record named by the zone's name; a health check's new
/// settings planned by a dry run, then made; the secret never shown.
#[test]
fn route53_plays_name_the_record_and_plan_new_health_checks() {
    use crate::support::Project;
    let fake = FakeRoute53::start();
    let p = Project::new();
    p.write(
        "inventory/r53.toml",
        &format!("[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n", fake.url()),
    );
    let play = |port: u16, path: &str| {
        format!(
            "step(\"dns\", || dns::a_record(\"/hostedzone/{}\", \"app\", [\"192.0.2.10\"], #{{\n    \
             health_check: #{{ type: \"HTTP\", port: {port}, path: \"{path}\" }},\n}}));\n",
            fake_route53::ZONE_ID
        )
    };
    let env = [
        ("AWS_ACCESS_KEY_ID", fake_route53::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", fake_route53::SECRET_KEY),
    ];
    p.write("dns.rhai", &play(80, "/health"));
    let o = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.all().contains("change A app.example.com: +192.0.2.10"), "{}", o.all());

    p.write("dns.rhai", &play(8080, "/ready"));
    let plan = p.runbook_env(&["play", "dns.rhai", "-i", "r53", "--dry-run"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.all()
            .contains("change A app.example.com: new health check for 192.0.2.10"),
        "{}",
        plan.all()
    );
    assert!(
        fake.state().health_checks[0].2.contains("<Port>80</Port>"),
        "a dry run changes nothing"
    );

    let o = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(o.code, 0, "{}", o.all());
    let checks = fake.state().health_checks.clone();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert!(checks[0].2.contains("<Port>8080</Port>"), "{checks:?}");
    let again = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(!again.all().contains("change A"), "{}", again.all());
    for out in [&o, &plan, &again] {
        assert!(!out.all().contains(fake_route53::SECRET_KEY));
        assert!(!out.all().to_lowercase().contains("z3m3lmpexample."), "{}", out.all());
    }
    fake.assert_no_violations();
}

#[test]
fn digitalocean_records_are_created_completed_and_pruned() {
    let fake = FakeDo::start();
    let p = DigitalOcean::new(Some(&fake.url()), fake_do::TOKEN.into(), policy()).unwrap();
    let changes = |fake: &FakeDo| {
        ["POST", "PATCH", "DELETE"]
            .iter()
            .map(|m| fake.requests(m, "/v2/domains/").len())
            .sum::<usize>()
    };
    rt().block_on(async {
        let c = p
            .a_record(&rec("www", &["192.0.2.10", "192.0.2.11"], Some(600), false), true)
            .await
            .unwrap();
        assert_eq!(c.added, ips(&["192.0.2.10", "192.0.2.11"]));
        let records: Vec<(String, String, u64)> = fake
            .state()
            .records
            .iter()
            .map(|(_, r)| {
                (
                    r["name"].as_str().unwrap().into(),
                    r["data"].as_str().unwrap().into(),
                    r["ttl"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            records,
            [
                ("www".into(), "192.0.2.10".into(), 600),
                ("www".into(), "192.0.2.11".into(), 600)
            ]
        );

        let c = p
            .a_record(&rec("www", &["192.0.2.12"], None, false), true)
            .await
            .unwrap();
        assert_eq!((c.added, c.removed), (ips(&["192.0.2.12"]), vec![]));
        assert_eq!(fake.state().records.len(), 3);

        let before = changes(&fake);
        let all = rec(
            "www.example.com",
            &["192.0.2.12", "192.0.2.10", "192.0.2.11"],
            None,
            false,
        );
        assert!(!p.a_record(&all, true).await.unwrap().changed());
        assert_eq!(changes(&fake), before, "a no-op sends nothing");

        let dry = p
            .a_record(&rec("www", &["192.0.2.99"], None, true), false)
            .await
            .unwrap();
        assert_eq!(dry.added, ips(&["192.0.2.99"]));
        assert_eq!(dry.removed.len(), 3);
        assert_eq!(changes(&fake), before, "dry run sends nothing");

        let c = p
            .a_record(&rec("www", &["192.0.2.10"], None, true), true)
            .await
            .unwrap();
        assert_eq!(c.removed, ips(&["192.0.2.11", "192.0.2.12"]));
        assert_eq!(fake.state().records.len(), 1);
        assert_eq!(fake.requests("DELETE", "/v2/domains/").len(), 2);

        let c = p
            .a_record(&rec("www", &["192.0.2.10"], Some(300), true), true)
            .await
            .unwrap();
        assert_eq!(c.ttl, Some(300));
        assert_eq!(fake.state().records[0].1["ttl"], 300);

        // The apex is `@`; other names are untouched.
        p.a_record(&rec("@", &["192.0.2.1"], None, true), true).await.unwrap();
        assert_eq!(fake.state().records.len(), 2);
        let err = p
            .a_record(&rec("www", &["not-an-ip"], None, false), true)
            .await
            .unwrap_err();
        assert!(err.contains("not-an-ip"), "{err}");
    });
    fake.assert_no_violations();
}

// ---------------------------------------------------------------------------------------
// Deleting a record: `dns::delete(zone, name)` and `dns::a_record(zone, name, [], #{ exact: true })`.

/// The addresses of `www.example.com` in the fake DigitalOcean domain.
fn do_www(fake: &FakeDo) -> Vec<String> {
    fake.state()
        .records
        .iter()
        .filter(|(_, r)| r["type"] == "A" && r["name"] == "www")
        .map(|(_, r)| r["data"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn digitalocean_delete_removes_each_domain_record_of_the_name_once() {
    let fake = FakeDo::start();
    let p = DigitalOcean::new(Some(&fake.url()), fake_do::TOKEN.into(), policy()).unwrap();
    // A TXT record of the same name, made elsewhere: not an A record, left alone.
    fake.state().records.push((
        "example.com".into(),
        serde_json::json!({"id": 900, "type": "TXT", "name": "www", "data": "v=spf1 -all", "priority": null,
                           "port": null, "ttl": 1800, "weight": null, "flags": null, "tag": null}),
    ));
    let changes = |fake: &FakeDo| {
        ["POST", "PATCH", "DELETE"]
            .iter()
            .map(|m| fake.requests(m, "/v2/domains/").len())
            .sum::<usize>()
    };
    rt().block_on(async {
        p.a_record(&rec("www", &["192.0.2.10", "192.0.2.11"], None, false), true)
            .await
            .unwrap();
        p.a_record(&rec("api", &["192.0.2.20"], None, false), true)
            .await
            .unwrap();
        // The same address twice (made by hand): both records go, the address is named once.
        fake.state().records.push((
            "example.com".into(),
            serde_json::json!({"id": 901, "type": "A", "name": "www", "data": "192.0.2.10", "priority": null,
                               "port": null, "ttl": 1800, "weight": null, "flags": null, "tag": null}),
        ));
        let before = changes(&fake);

        let plan = p.delete_a("example.com", "www", None, false).await.unwrap();
        assert_eq!(plan.removed, ips(&["192.0.2.10", "192.0.2.11"]));
        assert!(plan.changed() && plan.added.is_empty(), "{plan:?}");
        assert_eq!(
            plan.describe_deletion("www.example.com"),
            "delete A www.example.com 192.0.2.10, 192.0.2.11"
        );
        assert_eq!(changes(&fake), before, "a dry run sends nothing");
        assert_eq!(do_www(&fake).len(), 3);

        let done = p.delete_a("example.com", "www.example.com.", None, true).await.unwrap();
        assert_eq!(done, plan, "the run does what the dry run said");
        assert!(do_www(&fake).is_empty());
        assert_eq!(fake.requests("DELETE", "/v2/domains/").len(), 3);
        let left: Vec<(String, String)> = fake
            .state()
            .records
            .iter()
            .map(|(_, r)| (r["type"].as_str().unwrap().into(), r["name"].as_str().unwrap().into()))
            .collect();
        assert_eq!(left, [("TXT".into(), "www".into()), ("A".into(), "api".into())]);

        let again = p.delete_a("example.com", "www", None, true).await.unwrap();
        assert!(!again.changed(), "{again:?}");
        assert_eq!(
            fake.requests("DELETE", "/v2/domains/").len(),
            3,
            "nothing to delete, nothing sent"
        );
    });
    fake.assert_no_violations();
}

#[test]
fn route53_delete_sends_each_set_as_listed_and_deletes_runbooks_unused_health_checks() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        let app = checked(&["192.0.2.10", "192.0.2.11"], 80, "/health");
        r.a_record(&app, true).await.unwrap();
        r.a_record(&rec("www", &["192.0.2.30"], Some(120), false), true)
            .await
            .unwrap();
        let made = checks(&fake);
        assert_eq!(made.len(), 2);
        // A record of another name (made by hand) uses the check of 192.0.2.11: that check
        // must stay.
        let shared = fake
            .state()
            .sets
            .iter()
            .find(|s| s.values == ips(&["192.0.2.11"]))
            .unwrap()
            .health_check
            .clone()
            .unwrap();
        fake.state().sets.push(fake_route53::Set {
            name: "failover.example.com.".into(),
            set_id: Some("primary".into()),
            multivalue: false,
            ttl: Some("60".into()),
            values: ips(&["192.0.2.11"]),
            health_check: Some(shared.clone()),
            routing: vec![("Failover".into(), "PRIMARY".into())],
        });
        let bodies = fake.change_bodies().len();

        let plan = r
            .delete_a("example.com", "app", Some("app retired"), false)
            .await
            .unwrap();
        assert_eq!(plan.removed, ips(&["192.0.2.10", "192.0.2.11"]));
        assert_eq!(
            plan.health_checks,
            ips(&["192.0.2.10"]),
            "only the check no other record uses"
        );
        assert_eq!(
            plan.describe_deletion("app.example.com"),
            "delete A app.example.com 192.0.2.10, 192.0.2.11 and runbook's health checks for 192.0.2.10"
        );
        assert_eq!(
            (fake.change_bodies().len(), checks(&fake)),
            (bodies, made.clone()),
            "a dry run changes nothing"
        );

        let done = r
            .delete_a("example.com", "app", Some("app retired"), true)
            .await
            .unwrap();
        assert_eq!(done, plan, "the run does what the dry run said");
        let body = fake.change_bodies().last().unwrap().clone();
        assert_eq!(body.matches("<Action>DELETE</Action>").count(), 2, "{body}");
        assert!(body.contains("<Comment>app retired</Comment>"), "{body}");
        let names: Vec<String> = fake.state().sets.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["www.example.com.", "failover.example.com."]);
        let left: Vec<String> = checks(&fake).into_iter().map(|(id, _, _)| id).collect();
        assert_eq!(left, [shared]);

        let again = r.delete_a("example.com", "app", None, true).await.unwrap();
        assert!(!again.changed(), "{again:?}");
        assert_eq!(
            fake.change_bodies().len(),
            bodies + 1,
            "nothing to delete, nothing sent"
        );

        // A simple set goes with its TTL as it is (a DELETE with another TTL is refused).
        let www = r.delete_a("example.com", "www", None, true).await.unwrap();
        assert_eq!(www.removed, ips(&["192.0.2.30"]));
        assert!(fake.change_bodies().last().unwrap().contains("<TTL>120</TTL>"));
        assert_eq!(fake.state().sets.len(), 1);
    });
    fake.assert_no_violations();
}

#[test]
fn route53_delete_takes_weighted_and_alias_sets_made_elsewhere() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    let weighted = |id: &str, weight: &str, ip: &str| fake_route53::Set {
        name: "web.example.com.".into(),
        set_id: Some(id.into()),
        multivalue: false,
        ttl: Some("300".into()),
        values: ips(&[ip]),
        health_check: None,
        routing: vec![("Weight".into(), weight.into())],
    };
    fake.state().sets.push(weighted("blue", "90", "203.0.113.7"));
    fake.state().sets.push(weighted("green", "10", "203.0.113.8"));
    fake.state().sets.push(fake_route53::Set {
        name: "example.com.".into(),
        set_id: None,
        multivalue: false,
        ttl: None,
        values: vec![],
        health_check: None,
        routing: vec![(
            "AliasTarget".into(),
            "<HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId><DNSName>my-lb-1.us-east-1.elb.amazonaws.com.</DNSName>\
             <EvaluateTargetHealth>false</EvaluateTargetHealth>"
                .into(),
        )],
    });
    rt().block_on(async {
        let c = r.delete_a("example.com", "web", None, true).await.unwrap();
        assert_eq!(c.removed, ips(&["203.0.113.7", "203.0.113.8"]));
        assert!(fake.change_bodies()[0].contains("<Weight>90</Weight>"));
        let c = r.delete_a("example.com", "@", None, true).await.unwrap();
        assert_eq!(c.removed, ["alias my-lb-1.us-east-1.elb.amazonaws.com"]);
        assert!(fake.state().sets.is_empty());
        assert!(!r.delete_a("example.com", "web", None, true).await.unwrap().changed());
    });
    fake.assert_no_violations();
}

/// Route 53 refuses a DELETE that does not repeat the set exactly; the record changed after
/// runbook read it, so nothing is deleted and the error says why.
#[test]
fn route53_delete_of_a_set_changed_meanwhile_is_refused_whole() {
    let fake = FakeRoute53::start();
    let r = route53(&fake, None);
    rt().block_on(async {
        r.a_record(&rec("www", &["192.0.2.30"], Some(300), false), true)
            .await
            .unwrap();
        r.a_record(&rec("api", &["192.0.2.40"], Some(300), false), true)
            .await
            .unwrap();
        fake.state().after_next_list = Some(Box::new(|sets| {
            for s in sets.iter_mut().filter(|s| s.name == "www.example.com.") {
                s.ttl = Some("60".into());
            }
        }));
        let err = r.delete_a("example.com", "www", None, true).await.unwrap_err();
        assert!(
            err.contains("400 InvalidChangeBatch")
                && err.contains("name='www.example.com.', type='A'")
                && err.contains("do not match the current values"),
            "{err}"
        );
        assert_eq!(fake.state().sets.len(), 2, "nothing deleted");
        // Read again, it goes.
        assert!(r.delete_a("example.com", "www", None, true).await.unwrap().changed());
        assert_eq!(fake.state().sets.len(), 1);
    });
    fake.assert_no_violations();
}

/// A provider's inventory and how to read `www.example.com`'s addresses from it.
struct Provider<'a> {
    inventory: String,
    env: Vec<(&'a str, &'a str)>,
    www: Box<dyn Fn() -> Vec<String> + 'a>,
}

/// Through the binary: make the record, plan its deletion, delete it, again (no change);
/// the empty list is refused without `exact` (saying how to delete) and deletes with it.
fn delete_in_plays(p: &crate::support::Project, provider: &Provider) {
    use crate::support::Test;
    p.write("inventory/dns.toml", &provider.inventory);
    p.write(
        "make.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"www\", [\"192.0.2.10\", \"192.0.2.11\"]));\n",
    );
    p.write(
        "delete.rhai",
        "step(\"dns\", || {\n    let r = dns::delete(\"example.com\", \"www\");\n    \
         print(`changed=${r.changed} removed=${r.removed}`);\n});\n",
    );
    p.write(
        "empty.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"www\", [], #{ exact: true }));\n",
    );
    p.write(
        "refused.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"www\", []));\n",
    );
    let run = |playbook: &str, args: &[&str]| {
        Test::in_project(p)
            .play(playbook)
            .on("dns")
            .envs(&provider.env)
            .args(args)
            .run()
    };
    let both = ips(&["192.0.2.10", "192.0.2.11"]);
    let plan = "delete A www.example.com 192.0.2.10, 192.0.2.11";

    run("make.rhai", &[]);
    assert_eq!((provider.www)(), both);

    for (playbook, op) in [("delete.rhai", "dns::delete"), ("empty.rhai", "dns::a_record")] {
        let dry = run(playbook, &["--dry-run"]);
        assert!(dry.stdout.contains(&format!("would {plan}")), "{}", dry.all());
        assert_eq!((provider.www)(), both, "a dry run deletes nothing");

        let done = Test::in_project(p)
            .play(playbook)
            .on("dns")
            .envs(&provider.env)
            .json()
            .run();
        let events = done.events();
        let changes: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e["event"] == "change")
            .map(|e| (e["op"].as_str().unwrap(), e["summary"].as_str().unwrap()))
            .collect();
        assert_eq!(changes, [(op, plan)], "{}", done.all());
        assert!((provider.www)().is_empty(), "{}", done.all());

        let again = Test::in_project(p)
            .play(playbook)
            .on("dns")
            .envs(&provider.env)
            .json()
            .run();
        assert_eq!(again.total_changes(), 0, "{}", again.all());
        let dry = run(playbook, &["--dry-run"]);
        assert!(!dry.stdout.contains("would delete"), "{}", dry.all());
        run("make.rhai", &[]);
    }
    let deleted = run("delete.rhai", &[]);
    assert!(
        deleted
            .stdout
            .contains("changed=true removed=[\"192.0.2.10\", \"192.0.2.11\"]"),
        "{}",
        deleted.all()
    );
    let gone = run("delete.rhai", &[]);
    assert!(gone.stdout.contains("changed=false removed=[]"), "{}", gone.all());

    run("make.rhai", &[]);
    Test::in_project(p)
        .play("refused.rhai")
        .on("dns")
        .envs(&provider.env)
        .code(2)
        .stdout_contains(
            "dns::a_record(\"example.com\", \"www\"): no addresses given; to delete the record give `exact: true` \
             (dns::a_record(zone, name, [], #{ exact: true })) or call dns::delete(zone, name)",
        )
        .run();
    assert_eq!((provider.www)(), both, "refused: the record stays");
}

#[test]
fn digitalocean_records_are_deleted_in_plays() {
    let fake = FakeDo::start();
    let p = crate::support::Project::new();
    p.write("inventory/secrets/do_token", &format!("{}\n", fake_do::TOKEN));
    delete_in_plays(
        &p,
        &Provider {
            inventory: format!(
                "[dns]\nprovider = \"digitalocean\"\nendpoint = \"{}\"\ntoken_secret = \"do_token\"\n",
                fake.url()
            ),
            env: vec![],
            www: Box::new(|| do_www(&fake)),
        },
    );
    fake.assert_no_violations();
}

#[test]
fn route53_records_are_deleted_in_plays() {
    let fake = FakeRoute53::start();
    let p = crate::support::Project::new();
    delete_in_plays(
        &p,
        &Provider {
            inventory: format!("[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n", fake.url()),
            env: vec![
                ("AWS_ACCESS_KEY_ID", fake_route53::ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", fake_route53::SECRET_KEY),
            ],
            www: Box::new(|| {
                fake.state()
                    .sets
                    .iter()
                    .filter(|s| s.name == "www.example.com.")
                    .flat_map(|s| s.values.clone())
                    .collect()
            }),
        },
    );
    fake.assert_no_violations();
}

#[test]
fn hosts_file_records_are_deleted_in_plays() {
    let p = crate::support::Project::new();
    // Another name on a line of its own and on a line shared with www: both stay.
    p.write(
        "inventory/hosts.dns",
        "192.0.2.99 db.example.com\n192.0.2.10 cache.example.com www.example.com\n",
    );
    let file = p.path("inventory/hosts.dns");
    delete_in_plays(
        &p,
        &Provider {
            inventory: "[dns]\nprovider = \"docker\"\n".into(),
            env: vec![],
            www: Box::new(|| {
                std::fs::read_to_string(&file)
                    .unwrap()
                    .lines()
                    .filter(|l| l.split_whitespace().skip(1).any(|n| n == "www.example.com"))
                    .map(|l| l.split_whitespace().next().unwrap().to_string())
                    .collect()
            }),
        },
    );
    assert_eq!(
        p.read("inventory/hosts.dns"),
        "192.0.2.99 db.example.com\n192.0.2.10 cache.example.com\n192.0.2.10 www.example.com\n192.0.2.11 www.example.com\n",
        "the last play made www again; the other names are as they were"
    );
}

/// In a play on Route 53: the dry run of deleting a health-checked record plans the record
/// and runbook's checks and prices them off the bill; the run deletes both.
#[test]
fn route53_deleting_a_health_checked_record_in_a_play_deletes_its_checks_and_their_cost() {
    use crate::support::Project;
    let fake = FakeRoute53::start();
    let p = Project::new();
    p.write(
        "inventory/r53.toml",
        &format!(
            "[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n\n[cost]\ndns_zones = [\"example.com\"]\n",
            fake.url()
        ),
    );
    p.write(
        "make.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"app\", [\"192.0.2.10\", \"192.0.2.11\"], #{\n    \
         health_check: #{ type: \"HTTP\", port: 80, path: \"/health\" },\n}));\n",
    );
    p.write(
        "delete.rhai",
        "step(\"dns\", || dns::delete(\"example.com\", \"app\"));\n",
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", fake_route53::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", fake_route53::SECRET_KEY),
    ];
    let made = p.runbook_env(&["play", "make.rhai", "-i", "r53"], &env);
    assert_eq!(made.code, 0, "{}", made.all());
    assert_eq!(fake.state().health_checks.len(), 2);

    let plan = p.runbook_env(&["play", "delete.rhai", "-i", "r53", "--dry-run"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    for line in [
        "would delete A app.example.com 192.0.2.10, 192.0.2.11 and runbook's health checks for 192.0.2.10, 192.0.2.11",
        "  - health check app.example.com 192.0.2.10 (Route 53 health check)  -$0.75",
        "would go from $2.00 to $0.50 (-$1.50)",
    ] {
        assert!(plan.stdout.contains(line), "missing {line:?}\n{}", plan.all());
    }
    let counts = |fake: &FakeRoute53| {
        let st = fake.state();
        (st.sets.len(), st.health_checks.len())
    };
    assert_eq!(counts(&fake), (2, 2), "a dry run deletes nothing");

    let run = p.runbook_env(&["play", "delete.rhai", "-i", "r53"], &env);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(counts(&fake), (0, 0), "{}", run.all());
    let cost = p.runbook_env(&["cost", "-i", "r53"], &env);
    let lines: Vec<String> = cost
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(lines.iter().any(|l| l == "total $0.50"), "{}", cost.all());
    fake.assert_no_violations();
}

/// A run killed between making a record's health checks and the change that would use them
/// leaves them, billed and unused. The next `dns::a_record` of that record deletes them (a dry
/// run plans it), and keeps every other check: runbook's for another record, and ones runbook
/// did not make.
#[test]
fn route53_health_checks_left_by_a_killed_run_are_deleted_next_time() {
    use crate::support::Project;
    use std::time::{Duration, Instant};
    let fake = FakeRoute53::start();
    let p = Project::new();
    p.write(
        "inventory/r53.toml",
        &format!("[dns]\nprovider = \"route53\"\nendpoint = \"{}\"\n", fake.url()),
    );
    p.write(
        "dns.rhai",
        "step(\"dns\", || dns::a_record(\"example.com\", \"app\", [\"192.0.2.10\", \"192.0.2.11\"], #{\n    \
         health_check: #{ type: \"HTTP\", port: 80, path: \"/health\" },\n}));\n",
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", fake_route53::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", fake_route53::SECRET_KEY),
    ];
    // Checks that are not this record's leftovers: runbook's for www, and someone's own.
    let config = |name: &str| {
        format!(
            "<HealthCheckConfig>\n    <IPAddress>192.0.2.9</IPAddress>\n    <Port>80</Port>\n    <Type>HTTP</Type>\n    \
             <FullyQualifiedDomainName>{name}</FullyQualifiedDomainName>\n  </HealthCheckConfig>"
        )
    };
    let others = [
        (
            "runbook-0123456789abcdef0123456789abcdef-0000000000000000000a".to_string(),
            "11111111-aaaa-bbbb-cccc-000000000001".to_string(),
            config("www.example.com"),
        ),
        (
            "console-made-by-hand".to_string(),
            "11111111-aaaa-bbbb-cccc-000000000002".to_string(),
            config("app.example.com"),
        ),
    ];
    fake.state().health_checks.extend(others.iter().cloned());

    // The run dies (SIGKILL) before its change reaches Route 53: both checks were made.
    fake.state().lose_changes = Some(Duration::from_secs(3));
    let mut child = crate::support::Test::in_project(&p)
        .play("dns.rhai")
        .on("r53")
        .envs(&env)
        .process()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.change_held.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the change never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3)); // the lost change is answered to no one
    fake.state().lose_changes = None;
    assert!(fake.state().sets.is_empty(), "the change was not made");
    let leftovers: Vec<String> = fake.state().health_checks[2..].iter().map(|h| h.1.clone()).collect();
    assert_eq!(leftovers.len(), 2, "{:?}", fake.state().health_checks);

    // A dry run plans their deletion and deletes nothing.
    let plan = p.runbook_env(&["play", "dns.rhai", "-i", "r53", "--dry-run"], &env);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let planned = format!(
        "change A app.example.com: +192.0.2.10 +192.0.2.11, delete health checks an earlier run left unused: {}",
        leftovers.join(" ")
    );
    assert!(plan.stdout.contains(&planned), "{}", plan.all());
    assert_eq!(fake.state().health_checks.len(), 4);

    // The run: new checks in use, the leftovers gone, the others kept.
    let o = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains(&planned), "{}", o.all());
    let st = fake.state();
    let kept: Vec<&String> = st.health_checks.iter().map(|h| &h.1).collect();
    for l in &leftovers {
        assert!(
            !kept.contains(&l)
                && st
                    .log
                    .iter()
                    .any(|(m, path, _)| m == "DELETE" && path.ends_with(l.as_str()))
        );
    }
    for (_, id, _) in &others {
        assert!(kept.contains(&id), "{id} is kept: {kept:?}");
    }
    let used: Vec<&String> = st.sets.iter().filter_map(|s| s.health_check.as_ref()).collect();
    assert_eq!(used.len(), 2);
    assert_eq!(kept.len(), 4, "the two others and the two in use: {kept:?}");
    assert!(used.iter().all(|u| kept.contains(u)));
    drop(st);

    // Nothing is left over now: the next run changes nothing.
    let again = p.runbook_env(&["play", "dns.rhai", "-i", "r53"], &env);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(!again.stdout.contains("change A"), "{}", again.all());
    assert_eq!(fake.state().health_checks.len(), 4);
    fake.assert_no_violations();
}
