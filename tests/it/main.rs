//! One integration test binary. `engine` and `journal` run on the controller (local
//! connection); the other modules use Docker test hosts (scripts/testbed.sh) and fail
//! loudly without them.

mod engine;
mod journal;
mod release;
mod ship;
mod ssh;
mod support;
