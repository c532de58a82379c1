#!/usr/bin/env bash
# 100 sequential `true` commands on one test host: runbook (one pooled russh connection)
# vs OpenSSH reusing a ControlMaster connection. Both include their first connection.
# Rounds alternate the two so machine noise hits both alike; prints medians and the ratio.
#
#   benches/ssh_commands.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
cargo build --release -q
scripts/testbed.sh setup >/dev/null
work=$(mktemp -d)
trap 'scripts/testbed.sh stop rbbench; rm -rf "$work"' EXIT
scripts/testbed.sh start 1 rbbench > "$work/inv.toml"
ip=$(awk -F'"' '/^address/ {print $2}' "$work/inv.toml")
key=$(awk -F'"' '/^key/ {print $2}' "$work/inv.toml")
export HOME="$work/home"; mkdir -p "$HOME/.ssh"
for _ in $(seq 1 50); do ssh-keyscan -t ed25519 "$ip" > "$HOME/.ssh/known_hosts" 2>/dev/null && [ -s "$HOME/.ssh/known_hosts" ] && break; sleep 0.2; done
cat > "$work/bench.rhai" <<'RHAI'
step("bench", hosts("all"), |h| { for i in 0..100 { h.run("true"); } });
RHAI

now() { date +%s%N; }
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/runbook"
runbook_once() { "$bin" play "$work/bench.rhai" -i "$work/inv.toml" >/dev/null; }
openssh_once() {
    local cm="$work/cm-$RANDOM"
    for _ in $(seq 1 100); do
        ssh -q -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$HOME/.ssh/known_hosts" -o ControlMaster=auto -o ControlPath="$cm" -o ControlPersist=60 "root@$ip" true
    done
    ssh -q -o ControlPath="$cm" -O exit "root@$ip" 2>/dev/null || true
}

runbook_once; openssh_once   # warm up both (page cache, sshd)
rb=(); os=()
for _ in $(seq 1 "$rounds"); do
    t=$(now); runbook_once; rb+=($(( ($(now) - t) / 1000000 )))
    t=$(now); openssh_once; os+=($(( ($(now) - t) / 1000000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_rb=$(median "${rb[@]}"); m_os=$(median "${os[@]}")
echo "runbook (ms per 100 commands):             ${rb[*]}  median $m_rb"
echo "ssh ControlMaster (ms per 100 commands):   ${os[*]}  median $m_os"
awk -v a="$m_rb" -v b="$m_os" 'BEGIN { printf "runbook / OpenSSH-ControlMaster time ratio: %.2f\n", a / b }'
