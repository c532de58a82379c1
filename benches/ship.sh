#!/usr/bin/env bash
# A 50 MB tarball (random, so incompressible) to 5 test hosts: runbook's `h.upload` (one
# step, hosts in parallel; it hashes the file, looks at the host, uploads over SFTP,
# verifies the sha256 remotely and renames) vs `scp` to the same hosts in parallel
# (background jobs + wait). Both include their connection setup; every round writes a
# new remote name, so runbook cannot skip by checksum. Rounds alternate the two so
# machine noise hits both alike; prints medians and the ratio.
#
# DELAY_MS=N adds N ms each way (a WAN round trip of 2N ms) through a local forwarding
# proxy (benches/support/delay_proxy.py) that both tools then connect through.
#
# BEFORE_BIN=PATH also times another runbook binary (e.g. a build of an earlier commit),
# for before/after comparisons in the same noise.
#
#   [DELAY_MS=N] [BEFORE_BIN=PATH] benches/ship.sh [ROUNDS] [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
mb="${2:-50}"
hosts=5
delay="${DELAY_MS:-0}"
cargo build --release -q
scripts/testbed.sh setup >/dev/null
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/runbook"
work=$(mktemp -d)
trap 'scripts/testbed.sh stop rbship; rm -rf "$work"' EXIT
scripts/testbed.sh start "$hosts" rbship > "$work/inv.toml"
mapfile -t ips < <(awk -F'"' '/^address/ {print $2}' "$work/inv.toml")
mapfile -t names < <(sed -n 's/^\[hosts\.\(.*\)\]$/\1/p' "$work/inv.toml")
key=$(awk -F'"' '/^key/ {print $2}' "$work/inv.toml")
# Where both tools connect: the hosts themselves, or the delaying proxy's ports.
addrs=("${ips[@]}"); ports=(); for _ in "${ips[@]}"; do ports+=(22); done
if [ "$delay" != 0 ]; then
    pairs=(); addrs=(); ports=()
    for i in "${!ips[@]}"; do
        port=$((22200 + i)); pairs+=("$port=${ips[$i]}"); addrs+=(127.0.0.1); ports+=("$port")
    done
    python3 benches/support/delay_proxy.py "$delay" "${pairs[@]}" > "$work/proxy.out" 2>"$work/proxy.err" &
    proxy=$!
    trap 'kill "$proxy" 2>/dev/null; scripts/testbed.sh stop rbship; rm -rf "$work"' EXIT
    for _ in $(seq 1 50); do grep -q ready "$work/proxy.out" && break; sleep 0.1; done
fi
{
    printf '[ssh]\nuser = "root"\nkey = "%s"\n\n' "$key"
    for i in "${!names[@]}"; do
        printf '[hosts.%s]\naddress = "%s"\nport = %s\n\n' "${names[$i]}" "${addrs[$i]}" "${ports[$i]}"
    done
} > "$work/inv.toml"
export HOME="$work/home"; mkdir -p "$HOME/.ssh"
for i in "${!addrs[@]}"; do
    for _ in $(seq 1 50); do
        line=$(ssh-keyscan -p "${ports[$i]}" -t ed25519 "${addrs[$i]}" 2>/dev/null) && [ -n "$line" ] && { echo "$line" >> "$HOME/.ssh/known_hosts"; break; }
        sleep 0.2
    done
done
head -c "$((mb * 1024 * 1024))" /dev/urandom > "$work/app.tar.gz"
cat > "$work/ship.rhai" <<'RHAI'
step("ship", hosts("all"), |h| { h.upload(var("file"), var("dest")); });
RHAI

now() { date +%s%N; }
clean() { for n in "${names[@]}"; do docker exec "$n" sh -c 'rm -f /tmp/big-*'; done; }
runbook_once() {
    (cd "$work" && "${2:-$bin}" play ship.rhai -i inv.toml --forks "$hosts" \
        --var file="$work/app.tar.gz" --var dest="/tmp/big-rb-$1" >/dev/null)
}
scp_once() {
    local pids=()
    for i in "${!addrs[@]}"; do
        scp -q -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$HOME/.ssh/known_hosts" -P "${ports[$i]}" \
            "$work/app.tar.gz" "root@${addrs[$i]}:/tmp/big-scp-$1" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
}

before="${BEFORE_BIN:-}"
runbook_once warm; scp_once warm; clean   # warm up both (page cache, sshd)
rb=(); sc=(); bf=()
for i in $(seq 1 "$rounds"); do
    t=$(now); runbook_once "$i"; rb+=($(( ($(now) - t) / 1000000 ))); clean
    t=$(now); scp_once "$i"; sc+=($(( ($(now) - t) / 1000000 ))); clean
    if [ -n "$before" ]; then
        t=$(now); runbook_once "b$i" "$before"; bf+=($(( ($(now) - t) / 1000000 ))); clean
    fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_rb=$(median "${rb[@]}"); m_sc=$(median "${sc[@]}")
echo "$mb MB to $hosts hosts in parallel, added delay ${delay} ms each way"
echo "runbook h.upload (ms): ${rb[*]}  median $m_rb"
echo "scp (ms):              ${sc[*]}  median $m_sc"
awk -v a="$m_rb" -v b="$m_sc" 'BEGIN { printf "runbook / scp time ratio: %.2f\n", a / b }'
if [ -n "$before" ]; then
    m_bf=$(median "${bf[@]}")
    echo "BEFORE_BIN (ms):       ${bf[*]}  median $m_bf"
    awk -v a="$m_bf" -v b="$m_sc" 'BEGIN { printf "BEFORE_BIN / scp time ratio: %.2f\n", a / b }'
fi
