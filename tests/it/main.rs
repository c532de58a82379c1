//! One integration test binary. `engine` and `journal` run on the controller (local
//! connection); the other modules use Docker test hosts (scripts/testbed.sh) and fail
//! loudly without them.

mod ansible;
mod check;
mod cloud_do;
mod cloud_docker;
mod cloud_play;
mod cost;
mod dns;
mod engine;
mod journal;
mod limit;
mod ops;
mod readme;
mod recipe;
mod release;
mod ship;
mod sigv4;
mod ssh;
mod stdlib;
mod support;
mod values;
mod wait;
