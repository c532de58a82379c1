//! Shipping: `local::pack` on the controller, `h.upload` and `h.unpack` on Docker test hosts.

use std::process::Command;

use serde_json::Value;

use crate::support::testbed::NODE_IMAGE;
use crate::support::{Output, Project, Testbed};

/// An app directory with what a Node app has, and what a deploy must leave out.
fn app(p: &Project) {
    p.write("app/package.json", "{\"name\":\"ace\"}\n");
    p.write("app/src/index.js", "console.log('v1')\n");
    p.write("app/bin/start", "#!/bin/sh\nexec node src/index.js\n");
    p.write("app/node_modules/left-pad/index.js", "module.exports = 1\n");
    p.write("app/logs/today.log", "noise\n");
    p.write("app/.env", "SECRET=1\n");
    p.write("app/.git/HEAD", "ref: refs/heads/main\n");
    p.write("app/.runbookignore", "# not shipped\n*.log\n.env\n");
    chmod(&p.path("app/bin/start"), 0o700);
    std::os::unix::fs::symlink("src/index.js", p.path("app/main.js")).unwrap();
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The value a playbook printed as `KEY=value` (`sha256=…`), after the `[host] ` prefix
/// of a line printed in a step.
fn printed(o: &Output, key: &str) -> String {
    let prefix = format!("{key}=");
    fn line(l: &str) -> &str {
        let l = l.trim();
        l.strip_prefix('[')
            .and_then(|r| r.split_once("] "))
            .map_or(l, |(_, rest)| rest)
    }
    o.stdout
        .lines()
        .find_map(|l| line(l).strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key}= in the output: {}", o.all()))
        .to_string()
}

fn tar_list(archive: &std::path::Path) -> String {
    let out = Command::new("tar").arg("-tvzf").arg(archive).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn changes(o: &Output) -> u64 {
    let recap = o.events().into_iter().last().unwrap();
    assert_eq!(recap["event"], "recap", "{}", o.all());
    recap["changes"].as_u64().unwrap()
}

const PACK: &str = r#"
let t = local::pack("app", "ace.tar.gz", #{ exclude: ["node_modules/", "/.git"] });
print(`sha256=${t.sha256}`);
print(`path=${t.path}`);
print(`size=${t.size}`);
"#;

#[test]
fn pack_is_deterministic_and_leaves_out_what_is_ignored() {
    let p = Project::new();
    p.local_inventory(&[("all_hosts", &["me"])]);
    app(&p);
    p.write("pack.rhai", PACK);
    let pack = || {
        let o = p.runbook(&["play", "pack.rhai", "-i", "local"]);
        assert_eq!(o.code, 0, "{}", o.all());
        o
    };
    let o = pack();
    let first = printed(&o, "sha256");
    assert_eq!(printed(&o, "path"), ".runbook/build/ace.tar.gz");
    let archive = p.path(".runbook/build/ace.tar.gz");
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(printed(&o, "size"), bytes.len().to_string());
    let sha = Command::new("sha256sum").arg(&archive).output().unwrap();
    assert!(
        String::from_utf8_lossy(&sha.stdout).starts_with(&first),
        "the sha256 is the file's"
    );

    // GNU tar reads it: sorted, root/root, mtime 0, modes normalised, the symlink kept.
    assert_eq!(
        tar_list(&archive),
        "-rw-r--r-- root/root        25 1970-01-01 00:00 .runbookignore\n\
         drwxr-xr-x root/root         0 1970-01-01 00:00 bin\n\
         -rwxr-xr-x root/root        33 1970-01-01 00:00 bin/start\n\
         drwxr-xr-x root/root         0 1970-01-01 00:00 logs\n\
         lrwxrwxrwx root/root         0 1970-01-01 00:00 main.js -> src/index.js\n\
         -rw-r--r-- root/root        15 1970-01-01 00:00 package.json\n\
         drwxr-xr-x root/root         0 1970-01-01 00:00 src\n\
         -rw-r--r-- root/root        18 1970-01-01 00:00 src/index.js\n"
    );

    // Later (a clock in the gzip header would show), new mtimes everywhere and another
    // umask: same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let touched = Command::new("sh")
        .arg("-c")
        .arg("find app -exec touch -d '2031-01-02 03:04:05' {} + && chmod 600 app/package.json")
        .current_dir(p.root())
        .status()
        .unwrap();
    assert!(touched.success());
    assert_eq!(printed(&pack(), "sha256"), first);
    assert_eq!(std::fs::read(&archive).unwrap(), bytes, "byte for byte");

    // One byte changed: another sha256. An ignored file changed: the same.
    p.write("app/logs/today.log", "more noise\n");
    p.write("app/node_modules/left-pad/index.js", "module.exports = 2\n");
    assert_eq!(printed(&pack(), "sha256"), first);
    p.write("app/src/index.js", "console.log('v2')\n");
    let changed = printed(&pack(), "sha256");
    assert_ne!(changed, first);
    let good = std::fs::read(&archive).unwrap();

    // A failing prepare command stops the play, naming the command and its stderr.
    p.write(
        "prepare.rhai",
        r#"local::pack("app", "ace.tar.gz", #{ prepare: "echo ok; echo 'npm ERR! code ENOENT' >&2; exit 7" });"#,
    );
    let o = p.runbook(&["play", "prepare.rhai", "-i", "local"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stderr.contains("the prepare command failed"), "{}", o.all());
    assert!(o.stderr.contains("exited with code 7"), "{}", o.all());
    assert!(o.stderr.contains("npm ERR! code ENOENT"), "{}", o.all());
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        good,
        "the last good tarball is left as it was"
    );

    // A prepare that succeeds runs in the app directory, before the walk.
    p.write(
        "prepare.rhai",
        r#"let t = local::pack("app", "dist/ace.tar.gz", #{ prepare: "echo built > BUILD" }); print(`path=${t.path}`);"#,
    );
    let o = p.runbook(&["play", "prepare.rhai", "-i", "local", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(printed(&o, "path"), "dist/ace.tar.gz", "packed in a dry run too");
    assert!(tar_list(&p.path("dist/ace.tar.gz")).contains(" BUILD\n"));
}

/// Pack, upload and unpack on every host; prints the unpack result.
fn ship_playbook(dest: &str, opts: &str) -> String {
    format!(
        r#"
let t = local::pack("app", "ace.tar.gz", #{{ exclude: ["node_modules/", "/.git"] }});
step("ship", hosts("test"), |h| {{
    let up = h.upload(t, "/opt/apps/deploys/ace.tar.gz");
    let r = h.unpack(up, {dest:?}, {opts});
    print(`${{h.name}} unpacked=${{r.changed}}`);
}});
"#
    )
}

#[test]
fn upload_and_unpack_change_once_and_the_files_arrive() {
    let tb = Testbed::start(2);
    for h in &tb.hosts {
        tb.sh(h, "useradd -m nodejs && mkdir -p /opt/apps/deploys");
    }
    let p = Project::new();
    p.use_testbed(&tb, "");
    app(&p);
    // A quote and a space in the path reach the host as data.
    let dest = "/opt/apps/releases/ace it's 1.0";
    p.write(
        "site.rhai",
        &ship_playbook(dest, r#"#{ owner: "nodejs", group: "nodejs" }"#),
    );

    // The dry run looks and predicts, and changes nothing.
    let o = p.runbook(&["play", "site.rhai", "-i", "test", "--dry-run", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(changes(&o), 4, "an upload and an unpack per host: {}", o.all());
    // Each planned change is a `change` event (the unpack's were only counted, unreported).
    o.assert_counts_agree();
    let planned: Vec<Value> = o.events().into_iter().filter(|e| e["op"] == "unpack").collect();
    assert_eq!(planned.len(), 2, "{}", o.all());
    for e in &planned {
        assert_eq!(e["target"], dest, "{e}");
        assert!(
            e["summary"]
                .as_str()
                .unwrap()
                .starts_with("from /opt/apps/deploys/ace.tar.gz (sha256 "),
            "{e}"
        );
        assert!(
            e["command"].as_str().unwrap().contains("tar -xzf"),
            "the command it would run: {e}"
        );
    }
    for h in &tb.hosts {
        assert_eq!(
            tb.exec(h, "test -e /opt/apps/releases || test -e /opt/apps/deploys/ace.tar.gz")
                .0,
            1
        );
    }

    let o = p.runbook(&["play", "site.rhai", "-i", "test", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(changes(&o), 4, "{}", o.all());
    o.assert_counts_agree();
    let sha = tar_sha(&p);
    let unpacked = o
        .changes()
        .into_iter()
        .filter(|c| c == &("unpack".to_string(), dest.to_string()))
        .count();
    assert_eq!(unpacked, 2, "one unpack change per host: {}", o.all());
    let q = format!("'{}'", dest.replace('\'', r"'\''"));
    for h in &tb.hosts {
        let listing = tb.sh(
            h,
            &format!("cd {q} && find . | LC_ALL=C sort | xargs -d '\\n' stat -c '%A %U:%G %N' && cat .runbook-archive"),
        );
        assert_eq!(
            listing,
            format!(
                "drwxr-xr-x nodejs:nodejs '.'\n\
                 -rw-r--r-- nodejs:nodejs './.runbook-archive'\n\
                 -rw-r--r-- nodejs:nodejs './.runbookignore'\n\
                 drwxr-xr-x nodejs:nodejs './bin'\n\
                 -rwxr-xr-x nodejs:nodejs './bin/start'\n\
                 drwxr-xr-x nodejs:nodejs './logs'\n\
                 lrwxrwxrwx nodejs:nodejs './main.js' -> 'src/index.js'\n\
                 -rw-r--r-- nodejs:nodejs './package.json'\n\
                 drwxr-xr-x nodejs:nodejs './src'\n\
                 -rw-r--r-- nodejs:nodejs './src/index.js'\n\
                 {sha}\n"
            ),
            "on {}",
            h.name
        );
        assert_eq!(tb.sh(h, &format!("cat {q}/main.js")), "console.log('v1')\n");
        // Files carry the unpack time, not the archive's 1970.
        let year = tb.sh(h, &format!("date -r {q}/package.json +%Y"));
        assert_ne!(year.trim(), "1970");
        assert_eq!(
            tb.sh(h, "ls -A /opt/apps/releases /opt/apps/deploys"),
            format!(
                "/opt/apps/deploys:\nace.tar.gz\n\n/opt/apps/releases:\n{dest_name}\n",
                dest_name = "ace it's 1.0"
            ),
            "no temporary files or directories left"
        );
    }

    // Second run: the upload is skipped by checksum and the marker says it is unpacked.
    let o = p.runbook(&["play", "site.rhai", "-i", "test", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(changes(&o), 0, "nothing to do the second time: {}", o.all());
    assert_eq!(o.stdout.matches("unpacked=false").count(), 2, "{}", o.all());
    let o = p.runbook(&["play", "site.rhai", "-i", "test", "--dry-run", "-o", "json"]);
    assert_eq!(changes(&o), 0, "{}", o.all());

    // A drifted owner is put back, without unpacking again.
    let h = &tb.hosts[0];
    tb.sh(h, &format!("chown -R root:root {q} && echo extra > {q}/extra"));
    let o = p.runbook(&["play", "site.rhai", "-i", "test", "-o", "json"]);
    assert_eq!(changes(&o), 1, "{}", o.all());
    o.assert_counts_agree();
    let fix = o
        .events()
        .into_iter()
        .find(|e| e["op"] == "unpack")
        .expect("the owner fix, reported");
    assert_eq!(fix["summary"], "owner nodejs:nodejs", "{fix}");
    assert_eq!(
        tb.sh(h, &format!("stat -c %U {q}/src/index.js; cat {q}/extra")),
        "nodejs\nextra\n"
    );

    // An upload into a directory the host lacks says which and what to do, in the plan too.
    p.write(
        "missing.rhai",
        r#"let t = local::pack("app", "ace.tar.gz");
step("ship", hosts("test"), |h| h.upload(t, "/opt/nowhere/ace.tar.gz"));"#,
    );
    for dry in [true, false] {
        let mut args = vec!["play", "missing.rhai", "-i", "test"];
        if dry {
            args.push("--dry-run");
        }
        let o = p.runbook(&args);
        assert_eq!(o.code, 2, "{}", o.all());
        assert!(
            o.stdout.contains("upload /opt/nowhere/ace.tar.gz: the directory /opt/nowhere does not exist; make it first: h.dir(\"/opt/nowhere\")"),
            "{}",
            o.all()
        );
    }
}

fn tar_sha(p: &Project) -> String {
    let out = Command::new("sha256sum")
        .arg(p.path(".runbook/build/ace.tar.gz"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn unpack_never_overwrites_a_release_of_other_content() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    tb.sh(
        h,
        "mkdir -p /opt/apps/deploys /opt/apps/releases/hand-made && echo mine > /opt/apps/releases/hand-made/index.js",
    );
    let p = Project::new();
    p.use_testbed(&tb, "");
    app(&p);
    let dest = "/opt/apps/releases/ace-1.0";
    p.write("site.rhai", &ship_playbook(dest, "#{}"));
    let o = p.runbook(&["play", "site.rhai", "-i", "test"]);
    assert_eq!(o.code, 0, "{}", o.all());
    let snapshot = "cd /opt/apps/releases && find . -mindepth 1 -printf '%M %s %T@ %p\\n' | sort -k4 && cat */.runbook-archive */src/index.js";
    let before = tb.sh(h, snapshot);

    // Other content for the same release directory: refused, in a dry run too.
    p.write("app/src/index.js", "console.log('not v1')\n");
    for dry in [true, false] {
        let mut args = vec!["play", "site.rhai", "-i", "test"];
        if dry {
            args.push("--dry-run");
        }
        let o = p.runbook(&args);
        assert_eq!(o.code, 2, "{}", o.all());
        assert!(
            o.stdout
                .contains(&format!("unpack {dest}: it already holds another archive")),
            "{}",
            o.all()
        );
        assert!(
            o.stdout.contains("never unpacks over an existing release"),
            "{}",
            o.all()
        );
        assert_eq!(tb.sh(h, snapshot), before, "the release is untouched (dry run: {dry})");
    }

    // A directory runbook did not unpack: refused, untouched.
    p.write("site.rhai", &ship_playbook("/opt/apps/releases/hand-made", "#{}"));
    let o = p.runbook(&["play", "site.rhai", "-i", "test"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("was not unpacked by runbook"), "{}", o.all());
    assert_eq!(tb.sh(h, snapshot), before);

    // An archive that is not there: a clear error, nothing created.
    p.write(
        "site.rhai",
        r#"step("s", hosts("test"), |h| { h.unpack("/opt/apps/deploys/nope.tar.gz", "/opt/apps/releases/nope"); });"#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "test"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(
        o.stdout
            .contains("archive /opt/apps/deploys/nope.tar.gz does not exist"),
        "{}",
        o.all()
    );
    // A corrupt archive: tar's error, and no half-unpacked release anywhere.
    tb.sh(
        h,
        "head -c 60 /opt/apps/deploys/ace.tar.gz > /opt/apps/deploys/cut.tar.gz",
    );
    p.write(
        "site.rhai",
        r#"step("s", hosts("test"), |h| { h.unpack("/opt/apps/deploys/cut.tar.gz", "/opt/apps/releases/cut"); });"#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "test"]);
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stdout.contains("unexpected end of file"), "{}", o.all());
    assert_eq!(tb.sh(h, snapshot), before, "no release dir, no temporary dir");
}

#[test]
fn node_image_has_node_and_pm2() {
    let tb = Testbed::start_image(1, NODE_IMAGE);
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "site.rhai",
        r#"step("node", hosts("test"), |h| {
            print("node=" + h.run("node -e 'console.log(1)'").stdout);
            // The first pm2 command prints a banner before the version.
            let lines = h.run("pm2 --version").stdout.split("\n").filter(|l| l != "");
            print("pm2=" + lines[-1]);
        });"#,
    );
    let o = p.runbook(&["play", "site.rhai", "-i", "test"]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(o.stdout.contains("node=1\n"), "{}", o.all());
    let pm2 = printed(&o, "pm2");
    assert!(
        pm2.split('.').count() == 3 && pm2.split('.').all(|n| n.parse::<u32>().is_ok()),
        "pm2 prints its version: {}",
        o.all()
    );
}
