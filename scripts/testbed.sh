#!/usr/bin/env bash
# Test hosts for runbook: Docker engine + the bare server images `runbook/testhost:RELEASE`
# (Debian 12 bookworm, the default, and Debian 13 trixie).
#
#   scripts/testbed.sh setup            install docker.io/debootstrap (and zsh, fish, groff for tests), start dockerd, build the images (cached by tag)
#   scripts/testbed.sh start N [PREFIX] [RELEASE]
#                                       start N hosts (default release bookworm), print an inventory (TOML) on stdout
#   scripts/testbed.sh stop [PREFIX]    remove the hosts started with PREFIX
#
# Everything fails loudly: a missing engine or image is an error, never a skipped test.
set -euo pipefail

# The Debian releases of the test hosts; the first is the default.
RELEASES=(bookworm trixie)
image_of() { echo "runbook/testhost:$1"; }
IMAGE=$(image_of "${RELEASES[0]}")
# The same host with Node.js, npm and pm2 (Debian's packages, pm2 from npm): release tests.
NODE_IMAGE="${RUNBOOK_TESTHOST_NODE_IMAGE:-runbook/testhost-node:bookworm}"
STATE_DIR="${RUNBOOK_TESTBED_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/runbook-testbed}"
KEY="$STATE_DIR/id_ed25519"

log() { echo "testbed: $*" >&2; }
die() { echo "testbed: error: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
    command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # What the tests check `runbook completions` and `runbook man` with.
    command -v zsh >/dev/null 2>&1 || missing+=(zsh)
    command -v fish >/dev/null 2>&1 || missing+=(fish)
    command -v groff >/dev/null 2>&1 || missing+=(groff-base)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then return; fi
    # A dockerd killed with the previous session leaves pid files that block a new one.
    for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
        if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
            as_root rm -f "$pidfile"
        fi
    done
    log "starting dockerd"
    as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    tail -n 30 /var/log/dockerd.log >&2 || true
    die "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
}

debian_mirror() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '/^deb / && $2 ~ /^http/ {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

build_image() {
    local release="$1" image
    image=$(image_of "$release")
    if docker image inspect "$image" >/dev/null 2>&1; then
        log "image $image is cached"
        return
    fi
    local rootfs
    rootfs=$(mktemp -d /tmp/runbook-rootfs.XXXXXX)
    trap 'as_root rm -rf "$rootfs"' RETURN
    local mirror
    mirror=$(debian_mirror)
    local logfile="/tmp/runbook-debootstrap-$release.log"
    log "debootstrap $release from $mirror (a minute or two)"
    as_root debootstrap --variant=minbase \
        --include=openssh-server,sudo,iproute2,procps,systemd,systemd-sysv,dbus,ca-certificates,curl,python3 \
        "$release" "$rootfs" "$mirror" >"$logfile" 2>&1 \
        || { tail -n 30 "$logfile" >&2; die "debootstrap $release failed (log: $logfile)"; }
    # This network intercepts TLS: the hosts must trust its CA like the controller does.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        as_root cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    fi
    as_root chroot "$rootfs" update-ca-certificates >/dev/null
    as_root chroot "$rootfs" systemctl enable ssh >/dev/null 2>&1
    # Node/npm inside hosts read NODE_EXTRA_CA_CERTS; npm reads its cafile.
    echo 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' | as_root tee -a "$rootfs/etc/environment" >/dev/null
    echo 'cafile=/etc/ssl/certs/ca-certificates.crt' | as_root tee "$rootfs/etc/npmrc" >/dev/null
    as_root mkdir -p "$rootfs/usr/etc"
    as_root ln -sf /etc/npmrc "$rootfs/usr/etc/npmrc"
    # Like a fresh droplet: apt lists are fetched by the playbooks, the host keys are made per container.
    as_root rm -f "$rootfs"/etc/ssh/ssh_host_*
    as_root mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
    printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
        | as_root tee "$rootfs/etc/systemd/system/ssh.service.d/hostkeys.conf" >/dev/null
    echo "runbook-testhost" | as_root tee "$rootfs/etc/hostname" >/dev/null
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb
    log "importing $image"
    as_root tar -C "$rootfs" -c . | docker import --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
}

build_node_image() {
    if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
        log "image $NODE_IMAGE is cached"
        return
    fi
    local name="runbook-node-build-$$"
    trap 'docker rm -f "'"$name"'" >/dev/null 2>&1 || true; trap - RETURN' RETURN
    log "building $NODE_IMAGE: apt-get install nodejs npm, npm install -g pm2 (a few minutes)"
    docker rm -f "$name" >/dev/null 2>&1 || true
    # Not booted (no systemd needed to install packages); npm trusts this network's CA
    # through NODE_EXTRA_CA_CERTS and the cafile in /etc/npmrc of the base image.
    docker run --name "$name" "$IMAGE" sh -euc '
            export DEBIAN_FRONTEND=noninteractive NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
            npm install -g --no-fund --no-audit pm2
            node -e "console.log(\"node \" + process.version)"
            pm2 --version
            pm2 kill >/dev/null 2>&1 || true
            rm -rf /root/.pm2 /root/.npm /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
        ' >/tmp/runbook-node-image.log 2>&1 \
        || { tail -n 30 /tmp/runbook-node-image.log >&2; die "building $NODE_IMAGE failed (log: /tmp/runbook-node-image.log)"; }
    docker commit --change 'CMD ["/sbin/init"]' "$name" "$NODE_IMAGE" >/dev/null
}

ensure_key() {
    mkdir -p "$STATE_DIR"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C runbook-testbed -f "$KEY"
}

# The local rehearsal's secrets (examples/inventory/local.toml asks for them by name): random,
# made once, never committed (.gitignore), readable by this user only.
ensure_local_secrets() {
    local dir
    dir="$(cd "$(dirname "$0")/.." && pwd)/examples/inventory/secrets"
    mkdir -p "$dir"
    chmod 700 "$dir"
    for name in db_password replication_password; do
        [ -s "$dir/$name" ] && continue
        (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$dir/$name")
        log "made the local secret $dir/$name"
    done
}

# The flags that give a container systemd as PID 1 running sandboxed units (PrivateUsers=,
# ProtectSystem=, …), sshd and an enforceable ufw: what the docker provider grants its
# droplets, and why, is in src/cloud/docker_grants.rs (a test keeps these the same).
RUN_FLAGS=(--cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add SYS_PTRACE
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock)

# Each test host runs systemd, which takes inotify instances; Linux's default of 128 per
# user runs out at about 20 hosts and further containers die as they start.
raise_inotify_limit() {
    local want=8192 have
    have=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo "$want")
    [ "$have" -ge "$want" ] || sysctl -qw fs.inotify.max_user_instances="$want" 2>/dev/null \
        || echo "testbed: warning: fs.inotify.max_user_instances is $have; many test hosts may not start" >&2
}

start_hosts() {
    local n="$1" prefix="${2:-rbtest}" image
    image=$(image_of "${3:-${RELEASES[0]}}")
    ensure_key
    raise_inotify_limit
    local pub
    pub=$(cat "$KEY.pub")
    echo "[ssh]"
    echo "user = \"root\""
    echo "key = \"$KEY\""
    echo
    for i in $(seq 1 "$n"); do
        local name="$prefix-$i"
        docker rm -f "$name" >/dev/null 2>&1 || true
        docker run -d --name "$name" --hostname "$name" --label runbook.testbed="$prefix" \
            "${RUN_FLAGS[@]}" "$image" >/dev/null
        # An exec into a container whose init is still starting is sometimes killed (137):
        # try again; the key is written once (grep), whichever attempt gets through.
        local tries=0
        until docker exec "$name" sh -c "mkdir -p /root/.ssh && chmod 700 /root/.ssh && { grep -qxF '$pub' /root/.ssh/authorized_keys 2>/dev/null || echo '$pub' >> /root/.ssh/authorized_keys; } && chmod 600 /root/.ssh/authorized_keys"; do
            tries=$((tries + 1))
            [ "$tries" -lt 10 ] || die "cannot write the login key into $name"
            sleep 0.5
        done
        local ip
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
        echo "[hosts.$name]"
        echo "address = \"$ip\""
        echo
    done
}

stop_hosts() {
    local prefix="${1:-rbtest}"
    local ids
    ids=$(docker ps -aq --filter "label=runbook.testbed=$prefix")
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
}

case "${1:-setup}" in
    setup)
        install_packages; start_dockerd
        for release in "${RELEASES[@]}"; do build_image "$release"; done
        build_node_image; ensure_key; ensure_local_secrets ;;
    start) start_hosts "${2:?start N [PREFIX] [RELEASE]}" "${3:-rbtest}" "${4:-${RELEASES[0]}}" ;;
    stop) stop_hosts "${2:-rbtest}" ;;
    *) die "usage: $0 setup | start N [PREFIX] [RELEASE] | stop [PREFIX]" ;;
esac
