//! Shell integration: `runbook completions SHELL` prints a script that its shell parses and
//! that names every command; `runbook man [COMMAND]` prints a man page that groff renders
//! without a warning. The shells and groff come with `scripts/testbed.sh setup`; a missing
//! one fails the test (a skipped check would prove nothing).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{Output, Project};

/// The commands `runbook --help` lists (`help` aside).
fn commands(p: &Project) -> Vec<String> {
    let help = p.runbook(&["--help"]);
    assert_eq!(help.code, 0, "{}", help.all());
    let list = help.stdout.split("Commands:\n").nth(1).expect("a list of commands");
    let names: Vec<String> = list
        .lines()
        .map_while(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' ')) // a description's next line
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    for expected in ["play", "check", "completions", "man"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    names
}

/// Runs `program args` with `input` on stdin; its output.
fn feed(program: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/testbed.sh setup installs it)"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Output::from(child.wait_with_output().unwrap())
}

#[test]
fn completions_parse_in_their_shell_and_name_every_command() {
    let p = Project::new();
    let commands = commands(&p);
    // How each shell checks a script without running it.
    let checks: [(&str, &[&str]); 3] = [("bash", &["-n"]), ("zsh", &["-n"]), ("fish", &["--no-execute"])];
    for (shell, check) in checks {
        let o = p.runbook(&["completions", shell]);
        assert_eq!(o.code, 0, "{shell}: {}", o.all());
        assert!(o.stdout.len() > 1000, "{shell}: {}", o.all());
        for c in &commands {
            assert!(o.stdout.contains(c.as_str()), "{shell} completion lacks `{c}`");
        }
        let parsed = feed(shell, check, &o.stdout);
        assert_eq!(parsed.code, 0, "{shell} {check:?} refuses the script: {}", parsed.all());
        assert_eq!(parsed.stderr, "", "{shell}");
    }
    // Each shell names the script its own way.
    assert!(
        p.runbook(&["completions", "bash"])
            .stdout
            .contains("complete -F _runbook")
    );
    assert!(
        p.runbook(&["completions", "zsh"])
            .stdout
            .starts_with("#compdef runbook")
    );
    assert!(
        p.runbook(&["completions", "fish"])
            .stdout
            .contains("complete -c runbook")
    );

    // bash: the script completes the commands and a command's options for real.
    let bash = p.runbook(&["completions", "bash"]).stdout;
    let complete = |words: &str| {
        let script = format!(
            "{bash}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
             _runbook runbook \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
        );
        feed("bash", &[], &script).stdout
    };
    let first = complete("runbook ''");
    for c in &commands {
        assert!(first.lines().any(|l| l == c), "`runbook <TAB>` lacks {c}: {first}");
    }
    let play = complete("runbook play --dr");
    assert_eq!(play.trim(), "--dry-run", "{play}");
    let shells = complete("runbook completions ''");
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.lines().any(|l| l == s), "{shells}");
    }

    let o = p.runbook(&["completions", "tcsh"]);
    assert_eq!(o.code, 1, "an unknown shell is a usage error: {}", o.all());
}

#[test]
fn the_man_page_renders_and_lists_the_commands_options_and_exit_codes() {
    let p = Project::new();
    let commands = commands(&p);
    let page = p.runbook(&["man"]);
    assert_eq!(page.code, 0, "{}", page.all());
    assert!(page.stdout.contains(".TH runbook 1"), "{}", page.stdout);
    let render = |roff: &str| {
        // -k: preconv, as man(1) does; -ww: every warning; -z: no output, only the check.
        let o = feed("groff", &["-k", "-man", "-Tutf8", "-ww", "-z"], roff);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "groff warns");
        feed("groff", &["-k", "-man", "-Tutf8", "-P", "-cbou"], roff).stdout
    };
    let text = render(&page.stdout);
    for c in &commands {
        assert!(text.contains(&format!("runbook-{c}(1)")), "the page lacks {c}:\n{text}");
    }
    assert!(text.contains("Exit codes:"), "{text}");
    assert!(text.contains("another run holds the inventory's lock"), "{text}");

    let play = p.runbook(&["man", "play"]);
    assert_eq!(play.code, 0, "{}", play.all());
    assert!(play.stdout.contains(".TH runbook-play 1"), "{}", play.stdout);
    let text = render(&play.stdout);
    for option in ["--dry-run", "--limit", "--resume", "--wait-lock", "PLAYBOOK"] {
        assert!(text.contains(option), "runbook-play(1) lacks {option}:\n{text}");
    }
    assert!(
        text.contains("runbook play"),
        "the synopsis is typed as `runbook play`:\n{text}"
    );

    let o = p.runbook(&["man", "pley"]);
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        o.stderr
            .contains("no command `pley`; the commands are init, play, check"),
        "{}",
        o.all()
    );
}
