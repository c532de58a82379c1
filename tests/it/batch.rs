//! A step's operations carried out in batches (issue 14): a 20-operation step sends its
//! host one script when nothing changes and two when everything does (`-vv` counts them),
//! with the same changes, results and errors as operations run one by one.

use crate::support::{Output, Project, Test, Testbed};

/// The benchmark's step (benches/step_round_trips.sh): 5 dirs, 5 files from local sources,
/// 5 lines, 3 templates, a symlink and a read-only command.
const STEP: &str = r#"
step("config", hosts("test"), |h| {
    for i in 0..5 { h.dir(`/srv/bench/d${i}`, #{ mode: "0755" }); }
    for i in 0..5 { h.file(`/srv/bench/d${i}/app.conf`, #{ src: `files/app${i}.conf`, mode: "0644" }); }
    for i in 0..5 { h.line(`/srv/bench/d${i}/extra.conf`, `option_${i} = on`); }
    for i in 0..3 { h.template(`site${i}.conf.j2`, `/srv/bench/d${i}/site.conf`, #{ name: `app${i}.example.com`, port: 8000 + i }, #{ mode: "0644" }); }
    h.symlink("/srv/bench/d0", "/srv/bench/current");
    let kernel = h.run("uname -r", #{ readonly: true });
    kernel.stdout.trim()
});
"#;

fn project(tb: &Testbed) -> Project {
    let p = Project::new();
    p.use_testbed(tb, "");
    for i in 0..5 {
        let text: String = (1..=60).map(|j| format!("setting_{i}_{j} = value {j}\n")).collect();
        p.write(&format!("files/app{i}.conf"), &text);
    }
    for i in 0..3 {
        p.write(
            &format!("site{i}.conf.j2"),
            &format!("# {{{{ host.name }}}}, template {i}\nserver_name = {{{{ name }}}}\nport = {{{{ port }}}}\n"),
        );
    }
    p.write("site.rhai", STEP);
    p
}

fn play<'a>(p: &'a Project, playbook: &str) -> Test<'a> {
    Test::in_project(p).play(playbook).on("test").args(&["-vv"])
}

/// The `-vv` count of scripts the step sent the host.
fn round_trips(o: &Output) -> Vec<usize> {
    o.stdout
        .lines()
        .chain(o.stderr.lines())
        .filter_map(|l| l.trim().split_once("] ").map(|(_, r)| r))
        .filter_map(|r| r.strip_suffix(" round trips").or_else(|| r.strip_suffix(" round trip")))
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The recap's last line: `1 hosts, 19 changed, 0 failed (…)`, `1 hosts, 19 changes planned (…)`.
fn recap_changed(o: &Output) -> String {
    o.stdout
        .lines()
        .find(|l| l.starts_with("1 hosts, "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn twenty_operations_cost_one_script_when_nothing_changes_and_two_when_all_change() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = project(&tb);

    let dry = play(&p, "site.rhai").args(&["--dry-run"]).run();
    assert!(recap_changed(&dry).contains(" 19 changes planned"), "{}", dry.all());
    assert_eq!(tb.exec(h, "test -e /srv/bench").0, 1, "a dry run changes nothing");

    let first = play(&p, "site.rhai").run();
    assert!(recap_changed(&first).contains(" 19 changed"), "{}", first.all());
    assert_eq!(
        round_trips(&first),
        vec![2],
        "one script reads, one changes: {}",
        first.all()
    );
    // What the host has is what was asked for.
    for i in 0..5 {
        assert_eq!(
            tb.sh(h, &format!("cat /srv/bench/d{i}/app.conf")),
            p.read(&format!("files/app{i}.conf"))
        );
        assert_eq!(
            tb.sh(h, &format!("cat /srv/bench/d{i}/extra.conf")),
            format!("option_{i} = on\n")
        );
    }
    assert_eq!(
        tb.sh(h, "cat /srv/bench/d2/site.conf"),
        format!(
            "# {}, template 2\nserver_name = app2.example.com\nport = 8002\n",
            h.name
        )
    );
    assert_eq!(
        tb.sh(h, "readlink /srv/bench/current; stat -c %a /srv/bench/d3/app.conf"),
        "/srv/bench/d0\n644\n"
    );

    let again = play(&p, "site.rhai").run();
    assert!(recap_changed(&again).contains(" 0 changed"), "{}", again.all());
    assert_eq!(
        round_trips(&again),
        vec![1],
        "nothing to change: one script: {}",
        again.all()
    );

    // One drifted file and one edited source: exactly those two change, still two scripts.
    tb.sh(h, "echo drift >> /srv/bench/d1/extra.conf");
    p.write("files/app4.conf", "new content\n");
    let dry = play(&p, "site.rhai").args(&["--dry-run"]).run();
    assert!(recap_changed(&dry).contains(" 1 change"), "{}", dry.all());
    assert!(dry.stdout.contains("/srv/bench/d4/app.conf"), "{}", dry.all());
    let fix = play(&p, "site.rhai").run();
    assert!(recap_changed(&fix).contains(" 1 changed"), "{}", fix.all());
    assert_eq!(round_trips(&fix), vec![2], "{}", fix.all());
    assert_eq!(tb.sh(h, "cat /srv/bench/d4/app.conf"), "new content\n");
    assert_eq!(tb.sh(h, "tail -n 2 /srv/bench/d1/extra.conf"), "option_1 = on\ndrift\n");
}

#[test]
fn results_read_late_failures_name_their_call_and_nothing_after_a_failure_happens() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    // A result read decides what comes next; a file edited twice in one batch plans the
    // second edit on top of the first (no change the second time); `print` shows what was
    // done before it.
    p.write(
        "read.rhai",
        r#"
        step("read", hosts("test"), |h| {
            h.dir("/srv/q");
            let r = h.file("/srv/q/a", #{ content: "one\ntwo\n" });
            let l = h.line("/srv/q/a", "two");
            print(`a changed: ${r.changed}, line changed: ${l.changed}`);
            if r.changed { h.file("/srv/q/flag", #{ content: "set\n" }); }
            let out = h.run("cat /srv/q/a", #{ readonly: true });
            out.stdout
        });
        "#,
    );
    let o = Test::in_project(&p).play("read.rhai").on("test").run();
    assert!(o.stdout.contains("a changed: true, line changed: false"), "{}", o.all());
    assert!(recap_changed(&o).contains(" 3 changed"), "{}", o.all());
    assert_eq!(tb.sh(h, "cat /srv/q/a /srv/q/flag"), "one\ntwo\nset\n");
    let o = Test::in_project(&p).play("read.rhai").on("test").run();
    assert!(
        o.stdout.contains("a changed: false, line changed: false"),
        "{}",
        o.all()
    );
    assert!(recap_changed(&o).contains(" 0 changed"), "{}", o.all());

    // What a batch carries (file contents, secrets among them) goes on its script's stdin,
    // never in a command line, where every user of the host sees it (`ps`) while it runs.
    p.write(
        "secret.rhai",
        "step(\"secret\", hosts(\"test\"), |h| {\n    h.file(\"/srv/q/secret\", #{ content: \"pw=s3cr3t-in-a-batch\\n\", mode: \"0600\" });\n    h.run(\"sleep 2\");\n});\n",
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let (listings, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let (mut listings, mut seen) = (0, String::new());
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let (_, out) = tb.exec(h, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done");
                seen.extend(out.lines().filter(|l| l.contains("s3cr3t")).map(|l| format!("{l}\n")));
                listings += 1;
            }
            (listings, seen)
        });
        let o = Test::in_project(&p).play("secret.rhai").on("test").run();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(recap_changed(&o).contains(" 2 changed"), "{}", o.all());
        watcher.join().unwrap()
    });
    assert_eq!(tb.sh(h, "cat /srv/q/secret"), "pw=s3cr3t-in-a-batch\n");
    assert!(listings >= 3, "the host's processes were listed {listings} times");
    assert!(seen.is_empty(), "a command line showed the file's content:\n{seen}");

    // A failure in the middle: the error names the failed call's line, what came before
    // it is done, nothing after it is.
    p.write(
        "fail.rhai",
        "step(\"fail\", hosts(\"test\"), |h| {\n    h.dir(\"/srv/f/before\");\n    h.file(\"/srv/f/missing/x\", #{ content: \"x\" });\n    h.dir(\"/srv/f/after\");\n    print(\"not printed\");\n});\n",
    );
    let o = Test::in_project(&p).play("fail.rhai").on("test").code(2).run();
    assert!(o.all().contains("fail.rhai:3:7"), "{}", o.all());
    assert!(
        o.all().contains("directory /srv/f/missing does not exist"),
        "{}",
        o.all()
    );
    assert!(!o.all().contains("not printed"), "{}", o.all());
    assert_eq!(tb.exec(h, "test -d /srv/f/before").0, 0);
    assert_eq!(tb.exec(h, "test -e /srv/f/after").0, 1);

    // A command that fails while the batch makes its changes stops it there.
    p.write(
        "cmd.rhai",
        "step(\"cmd\", hosts(\"test\"), |h| {\n    h.dir(\"/srv/c/before\");\n    h.run(\"echo oops >&2; exit 3\");\n    h.dir(\"/srv/c/after\");\n});\n",
    );
    let o = Test::in_project(&p).play("cmd.rhai").on("test").code(2).run();
    assert!(o.all().contains("cmd.rhai:3:7"), "{}", o.all());
    assert!(o.all().contains("oops"), "{}", o.all());
    assert_eq!(tb.exec(h, "test -d /srv/c/before").0, 0);
    assert_eq!(tb.exec(h, "test -e /srv/c/after").0, 1);

    // Reading the facts of a later operation fails (as a user that does not exist): the
    // operations before it are carried out, and the error is that operation's.
    p.write(
        "who.rhai",
        "step(\"who\", hosts(\"test\"), |h| {\n    h.dir(\"/srv/w/before\");\n    h.file(\"/srv/w/x\", #{ content: \"x\", user: \"nosuchuser\" });\n});\n",
    );
    let o = Test::in_project(&p).play("who.rhai").on("test").code(2).run();
    assert!(o.all().contains("who.rhai:3:7"), "{}", o.all());
    assert!(o.all().contains("nosuchuser"), "{}", o.all());
    assert_eq!(tb.exec(h, "test -d /srv/w/before").0, 0, "{}", o.all());
}

/// An operation inside `try` (or a function called from one) fails inside it, so `catch`
/// catches it, as when operations ran one by one; the step goes on.
#[test]
fn a_failure_inside_try_is_caught_there() {
    let tb = Testbed::start(1);
    let h = &tb.hosts[0];
    let p = Project::new();
    p.use_testbed(&tb, "");
    p.write(
        "try.rhai",
        r#"
        fn write_bad(h) { h.file("/srv/t/missing/y", #{ content: "y" }); }
        step("try", hosts("test"), |h| {
            h.dir("/srv/t");
            try { h.file("/srv/t/missing/x", #{ content: "x" }); print("not here"); } catch (e) { print(`caught: ${e}`); }
            try { write_bad(h); } catch (e) { print(`caught in a function: ${e}`); }
            h.file("/srv/t/ok", #{ content: "ok\n" });
        });
        "#,
    );
    let o = Test::in_project(&p).play("try.rhai").on("test").run();
    assert!(
        o.stdout.contains("caught: ") && o.stdout.contains("directory /srv/t/missing does not exist"),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("caught in a function: "), "{}", o.all());
    assert!(!o.stdout.contains("not here"), "{}", o.all());
    assert_eq!(tb.sh(h, "cat /srv/t/ok"), "ok\n");
}
