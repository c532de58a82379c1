//! Docker test hosts for a test: real sshd under systemd, in containers of the image that
//! `scripts/testbed.sh setup` builds. Each `Testbed` owns uniquely named containers and
//! removes them when dropped, also when the test fails.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "runbook/testhost:bookworm";
/// The same bare host on Debian 13 (trixie), also built by `scripts/testbed.sh setup`.
pub const TRIXIE_IMAGE: &str = "runbook/testhost:trixie";
/// The same host with Node.js, npm and pm2 installed (also built by `scripts/testbed.sh setup`).
pub const NODE_IMAGE: &str = "runbook/testhost-node:bookworm";

pub struct TestHost {
    pub name: String,
    pub ip: String,
    /// `ssh-ed25519 AAAA…`, the host's own key.
    pub host_key: String,
}

pub struct Testbed {
    pub hosts: Vec<TestHost>,
}

/// The client key every test host accepts for root (made once per test binary run).
pub fn client_key() -> &'static Path {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("runbook-testkey-")
            .tempdir()
            .unwrap()
            .keep();
        let key = dir.join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "runbook-test", "-f"])
            .arg(&key));
        key
    })
}

/// Runs a tool on the controller; it must succeed. Returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker_ready(image: &str) {
    static READY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut ready = READY.lock().unwrap_or_else(|e| e.into_inner());
    if ready.iter().any(|i| i == image) {
        return;
    }
    let info = Command::new("docker").args(["image", "inspect", image]).output();
    match info {
        Ok(o) if o.status.success() => ready.push(image.to_string()),
        _ => panic!(
            "Docker test hosts are not available (no engine or no image {image}): run `scripts/testbed.sh setup` first (scripts/test.sh does)"
        ),
    }
}

/// The flags that give a container systemd as PID 1 running sandboxed units, sshd and an
/// enforceable ufw: the docker provider's droplets get the same (see
/// `runbook::cloud::docker_grants`), so tests see what users see.
pub fn run_flags() -> Vec<String> {
    runbook::cloud::docker_grants::run_flags()
}

impl Testbed {
    /// Starts `n` hosts of the bare image and waits until their sshd answers.
    pub fn start(n: usize) -> Testbed {
        Self::start_image(n, IMAGE)
    }

    /// Starts `n` hosts of `image` (built FROM the bare one, e.g. `NODE_IMAGE`).
    pub fn start_image(n: usize, image: &str) -> Testbed {
        docker_ready(image);
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let names: Vec<String> = (1..=n)
            .map(|i| format!("rbt-{}-{seq}-{i}", std::process::id()))
            .collect();
        let mut tb = Testbed { hosts: Vec::new() };
        for name in &names {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
            run(Command::new("docker")
                .args([
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--hostname",
                    name,
                    "--label",
                    "runbook.testbed=tests",
                ])
                .args(run_flags())
                .arg(image));
            // Registered at once, so that a failure below still removes the container.
            tb.hosts.push(TestHost {
                name: name.clone(),
                ip: String::new(),
                host_key: String::new(),
            });
        }
        let pubkey = std::fs::read_to_string(client_key().with_extension("pub")).unwrap();
        for h in &mut tb.hosts {
            h.ip = run(Command::new("docker").args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                &h.name,
            ]))
            .trim()
            .to_string();
            let install = format!(
                "mkdir -p /root/.ssh && chmod 700 /root/.ssh && printf '%s\\n' '{}' >> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys",
                pubkey.trim()
            );
            run(Command::new("docker").args(["exec", &h.name, "sh", "-c", &install]));
        }
        for h in &mut tb.hosts {
            wait_for_ssh(&h.ip);
            let key = run(Command::new("docker").args(["exec", &h.name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"]));
            h.host_key = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        }
        tb
    }

    /// Kills host `i`'s container (`docker kill`: SIGKILL to everything in it, no shutdown).
    pub fn kill(&self, i: usize) {
        run(Command::new("docker").args(["kill", &self.hosts[i].name]));
    }

    /// Starts host `i`'s container again and waits for its sshd; its address is read anew
    /// (Docker may give it another one). Its files and host keys are those it had.
    pub fn start_again(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        run(Command::new("docker").args(["start", &h.name]));
        h.ip = run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &h.name,
        ]))
        .trim()
        .to_string();
        wait_for_ssh(&h.ip);
    }

    pub fn host(&self, name_suffix: usize) -> &TestHost {
        &self.hosts[name_suffix]
    }

    /// `docker exec HOST sh -c CMD` — reads state back without going through runbook.
    pub fn exec(&self, host: &TestHost, cmd: &str) -> (i32, String) {
        let out = Command::new("docker")
            .args(["exec", &host.name, "sh", "-c", cmd])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Like `exec`, but the command must succeed.
    pub fn sh(&self, host: &TestHost, cmd: &str) -> String {
        let (code, out) = self.exec(host, cmd);
        assert_eq!(code, 0, "docker exec {} {cmd:?} exited {code}: {out}", host.name);
        out
    }

    /// An inventory with every host in group `test` (and in a group named after the host's
    /// index: `h1`, `h2`, …), logging in as root with the test key.
    pub fn inventory(&self, extra: &str) -> String {
        let mut t = format!(
            "[ssh]\nuser = \"root\"\nkey = \"{}\"\n{extra}\n",
            client_key().display()
        );
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        t.push_str(&format!("[groups.test]\nhosts = {names:?}\n\n"));
        for h in &self.hosts {
            t.push_str(&format!("[hosts.{}]\naddress = \"{}\"\n\n", h.name, h.ip));
        }
        t
    }

    /// The host's default gateway: the controller's address on the host's Docker network.
    pub fn gateway(&self, host: &TestHost) -> String {
        run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
            &host.name,
        ]))
        .trim()
        .to_string()
    }

    /// known_hosts lines for every host.
    pub fn known_hosts(&self) -> String {
        self.hosts
            .iter()
            .map(|h| format!("{} {}\n", h.ip, h.host_key))
            .collect()
    }

    /// How many times sshd on `host` accepted a login.
    pub fn logins(&self, host: &TestHost) -> usize {
        let out = self.sh(
            host,
            "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey' || true",
        );
        out.trim().parse().unwrap()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        if !names.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&names).output();
        }
    }
}

/// Waits until sshd sends its banner (no login, so it does not count as one).
fn wait_for_ssh(ip: &str) {
    use std::io::Read;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect_timeout(&format!("{ip}:22").parse().unwrap(), Duration::from_secs(1)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if s.read(&mut buf).is_ok_and(|n| n >= 4 && buf.starts_with(b"SSH-")) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "sshd on {ip} did not answer within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}
