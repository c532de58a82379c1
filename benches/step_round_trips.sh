#!/usr/bin/env bash
# One step of 20 mixed operations per host (issue 14's workload), on N test hosts in
# parallel: 5 `h.dir`, 5 `h.file` from local source files, 5 `h.line`, 3 `h.template`
# (local .j2 templates with variables), 1 `h.symlink`, 1 readonly `h.run`. Timed against
# the OpenSSH floor: one `ssh` per host (all hosts in parallel) running the same work as
# one shell script on stdin. Two runs each:
#   first run      hosts' /srv/bench removed beforehand (untimed, docker exec); runbook
#                  makes 19 changes per host (the readonly command is no change); the
#                  floor's script does the same checks and the same changes (mkdir, the
#                  same file contents, lines, the rendered templates' text, the symlink,
#                  the command).
#   no-change run  right after the same tool's first run; the floor's script does the
#                  same checks only.
# Before timing, the floor's first run is checked to leave exactly runbook's result (a
# runbook run after it must report 0 changes), so the floor does the same work.
# Rounds alternate which tool goes first so machine noise hits both alike. Prints every
# timing, medians, runbook/floor ratios, the changes runbook reported (fails loudly
# unless 19 x HOSTS on the first run and 0 on the no-change run), and runbook's peak
# controller memory: peak PSS of an untimed first and no-change run (/proc/PID/smaps_rollup),
# and max RSS of the timed runs (GNU time, /usr/bin/time -f %M). Also the CPU each timed
# run cost, per host (medians): on the hosts (the docker cgroup's cpuacct, when the
# machine has cgroup v1 or v2 accounting for it) and on the whole machine (/proc/stat busy
# time: hosts, the tool and its ssh clients). On 2 cores at N = 100 both tools are
# CPU-bound, so time per host follows CPU per host.
#
# DELAY_MS=N adds N ms each way (a WAN round trip of 2N ms) through a local forwarding
# proxy (benches/support/delay_proxy.py) that both tools then connect through.
# BEFORE_BIN=PATH also times another runbook binary (e.g. a build of an earlier commit).
# SUBSET=K also times both tools on the first K of the HOSTS hosts in every round, and prints
# the time per host on all HOSTS over the time per host on K: how each scales, measured
# side by side on the same containers (e.g. HOSTS=100 SUBSET=20), as a ratio of the medians
# and round by round (the two runs of a round are seconds apart, so the machine's drift
# stays out). Last comes a log of every timed run: its time, its CPU per host, how busy it
# kept the machine, and how busy the machine still was after each reset.
#
#   [DELAY_MS=N] [BEFORE_BIN=PATH] [SUBSET=K] benches/step_round_trips.sh [HOSTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
hosts="${1:-5}"
rounds="${2:-5}"
delay="${DELAY_MS:-0}"
before="${BEFORE_BIN:-}"
subset="${SUBSET:-}"
[ -z "$subset" ] || [ "$subset" -lt "$hosts" ] || { echo "SUBSET must be fewer than HOSTS" >&2; exit 1; }
cargo build --release -q
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/runbook"
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is needed for the memory figure" >&2; exit 1; }
scripts/testbed.sh setup >/dev/null
work=$(mktemp -d)
proxy=""
trap '[ -n "$proxy" ] && kill "$proxy" 2>/dev/null; scripts/testbed.sh stop rbstep; rm -rf "$work"' EXIT
scripts/testbed.sh start "$hosts" rbstep > "$work/inv.toml"
mapfile -t ips < <(awk -F'"' '/^address/ {print $2}' "$work/inv.toml")
mapfile -t names < <(sed -n 's/^\[hosts\.\(.*\)\]$/\1/p' "$work/inv.toml")
key=$(awk -F'"' '/^key/ {print $2}' "$work/inv.toml")
# Where both tools connect: the hosts themselves, or the delaying proxy's ports.
addrs=("${ips[@]}"); ports=(); for _ in "${ips[@]}"; do ports+=(22); done
if [ "$delay" != 0 ]; then
    pairs=(); addrs=(); ports=()
    for i in "${!ips[@]}"; do
        port=$((22300 + i)); pairs+=("$port=${ips[$i]}"); addrs+=(127.0.0.1); ports+=("$port")
    done
    python3 benches/support/delay_proxy.py "$delay" "${pairs[@]}" > "$work/proxy.out" 2>"$work/proxy.err" &
    proxy=$!
    for _ in $(seq 1 50); do grep -q ready "$work/proxy.out" && break; sleep 0.1; done
fi
{
    printf '[ssh]\nuser = "root"\nkey = "%s"\n\n' "$key"
    for i in "${!names[@]}"; do
        printf '[hosts.%s]\naddress = "%s"\nport = %s\n\n' "${names[$i]}" "${addrs[$i]}" "${ports[$i]}"
    done
} > "$work/inv.toml"
if [ -n "$subset" ]; then
    awk -v k="$subset" '/^\[hosts\./ {n++} n <= k' "$work/inv.toml" > "$work/inv-sub.toml"
fi
export HOME="$work/home"; mkdir -p "$HOME/.ssh"
for i in "${!addrs[@]}"; do
    for _ in $(seq 1 50); do
        line=$(ssh-keyscan -p "${ports[$i]}" -t ed25519 "${addrs[$i]}" 2>/dev/null) && [ -n "$line" ] && { echo "$line" >> "$HOME/.ssh/known_hosts"; break; }
        sleep 0.2
    done
done

# The playbook and its local sources: 5 files of ~2 KB, 3 templates.
mkdir -p "$work/files"
for i in 0 1 2 3 4; do
    for j in $(seq 1 60); do echo "setting_${i}_${j} = value $j # bench file $i"; done > "$work/files/app$i.conf"
done
for i in 0 1 2; do
    printf '# {{ host.name }}, template %s\nserver_name = {{ name }}\nport = {{ port }}\nworkers = %s\n' "$i" "$((i + 2))" > "$work/site$i.conf.j2"
done
cat > "$work/step.rhai" <<'RHAI'
step("config", hosts("all"), |h| {
    for i in 0..5 { h.dir(`/srv/bench/d${i}`, #{ mode: "0755" }); }
    for i in 0..5 { h.file(`/srv/bench/d${i}/app.conf`, #{ src: `files/app${i}.conf`, mode: "0644" }); }
    for i in 0..5 { h.line(`/srv/bench/d${i}/extra.conf`, `option_${i} = on`); }
    for i in 0..3 { h.template(`site${i}.conf.j2`, `/srv/bench/d${i}/site.conf`, #{ name: `app${i}.example.com`, port: 8000 + i }, #{ mode: "0644" }); }
    h.symlink("/srv/bench/d0", "/srv/bench/current");
    h.run("uname -r", #{ readonly: true });
});
RHAI
expected_first=$((19 * hosts))

now() { date +%s%N; }
# cpu_now: "HOSTS_NS MACHINE_NS": CPU used so far by all containers and by the machine.
host_cpu_file=""
for f in /sys/fs/cgroup/cpuacct/docker/cpuacct.usage /sys/fs/cgroup/docker/cpu.stat; do
    [ -r "$f" ] && { host_cpu_file=$f; break; }
done
cpu_now() {
    local h=0
    case "$host_cpu_file" in
        *cpuacct.usage) h=$(cat "$host_cpu_file") ;;
        *cpu.stat) h=$(awk '/^usage_usec/ {printf "%.0f", $2 * 1000}' "$host_cpu_file") ;;
    esac
    echo "$h $(awk '/^cpu / {printf "%.0f", ($2 + $3 + $4 + $7 + $8 + $9) * 10000000}' /proc/stat)"
}
# cpu_since "HOSTS_NS MACHINE_NS" ARRAY_PREFIX START_NS [HOST_COUNT]: appends this run's
# per-host CPU (ms), and logs the run: its time, its CPU, and how busy it kept the machine
# (machine CPU over cores x time; below 100% means the run waited with a core idle).
cpu_since() {
    local a b c d n=${4:-$hosts} wall=$(( ($(now) - $3) / 1000000 )); read -r a b <<< "$1"; read -r c d <<< "$(cpu_now)"
    eval "$2_h+=($(( (c - a) / 1000000 / n )))"; eval "$2_m+=($(( (d - b) / 1000000 / n )))"
    printf '%-4s on %3d hosts: %6d ms, CPU per host: hosts %4d ms, machine %4d ms; machine busy %3d%%\n' "$2" "$n" "$wall" \
        $(( (c - a) / 1000000 / n )) $(( (d - b) / 1000000 / n )) $(( (d - b) / 10000 / wall / cores )) >> "$work/runs.log"
}
cores=$(nproc)
# reset: empties every host's /srv/bench, then logs how busy the machine still is over half a
# second (what earlier runs and docker left running goes into the next timed run).
reset() {
    local n a b
    for n in "${names[@]}"; do docker exec "$n" rm -rf /srv/bench; done
    a=$(cpu_now); sleep 0.5; b=$(cpu_now)
    echo "reset, then machine busy $(( (${b#* } - ${a#* }) / 5000000 / cores ))% over 0.5 s" >> "$work/runs.log"
}
# runbook_once BIN [INVENTORY FORKS]: one play; prints the recap's change count; keeps the
# peak RSS (KB).
runbook_once() {
    (cd "$work" && /usr/bin/time -f '%M %U %S' -o "$work/rss" "$1" play step.rhai -i "${2:-inv.toml}" --forks "${3:-$hosts}" \
        -o json --state "$work/state.db" > "$work/out.json") || { cat "$work/out.json" >&2; exit 1; }
    local m u sy; read -r m u sy < "$work/rss"
    echo "$m" >> "$work/rss.all"
    # The controller's own CPU (user + sys), in ms per host.
    awk -v u="$u" -v s="$sy" -v n="${3:-$hosts}" 'BEGIN { printf "%d", (u + s) * 1000 / n }' > "$work/ctl"
    tail -n 1 "$work/out.json" | grep -o '"changes":[0-9]*' | head -n 1 | cut -d: -f2
}
# pss_once BIN: one untimed play (sampling costs CPU), printing its peak PSS in KB: resident
# memory with shared pages split among the processes sharing them, from
# /proc/PID/smaps_rollup every 10 ms.
pss_once() {
    (cd "$work" && exec "$1" play step.rhai -i inv.toml --forks "$hosts" -o json --state "$work/state.db" > /dev/null) &
    local pid=$! pss=0 now
    while kill -0 "$pid" 2>/dev/null; do
        now=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
        [ "${now:-0}" -le "$pss" ] || pss=$now
        sleep 0.01
    done
    wait "$pid" || die "$1: the memory run failed"
    echo "$pss"
}
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }   # single-quote a string for sh
qf() { printf "'"; sed "s/'/'\\\\''/g" "$1"; printf "'"; }           # a file's exact bytes, single-quoted
# floor_script MODE HOST_INDEX: the shell script for one host; MODE first = checks ||
# changes, check = the same checks only (a failed check prints "drift").
floor_script() {
    local mode=$1 h=$2 i d f
    echo "set -e"
    op() { if [ "$mode" = first ]; then echo "$1 || { $2; }"; else echo "$1 || echo drift"; fi; }
    file_op() {   # REMOTE_PATH LOCAL_FILE_WITH_THE_CONTENT
        op "[ \"\$(sha256sum 2>/dev/null < $1)\" = \"$(sha256sum < "$2")\" ] && [ \"\$(stat -c %a $1)\" = 644 ]" \
            "printf %s $(qf "$2") > $1.tmp && chmod 644 $1.tmp && mv $1.tmp $1"
    }
    for i in 0 1 2 3 4; do
        d=/srv/bench/d$i
        op "[ -d $d ] && [ \"\$(stat -c %a $d)\" = 755 ]" "mkdir -p $d && chmod 755 $d"
    done
    for i in 0 1 2 3 4; do file_op "/srv/bench/d$i/app.conf" "$work/files/app$i.conf"; done
    for i in 0 1 2 3 4; do
        f=/srv/bench/d$i/extra.conf
        op "grep -qxF $(q "option_$i = on") $f 2>/dev/null" "echo $(q "option_$i = on") >> $f"
    done
    for i in 0 1 2; do file_op "/srv/bench/d$i/site.conf" "$work/rendered/$h-$i"; done
    op "[ \"\$(readlink /srv/bench/current)\" = /srv/bench/d0 ]" "ln -sfn /srv/bench/d0 /srv/bench/current.tmp && mv -T /srv/bench/current.tmp /srv/bench/current"
    echo "uname -r >/dev/null"
}
floor_once() {   # MODE [HOST_COUNT]
    local pids=() i
    for ((i = 0; i < ${2:-$hosts}; i++)); do
        ssh -q -i "$key" -o BatchMode=yes -o UserKnownHostsFile="$HOME/.ssh/known_hosts" -p "${ports[$i]}" \
            "root@${addrs[$i]}" sh -s < "$work/floor-$1-$i.sh" > "$work/floor-$1-$i.out" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    if [ "$1" = check ] && cat "$work"/floor-check-*.out | grep -q drift; then
        echo "error: the floor's no-change checks found drift" >&2; exit 1
    fi
}
die() { echo "error: $*" >&2; exit 1; }

# Warm up (page cache, sshd) and take the rendered templates' text from the hosts.
reset
c=$(runbook_once "$bin"); [ "$c" = "$expected_first" ] || die "runbook's first run reported $c changes, expected $expected_first"
mkdir -p "$work/rendered"
for i in "${!names[@]}"; do
    for t in 0 1 2; do docker exec "${names[$i]}" cat "/srv/bench/d$t/site.conf" > "$work/rendered/$i-$t"; done
done
for i in "${!names[@]}"; do
    floor_script first "$i" > "$work/floor-first-$i.sh"
    floor_script check "$i" > "$work/floor-check-$i.sh"
done
# Does the floor do the same work? After its first run, runbook must find nothing to change.
reset; floor_once first
c=$(runbook_once "$bin"); [ "$c" = 0 ] || die "after the floor's first run runbook still made $c changes: the floor does different work"
floor_once check

rb1=(); rb2=(); fl1=(); fl2=(); bf1=(); bf2=()
rb1_c=(); rb2_c=(); bf1_c=(); bf2_c=(); sr1_c=(); sr2_c=()
rb1_h=(); rb2_h=(); fl1_h=(); fl2_h=(); bf1_h=(); bf2_h=(); rb1_m=(); rb2_m=(); fl1_m=(); fl2_m=(); bf1_m=(); bf2_m=()
# rb_round BIN ARRAY1 ARRAY2 [INVENTORY HOST_COUNT]: runbook's first and no-change runs.
rb_round() {
    local t c u n=${5:-$hosts}
    reset
    u=$(cpu_now); t=$(now); c=$(runbook_once "$1" "${4:-inv.toml}" "$n"); eval "$2+=($(( ($(now) - t) / 1000000 )))"; cpu_since "$u" "$2" "$t" "$n"
    eval "$2_c+=($(cat "$work/ctl"))"
    [ "$c" = $((19 * n)) ] || die "$1: first run on $n hosts reported $c changes, expected $((19 * n))"
    u=$(cpu_now); t=$(now); c=$(runbook_once "$1" "${4:-inv.toml}" "$n"); eval "$3+=($(( ($(now) - t) / 1000000 )))"; cpu_since "$u" "$3" "$t" "$n"
    eval "$3_c+=($(cat "$work/ctl"))"
    [ "$c" = 0 ] || die "$1: no-change run on $n hosts reported $c changes, expected 0"
}
# fl_round ARRAY1 ARRAY2 [HOST_COUNT]: the floor's first and no-change runs.
fl_round() {
    local t u n=${3:-$hosts}
    reset
    u=$(cpu_now); t=$(now); floor_once first "$n"; eval "$1+=($(( ($(now) - t) / 1000000 )))"; cpu_since "$u" "$1" "$t" "$n"
    u=$(cpu_now); t=$(now); floor_once check "$n"; eval "$2+=($(( ($(now) - t) / 1000000 )))"; cpu_since "$u" "$2" "$t" "$n"
}
: > "$work/rss.all"
sr1=(); sr2=(); sf1=(); sf2=(); sr1_h=(); sr2_h=(); sf1_h=(); sf2_h=(); sr1_m=(); sr2_m=(); sf1_m=(); sf2_m=()
sub_round() { rb_round "$bin" sr1 sr2 inv-sub.toml "$subset"; fl_round sf1 sf2 "$subset"; }   # both tools on the first $subset hosts
for r in $(seq 1 "$rounds"); do
    # The subset goes first in odd rounds and last in even ones, as the tools alternate: the
    # machine's speed drifts, and a fixed order would put the drift in the ratio.
    [ -z "$subset" ] || [ $((r % 2)) = 0 ] || sub_round
    if [ $((r % 2)) = 1 ]; then rb_round "$bin" rb1 rb2; fl_round fl1 fl2; else fl_round fl1 fl2; rb_round "$bin" rb1 rb2; fi
    [ -z "$subset" ] || [ $((r % 2)) = 1 ] || sub_round
    if [ -n "$before" ]; then cp "$work/rss.all" "$work/rss.keep"; rb_round "$before" bf1 bf2; cp "$work/rss.keep" "$work/rss.all"; fi
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "one step of 20 operations on $hosts hosts in parallel, added delay ${delay} ms each way, $rounds rounds"
echo "runbook changes reported: first run $expected_first (19 per host), no-change run 0 (checked every run)"
# cpu_line ARRAY_PREFIX: "hosts X ms, machine Y ms" per host (medians).
cpu_line() {
    local -n hh="$1_h" mm="$1_m"
    if [ -n "$host_cpu_file" ]; then printf 'hosts %s ms, ' "$(median "${hh[@]}")"; else printf 'hosts n/a, '; fi
    printf 'machine %s ms' "$(median "${mm[@]}")"
    if [ "$1" != fl1 ] && [ "$1" != fl2 ]; then local -n cc="$1_c"; printf ', runbook itself %s ms' "$(median "${cc[@]}")"; fi
    echo
}
for run in first no-change; do
    if [ "$run" = first ]; then a=("${rb1[@]}"); b=("${fl1[@]}"); c=("${bf1[@]}"); x=(rb1 fl1 bf1); else a=("${rb2[@]}"); b=("${fl2[@]}"); c=("${bf2[@]}"); x=(rb2 fl2 bf2); fi
    ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
    echo "$run run:"
    echo "  runbook (ms):                  ${a[*]}  median $ma"
    echo "  floor, one ssh per host (ms):  ${b[*]}  median $mb"
    echo "  runbook / floor time ratio:    $(ratio "$ma" "$mb")"
    echo "  time per host (ms):            runbook $((ma / hosts)), floor $((mb / hosts))"
    echo "  CPU per host, runbook:         $(cpu_line "${x[0]}")"
    echo "  CPU per host, floor:           $(cpu_line "${x[1]}")"
    if [ -n "$before" ]; then
        mc=$(median "${c[@]}")
        echo "  BEFORE_BIN (ms):               ${c[*]}  median $mc"
        echo "  BEFORE_BIN / floor time ratio: $(ratio "$mc" "$mb")"
        echo "  CPU per host, BEFORE_BIN:      $(cpu_line "${x[2]}")"
    fi
done
if [ -n "$subset" ]; then
    # per_host MS COUNT: ms per host, one decimal
    per_host() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.1f", a / n }'; }
    # paired "ALL_RUNS" "SUBSET_RUNS": each round's time per host on all hosts over its time per
    # host on the subset. The two runs of a round are seconds apart, so the machine's drift
    # over minutes (CPU per host moves by a third here) stays out of these ratios.
    paired() {
        awk -v a="$1" -v b="$2" -v n="$hosts" -v k="$subset" 'BEGIN {
            c = split(a, x, " "); split(b, y, " ")
            for (i = 1; i <= c; i++) printf "%s%.2f", (i > 1 ? " " : ""), (x[i] / n) / (y[i] / k) }'
    }
    echo "scaling, $subset of the $hosts hosts against all $hosts (same containers, same rounds):"
    for run in first no-change; do
        if [ "$run" = first ]; then x=(rb1 sr1 fl1 sf1); else x=(rb2 sr2 fl2 sf2); fi
        for tool in runbook floor; do
            if [ "$tool" = runbook ]; then p=("${x[0]}" "${x[1]}"); else p=("${x[2]}" "${x[3]}"); fi
            all="${p[0]}[*]"; sub="${p[1]}[*]"
            # shellcheck disable=SC2086 # the runs, one word each
            ma=$(median ${!all}); ms=$(median ${!sub})
            pa=$(per_host "$ma" "$hosts"); ps=$(per_host "$ms" "$subset")
            printf '  %-9s %-7s ms per host: %s on %s hosts (%s), %s on %s (%s); ratio of the medians %s\n' "$run" "$tool" \
                "$pa" "$hosts" "${!all}" "$ps" "$subset" "${!sub}" "$(ratio "$pa" "$ps")"
            pr=$(paired "${!all}" "${!sub}")
            # shellcheck disable=SC2086
            printf '  %-9s %-7s ratio round by round: %s; median %s\n' "$run" "$tool" "$pr" "$(median $pr)"
            all="${p[0]}_h[*]"; sub="${p[1]}_h[*]"; a="${p[0]}_m[*]"; b="${p[1]}_m[*]"
            # shellcheck disable=SC2086
            printf '  %-9s %-7s CPU ms per host: hosts %s on %s, %s on %s; machine %s on %s, %s on %s\n' "$run" "$tool" \
                "$(median ${!all})" "$hosts" "$(median ${!sub})" "$subset" "$(median ${!a})" "$hosts" "$(median ${!b})" "$subset"
            if [ "$tool" = runbook ]; then
                all="${x[0]}_c[*]"; sub="${x[1]}_c[*]"
                # shellcheck disable=SC2086
                printf '  %-9s runbook itself, CPU ms per host: %s on %s hosts, %s on %s\n' "$run" \
                    "$(median ${!all})" "$hosts" "$(median ${!sub})" "$subset"
            fi
        done
    done
fi
echo "every timed run, in order (rb/fl = runbook/floor on all hosts, sr/sf = on the subset, bf = BEFORE_BIN; 1 = first run, 2 = no-change):"
sed 's/^/  /' "$work/runs.log"
reset; pss_first=$(pss_once "$bin"); pss_again=$(pss_once "$bin")
echo "runbook peak controller memory: PSS ${pss_first} KB first run, ${pss_again} KB no-change run (untimed runs, /proc/PID/smaps_rollup); max RSS $(sort -n "$work/rss.all" | tail -n 1) KB (timed runs, GNU time %M)"
