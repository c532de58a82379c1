//! `wait::` through the real binary, against listeners and HTTP servers on 127.0.0.1.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::http::{Reply, Server};
use crate::support::{Project, Test};

fn project(playbook: &str) -> Project {
    let p = Project::new();
    p.local_inventory(&[]);
    p.write("wait.rhai", playbook);
    p
}

/// A port nothing listens on (bound once by the OS, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_port_that_opens_after_two_seconds_is_waited_for() {
    let port = free_port();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        // Accept the waiter's connection, then close.
        let _ = l.accept();
    });
    let p = project(&format!(
        "step(\"port\", || wait::port(\"127.0.0.1\", {port}, \"20s\"));\nprint(\"after the wait\");\n"
    ));
    let start = Instant::now();
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    let took = start.elapsed();
    opener.join().unwrap();
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(took >= Duration::from_millis(1900), "returned after {took:?}");
    assert!(took < Duration::from_secs(10), "returned after {took:?}");
    assert!(
        o.stdout.contains("  waited ") && o.stdout.contains(&format!("s for port 127.0.0.1:{port}")),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("after the wait"), "{}", o.all());
}

#[test]
fn a_port_that_stays_closed_times_out_with_the_last_observation() {
    let port = free_port();
    let p = project(&format!("step(\"port\", || wait::port(\"127.0.0.1\", {port}, 1));\n"));
    let start = Instant::now();
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let want = format!("wait::port(127.0.0.1, {port}): timed out after 1s waiting for port 127.0.0.1:{port} (");
    assert!(o.all().contains(&want), "{}", o.all());
    assert!(o.all().contains("tries); last: connection refused"), "{}", o.all());
}

#[test]
fn http_503_then_200_is_waited_for_and_timeouts_tell_the_last_answer() {
    // 503 for the first 1.5 s after the first request, then 200 with the expected body.
    let mut first: Option<Instant> = None;
    let flaky = Server::start(move |_| {
        let since = *first.get_or_insert_with(Instant::now);
        if since.elapsed() < Duration::from_millis(1500) {
            Reply {
                status: 503,
                headers: vec![],
                body: "starting".into(),
            }
        } else {
            Reply {
                status: 200,
                headers: vec![],
                body: "ok: ready".into(),
            }
        }
    });
    let broken = Server::start(|_| Reply {
        status: 503,
        headers: vec![],
        body: "down".into(),
    });
    let p = project(&format!(
        r#"
let status = step("up", || wait::http("{}/healthcheck", #{{ status: 200, contains: "ready", timeout: "20s" }}));
print(`status ${{status}}`);
step("down", || wait::http("{}/healthcheck", #{{ timeout: "1s", every: "200ms" }}));
"#,
        flaky.url, broken.url
    ));
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("status 200"), "{}", o.all());
    assert!(
        o.stdout
            .contains(&format!("s for {}/healthcheck to answer 200 with \"ready\"", flaky.url)),
        "{}",
        o.all()
    );
    let want = format!(
        "timed out after 1s waiting for {}/healthcheck to answer 2xx (",
        broken.url
    );
    assert!(o.all().contains(&want), "{}", o.all());
    assert!(
        o.all().contains("tries); last: answer 503 Service Unavailable"),
        "{}",
        o.all()
    );
}

/// An HTTPS server on 127.0.0.1 with a self-signed certificate (tests/fixtures/tls) that
/// answers every request with 200 "ok".
fn self_signed_https() -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let cert = CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            // A client that refuses the certificate ends the handshake here.
            if tls.read(&mut buf).is_ok() {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    port
}

#[test]
fn insecure_accepts_a_self_signed_certificate_and_without_it_the_refusal_is_reported() {
    let port = self_signed_https();
    let p = project(&format!(
        r#"
print(`status ${{wait::http("https://127.0.0.1:{port}/", #{{ insecure: true, contains: "ok", timeout: "10s" }})}}`);
wait::http("https://127.0.0.1:{port}/", #{{ timeout: "500ms" }});
"#
    ));
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stdout.contains("status 200"), "{}", o.all());
    assert!(
        o.all().contains("last: cannot connect: invalid peer certificate"),
        "{}",
        o.all()
    );
}

#[test]
fn http_to_nothing_reports_the_refused_connection() {
    let port = free_port();
    let p = project(&format!(
        "step(\"x\", || wait::http(\"http://127.0.0.1:{port}/\", #{{ timeout: \"500ms\" }}));\n"
    ));
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.all().contains("); last: cannot connect: connection refused"),
        "{}",
        o.all()
    );
}

#[test]
fn until_calls_the_closure_until_it_holds_and_says_what_it_saw_last() {
    let p = project(
        r#"
let n = 0;
let v = wait::until_true(|| { n += 1; if n >= 3 { `done after ${n}` } else { false } }, #{ timeout: "10s", every: "100ms" });
print(v);
let m = 0;
wait::until_true(|| { m += 1; if m < 1000 { throw `not yet (${m})`; } true }, #{ timeout: "400ms", what: "the flag" });
"#,
    );
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stdout.contains("done after 3"), "{}", o.all());
    assert!(
        o.all()
            .contains("wait::until_true: timed out after 400ms waiting for the flag ("),
        "{}",
        o.all()
    );
    assert!(o.all().contains("last: it threw: not yet ("), "{}", o.all());
}

#[test]
fn dry_runs_do_not_wait() {
    let port = free_port();
    let p = project(&format!(
        "step(\"x\", || {{ wait::port(\"127.0.0.1\", {port}, \"1h\"); wait::http(\"http://127.0.0.1:{port}/\"); }});\n"
    ));
    let start = Instant::now();
    let o = p.runbook(&["play", "wait.rhai", "-i", "local", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        o.stdout.contains(&format!("would wait for port 127.0.0.1:{port}")),
        "{}",
        o.all()
    );
    assert!(
        o.stdout
            .contains(&format!("would wait for http://127.0.0.1:{port}/ to answer 2xx")),
        "{}",
        o.all()
    );
}

/// `h.wait_http` on the controller itself (`connection = "local"`): it connects directly,
/// with `wait::http`'s answers and observations.
#[test]
fn wait_http_on_the_controller_connects_directly() {
    let up = Server::start(|_| Reply {
        status: 200,
        headers: vec![],
        body: "ok: ready".into(),
    });
    let port = free_port();
    let p = Project::new();
    p.local_inventory(&[("controller", &["me"])]);
    p.write(
        "wait.rhai",
        &format!(
            r#"
step("up", hosts("me"), |h| print(`status ${{h.wait_http("{}/health", #{{ contains: "ready" }})}}`));
step("down", hosts("me"), |h| h.wait_http("http://127.0.0.1:{port}/", #{{ timeout: "500ms" }}));
"#,
            up.url
        ),
    );
    let o = p.runbook(&["play", "wait.rhai", "-i", "local"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("status 200"), "{}", o.all());
    let want = format!(
        "h.wait_http(\"http://127.0.0.1:{port}/\"): timed out after 500ms waiting for http://127.0.0.1:{port}/ to answer 2xx (from me) ("
    );
    assert!(o.all().contains(&want), "{}", o.all());
    assert!(
        o.all().contains("); last: cannot connect: connection refused"),
        "{}",
        o.all()
    );
}

/// `h.wait_http` through a host: a server that listens on 127.0.0.1 inside a test host only
/// (as an app port firewalled to the web tier is to the controller) is reached through
/// runbook's SSH connection, with nothing on the host but sshd; `wait::http` from the
/// controller cannot reach it.
#[test]
fn wait_http_reaches_what_only_the_host_can() {
    use crate::support::Testbed;
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    // The app: python3's http.server on the host's loopback, up 2 s from now; and the same
    // over TLS with a self-signed certificate.
    tb.sh(
        h,
        "mkdir -p /srv/www && echo ready > /srv/www/health && cd /srv && \
         openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=app -keyout key.pem -out cert.pem 2>/dev/null && \
         (setsid sh -c 'sleep 2; cd /srv/www && exec python3 -m http.server 8080 --bind 127.0.0.1' >/dev/null 2>&1 </dev/null &) && \
         (setsid python3 -c \"import http.server, ssl, os; os.chdir('/srv/www'); \
s = http.server.HTTPServer(('127.0.0.1', 8443), http.server.SimpleHTTPRequestHandler); \
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('/srv/cert.pem', '/srv/key.pem'); \
s.socket = c.wrap_socket(s.socket, server_side=True); s.serve_forever()\" >/dev/null 2>&1 </dev/null &)",
    );
    let name = &h.name;
    p.write(
        "up.rhai",
        r#"
        step("up", hosts("test"), |h| {
            print(`status ${h.wait_http("http://127.0.0.1:8080/health", #{ contains: "ready", timeout: "30s" })}`);
            print(`tls ${h.wait_http("https://127.0.0.1:8443/health", #{ insecure: true, contains: "ready" })}`);
        });
        "#,
    );
    let o = Test::in_project(&p).play("up.rhai").on("test").run();
    assert!(
        o.stdout.contains("status 200") && o.stdout.contains("tls 200"),
        "{}",
        o.all()
    );
    assert!(
        o.stdout.contains(&format!(
            "s for http://127.0.0.1:8080/health to answer 2xx with \"ready\" (from {name})"
        )),
        "it had to wait: {}",
        o.all()
    );

    // From the controller, the host's address does not answer on that port.
    p.write(
        "controller.rhai",
        &format!(
            r#"step("c", || wait::http("http://{}:8080/health", #{{ timeout: "1s" }}));"#,
            h.ip
        ),
    );
    let o = Test::in_project(&p).play("controller.rhai").on("test").code(2).run();
    assert!(
        o.all().contains("last: cannot connect: connection refused"),
        "{}",
        o.all()
    );

    // Timeouts name the URL, the host and what the last try saw: nothing listening, an
    // answer not wanted, a certificate not trusted.
    for (url, opts, last) in [
        (
            "http://127.0.0.1:8081/",
            "",
            "last: cannot connect: the host could not connect there (refused, or no route)",
        ),
        ("http://127.0.0.1:8080/missing", "", "last: answer 404 Not Found"),
        (
            "http://127.0.0.1:8080/health",
            ", contains: \"gone\"",
            "last: answer 200 OK without \"gone\" in the body (it starts \"ready\\n\")",
        ),
        (
            "https://127.0.0.1:8443/health",
            "",
            "last: cannot connect: invalid peer certificate",
        ),
    ] {
        p.write(
            "down.rhai",
            &format!(r#"step("down", hosts("test"), |h| h.wait_http("{url}", #{{ timeout: "1s"{opts} }}));"#),
        );
        let o = Test::in_project(&p).play("down.rhai").on("test").code(2).run();
        let want = format!("h.wait_http(\"{url}\"): timed out after 1s waiting for {url} to answer 2xx");
        assert!(o.all().contains(&want), "{}", o.all());
        assert!(o.all().contains(&format!(" (from {name}) (")), "{}", o.all());
        assert!(o.all().contains(last), "{last}: {}", o.all());
    }

    // A dry run does not wait, and says what it would wait for.
    let start = Instant::now();
    let o = Test::in_project(&p)
        .play("up.rhai")
        .on("test")
        .args(&["--dry-run"])
        .run();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        o.stdout.contains(&format!(
            "would wait for http://127.0.0.1:8080/health to answer 2xx with \"ready\" (from {name})"
        )),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("status (known after apply)"), "{}", o.all());

    // A host whose sshd does not forward: said at once, not after the timeout.
    tb.sh(
        h,
        "echo 'AllowTcpForwarding no' > /etc/ssh/sshd_config.d/00-no-forwarding.conf && systemctl reload ssh",
    );
    // (a reloaded sshd re-executes itself: wait until it answers again)
    let back = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        crate::stdlib::ssh("root", &h.ip, &[], "true").0 == 0
    });
    assert!(back, "sshd answers after its reload");
    p.write(
        "down.rhai",
        r#"step("down", hosts("test"), |h| h.wait_http("http://127.0.0.1:8080/health", #{ timeout: "60s" }));"#,
    );
    let start = Instant::now();
    let o = Test::in_project(&p).play("down.rhai").on("test").code(2).run();
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    assert!(
        o.all().contains(&format!(
            "cannot wait for http://127.0.0.1:8080/health to answer 2xx (from {name}): {name}: the host's sshd refuses to forward connections"
        )),
        "{}",
        o.all()
    );
}
