#!/usr/bin/env bash
# The project's test command: Docker test hosts (installed and started if missing), then
# every test. Fails loudly when anything the tests need cannot be set up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/testbed.sh setup
cargo test --locked "$@"
