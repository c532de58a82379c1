//! Ad-hoc commands: `runbook run -i INV PATTERN -- CMD…` and `runbook facts -i INV PATTERN
//! KIND [ARG]`, on the local connection (two "hosts" that are the controller, and one at a
//! closed port), and `run` on two Docker test hosts over SSH.

use std::net::TcpListener;

use serde_json::Value;

use crate::support::{Output, Project, Test, Testbed};

/// `inventory/local.toml`: `a` and `bb` (group `web`) on the local connection, and `gone`,
/// an SSH host at 127.0.0.1 on a port where nothing listens.
fn project() -> Project {
    let p = Project::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    p.write(
        "inventory/local.toml",
        &format!(
            "[groups.web]\nhosts = [\"a\", \"bb\"]\n\n[hosts.a]\nconnection = \"local\"\n\n\
             [hosts.bb]\nconnection = \"local\"\n\n[hosts.gone]\naddress = \"127.0.0.1\"\nport = {port}\n"
        ),
    );
    p
}

/// `runbook run -i local PATTERN ARGS -- COMMAND…`.
fn run<'a>(p: &'a Project, pattern: &str, args: &[&str], command: &[&str]) -> Test<'a> {
    Test::in_project(p)
        .command(&["run"])
        .on("local")
        .args(&[pattern])
        .args(args)
        .args(&["--"])
        .args(command)
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines
}

#[test]
fn run_prints_each_host_s_output_after_its_name() {
    let p = project();
    let o = run(&p, "web", &[], &["echo", "out of $HOME", "'quoted'"]).run();
    // Several words are one command's words, each quoted: nothing is expanded.
    assert_eq!(
        sorted_lines(&o.stdout),
        ["a  | out of $HOME 'quoted'", "bb | out of $HOME 'quoted'"],
        "{}",
        o.all()
    );
    assert!(
        o.stderr.ends_with("2 host(s): 2 ok, 0 failed, 0 unreachable\n"),
        "{}",
        o.all()
    );

    // One word is shell text; stderr goes to stderr, each line after the name; a host whose
    // command exits non-zero says so and the exit code is 2.
    let o = run(&p, "a,bb", &[], &["echo one; echo two; echo oops >&2; [ $PWD = / ]"])
        .code(2)
        .run();
    assert_eq!(
        sorted_lines(&o.stdout),
        ["a  | one", "a  | two", "bb | one", "bb | two"],
        "{}",
        o.all()
    );
    for host in ["a ", "bb"] {
        for line in ["oops", "exit code 1"] {
            assert!(o.stderr.contains(&format!("{host} | {line}\n")), "{}", o.all());
        }
    }
    assert!(
        o.stderr.contains("2 host(s): 0 ok, 2 failed, 0 unreachable"),
        "{}",
        o.all()
    );
    // A host's block is printed whole: its two lines are next to each other.
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0][..2], lines[1][..2], "{}", o.all());
}

#[test]
fn run_exits_4_when_only_unreachable_hosts_failed_and_2_when_a_command_did() {
    let p = project();
    let o = run(&p, "all", &[], &["true"]).code(4).run();
    assert!(
        o.stderr
            .contains("gone | cannot reach the host: cannot connect to 127.0.0.1:"),
        "{}",
        o.all()
    );
    assert!(
        o.stderr.contains("3 host(s): 2 ok, 0 failed, 1 unreachable"),
        "{}",
        o.all()
    );
    run(&p, "all", &[], &["false"]).code(2).run();
    run(&p, "web,!bb", &[], &["true"]).code(0).run();

    // JSON: one object per host.
    let o = run(&p, "all", &["-o", "json"], &["echo hi"]).code(4).run();
    let mut objects: Vec<Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    objects.sort_by_key(|v| v["host"].as_str().unwrap().to_string());
    assert_eq!(
        objects[0],
        serde_json::json!({"host": "a", "code": 0, "stdout": "hi\n", "stderr": ""})
    );
    assert_eq!(objects[1]["host"], "bb");
    assert_eq!(objects[2]["host"], "gone");
    assert_eq!(objects[2]["unreachable"], true);
    assert!(
        objects[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the host: "),
        "{}",
        o.all()
    );
}

#[test]
fn run_runs_on_the_hosts_at_once_up_to_forks() {
    let p = project();
    std::fs::create_dir_all(p.path("meet")).unwrap();
    // Each host leaves a file and waits (up to 10 s) for the other's: only hosts running
    // at the same time can both succeed.
    let meet = format!(
        "f=$(mktemp -p {0}); for i in $(seq 100); do [ $(ls {0} | wc -l) -ge 2 ] && exit 0; sleep 0.1; done; rm $f; exit 1",
        p.path("meet").display()
    );
    run(&p, "web", &[], &[&meet]).run();
    std::fs::remove_dir_all(p.path("meet")).unwrap();
    std::fs::create_dir_all(p.path("meet")).unwrap();
    let o = run(&p, "web", &["--forks", "1", "--timeout", "3s"], &[&meet])
        .code(2)
        .run();
    assert!(
        o.stderr.contains("command stopped: command timed out after 3s"),
        "{}",
        o.all()
    );
}

#[test]
fn run_journals_nothing_and_ctrl_c_ends_it_at_once_with_130() {
    let p = project();
    run(&p, "web", &[], &["true"]).run();
    assert!(!p.path(".runbook").exists(), "nothing journaled");
    let mut child = run(&p, "a", &[], &["touch started; sleep 5"])
        .process()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !p.path("started").exists() {
        assert!(std::time::Instant::now() < deadline, "the command did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let start = std::time::Instant::now();
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn run_refuses_what_it_cannot_do_with_exit_1() {
    let p = project();
    let o = run(&p, "nobody", &[], &["true"]).code(1).run();
    assert!(
        o.stderr
            .contains("host pattern \"nobody\": unknown group or host `nobody`"),
        "{}",
        o.all()
    );
    // No command, or no `--` before it.
    Test::in_project(&p)
        .command(&["run", "-i", "local", "all"])
        .code(1)
        .run();
    Test::in_project(&p)
        .command(&["run", "-i", "local", "all", "true"])
        .code(1)
        .run();
}

/// `runbook facts -i local PATTERN KIND [ARG]`.
fn facts<'a>(p: &'a Project, words: &[&str]) -> Test<'a> {
    Test::in_project(p).command(&["facts", "-i", "local"]).args(words)
}

fn doc(o: &Output) -> Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", o.all()))
}

#[test]
fn facts_prints_each_host_s_fact_as_json() {
    let p = project();
    let file = p.write("motd", "hello\n");
    let path = file.display().to_string();
    let o = facts(&p, &["web", "file", &path]).run();
    let d = doc(&o);
    let hosts: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(hosts, ["a", "bb"]);
    for h in ["a", "bb"] {
        assert_eq!(d[h]["kind"], "file", "{d}");
        assert_eq!(d[h]["size"], 6, "{d}");
        assert_eq!(
            d[h]["sha256"], "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
            "{d}"
        );
    }
    let o = facts(&p, &["a", "file", "/no/such/file"]).run();
    assert_eq!(doc(&o)["a"]["kind"], "missing", "{}", o.all());
    let o = facts(&p, &["a", "user", "root"]).run();
    assert_eq!(doc(&o)["a"]["uid"], 0, "{}", o.all());
    let o = facts(&p, &["a", "os"]).run();
    assert!(doc(&o)["a"]["id"].is_string(), "{}", o.all());

    // A host that cannot be reached: the others' facts, its error, exit 4.
    let o = facts(&p, &["all", "user", "root"]).code(4).run();
    assert_eq!(doc(&o).as_object().unwrap().len(), 2, "{}", o.all());
    assert!(o.stderr.contains("error: gone: cannot reach the host: "), "{}", o.all());
    assert!(!o.stderr.contains("command:"), "no probe script: {}", o.all());

    // Usage: an unknown kind, a kind that needs its argument.
    facts(&p, &["a", "kernel"])
        .code(1)
        .stderr_contains("possible values: file, package")
        .run();
    facts(&p, &["a", "package"])
        .code(1)
        .stderr_contains("needs a package name")
        .run();
}

/// Over SSH: two test hosts at once, each answering with its own hostname, their facts, and
/// a host that is down beside one that is up.
#[test]
fn run_on_two_docker_hosts_over_ssh() {
    let tb = Testbed::start(2);
    let p = Project::new();
    p.use_testbed(&tb, "connect_timeout = 3");
    let o = Test::in_project(&p)
        .command(&["run", "-i", "test", "test", "--", "hostname; id -un"])
        .run();
    let mut want: Vec<String> = tb
        .hosts
        .iter()
        .flat_map(|h| [format!("{} | {}", h.name, h.name), format!("{} | root", h.name)])
        .collect();
    want.sort();
    assert_eq!(sorted_lines(&o.stdout), want, "{}", o.all());

    // Through sudo, as another user, and as root.
    let o = Test::in_project(&p)
        .command(&["run", "-i", "test", "test", "--user", "nobody", "--", "id", "-un"])
        .run();
    assert_eq!(o.stdout.matches(" | nobody\n").count(), 2, "{}", o.all());
    let o = Test::in_project(&p)
        .command(&[
            "facts",
            "-i",
            "test",
            "test",
            "file",
            "/root/.ssh/authorized_keys",
            "--sudo",
        ])
        .run();
    assert_eq!(doc(&o)[&tb.hosts[0].name]["owner"], "root", "{}", o.all());

    // The facts of both, read over SSH.
    let o = Test::in_project(&p)
        .command(&["facts", "-i", "test", "test", "os"])
        .run();
    let d = doc(&o);
    for h in &tb.hosts {
        assert_eq!(d[&h.name]["codename"], "bookworm", "{d}");
    }

    // One host down: the other answers, exit 4.
    std::process::Command::new("docker")
        .args(["stop", "-t", "0", &tb.hosts[1].name])
        .output()
        .unwrap();
    let o = Test::in_project(&p)
        .command(&["run", "-i", "test", "test", "--", "hostname"])
        .code(4)
        .run();
    assert_eq!(o.stdout, format!("{0} | {0}\n", tb.hosts[0].name), "{}", o.all());
    assert!(
        o.stderr
            .contains(&format!("{} | cannot reach the host: ", tb.hosts[1].name)),
        "{}",
        o.all()
    );
}
