//! Every ```rhai block of README.md, run for real by the binary and held to what the README
//! says about it. The blocks are read from README.md when the test runs, so the README as it
//! is now is what gets tested; `EXAMPLES` says which function runs which block (by the
//! block's first line), and a block without an entry, or an entry without a block, fails the
//! test: a new example cannot go untested.
//!
//! The blocks run unchanged, against what they need: Docker test hosts (real sshd) for host
//! operations, the fake DigitalOcean API for `cloud::`/`dns::`, an HTTP server on a test host
//! for the waits, an app directory for shipping. What the test supplies around a block
//! (inventories, `--var`s, fixture files, the state a host starts in) is said where it is
//! made. The blocks run at the same time, each on hosts of its own (hello only reads).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::support::fake_do::{FakeDo, TOKEN};
use crate::support::testbed::{TestHost, client_key};
use crate::support::{Output, Project, Test, Testbed};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

/// The test hosts the examples share: `web` gets the host operations (nginx, ufw), `app`
/// the shipped release, `waits` the HTTP server the waits wait for; hello reads `web` and
/// `app` (it changes nothing there).
struct Hosts {
    tb: Testbed,
}

impl Hosts {
    fn web(&self) -> &TestHost {
        &self.tb.hosts[0]
    }
    fn app(&self) -> &TestHost {
        &self.tb.hosts[1]
    }
    fn waits(&self) -> &TestHost {
        &self.tb.hosts[2]
    }
}

type Example = fn(&Hosts, &str);

/// Which function runs which README block: the block's first line (its start), a name for
/// messages, the function.
const EXAMPLES: &[(&str, &str, Example)] = &[
    ("// examples/hello.rhai", "A playbook (examples/hello.rhai)", a_playbook),
    (
        "let ips = hosts(\"app\").map(|h| h.private_ip);",
        "Host operations and dry-run",
        host_operations,
    ),
    ("step(\"servers\", || {", "Cloud and DNS", cloud_and_dns),
    ("step(\"app up\", hosts(\"app\"), |h| {", "Waits", waits),
    (
        "let t = local::pack(\"app\", `ace-${var(\"version\")}.tar.gz`, #{",
        "Shipping a tarball",
        shipping,
    ),
];

/// The text of every fenced block whose info string is `rhai`, in order.
fn rhai_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None; // (language, text so far)
    for line in markdown.lines() {
        let fence = line.trim_start().starts_with("```");
        match &mut open {
            None if fence => {
                let lang = line.trim_start().trim_start_matches('`').trim().to_lowercase();
                open = Some((lang, String::new()));
            }
            None => {}
            Some(_) if fence && line.trim() == "```" => {
                let (lang, text) = open.take().unwrap();
                if lang == "rhai" {
                    blocks.push(text);
                }
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(open.is_none(), "README.md: a code block is not closed");
    blocks
}

/// Each README block with its entry of `EXAMPLES`; fails when the two do not match one to one.
fn assign(blocks: &[String]) -> Vec<(&'static str, Example, String)> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for b in blocks {
        let first = b.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let entries: Vec<_> = EXAMPLES.iter().filter(|(start, ..)| first.starts_with(start)).collect();
        match entries[..] {
            [(_, name, run)] => out.push((*name, *run, b.clone())),
            [] => problems.push(format!(
                "no test runs the README block starting {first:?}: add it to EXAMPLES in tests/it/readme.rs"
            )),
            _ => problems.push(format!("several EXAMPLES entries match the block starting {first:?}")),
        }
    }
    for (start, name, _) in EXAMPLES {
        let n = blocks
            .iter()
            .filter(|b| {
                b.lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .starts_with(start)
            })
            .count();
        if n != 1 {
            problems.push(format!(
                "EXAMPLES entry {name:?} matches {n} README blocks (starting {start:?}), not one"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md and EXAMPLES disagree:\n{}",
        problems.join("\n")
    );
    out
}

#[test]
fn the_block_parser_finds_rhai_blocks_only() {
    let md = "x\n```sh\nnot this\n```\n\n```rhai\nlet a = 1;\n\n// b\n```\n```toml\n[x]\n```\n  ```rhai\nc();\n  ```\n";
    assert_eq!(rhai_blocks(md), ["let a = 1;\n\n// b\n", "c();\n"]);
}

#[test]
fn every_rhai_block_of_the_readme_runs_and_does_what_the_readme_says() {
    let readme = std::fs::read_to_string(README).unwrap();
    let examples = assign(&rhai_blocks(&readme));
    let hosts = Hosts { tb: Testbed::start(3) };
    let started = std::time::Instant::now();
    let failed: Vec<&str> = std::thread::scope(|s| {
        let running: Vec<_> = examples
            .iter()
            .map(|(name, run, block)| {
                let hosts = &hosts;
                (
                    *name,
                    s.spawn(move || {
                        let t = std::time::Instant::now();
                        run(hosts, block);
                        eprintln!("README example {name:?}: ok in {:.1}s", t.elapsed().as_secs_f64());
                    }),
                )
            })
            .collect();
        running
            .into_iter()
            .filter_map(|(name, handle)| handle.join().is_err().then_some(name))
            .collect()
    });
    eprintln!("README examples: {:.1}s", started.elapsed().as_secs_f64());
    assert!(
        failed.is_empty(),
        "README examples that do not hold (their panics are above): {failed:?}"
    );
}

// --- helpers ---------------------------------------------------------------------------

/// An inventory logging in to the test hosts as root with the test key, with `groups` of
/// them, then `extra` (TOML tables of its own).
fn inventory(groups: &[(&str, &[&TestHost])], extra: &str) -> String {
    let mut t = format!("[ssh]\nuser = \"root\"\nkey = \"{}\"\n\n", client_key().display());
    let mut seen = BTreeSet::new();
    for (g, members) in groups {
        let names: Vec<&str> = members.iter().map(|h| h.name.as_str()).collect();
        t.push_str(&format!("[groups.{g}]\nhosts = {names:?}\n\n"));
    }
    for (_, members) in groups {
        for h in *members {
            if seen.insert(&h.name) {
                t.push_str(&format!("[hosts.{}]\naddress = \"{}\"\n\n", h.name, h.ip));
            }
        }
    }
    t.push_str(extra);
    t
}

/// A project with `block` as `NAME.rhai` and `inv` as `inventory/NAME.toml`, trusting the
/// test hosts' keys.
fn project(tb: &Testbed, name: &str, block: &str, inv: &str) -> Project {
    let p = Project::new();
    p.write(&format!("{name}.rhai"), block);
    p.write(&format!("inventory/{name}.toml"), inv);
    p.write("home/.ssh/known_hosts", &tb.known_hosts());
    p
}

/// `runbook play NAME.rhai -i NAME -o json` in `p` (exit 0 unless said).
fn play<'a>(p: &'a Project, name: &str) -> Test<'a> {
    Test::in_project(p).play(&format!("{name}.rhai")).on(name).json()
}

/// A `-o json` play that succeeded, whose counts agree (one `change` event per change).
fn played(test: Test) -> Output {
    let o = test.run();
    o.assert_counts_agree();
    o
}

/// The messages the playbook printed (`print`, and runbook's own notes on a host).
fn logs(o: &Output) -> Vec<String> {
    o.events()
        .into_iter()
        .filter(|e| e["event"] == "log")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

// --- the examples ----------------------------------------------------------------------

/// "A playbook": examples/hello.rhai. The README shows the file, so the block must be the
/// file (their leading comments aside); it runs on two web hosts, each greeted with the
/// kernel the first step read there, one host at a time, `app` from the inventory or --var.
/// And the README's way to try it without Docker: the file on examples/inventory/controller.toml.
fn a_playbook(hosts: &Hosts, block: &str) {
    let code = |text: &str| -> String {
        text.lines()
            .skip_while(|l| l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.rhai")).unwrap();
    assert_eq!(
        code(block),
        code(&file),
        "the README's hello.rhai is not examples/hello.rhai"
    );

    let tb = &hosts.tb;
    let web = [hosts.web(), hosts.app()];
    let p = project(
        tb,
        "hello",
        block,
        &inventory(&[("web", &web)], "[vars]\napp = \"ace-addon\"\n"),
    );
    let kernel = |h: &TestHost| tb.sh(h, "uname -sr").trim().to_string();

    let o = Test::in_project(&p).play("hello.rhai").on("hello").run();
    for h in web {
        let line = format!("changed: [{0}] run echo 'ace-addon on {0} runs {1}'", h.name, kernel(h));
        assert!(o.stdout.contains(&line), "missing {line:?}\n{}", o.all());
    }

    // --var wins over the inventory; `serial: 1` greets one host after the other.
    let o = played(play(&p, "hello").args(&["--var", "app=from-the-command-line"]));
    let greet: Vec<(String, String)> = o
        .events()
        .into_iter()
        .filter(|e| {
            (e["event"] == "change" && e["op"] == "run") || (e["event"] == "host_result" && e["step"] == "greet")
        })
        .map(|e| (e["event"].as_str().unwrap().into(), e["host"].as_str().unwrap().into()))
        .collect();
    let order: Vec<&str> = greet.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(greet.len(), 4, "{}", o.all());
    assert!(
        order[0] == order[1] && order[2] == order[3] && order[0] != order[2],
        "one host after the other: {greet:?}"
    );
    for h in web {
        let target = format!("echo 'from-the-command-line on {} runs {}'", h.name, kernel(h));
        assert!(
            o.changes().contains(&("run".to_string(), target.clone())),
            "missing {target:?}\n{}",
            o.all()
        );
    }

    // Without Docker: the file itself, on the controller.
    let q = Project::new();
    let o = Test::in_project(&q)
        .play(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello.rhai"))
        .args(&[
            "--inventory",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/inventory/controller.toml"),
        ])
        .run();
    for name in ["web1", "web2"] {
        let line = format!("changed: [{name}] run echo 'ace-addon on {name} runs Linux ");
        assert!(o.stdout.contains(&line), "missing {line:?}\n{}", o.all());
    }
}

/// The site template the block names, beside the playbook (as the README says templates are
/// found). `header` is an nginx directive, to see a reload take effect.
fn site_template(header: &str) -> String {
    format!(
        "# {{{{ host.name }}}}: the app servers of inventory {{{{ inventory.name }}}}\n\
         upstream app {{\n\
         {{% for ip in upstreams %}}    server {{{{ ip }}}}:3000;\n{{% endfor %}}}}\n\n\
         server {{\n    listen 80 default_server;\n    {header}\n    location / {{\n        proxy_pass http://app;\n    }}\n}}\n"
    )
}

/// "Host operations and dry-run": the dry run plans exactly what the real run then does;
/// the host ends up as the block says; a second run (and a second dry run) changes nothing;
/// nginx is reloaded by the step's handler, once, at the end of the step (after the
/// firewall), only when the site changed.
fn host_operations(hosts: &Hosts, block: &str) {
    let tb = &hosts.tb;
    let h = hosts.web();
    // The app servers `ips` comes from: addresses where nothing listens, so nginx answers
    // 502 at once (which shows the site is live); no step runs on them.
    let apps = "[groups.app]\nhosts = [\"app1\", \"app2\"]\n\n\
                [hosts.app1]\naddress = \"127.0.0.2\"\n\n[hosts.app2]\naddress = \"127.0.0.3\"\n";
    let p = project(tb, "ops", block, &inventory(&[("web", &[h])], apps));
    p.write("site.conf.j2", &site_template("add_header X-Site v1 always;"));

    let expected = pairs(&[
        ("apt", "nginx ufw"),
        ("user", "nodejs"),
        ("dir", "/opt/apps/releases"),
        ("file", "/opt/apps/.env"),
        ("template", "/etc/nginx/sites-available/app"),
        ("line", "/etc/nginx/nginx.conf"),
        ("symlink", "/etc/nginx/sites-enabled/app"),
        ("absent", "/etc/nginx/sites-enabled/default"),
        ("ufw", "firewall"),
        ("service", "nginx"), // the handler, after the closure
    ]);
    // The handler's results: one per run that changed the site, after the step's own.
    let handled = |o: &Output| -> Vec<(String, String)> {
        o.events()
            .into_iter()
            .filter(|e| e["event"] == "host_result")
            .map(|e| {
                let what = e["handler"]
                    .as_str()
                    .map_or("step".to_string(), |h| format!("handler {h}"));
                (what, e["status"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    };
    let reloaded = pairs(&[("step", "changed"), ("handler reload nginx", "changed")]);

    // The dry run: every change planned, nothing touched; the checksum it prints of a file
    // nginx brings and `h.line` edits is not known yet (and says so).
    let dry = played(play(&p, "ops").args(&["--dry-run"]));
    assert_eq!(dry.changes(), expected, "{}", dry.all());
    assert!(logs(&dry).contains(&"(known after apply)".to_string()), "{}", dry.all());
    assert_eq!(dry.total_changes(), expected.len() as u64);
    assert_eq!(handled(&dry), reloaded, "{}", dry.all());
    let notified = dry.events().into_iter().find(|e| e["event"] == "handler").unwrap();
    assert_eq!(
        (&notified["handler"], &notified["planned"]),
        (&serde_json::json!("reload nginx"), &serde_json::json!(true)),
        "{notified}"
    );
    assert!(
        notified["notified_by"]
            .as_str()
            .unwrap()
            .starts_with("h.template at ops.rhai:"),
        "{notified}"
    );
    assert_eq!(
        tb.exec(h, "test -e /etc/nginx || id nodejs || test -e /opt/apps").0,
        1,
        "a dry run touches nothing"
    );

    // The real run changes what the dry run planned, operation by operation.
    let first = played(play(&p, "ops"));
    assert_eq!(first.changes(), expected, "{}", first.all());
    assert_eq!(handled(&first), reloaded, "{}", first.all());
    let reload = first.events().into_iter().find(|e| e["op"] == "service").unwrap();
    assert_eq!(reload["summary"], "reload", "{reload}");
    assert_eq!(
        tb.sh(
            h,
            "getent passwd nodejs | cut -d: -f7; id -nG nodejs; \
             stat -c '%U %a %F' /opt/apps/releases /opt/apps/.env; cat /opt/apps/.env; \
             readlink /etc/nginx/sites-enabled/app; test -e /etc/nginx/sites-enabled/default || echo no default; \
             systemctl is-active nginx; systemctl is-enabled nginx"
        ),
        "/bin/bash\nnodejs adm\nnodejs 755 directory\nnodejs 600 regular file\nPORT=3000\n\
         /etc/nginx/sites-available/app\nno default\nactive\nenabled\n"
    );
    assert_eq!(
        tb.sh(h, "cat /etc/nginx/sites-available/app"),
        format!(
            "# {}: the app servers of inventory ops\nupstream app {{\n    server 127.0.0.2:3000;\n    server 127.0.0.3:3000;\n}}\n\n\
             server {{\n    listen 80 default_server;\n    add_header X-Site v1 always;\n    location / {{\n        proxy_pass http://app;\n    }}\n}}\n",
            h.name
        )
    );
    // `server_tokens off;` where nginx takes it (the `http` block), and nginx accepts the lot.
    assert_eq!(
        tb.sh(h, "grep -n server_tokens /etc/nginx/nginx.conf | cut -d: -f2"),
        "server_tokens off;\n"
    );
    tb.sh(h, "nginx -t 2>&1");
    // The reload took: the new site answers (502: no app server), without nginx's version.
    // `systemctl reload nginx` returns once nginx has the signal; its new workers answer a
    // moment later (the reload is the step's last act now): the answer that has `want`,
    // within 10 s, else the last one.
    let answer = |tb: &Testbed, want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let head = tb.sh(h, "curl -sS -o /dev/null -D - http://127.0.0.1/ | tr -d '\\r'");
            if head.contains(want) || std::time::Instant::now() > deadline {
                return head;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let head = answer(tb, "\nX-Site: v1\n");
    assert!(
        head.starts_with("HTTP/1.1 502") && head.contains("\nServer: nginx\n") && head.contains("\nX-Site: v1\n"),
        "{head}"
    );
    let ufw = tb.sh(h, "ufw status verbose");
    assert!(
        ufw.contains("Status: active")
            && ufw.contains("Default: deny (incoming)")
            && ufw.contains("22/tcp                     ALLOW IN")
            && ufw.contains("443/tcp                    ALLOW IN"),
        "{ufw}"
    );
    let sha = tb.sh(h, "sha256sum /etc/nginx/nginx.conf")[..64].to_string();
    assert!(
        logs(&first).contains(&sha),
        "the printed sha256 is the file's\n{}",
        first.all()
    );

    // A second run, and a second dry run, change nothing (no reload either).
    for args in [&[][..], &["--dry-run"][..]] {
        let again = played(play(&p, "ops").args(args));
        assert_eq!(again.total_changes(), 0, "{}", again.all());
        assert_eq!(again.changes(), vec![], "{}", again.all());
        assert_eq!(handled(&again), pairs(&[("step", "ok")]), "{}", again.all());
    }

    // The site changes: the template, then the reload that puts it in force; nothing else.
    p.write("site.conf.j2", &site_template("add_header X-Site v2 always;"));
    let changed = played(play(&p, "ops"));
    assert_eq!(
        changed.changes(),
        pairs(&[("template", "/etc/nginx/sites-available/app"), ("service", "nginx")]),
        "{}",
        changed.all()
    );
    assert_eq!(handled(&changed), reloaded, "{}", changed.all());
    assert!(answer(tb, "\nX-Site: v2\n").contains("\nX-Site: v2\n"), "reloaded");
}

/// An ed25519 public key and its MD5 fingerprint (`ssh-keygen -E md5 -l`), as in cloud_do.rs.
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+i3sYoc+bfr7DgaN72vCT5kZoztFZS4zB3XP56ZVd+ deploy@runbook";
const FINGERPRINT: &str = "72:3a:98:74:b5:04:2c:cd:0e:74:c1:f6:6b:4f:7e:87";

/// An inventory of the fake DigitalOcean API (token from a secret file beside it).
fn cloud_inventory(p: &Project, name: &str, fake: &FakeDo, before: &str) {
    p.write(
        &format!("inventory/{name}.toml"),
        &format!(
            "{before}[cloud]\nprovider = \"digitalocean\"\ntag = \"runbook:readme\"\naddress = \"public\"\n\
             token_secret = \"do_token\"\nendpoint = \"{}\"\n",
            fake.url()
        ),
    );
    p.write("inventory/secrets/do_token", &format!("{TOKEN}\n"));
}

/// "Cloud and DNS", on the fake DigitalOcean API (its DNS too: the inventory has no [dns]):
/// a dry run only reads; the run makes web1, snapshots it once, makes web2 from the
/// snapshot, points www at both; the inventory then has both in group web; a second run
/// changes nothing.
fn cloud_and_dns(_: &Hosts, block: &str) {
    let fake = FakeDo::start();
    fake.state().polls = 0;
    fake.state().expect_key(KEY, FINGERPRINT);
    let p = Project::new();
    p.write("cloud.rhai", block);
    cloud_inventory(&p, "cloud", &fake, "");
    // The key the spec names, `~/.ssh/id_ed25519.pub`.
    p.write("home/.ssh/id_ed25519.pub", &format!("{KEY}\n"));

    let dry = played(play(&p, "cloud").args(&["--dry-run"]));
    let planned: Vec<String> = dry
        .events()
        .into_iter()
        .filter(|e| e["event"] == "change")
        .map(|e| e["summary"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        planned,
        [
            "create droplet web1 (s-1vcpu-1gb, image debian-12-x64, region fra1, tags role:web runbook:readme)",
            "snapshot droplet web1 as web1-base (power off, snapshot, power on)",
            "create droplet web2 (s-1vcpu-1gb, image (known after apply), region fra1, tags role:web runbook:readme)",
            "set A www.example.com to (known after apply) (known after apply)",
        ],
        "{}",
        dry.all()
    );
    assert!(fake.droplet_names().is_empty());
    assert!(
        fake.state().log.iter().all(|l| l.method == "GET"),
        "a dry run only reads"
    );

    let run = played(play(&p, "cloud"));
    let ops: Vec<String> = run.changes().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        ["cloud::droplet", "cloud::snapshot", "cloud::droplet", "dns::a_record"],
        "{}",
        run.all()
    );
    assert_eq!(fake.droplet_names(), ["web1", "web2"]);
    let (web1, web2, snapshot) = {
        let st = fake.state();
        let d = |n: &str| st.droplets.iter().find(|d| d["name"] == n).unwrap().clone();
        assert_eq!(st.snapshots.len(), 1, "{:?}", st.snapshots);
        (d("web1"), d("web2"), st.snapshots[0].clone())
    };
    assert_eq!(snapshot["name"], "web1-base");
    assert_eq!(snapshot["droplet_id"], web1["id"]);
    assert_eq!(web2["image"]["id"], snapshot["id"], "web2 is made from the snapshot");
    for d in [&web1, &web2] {
        assert_eq!(d["tags"], serde_json::json!(["role:web", "runbook:readme"]), "{d}");
        assert_eq!(d["status"], "active", "powered on again: {d}");
    }
    for body in fake
        .requests("POST", "/v2/droplets")
        .iter()
        .filter(|l| l.path == "/v2/droplets")
    {
        let b: Value = serde_json::from_str(&body.body).unwrap();
        assert_eq!(b["ssh_keys"], serde_json::json!([FINGERPRINT]), "{b}");
        assert_eq!(
            (b["size"].as_str(), b["region"].as_str()),
            (Some("s-1vcpu-1gb"), Some("fra1"))
        );
    }
    let ip = |d: &Value| {
        d["networks"]["v4"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "public")
            .unwrap()["ip_address"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut records: Vec<(String, String, String, u64)> = fake
        .state()
        .records
        .iter()
        .map(|(zone, r)| {
            (
                zone.clone(),
                r["name"].as_str().unwrap().into(),
                r["data"].as_str().unwrap().into(),
                r["ttl"].as_u64().unwrap(),
            )
        })
        .collect();
    records.sort();
    let mut want = vec![
        ("example.com".to_string(), "www".to_string(), ip(&web1), 300),
        ("example.com".to_string(), "www".to_string(), ip(&web2), 300),
    ];
    want.sort();
    assert_eq!(records, want, "{}", run.all());

    // The inventory now has both in group `web` (what inventory::refresh() gave the play).
    let inv = Test::in_project(&p)
        .command(&["inventory"])
        .on("cloud")
        .args(&["--json"])
        .run();
    let doc: Value = serde_json::from_str(&inv.stdout).unwrap();
    assert_eq!(
        doc["groups"]["web"]["hosts"],
        serde_json::json!(["web1", "web2"]),
        "{doc}"
    );

    // Again: found, not made; snapshotted once per name; the records as they are.
    let again = played(play(&p, "cloud"));
    assert_eq!(again.total_changes(), 0, "{}", again.all());
    let again = played(play(&p, "cloud").args(&["--dry-run"]));
    assert_eq!(again.total_changes(), 0, "{}", again.all());
    let creates = fake
        .requests("POST", "/v2/droplets")
        .into_iter()
        .filter(|l| l.path == "/v2/droplets")
        .count();
    assert_eq!(creates, 2);
    let actions: Vec<String> = fake
        .requests("POST", "/v2/droplets/")
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(&l.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        actions.iter().filter(|a| *a == "snapshot").count() == 1
            && actions
                .iter()
                .filter(|a| a.starts_with("power_off") || *a == "shutdown")
                .count()
                == 1,
        "{actions:?}"
    );
    assert_eq!(fake.state().records.len(), 2);
    for o in [&dry, &run] {
        assert!(!o.all().contains(TOKEN), "the token leaked:\n{}", o.all());
    }
    fake.assert_no_violations();
}

/// "Waits": the app host's health check comes up 2 s after runbook first logs in there, so
/// the port wait really waits; the droplet and the three web hosts come from the fake
/// DigitalOcean API. A dry run only says what it would wait for; waits change nothing.
fn waits(hosts: &Hosts, block: &str) {
    let tb = &hosts.tb;
    let h = hosts.waits();
    let fake = FakeDo::start();
    for n in ["web1", "web2", "web3"] {
        fake.state().add_droplet(n, &["runbook:readme", "role:web"]);
    }
    let p = project(tb, "waits", block, "");
    cloud_inventory(&p, "waits", &fake, &inventory(&[("app", &[h])], ""));
    // The app: /healthcheck answers 200 "ok", from 2 s after the first SSH login (only
    // runbook logs in to this host).
    let health = r#"
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/healthcheck"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not here\n")
http.server.HTTPServer(("", 3000), H).serve_forever()
"#;
    tb.sh(h, &format!("cat > /root/health.py <<'EOF'\n{health}EOF"));
    let out = Command::new("docker")
        .args(["exec", "-d", &h.name, "sh", "-c"])
        .arg("until ss -Htn state established '( sport = :22 )' | grep -q .; do sleep 0.1; done; sleep 2; exec python3 /root/health.py")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let o = played(play(&p, "waits"));
    assert_eq!(o.total_changes(), 0, "{}", o.all());
    let port = format!("s for port {}:3000", h.ip);
    assert!(
        logs(&o).iter().any(|l| l.starts_with("waited ") && l.ends_with(&port)),
        "the port wait waited\n{}",
        o.all()
    );
    assert_eq!(tb.sh(h, "curl -s http://127.0.0.1:3000/healthcheck"), "ok\n");

    let dry = played(play(&p, "waits").args(&["--dry-run"]));
    let said = logs(&dry);
    for what in [
        format!("would wait for ssh on {} ({})", h.name, h.ip),
        format!("would wait for port {}:3000", h.ip),
        format!(
            "would wait for http://{}:3000/healthcheck to answer 200 with \"ok\"",
            h.ip
        ),
    ] {
        assert!(said.contains(&what), "missing {what:?}\n{}", dry.all());
    }
    assert!(!said.iter().any(|l| l.starts_with("waited ")), "{}", dry.all());

    let again = played(play(&p, "waits"));
    assert_eq!(again.total_changes(), 0, "{}", again.all());
    fake.assert_no_violations();
}

/// "Shipping a tarball": `npm ci --omit=dev` runs in app/ first (its failure stops the play),
/// the tarball leaves out .git, *.log and what app/.runbookignore names, lands in
/// .runbook/build/, is uploaded and unpacked for nodejs; the second run changes nothing.
fn shipping(hosts: &Hosts, block: &str) {
    let tb = &hosts.tb;
    let h = hosts.app();
    // Where the block starts from: the app user its files are for (the host operations
    // above make it, on their host).
    tb.sh(h, "useradd --user-group nodejs");
    let p = project(tb, "ship", block, &inventory(&[("app", &[h])], ""));
    p.write(
        "app/package.json",
        "{ \"name\": \"ace\", \"version\": \"1.2.0\", \"private\": true }\n",
    );
    p.write(
        "app/package-lock.json",
        "{ \"name\": \"ace\", \"version\": \"1.2.0\", \"lockfileVersion\": 3, \"requires\": true, \"packages\": { \"\": { \"name\": \"ace\", \"version\": \"1.2.0\" } } }\n",
    );
    p.write(
        "app/server.js",
        "require('http').createServer((q, s) => s.end('ace')).listen(3000);\n",
    );
    p.write("app/.git/HEAD", "ref: refs/heads/main\n");
    p.write("app/logs/today.log", "noise\n");
    p.write("app/npm-debug.log", "noise\n");
    p.write("app/.env", "SECRET=not shipped\n");
    p.write("app/.runbookignore", ".env\n");
    // A stand-in for npm, first on PATH: the controller need not have npm (the test setup
    // does not install it) and the real one would ask the registry. It notes how it was
    // called in the directory it ran in, and installs a dependency there.
    let npm = p.write(
        "bin/npm",
        "#!/bin/sh\n[ -z \"$README_NPM_FAILS\" ] || { echo 'npm ERR! code E404' >&2; exit 1; }\n\
         echo \"$*\" > npm-ran\nmkdir -p node_modules/left-pad && echo 'module.exports = 1' > node_modules/left-pad/index.js\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        p.path("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ship = || play(&p, "ship").args(&["--var", "version=1.2"]).env("PATH", &path);

    // npm fails: the play stops before anything reaches the host.
    let o = ship().env("README_NPM_FAILS", "1").code(1).run();
    assert!(
        o.stderr.contains("the prepare command failed") && o.stderr.contains("npm ERR! code E404"),
        "{}",
        o.all()
    );
    assert_eq!(tb.sh(h, "test -e /opt/apps || echo none"), "none\n");

    let first = played(ship());
    assert_eq!(
        first.changes(),
        pairs(&[
            ("dir", "/opt/apps/deploys"),
            ("upload", "/opt/apps/deploys/ace-1.2.tar.gz"),
            ("unpack", "/opt/apps/releases/ace-1.2"),
        ]),
        "{}",
        first.all()
    );
    let tarball = p.path(".runbook/build/ace-1.2.tar.gz");
    let listing = Command::new("tar").arg("-tzf").arg(&tarball).output().unwrap();
    assert!(listing.status.success());
    let mut entries: Vec<String> = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            ".runbookignore",
            "logs",
            "node_modules",
            "node_modules/left-pad",
            "node_modules/left-pad/index.js",
            "npm-ran",
            "package-lock.json",
            "package.json",
            "server.js",
        ]
    );
    let sha =
        String::from_utf8(Command::new("sha256sum").arg(&tarball).output().unwrap().stdout).unwrap()[..64].to_string();
    let rel = "/opt/apps/releases/ace-1.2";
    assert_eq!(
        tb.sh(
            h,
            &format!(
                "sha256sum /opt/apps/deploys/ace-1.2.tar.gz | cut -c1-64; cat {rel}/.runbook-archive {rel}/npm-ran; \
                 find {rel} ! -user nodejs -o ! -group nodejs | wc -l"
            )
        ),
        format!("{sha}\n{sha}\nci --omit=dev\n0\n")
    );

    let again = played(ship());
    assert_eq!(again.total_changes(), 0, "{}", again.all());
}
