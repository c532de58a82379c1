#!/usr/bin/env bash
# The project's test command: Docker test hosts and a PostgreSQL server on loopback (both
# installed and started if missing), then every test. Fails loudly when anything the tests
# need cannot be set up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/testbed.sh setup
# RUNBOOK_TEST_PG, RUNBOOK_TEST_PG_PASSWORD, …: the journal's tests on PostgreSQL find the
# server through them (and fail without them).
pg_env=$(scripts/postgres.sh setup)
eval "$pg_env"
cargo test --locked "$@"
