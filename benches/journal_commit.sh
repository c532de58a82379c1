#!/usr/bin/env bash
# Time per journal commit on the SQLite store vs the PostgreSQL store over loopback (TLS),
# with 1 and 8 step threads; prints medians, p95, throughput and the ratios.
#
#   benches/journal_commit.sh [COMMITS]     (default 1000 per case)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/postgres.sh setup)"
cargo bench -q --bench journal_commit -- "${1:-1000}"
