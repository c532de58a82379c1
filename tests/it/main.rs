//! One integration test binary. `engine` and `journal` run on the controller (local
//! connection); the other modules use Docker test hosts (scripts/testbed.sh) and fail
//! loudly without them.

mod cloud_do;
mod cloud_docker;
mod cloud_play;
mod dns;
mod engine;
mod journal;
mod ops;
mod recipe;
mod release;
mod ship;
mod sigv4;
mod ssh;
mod stdlib;
mod support;
mod values;
mod wait;
