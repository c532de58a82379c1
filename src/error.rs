//! One error type for everything the user can get wrong, rendered the same way everywhere:
//! a message, and where it is known, `file:line:col`, the source line and a caret.

use std::fmt;
use std::path::PathBuf;

/// A place in a source file (playbook, module, inventory, template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The text of that line, when the file could be read.
    pub source_line: Option<String>,
}

impl Location {
    /// Looks up the line's text in `source` (1-based line and column).
    pub fn in_text(file: impl Into<String>, text: &str, line: usize, col: usize) -> Self {
        Location {
            file: file.into(),
            line,
            col,
            source_line: text.lines().nth(line.saturating_sub(1)).map(str::to_string),
        }
    }

    /// Converts a byte offset into 1-based line and column.
    pub fn at_offset(file: impl Into<String>, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location::in_text(file, text, line, col)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A message with an optional location and notes, rendered like a compiler diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub at: Option<Location>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            at: None,
            notes: Vec::new(),
        }
    }

    pub fn at(mut self, at: Location) -> Self {
        self.at = Some(at);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The body after `error: `: message, location, source line with caret, notes.
    pub fn render(&self) -> String {
        let mut out = self.message.clone();
        if let Some(at) = &self.at {
            out.push('\n');
            out.push_str(&render_snippet(at));
        }
        for note in &self.notes {
            out.push_str("\n  = note: ");
            out.push_str(note);
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// ```text
///   --> site.rhai:3:11
///    |
///  3 |     h.run(bogus);
///    |           ^^^^^
/// ```
fn render_snippet(at: &Location) -> String {
    let mut out = format!("  --> {at}");
    if let Some(line) = &at.source_line {
        let num = at.line.to_string();
        let pad = " ".repeat(num.len());
        let line = line.replace('\t', " ");
        let prefix: String = line.chars().take(at.col.saturating_sub(1)).collect();
        let width = caret_width(&line, at.col);
        out.push_str(&format!(
            "\n {pad} |\n {num} | {line}\n {pad} | {}{}",
            " ".repeat(prefix.chars().count()),
            "^".repeat(width)
        ));
    }
    out
}

/// Underlines the identifier or number starting at `col`, or a single character.
fn caret_width(line: &str, col: usize) -> usize {
    // A string literal: the whole of it, quotes included.
    let rest: Vec<char> = line.chars().skip(col.saturating_sub(1)).collect();
    if rest.first() == Some(&'"')
        && let Some(end) = rest.iter().skip(1).position(|c| *c == '"')
    {
        return end + 2;
    }
    let word = line
        .chars()
        .skip(col.saturating_sub(1))
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .count();
    word.max(1)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The playbook cannot be compiled or failed outside a step (exit 1).
    #[error("{0}")]
    Playbook(Diagnostic),
    /// `runbook check` found problems (exit 1): each one, then how many.
    #[error("{}\n\n{} problem(s) found", .0.iter().map(|d| d.render()).collect::<Vec<_>>().join("\n\nerror: "), .0.len())]
    Check(Vec<Diagnostic>),
    /// The inventory is invalid (exit 1).
    #[error("{0}")]
    Inventory(Diagnostic),
    /// Bad arguments or settings (exit 1).
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// The run journal cannot be opened, read or written (exit 1).
    #[error("{0}")]
    Journal(String),
    /// Another run holds the inventory's lock (exit 3).
    #[error("{0}")]
    LockHeld(String),
    /// Some hosts failed (or a controller step, or a budget); the errors were already
    /// reported (exit 2).
    #[error("{failed} host(s) failed")]
    HostsFailed { failed: usize },
    /// Every host that failed could not be reached or logged in to, and nothing else
    /// failed (exit 4).
    #[error("{unreachable} host(s) could not be reached")]
    Unreachable { unreachable: usize },
    /// The run was interrupted by a signal (exit 130).
    #[error("interrupted")]
    Interrupted,
}

/// The exit codes, one meaning each: what `runbook --help` and the README's table say.
pub mod exit {
    /// Everything succeeded.
    pub const OK: i32 = 0;
    /// The playbook, the inventory, the command line or the journal is wrong: nothing or
    /// part was run. clap's usage errors exit with this code too.
    pub const USAGE: i32 = 1;
    /// Some host failed (a step on it failed), a controller step failed, or a plan or
    /// `runbook cost` is over the budget; an ad-hoc command failed on some host.
    pub const FAILED: i32 = 2;
    /// Another run holds the inventory's lock (`--wait-lock` to wait, `runbook unlock`).
    pub const LOCKED: i32 = 3;
    /// The only failures are hosts that could not be reached or logged in to (connect,
    /// handshake, authentication, host key).
    pub const UNREACHABLE: i32 = 4;
    /// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: i32 = 130;

    /// The table printed after `runbook --help` and shown in the README.
    pub const TABLE: &str = "\
Exit codes:
  0    ok
  1    invalid playbook, inventory, command line or journal (nothing or part was run)
  2    some host failed (or a controller step, or a plan over the budget)
  3    another run holds the inventory's lock
  4    the only failures are hosts that could not be reached or logged in to
  130  interrupted (Ctrl-C, SIGTERM); --resume continues the run";
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::HostsFailed { .. } => exit::FAILED,
            Error::LockHeld(_) => exit::LOCKED,
            Error::Unreachable { .. } => exit::UNREACHABLE,
            Error::Interrupted => exit::INTERRUPTED,
            _ => exit::USAGE,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub fn read_file(path: &std::path::Path, source: std::io::Error) -> Self {
        let what = if source.kind() == std::io::ErrorKind::NotFound {
            format!("{} does not exist", path.display())
        } else {
            format!("cannot read {}", path.display())
        };
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Usage(what)
        } else {
            Error::io(what, source)
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a path is shown relative to the working directory when it is inside it.
pub fn display_path(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_column() {
        let text = "a = 1\nbb = [\n";
        let at = Location::at_offset("x.toml", text, 9);
        assert_eq!((at.line, at.col), (2, 4));
        assert_eq!(at.source_line.as_deref(), Some("bb = ["));
    }

    #[test]
    fn snippet_underlines_the_word() {
        let at = Location::in_text("site.rhai", "let x = 1;\n    h.run(bogus);\n", 2, 11);
        let d = Diagnostic::new("Variable not found: bogus")
            .at(at)
            .note("in step \"a\"");
        assert_eq!(
            d.render(),
            "Variable not found: bogus\n  --> site.rhai:2:11\n   |\n 2 |     h.run(bogus);\n   |           ^^^^^\n  = note: in step \"a\""
        );
    }
}
