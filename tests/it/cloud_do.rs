//! The DigitalOcean provider against the fake API (support/fake_do.rs).

use std::time::{Duration, UNIX_EPOCH};

use runbook::cloud::digitalocean::{DigitalOcean, Retry};
use runbook::cloud::retry::Policy;
use runbook::cloud::{self, DropletPlan, DropletSpec, Provider};

use crate::support::fake_do::{FakeDo, TOKEN};

const TAG: &str = "runbook:test";

fn policy() -> Policy {
    Policy {
        attempts: 4,
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_wait: Duration::from_secs(5),
        poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        per_page: 200,
        ..Policy::default()
    }
}

fn client(fake: &FakeDo, policy: Policy) -> DigitalOcean {
    DigitalOcean::new(Some(&fake.url()), TOKEN.into(), policy).unwrap()
}

fn spec(name: &str, role: &str) -> DropletSpec {
    DropletSpec {
        name: name.into(),
        region: Some("nyc3".into()),
        size: "s-1vcpu-1gb".into(),
        image: "ubuntu-20-04-x64".into(),
        tags: vec![format!("role:{role}")],
        vpc_uuid: Some("760e09ef-dc84-11e8-981e-3cfdfeaae000".into()),
        user_data: Some("#cloud-config\n".into()),
        monitoring: true,
        ..Default::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The action types posted for a droplet, in order.
fn action_types(fake: &FakeDo, droplet_id: &str) -> Vec<String> {
    fake.requests("POST", &format!("/v2/droplets/{droplet_id}/actions"))
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(&l.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn create_discover_snapshot_clone_and_destroy() {
    let fake = FakeDo::start();
    let p = client(&fake, policy());
    rt().block_on(async {
        let specs = [spec("web1", "web"), spec("web2", "web"), spec("db1", "db")];
        let mut made = Vec::new();
        for s in &specs {
            let plan = cloud::plan_droplet(&p, TAG, s).await.unwrap();
            assert!(matches!(plan, DropletPlan::Create(_)), "{plan:?}");
            made.push(cloud::apply_droplet(&p, plan).await.unwrap());
        }
        for d in &made {
            assert_eq!(d.status, "active");
            assert!(d.public_ip.as_deref().unwrap().starts_with("203.0.113."), "{d:?}");
            assert!(d.private_ip.as_deref().unwrap().starts_with("10.110.0."), "{d:?}");
            assert!(d.tags.contains(&TAG.to_string()), "{d:?}");
        }
        // The same specs again: nothing is created.
        for s in &specs {
            let plan = cloud::plan_droplet(&p, TAG, s).await.unwrap();
            assert!(matches!(plan, DropletPlan::Exists(_)), "{plan:?}");
        }
        assert_eq!(
            fake.requests("POST", "/v2/droplets")
                .iter()
                .filter(|l| l.path == "/v2/droplets")
                .count(),
            3
        );

        let listed = p.list(TAG).await.unwrap();
        let mut names: Vec<_> = listed.iter().map(|d| (d.name.clone(), d.tags.clone())).collect();
        names.sort();
        assert_eq!(names[0].0, "db1");
        assert!(names[0].1.contains(&"role:db".to_string()));
        assert_eq!(
            names
                .iter()
                .filter(|(_, t)| t.contains(&"role:web".to_string()))
                .count(),
            2
        );

        // Snapshot web1: shutdown, snapshot, power on, each action polled to completion.
        let web1 = &made[0];
        let snap = cloud::snapshot_with_power_off(&p, web1, "web1-base").await.unwrap();
        assert_eq!(snap.name, "web1-base");
        assert_eq!(action_types(&fake, &web1.id), ["shutdown", "snapshot", "power_on"]);
        assert_eq!(p.find("web1").await.unwrap().unwrap().status, "active");
        let polled = fake.requests("GET", "/v2/actions/").len();
        assert!(
            polled >= 6,
            "every action is polled until completed (in-progress first): {polled}"
        );
        assert_eq!(p.find_snapshot("web1-base").await.unwrap(), Some(snap.clone()));

        // A droplet from the snapshot: the image is the snapshot's id, sent as an integer.
        let mut s = spec("web3", "web");
        s.image = snap.id.clone();
        let web3 = cloud::apply_droplet(&p, cloud::plan_droplet(&p, TAG, &s).await.unwrap())
            .await
            .unwrap();
        assert_eq!(web3.image, snap.id);
        let create = fake.requests("POST", "/v2/droplets").last().unwrap().body.clone();
        let body: serde_json::Value = serde_json::from_str(&create).unwrap();
        assert_eq!(body["image"], serde_json::json!(snap.id.parse::<i64>().unwrap()));

        for d in p.list(TAG).await.unwrap() {
            p.destroy(&d).await.unwrap();
        }
        assert!(p.list(TAG).await.unwrap().is_empty());
    });
    assert!(fake.droplet_names().is_empty());
    fake.assert_no_violations();
}

#[test]
fn a_droplet_of_someone_else_is_not_adopted() {
    let fake = FakeDo::start();
    let id = fake.state().add_droplet("web1", &["env:prod"]);
    let p = client(&fake, policy());
    let err = rt()
        .block_on(cloud::plan_droplet(&p, TAG, &spec("web1", "web")))
        .unwrap_err();
    assert!(
        err.contains("`web1`") && err.contains(&id.to_string()) && err.contains(TAG) && err.contains("env:prod"),
        "{err}"
    );
    fake.assert_no_violations();
}

#[test]
fn missing_tags_are_added_to_an_existing_droplet() {
    let fake = FakeDo::start();
    fake.state().add_droplet("web1", &[TAG]);
    let p = client(&fake, policy());
    rt().block_on(async {
        let plan = cloud::plan_droplet(&p, TAG, &spec("web1", "web")).await.unwrap();
        assert!(
            matches!(&plan, DropletPlan::Tag(_, missing) if missing == &["role:web".to_string()]),
            "{plan:?}"
        );
        let d = cloud::apply_droplet(&p, plan).await.unwrap();
        assert!(d.tags.contains(&"role:web".to_string()));
        let again = p.find("web1").await.unwrap().unwrap();
        assert!(again.tags.contains(&"role:web".to_string()), "{again:?}");
    });
    assert_eq!(
        fake.requests("POST", "/v2/tags").len(),
        2,
        "create the tag, then tag the droplet"
    );
    fake.assert_no_violations();
}

#[test]
fn a_429_waits_until_ratelimit_reset() {
    let fake = FakeDo::start();
    fake.state().add_droplet("web1", &[TAG]);
    fake.state().inject.push_back(crate::support::fake_do::Inject {
        method: "GET",
        path: "/v2/droplets".into(),
        status: 429,
        reset_in: Some(2),
    });
    let p = client(&fake, policy());
    let listed = rt().block_on(p.list(TAG)).unwrap();
    assert_eq!(listed.len(), 1);
    let reqs = fake.requests("GET", "/v2/droplets");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, 429);
    let reset = UNIX_EPOCH + Duration::from_secs(reqs[0].reset.unwrap());
    assert!(
        reqs[1].at >= reset,
        "the retry came before ratelimit-reset: {:?} < {reset:?}",
        reqs[1].at
    );
    fake.assert_no_violations();
}

#[test]
fn a_used_up_quota_waits_for_the_reset_before_asking() {
    let fake = FakeDo::start();
    fake.state().add_droplet("web1", &[TAG]);
    {
        let mut st = fake.state();
        st.remaining = 1; // the first answer says 0 left, resetting in 1-2 s
        st.reset_in = 2;
    }
    let p = client(&fake, policy());
    rt().block_on(async {
        p.list(TAG).await.unwrap();
        fake.state().reset_in = 3600;
        p.list(TAG).await.unwrap();
    });
    let reqs = fake.requests("GET", "/v2/droplets");
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200],
        "no 429 provoked"
    );
    let reset = UNIX_EPOCH + Duration::from_secs(reqs[0].reset.unwrap());
    assert!(
        reqs[1].at >= reset,
        "asked before the quota reset: {:?} < {reset:?}",
        reqs[1].at
    );
    fake.assert_no_violations();
}

#[test]
fn lists_follow_three_pages() {
    let fake = FakeDo::start();
    for i in 1..=5 {
        fake.state().add_droplet(&format!("app{i}"), &[TAG]);
    }
    fake.state().add_droplet("other", &["else"]);
    let p = client(
        &fake,
        Policy {
            per_page: 2,
            ..policy()
        },
    );
    let mut names: Vec<String> = rt()
        .block_on(p.list(TAG))
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    names.sort();
    assert_eq!(names, ["app1", "app2", "app3", "app4", "app5"]);
    let pages: Vec<Option<String>> = fake
        .requests("GET", "/v2/droplets")
        .iter()
        .map(|l| l.query.iter().find(|(k, _)| k == "page").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(pages, [None, Some("2".into()), Some("3".into())]);
    fake.assert_no_violations();
}

#[test]
fn an_errored_action_is_reported_and_the_droplet_powered_on_again() {
    let fake = FakeDo::start();
    fake.state().error_actions.insert("snapshot".into());
    let p = client(&fake, policy());
    rt().block_on(async {
        let d = p.create(&cloud::tagged(&spec("db1", "db"), TAG)).await.unwrap();
        let err = cloud::snapshot_with_power_off(&p, &d, "db1-base").await.unwrap_err();
        assert!(
            err.contains("(snapshot)") && err.contains("`db1`") && err.contains("errored"),
            "{err}"
        );
        let action_id = fake
            .state()
            .actions
            .iter()
            .find(|a| a.json["type"] == "snapshot")
            .unwrap()
            .json["id"]
            .clone();
        assert!(err.contains(&format!("action {action_id} (snapshot)")), "{err}");
        assert_eq!(action_types(&fake, &d.id), ["shutdown", "snapshot", "power_on"]);
        assert_eq!(p.find("db1").await.unwrap().unwrap().status, "active");
    });
    fake.assert_no_violations();
}

#[test]
fn a_500_is_retried_and_a_failed_create_is_not_duplicated() {
    let fake = FakeDo::start();
    fake.state().add_droplet("web1", &[TAG]);
    for (method, path) in [("GET", "/v2/droplets"), ("POST", "/v2/droplets")] {
        fake.state().inject.push_back(crate::support::fake_do::Inject {
            method,
            path: path.into(),
            status: 500,
            reset_in: None,
        });
    }
    let p = client(&fake, policy());
    rt().block_on(async {
        assert_eq!(p.list(TAG).await.unwrap().len(), 1);
        let d = p.create(&cloud::tagged(&spec("web2", "web"), TAG)).await.unwrap();
        assert_eq!(d.status, "active");
    });
    let gets: Vec<u16> = fake
        .requests("GET", "/v2/droplets")
        .iter()
        .filter(|l| l.query.iter().any(|(k, _)| k == "tag_name"))
        .map(|l| l.status)
        .collect();
    assert_eq!(gets, [500, 200]);
    let posts: Vec<u16> = fake
        .requests("POST", "/v2/droplets")
        .iter()
        .filter(|l| l.path == "/v2/droplets")
        .map(|l| l.status)
        .collect();
    assert_eq!(
        posts,
        [500, 202],
        "after a 500 the client looks by name, then creates once"
    );
    assert_eq!(fake.droplet_names(), ["web1", "web2"]);
    fake.assert_no_violations();
}

#[test]
fn api_errors_name_the_request_and_never_the_token() {
    let fake = FakeDo::start();
    let p = client(&fake, policy());
    rt().block_on(async {
        let mut s = spec("web1", "web");
        s.size = "s-huge".into();
        let err = p.create(&s).await.unwrap_err();
        assert!(
            err.contains("POST /v2/droplets") && err.contains("422 unprocessable_entity") && err.contains("s-huge"),
            "{err}"
        );
        assert!(!err.contains(TOKEN));
        let err = p
            .request(reqwest::Method::GET, "/v2/droplets/42", None, Retry::All)
            .await
            .unwrap_err()
            .message;
        assert_eq!(
            err,
            "DigitalOcean API GET /v2/droplets/42: 404 not_found: The resource you requested could not be found."
        );
    });
    let wrong = DigitalOcean::new(Some(&fake.url()), "dop_v1_wrong".into(), policy()).unwrap();
    let err = rt().block_on(wrong.list(TAG)).unwrap_err();
    assert!(
        err.contains("401 unauthorized") && !err.contains("dop_v1_wrong"),
        "{err}"
    );
}

#[test]
fn public_keys_are_registered_by_fingerprint() {
    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+i3sYoc+bfr7DgaN72vCT5kZoztFZS4zB3XP56ZVd+ deploy@runbook";
    const FP: &str = "72:3a:98:74:b5:04:2c:cd:0e:74:c1:f6:6b:4f:7e:87"; // ssh-keygen -E md5 -l
    assert_eq!(runbook::cloud::digitalocean::fingerprint(KEY).unwrap(), FP);
    let fake = FakeDo::start();
    fake.state().expect_key(KEY, FP);
    let p = client(&fake, policy());
    rt().block_on(async {
        for name in ["web1", "web2"] {
            let mut s = spec(name, "web");
            s.ssh_keys = vec![KEY.into()];
            p.create(&s).await.unwrap();
        }
    });
    assert_eq!(
        fake.requests("POST", "/v2/account/keys").len(),
        1,
        "registered once, found the second time"
    );
    let create: serde_json::Value =
        serde_json::from_str(&fake.requests("POST", "/v2/droplets").last().unwrap().body).unwrap();
    assert_eq!(create["ssh_keys"], serde_json::json!([FP]));
    fake.assert_no_violations();
}

#[test]
fn the_fake_refuses_requests_the_api_documents_differently() {
    let fake = FakeDo::start();
    let p = client(&fake, policy());
    let bad = [
        (
            "/v2/droplets",
            serde_json::json!({"name": "web1", "size": "s-1vcpu-1gb", "image": "x", "flavor": 1}),
        ),
        (
            "/v2/droplets",
            serde_json::json!({"name": "web_1!", "size": "s-1vcpu-1gb", "image": "x"}),
        ),
        ("/v2/droplets", serde_json::json!({"name": "web1", "image": "x"})),
        (
            "/v2/domains/example.com/records",
            serde_json::json!({"type": "A", "name": "www.example.com", "data": "192.0.2.1"}),
        ),
    ];
    rt().block_on(async {
        for (path, body) in &bad {
            let err = p
                .request(reqwest::Method::POST, path, Some(body), Retry::Safe)
                .await
                .unwrap_err();
            assert!(err.message.contains("400 bad_request"), "{err:?}");
        }
        let err = p
            .request(
                reqwest::Method::GET,
                "/v2/droplets?tag_name=a&name=b",
                None,
                Retry::Safe,
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("cannot be combined"), "{err:?}");
    });
    assert_eq!(
        fake.state().violations.len(),
        bad.len() + 1,
        "{:?}",
        fake.state().violations
    );
}

/// A request that may have acted (a POST that creates or starts something) and got no
/// answer is not sent again, and the error says so; a GET is tried once more.
#[test]
fn a_post_without_an_answer_is_not_sent_again_and_says_so() {
    use crate::support::silent::Silent;
    let silent = Silent::tcp();
    let quick = Policy {
        request_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        ..policy()
    };
    let p = DigitalOcean::new(Some(&silent.url), TOKEN.into(), quick).unwrap();
    let body = serde_json::json!({"type": "shutdown"});
    let started = std::time::Instant::now();
    let err = rt()
        .block_on(p.request(
            reqwest::Method::POST,
            "/v2/droplets/7/actions",
            Some(&body),
            Retry::Safe,
        ))
        .unwrap_err()
        .message;
    assert_eq!(
        err,
        "DigitalOcean did not answer POST /v2/droplets/7/actions within 1s (1 try; not sent again: DigitalOcean may have acted on it)"
    );
    assert_eq!(silent.accepted(), 1);
    let err = rt()
        .block_on(p.request(reqwest::Method::GET, "/v2/actions/9", None, Retry::All))
        .unwrap_err()
        .message;
    assert!(
        err.starts_with("DigitalOcean did not answer GET /v2/actions/9 within 1s (2 tries in ")
            && err.ends_with("; giving up)"),
        "{err}"
    );
    assert_eq!(silent.accepted(), 3);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
}
