#!/usr/bin/env bash
# `runbook inventory --json` (every host's groups and merged variables) on a generated
# Ansible INI inventory of N hosts in nested groups: seconds per run, median of ROUNDS.
#
#   benches/big_inventory.sh [HOSTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
hosts="${1:-10000}"
rounds="${2:-3}"
cargo build --release -q
# CARGO_TARGET_DIR is honoured: the binary is where cargo puts it.
bin="${CARGO_TARGET_DIR:-target}/release/runbook"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
width=${#hosts}
{
    echo "[web]"
    printf 'web[%0*d:%0*d]\n' "$width" 1 "$width" "$hosts"
    echo "[db]"
    echo "db[01:20]"
    echo "[prod:children]"
    echo "web"
    echo "db"
    echo "[web:vars]"
    echo "http_port=80"
} > "$work/big.ini"
times=()
for _ in $(seq 1 "$rounds"); do
    start=$(date +%s.%N)
    "$bin" inventory -i "$work/big.ini" --json > /dev/null
    times+=("$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
echo "inventory --json, $((hosts + 20)) hosts: median ${median}s of ${rounds} (${times[*]})"
