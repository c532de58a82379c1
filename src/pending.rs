//! A value known only after apply: what a dry run cannot know yet (the address of a droplet
//! it did not create, the checksum of a file a planned package brings). Scripts see it as
//! `(known after apply)`; it never turns into a guessed value.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending;

pub const PENDING_TEXT: &str = "(known after apply)";

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(PENDING_TEXT)
    }
}
