#!/usr/bin/env bash
# The whole lean-hosting recipe, the four playbooks in order (stops at the first failure):
#   scripts/recipe.sh [INVENTORY] [VERSION]        default: local 1.0.0
# Against `local` (Docker stand-in) run `scripts/testbed.sh setup` first. Each play can be run
# again on its own; a second run of any of them changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
inventory="${1:-local}"
version="${2:-1.0.0}"

cargo build --release --quiet
play() {
    echo "+ runbook play $*" >&2
    "${CARGO_TARGET_DIR:-target}/release/runbook" play "$@" --inventory "$inventory"
}
play playbooks/provision.rhai
play playbooks/harden.rhai
play playbooks/replicate.rhai
play playbooks/release.rhai --var version="$version"
