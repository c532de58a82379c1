#!/usr/bin/env bash
# 100 sequential `true` commands on one test host: runbook (one russh connection, commands
# in a long-lived remote shell) vs OpenSSH reusing a ControlMaster connection. Both include
# their first connection. Rounds alternate the tools so machine noise hits them alike;
# prints medians and the ratios.
#
# DELAY_MS=N adds N ms each way (a WAN round trip of 2N ms) through a local forwarding
# proxy (benches/support/delay_proxy.py) that every tool then connects through.
# BEFORE_BIN=PATH also times another runbook binary (e.g. a build of an earlier commit).
#
#   [DELAY_MS=N] [BEFORE_BIN=PATH] benches/ssh_commands.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
delay="${DELAY_MS:-0}"
before="${BEFORE_BIN:-}"
cargo build --release -q
scripts/testbed.sh setup >/dev/null
work=$(mktemp -d)
proxy=""
prefix="rbbench$$"   # its own hosts: another bench running at the same time keeps its own
trap '[ -n "$proxy" ] && kill "$proxy" 2>/dev/null; scripts/testbed.sh stop "$prefix"; rm -rf "$work"' EXIT
scripts/testbed.sh start 1 "$prefix" > "$work/inv.toml"
ip=$(awk -F'"' '/^address/ {print $2}' "$work/inv.toml")
key=$(awk -F'"' '/^key/ {print $2}' "$work/inv.toml")
addr="$ip"; port=22
if [ "$delay" != 0 ]; then
    addr=127.0.0.1; port=$((23000 + $$ % 5000))
    python3 benches/support/delay_proxy.py "$delay" "$port=$ip" > "$work/proxy.out" 2>"$work/proxy.err" &
    proxy=$!
    for _ in $(seq 1 50); do grep -q ready "$work/proxy.out" && break; sleep 0.1; done
    sed -i "s/^address = .*/address = \"$addr\"\nport = $port/" "$work/inv.toml"
fi
export HOME="$work/home"; mkdir -p "$HOME/.ssh"
for _ in $(seq 1 50); do ssh-keyscan -p "$port" -t ed25519 "$addr" > "$HOME/.ssh/known_hosts" 2>/dev/null && [ -s "$HOME/.ssh/known_hosts" ] && break; sleep 0.2; done
cat > "$work/bench.rhai" <<'RHAI'
step("bench", hosts("all"), |h| { for i in 0..100 { h.run("true"); } });
RHAI

now() { date +%s%N; }
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/runbook"
runbook_once() { "$1" play "$work/bench.rhai" -i "$work/inv.toml" >/dev/null; }
openssh_once() {
    local cm="$work/cm-$RANDOM"
    for _ in $(seq 1 100); do
        ssh -q -i "$key" -p "$port" -o BatchMode=yes -o UserKnownHostsFile="$HOME/.ssh/known_hosts" -o ControlMaster=auto -o ControlPath="$cm" -o ControlPersist=60 "root@$addr" true
    done
    ssh -q -o ControlPath="$cm" -O exit "root@$addr" 2>/dev/null || true
}

runbook_once "$bin"; openssh_once   # warm up both (page cache, sshd)
[ -n "$before" ] && runbook_once "$before"
rb=(); os=(); bf=()
for _ in $(seq 1 "$rounds"); do
    t=$(now); runbook_once "$bin"; rb+=($(( ($(now) - t) / 1000000 )))
    t=$(now); openssh_once; os+=($(( ($(now) - t) / 1000000 )))
    if [ -n "$before" ]; then t=$(now); runbook_once "$before"; bf+=($(( ($(now) - t) / 1000000 ))); fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
m_rb=$(median "${rb[@]}"); m_os=$(median "${os[@]}")
echo "100 sequential commands on one host, added delay ${delay} ms each way, $rounds rounds"
echo "runbook (ms per 100 commands):             ${rb[*]}  median $m_rb"
echo "ssh ControlMaster (ms per 100 commands):   ${os[*]}  median $m_os"
echo "runbook / OpenSSH-ControlMaster time ratio: $(ratio "$m_rb" "$m_os")"
if [ -n "$before" ]; then
    m_bf=$(median "${bf[@]}")
    echo "BEFORE_BIN (ms per 100 commands):          ${bf[*]}  median $m_bf"
    echo "BEFORE_BIN / OpenSSH-ControlMaster ratio:   $(ratio "$m_bf" "$m_os")"
    echo "runbook / BEFORE_BIN time ratio:            $(ratio "$m_rb" "$m_bf")"
fi
