//! `Test`: one run of the real binary, its files and its expectations in one expression,
//! after `just`'s `Test::new().justfile(..).args(..).stdout(..).status(..).run()`.
//!
//! ```ignore
//! let o = Test::new()
//!     .inventory("local", "[hosts.h1]\nconnection = \"local\"\n") // writes it, selects `-i local`
//!     .playbook("site.rhai", r#"step("a", hosts("h1"), |h| print("hi"));"#) // writes it, plays it
//!     .args(&["--var", "x=1"])
//!     .json() // `-o json`
//!     .code(0) // the default
//!     .stdout_contains("hi")
//!     .run(); // runbook play site.rhai -i local -o json --var x=1
//! ```
//!
//! The command line is `runbook COMMAND [PLAYBOOK] [-i INVENTORY] [-o json] ARGS...`:
//! COMMAND is `play` unless [`Test::command`] says otherwise, and each part in brackets is
//! there only when chosen. [`Test::in_project`] runs in an existing [`Project`] (a testbed
//! inventory, files written before, the journal of earlier runs); [`Test::new`] in a fresh
//! one, gone after the run. Either way the process is [`Project::command`]'s: `$HOME` is the
//! project's own, and the caller's runbook variables are not passed on.
//!
//! A test file whose runs share their shape keeps it in a one-line fixture and says only what
//! differs at each run:
//!
//! ```ignore
//! fn play(p: &Project) -> Test<'_> {
//!     Test::in_project(p).play("site.rhai").on("local")
//! }
//! play(&p).args(&["--var", "serial=x"]).code(1).stderr_contains("must be a whole number").run();
//! ```
//!
//! A check the builder has no word for is made on the [`Output`] that `run` returns; with
//! [`Test::any_code`] when the exit code is among the things checked there.

use std::process::Command;

use super::{Output, Project};

enum Dir<'a> {
    Own(Project),
    Shared(&'a Project),
}

/// A run of `runbook` to make, and what it must print and exit with (see the module doc).
#[must_use = "a Test does nothing until .run()"]
pub struct Test<'a> {
    dir: Dir<'a>,
    command: Vec<String>,
    playbook: Option<String>,
    inventory: Option<String>,
    json: bool,
    args: Vec<String>,
    env: Vec<(String, String)>,
    current_dir: Option<String>,
    code: Option<i32>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
}

impl Test<'static> {
    /// A test in a fresh [`Project`].
    pub fn new() -> Self {
        Test::with(Dir::Own(Project::new()))
    }
}

impl<'a> Test<'a> {
    /// A test in `p`, which outlives it: more runs, files to read back.
    pub fn in_project(p: &'a Project) -> Self {
        Test::with(Dir::Shared(p))
    }

    fn with(dir: Dir<'a>) -> Self {
        Test {
            dir,
            command: vec!["play".to_string()],
            playbook: None,
            inventory: None,
            json: false,
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            code: Some(0),
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
        }
    }

    /// The project the test runs in.
    pub fn project(&self) -> &Project {
        match &self.dir {
            Dir::Own(p) => p,
            Dir::Shared(p) => p,
        }
    }

    // --- files -------------------------------------------------------------------------

    /// Writes `path` (relative to the project) now.
    pub fn file(self, path: &str, content: &str) -> Self {
        self.project().write(path, content);
        self
    }

    /// Writes the playbook `path` and makes it the one the command runs.
    pub fn playbook(self, path: &str, source: &str) -> Self {
        self.file(path, source).play(path)
    }

    /// Writes `inventory/NAME.toml` and selects it (`-i NAME`).
    pub fn inventory(self, name: &str, toml: &str) -> Self {
        self.file(&format!("inventory/{name}.toml"), toml).on(name)
    }

    // --- the command line ----------------------------------------------------------------

    /// The playbook the command runs, a file already there (the path as given to runbook).
    pub fn play(mut self, path: &str) -> Self {
        self.playbook = Some(path.to_string());
        self
    }

    /// The inventory, one already there: `-i NAME` (a name or a path).
    pub fn on(mut self, inventory: &str) -> Self {
        self.inventory = Some(inventory.to_string());
        self
    }

    /// The subcommand words in place of `play`: `.command(&["check"])` runs
    /// `runbook check PLAYBOOK -i INVENTORY ARGS`, `.command(&["history", "2"])` (with no
    /// playbook or inventory chosen) `runbook history 2 ARGS`.
    pub fn command(mut self, words: &[&str]) -> Self {
        self.command = words.iter().map(|w| w.to_string()).collect();
        self
    }

    /// `-o json`: the run prints JSON events ([`Output::events`]).
    pub fn json(mut self) -> Self {
        self.json = true;
        self
    }

    /// More arguments, after the others; may be given more than once.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An environment variable of the run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Environment variables of the run.
    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |t, (k, v)| t.env(k, v))
    }

    /// Runs in this directory of the project instead of its root.
    pub fn current_dir(mut self, rel: &str) -> Self {
        self.current_dir = Some(rel.to_string());
        self
    }

    // --- expectations --------------------------------------------------------------------

    /// The exit code the run must end with; 0 unless said. (-1: killed by a signal.)
    pub fn code(mut self, code: i32) -> Self {
        self.code = Some(code);
        self
    }

    /// Any exit code will do: the caller looks at it (a retry, a message of its own).
    pub fn any_code(mut self) -> Self {
        self.code = None;
        self
    }

    /// stdout must contain `text`; may be given more than once.
    pub fn stdout_contains(mut self, text: &str) -> Self {
        self.stdout_contains.push(text.to_string());
        self
    }

    /// stderr must contain `text`; may be given more than once.
    pub fn stderr_contains(mut self, text: &str) -> Self {
        self.stderr_contains.push(text.to_string());
        self
    }

    // --- running -------------------------------------------------------------------------

    /// The arguments after `runbook`.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.command.clone();
        argv.extend(self.playbook.clone());
        if let Some(inventory) = &self.inventory {
            argv.extend(["-i".to_string(), inventory.clone()]);
        }
        if self.json {
            argv.extend(["-o".to_string(), "json".to_string()]);
        }
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// The process [`Test::run`] would run, for a test that must start it itself (in the
    /// background, its output to a file). The expectations are not checked.
    pub fn process(&self) -> Command {
        let p = self.project();
        let mut cmd = p.command();
        cmd.args(self.argv()).envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(rel) = &self.current_dir {
            cmd.current_dir(p.path(rel));
        }
        cmd
    }

    /// Runs it and checks the expectations; a failed one panics with the command and the
    /// whole output ([`Output::all`]).
    #[track_caller]
    pub fn run(self) -> Output {
        let o = Output::from(self.process().output().expect("runbook runs"));
        let command = format!("runbook {}", self.argv().join(" "));
        if let Some(code) = self.code {
            assert_eq!(o.code, code, "{command}: exit code\n{}", o.all());
        }
        for text in &self.stdout_contains {
            assert!(o.stdout.contains(text), "{command}: no {text:?} in stdout\n{}", o.all());
        }
        for text in &self.stderr_contains {
            assert!(o.stderr.contains(text), "{command}: no {text:?} in stderr\n{}", o.all());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::Test;

    const LOCAL: &str = "[hosts.h1]\nconnection = \"local\"\n";

    #[test]
    fn the_command_line_is_put_together_in_order() {
        let t = Test::new()
            .inventory("local", LOCAL)
            .playbook("site.rhai", "")
            .args(&["--dry-run"])
            .json()
            .args(&["--var", "x=1"]);
        assert_eq!(
            t.argv(),
            [
                "play",
                "site.rhai",
                "-i",
                "local",
                "-o",
                "json",
                "--dry-run",
                "--var",
                "x=1"
            ]
        );
        assert_eq!(Test::new().command(&["history", "2"]).argv(), ["history", "2"]);
        let check = Test::new().command(&["check"]).play("site.rhai").on("prod");
        assert_eq!(check.argv(), ["check", "site.rhai", "-i", "prod"]);
        let t = Test::new().file("files/motd", "hi\n");
        assert_eq!(t.project().read("files/motd"), "hi\n");
    }

    #[test]
    fn a_fresh_project_plays_what_it_was_given() {
        let o = Test::new()
            .inventory("local", LOCAL)
            .playbook(
                "site.rhai",
                r#"step("a", hosts("h1"), |h| print(`${h.name} ${var("x")}`));"#,
            )
            .args(&["--var", "x=1"])
            .env("RUNBOOK_FORKS", "1")
            .stdout_contains("h1 1")
            .run();
        assert_eq!(o.code, 0);
        Test::new()
            .playbook("site.rhai", r#"step("a", hosts("all"), |h| print(h.run("id").stdot));"#)
            .command(&["check"])
            .code(1)
            .stderr_contains("no field `stdot`; did you mean `stdout`?")
            .run();
    }

    #[test]
    #[should_panic(expected = "runbook doc h.fiel: exit code")]
    fn an_unexpected_exit_code_fails_the_test() {
        Test::new().command(&["doc", "h.fiel"]).run();
    }

    #[test]
    #[should_panic(expected = "no \"not in the docs\" in stdout")]
    fn missing_text_fails_the_test() {
        Test::new().command(&["doc"]).stdout_contains("not in the docs").run();
    }
}
