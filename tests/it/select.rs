//! Selecting steps: `--tags`, `--skip-tags` (with `always`), `--start-at-step`; the steps
//! left out are reported and journaled as skipped, and a resume runs them.

use crate::support::{Output, Project, Test};

fn project() -> Project {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    let out = p.path("out");
    std::fs::create_dir_all(&out).unwrap();
    p.write(
        "site.rhai",
        &format!(
            r#"
            let out = "{out}";
            step("a", hosts("web"), #{{ tags: ["web"] }}, |h| h.file(`${{out}}/a`, #{{ content: "a\n" }}));
            step("b", hosts("web"), #{{ tags: ["db"] }}, |h| {{
                h.run(`test -e ${{out}}/go`);
                h.file(`${{out}}/b`, #{{ content: "b\n" }});
            }});
            step("c", hosts("web"), #{{ tags: ["always"] }}, |h| h.file(`${{out}}/c`, #{{ content: "c\n" }}));
            step("d", || local::run(`touch ${{out}}/d`));
            "#,
            out = out.display()
        ),
    );
    p.write("out/go", "");
    p
}

fn play<'a>(p: &'a Project, args: &[&str]) -> Test<'a> {
    Test::in_project(p).play("site.rhai").on("local").json().args(args)
}

/// Each step's (status, reason) on its one target, in order.
fn statuses(o: &Output) -> Vec<(String, String, String)> {
    o.events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("step"), s("status"), s("reason"))
        })
        .collect()
}

fn ran(p: &Project) -> Vec<String> {
    let mut files: Vec<String> = ["a", "b", "c", "d"]
        .into_iter()
        .filter(|f| p.path(&format!("out/{f}")).exists())
        .map(String::from)
        .collect();
    files.sort();
    files
}

#[test]
fn tags_select_steps_and_always_steps_run_unless_skipped_by_name() {
    let p = project();
    let o = play(&p, &["--tags", "web"]).run();
    assert_eq!(ran(&p), ["a", "c"], "{}", o.all());
    let s = statuses(&o);
    assert_eq!(
        s[1],
        ("b".into(), "skipped".into(), "not tagged web".into()),
        "{}",
        o.all()
    );
    assert_eq!(s[3], ("d".into(), "skipped".into(), "not tagged web".into()));
    o.assert_counts_agree();

    let p = project();
    let o = play(&p, &["--skip-tags", "db,always"]).run();
    assert_eq!(ran(&p), ["a", "d"], "{}", o.all());
    assert_eq!(statuses(&o)[1].2, "tagged `db`, skipped by --skip-tags");
}

#[test]
fn start_at_step_skips_the_steps_before_and_a_wrong_name_is_told() {
    let p = project();
    let o = play(&p, &["--start-at-step", "c"]).run();
    assert_eq!(ran(&p), ["c", "d"], "{}", o.all());
    assert_eq!(statuses(&o)[0].2, "before --start-at-step \"c\"");

    let p = project();
    let o = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--start-at-step", "cc"])
        .code(1)
        .run();
    assert!(
        o.stderr.contains(
            "--start-at-step \"cc\": no step of the play has that name; did you mean \"c\"? (its steps: a, b, c, d)"
        ),
        "{}",
        o.all()
    );
}

#[test]
fn a_resume_runs_the_steps_a_selection_left_out() {
    let p = project();
    std::fs::remove_file(p.path("out/go")).unwrap();
    // a is left out by --skip-tags; b fails: the run is failed, a journaled as skipped.
    let first = play(&p, &["--skip-tags", "web"]).code(2).run();
    assert_eq!(ran(&p), Vec::<String>::new(), "{}", first.all());
    p.write("out/go", "");
    let resumed = play(&p, &["--resume"]).run();
    assert_eq!(ran(&p), ["a", "b", "c", "d"], "{}", resumed.all());
    let s = statuses(&resumed);
    assert_eq!(
        (s[0].1.as_str(), s[1].1.as_str()),
        ("changed", "changed"),
        "{}",
        resumed.all()
    );
}

#[test]
fn list_steps_and_list_hosts_run_no_step() {
    let p = project();
    let o = play(&p, &["--list-steps", "--tags", "web"]).run();
    assert_eq!(ran(&p), Vec::<String>::new(), "nothing ran: {}", o.all());
    let listed: Vec<(String, String)> = o
        .events()
        .iter()
        .filter(|e| e["event"] == "step_listed")
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_string(),
                e["skipped"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("a".to_string(), String::new()),
            ("b".into(), "not tagged web".into()),
            ("c".into(), String::new()),
            ("d".into(), "not tagged web".into())
        ],
        "{}",
        o.all()
    );

    let p = Project::new();
    p.local_inventory(&[("web", &["w1", "w2"])]);
    p.write(
        "site.rhai",
        r#"for h in hosts("web") { step(`on ${h.name}`, h, |h| h.run("false")); }
        step("all", hosts("web"), #{ tags: ["x"] }, |h| h.run("false"));
        step("controller", || local::run("false"));"#,
    );
    let o = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--list-hosts", "--limit", "w2"])
        .run();
    let expected = "STEPS OF site.rhai · inventory local · 2 host(s), steps limited to 1
  on w1  (site.rhai:1:25)
      hosts: none (1 left out by --limit)
  on w2  (site.rhai:1:25)
      hosts: w2
  all  [tags: x]  (site.rhai:2:9)
      hosts: w2 (1 left out by --limit)
  controller  (site.rhai:3:9)
      hosts: (controller)
";
    assert_eq!(o.stdout, expected, "{}", o.all());
}

#[test]
fn a_listing_stops_where_the_script_needs_a_step_s_result_and_says_why() {
    let p = Project::new();
    p.local_inventory(&[("web", &["w1"])]);
    p.write(
        "site.rhai",
        "let r = step(\"count\", hosts(\"web\"), |h| 2);\nstep(`next ${r.w1 + 1}`, hosts(\"web\"), |h| h.run(\"true\"));\n",
    );
    let o = Test::in_project(&p)
        .play("site.rhai")
        .on("local")
        .args(&["--list-steps"])
        .code(1)
        .stdout_contains("  count  (site.rhai:1:9)")
        .stderr_contains("the listing stopped here")
        .run();
    assert!(!o.stdout.contains("next"), "{}", o.all());
}

#[test]
fn a_step_left_out_whose_hosts_are_all_outside_the_limit_skips_no_one() {
    let p = project();
    p.local_inventory(&[("web", &["w1"]), ("other", &["w2"])]);
    let o = play(&p, &["--tags", "db", "--limit", "w2"]).run();
    let a: Vec<_> = o
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host_result" && e["step"] == "a")
        .collect();
    assert!(
        a.is_empty(),
        "no host of `a` is in the limit, the controller is not one: {}",
        o.all()
    );
    let start = o
        .events()
        .into_iter()
        .find(|e| e["event"] == "step_start" && e["step"] == "a")
        .unwrap();
    assert_eq!(start["left_out"], 1, "{}", o.all());
}
