#!/usr/bin/env bash
# The second (no-change) run of a 20-operation playbook on 10 hosts, vs the floor: one
# `ssh` per host (in parallel) running a shell script that checks the same 20 things.
# Rounds alternate the two; prints medians and the ratio.
#
#   benches/noop_run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
cargo build --release -q
scripts/testbed.sh setup >/dev/null
work=$(mktemp -d)
trap 'scripts/testbed.sh stop rbnoop; rm -rf "$work"' EXIT
scripts/testbed.sh start 10 rbnoop > "$work/inv.toml"
key=$(awk -F'"' '/^key/ {print $2}' "$work/inv.toml")
ips=$(awk -F'"' '/^address/ {print $2}' "$work/inv.toml")
export HOME="$work/home"; mkdir -p "$HOME/.ssh"
for ip in $ips; do
    for _ in $(seq 1 50); do k=$(ssh-keyscan -t ed25519 "$ip" 2>/dev/null) && [ -n "$k" ] && break; sleep 0.2; done
    echo "$k" >> "$HOME/.ssh/known_hosts"
done
cat > "$work/noop.rhai" <<'RHAI'
step("config", hosts("all"), |h| {
    for i in 0..5 { h.dir(`/srv/bench/d${i}`, #{ mode: "0755" }); }
    for i in 0..5 { h.file(`/srv/bench/d${i}/f.conf`, #{ content: "value " + i + "\n", mode: "0644" }); }
    for i in 0..5 { h.line(`/srv/bench/d${i}/f.conf`, `value ${i}`); }
    for i in 0..5 { h.symlink(`/srv/bench/d${i}`, `/srv/bench/l${i}`); }
});
RHAI
# The floor: the same 20 checks in one shell script per host.
floor_script='for i in 0 1 2 3 4; do
  [ -d /srv/bench/d$i ] && stat -c %a /srv/bench/d$i >/dev/null
  sha256sum < /srv/bench/d$i/f.conf >/dev/null; stat -c "%U %G %a" /srv/bench/d$i/f.conf >/dev/null
  grep -qx "value $i" /srv/bench/d$i/f.conf
  [ "$(readlink /srv/bench/l$i)" = /srv/bench/d$i ]
done'
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/runbook"
rb() { "$bin" play "$work/noop.rhai" -i "$work/inv.toml" -o json --state "$work/state.db" | tail -n 1; }
first=$(rb); echo "first run: $(echo "$first" | grep -o '"changes":[0-9]*')"
second=$(rb); echo "second run: $(echo "$second" | grep -o '"changes":[0-9]*')"
floor() {
    for ip in $ips; do
        ssh -q -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$HOME/.ssh/known_hosts" "root@$ip" "$floor_script" &
    done
    wait
}
now() { date +%s%N; }
r=(); f=()
for _ in $(seq 1 "$rounds"); do
    t=$(now); rb >/dev/null; r+=($(( ($(now) - t) / 1000000 )))
    t=$(now); floor; f+=($(( ($(now) - t) / 1000000 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mr=$(median "${r[@]}"); mf=$(median "${f[@]}")
echo "runbook no-change run, 20 ops x 10 hosts (ms): ${r[*]}  median $mr"
echo "one ssh per host with the same checks (ms):     ${f[*]}  median $mf"
awk -v a="$mr" -v b="$mf" 'BEGIN { printf "runbook / floor time ratio: %.2f\n", a / b }'
