//! How an operation sees a host: facts read through this trait, never a connection. `Host`
//! implements it over SSH; the operation tests implement it from recorded facts, so every
//! operation's decisions are tested without a host.

use super::store::maybe_from_package;
use super::types::{Fact, FactKey, FileFact};
use crate::connection::ExecOutput;
use crate::connection::failure::ExecFailure;
use crate::shell::Become;

pub trait Look {
    fn host_name(&self) -> &str;
    fn dry_run(&self) -> bool;
    /// Whether a change shows the diff it makes (always in a dry run, with `--diff` too).
    fn show_diff(&self) -> bool;
    /// `keys` as they are now, or as earlier operations of a dry run would have left them;
    /// the unknown ones read in one round trip.
    fn facts(&self, keys: &[FactKey], who: &Become) -> Result<Vec<Fact>, ExecFailure>;
    /// A fact already known (predicted or read this step), without reading the host.
    fn known(&self, key: &FactKey) -> Option<Fact>;
    /// The bytes of a file on the host (`cat`).
    fn content(&self, path: &str, who: &Become) -> Result<Vec<u8>, ExecFailure>;
    /// A read-only command whose answer a fact does not hold (the age of the apt cache);
    /// any exit code is returned, the caller decides.
    fn query(&self, script: &str, who: &Become) -> Result<ExecOutput, ExecFailure>;
    /// Packages a dry run plans to install (empty in a real run).
    fn packages_pending(&self) -> Vec<String>;

    fn fact(&self, key: FactKey, who: &Become) -> Result<Fact, ExecFailure> {
        Ok(self.facts(std::slice::from_ref(&key), who)?.remove(0))
    }

    fn file(&self, path: &str, who: &Become) -> Result<FileFact, ExecFailure> {
        match self.fact(FactKey::File(path.to_string()), who)? {
            Fact::File(f) => Ok(f),
            other => unreachable!("a file probe gave {other:?}"),
        }
    }

    fn file_known(&self, path: &str) -> Option<FileFact> {
        match self.known(&FactKey::File(path.to_string())) {
            Some(Fact::File(f)) => Some(f),
            _ => None,
        }
    }

    /// In a dry run, whether a missing `path` may come with a package about to be installed.
    fn maybe_from_package(&self, path: &str) -> bool {
        self.dry_run() && maybe_from_package(&self.packages_pending(), path)
    }
}
