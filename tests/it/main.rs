//! One integration test binary. `engine` and `journal` run on the controller (local
//! connection); the other modules use Docker test hosts (scripts/testbed.sh) and fail
//! loudly without them.

mod adhoc;
mod ansible;
mod batch;
mod check;
mod cloud_do;
mod cloud_docker;
mod cloud_play;
mod completions;
mod config;
mod cost;
mod dns;
mod engine;
mod exit_codes;
mod handlers;
mod init;
mod journal;
mod limit;
mod live;
mod ops;
mod py_app;
mod readme;
mod recipe;
mod release;
mod safeguards;
mod select;
mod ship;
mod sigv4;
mod ssh;
mod stdlib;
mod support;
mod systemd;
mod values;
mod wait;
