#!/usr/bin/env bash
# A real PostgreSQL server for runbook's tests and benchmarks: Debian's package, a throwaway
# cluster on loopback, a role with a password, TLS with a CA of its own.
#
#   scripts/postgres.sh setup               install postgresql if missing, start the shared test
#                                           server (127.0.0.1:54329, data in /tmp/runbook-pg) unless
#                                           it already runs, print its `export RUNBOOK_TEST_PG…` lines
#   scripts/postgres.sh cluster DIR PORT    a private cluster in DIR (created from scratch) on PORT,
#                                           for a test that restarts or stops its server; prints the same
#   scripts/postgres.sh ctl DIR ACTION      pg_ctl ACTION (restart, stop, start) for the cluster in DIR
#   scripts/postgres.sh destroy DIR         stop the cluster in DIR and remove DIR
#   scripts/postgres.sh stop                stop the shared test server
#
# The printed lines, for `eval "$(scripts/postgres.sh setup)"`:
#   RUNBOOK_TEST_PG           postgres://runbook@127.0.0.1:PORT/runbook (no password in it)
#   RUNBOOK_TEST_PG_PASSWORD  the role's password (random, made at creation)
#   RUNBOOK_TEST_PG_CA        the CA that signed the server's certificate (for sslrootcert=)
#   RUNBOOK_TEST_PG_DIR       the cluster's directory
# The role `runbook` may create databases (the tests make one each). Everything fails loudly:
# a server that cannot be installed or started is an error, never a skipped test.
set -euo pipefail

SHARED_DIR="${RUNBOOK_PG_DIR:-/tmp/runbook-pg}"
SHARED_PORT="${RUNBOOK_PG_PORT:-54329}"

log() { echo "postgres: $*" >&2; }
die() { echo "postgres: error: $*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_packages() {
    if [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ] && command -v openssl >/dev/null 2>&1; then return; fi
    log "installing postgresql (Debian's package)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql openssl >/dev/null
    [ -x "$(bindir)/initdb" ] || die "postgresql is installed but no initdb under /usr/lib/postgresql/*/bin"
}

# The server cannot run as root: as root, the cluster belongs to the `postgres` user.
owner() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg() { as_owner "$(bindir)/$1" "${@:2}"; }

# psql as the superuser, through the cluster's own socket directory.
admin() { local dir=$1; shift; pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres -d postgres "$@"; }

env_lines() {
    local dir=$1 port=$2
    cat <<EOF
export RUNBOOK_TEST_PG='postgres://runbook@127.0.0.1:$port/runbook'
export RUNBOOK_TEST_PG_PASSWORD='$(cat "$dir/password")'
export RUNBOOK_TEST_PG_CA='$dir/tls/ca.crt'
export RUNBOOK_TEST_PG_DIR='$dir'
EOF
}

# Whether the cluster in DIR answers on PORT with its role's password.
healthy() {
    local dir=$1 port=$2
    [ -f "$dir/password" ] && [ -f "$dir/env" ] || return 1
    PGPASSWORD="$(cat "$dir/password")" PGCONNECT_TIMEOUT=5 "$(bindir)/psql" -X -q -w \
        "postgres://runbook@127.0.0.1:$port/runbook?sslmode=disable" -c 'SELECT 1' >/dev/null 2>&1
}

stop_cluster() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        pg pg_ctl -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
}

tls() {
    local dir=$1
    mkdir -p "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=runbook test CA" \
        -keyout "$dir/tls/ca.key" -out "$dir/tls/ca.crt" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/tls/server.key" -out "$dir/tls/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/tls/ext"
    openssl x509 -req -in "$dir/tls/server.csr" -CA "$dir/tls/ca.crt" -CAkey "$dir/tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$dir/tls/ext" -out "$dir/tls/server.crt" >/dev/null 2>&1
    chmod 0600 "$dir/tls/server.key"
    chmod 0644 "$dir/tls/ca.crt" "$dir/tls/server.crt"
}

# Creates and starts a cluster in DIR (removed first) on PORT; writes DIR/env.
create_cluster() {
    local dir=$1 port=$2
    PORT=$port
    stop_cluster "$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 0755 "$dir"
    tls "$dir"
    local password
    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$password" > "$dir/password"
    chmod 0644 "$dir/password"
    chown -R "$(owner)" "$dir"
    log "creating a cluster in $dir on 127.0.0.1:$port"
    pg initdb -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 32MB
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
log_min_messages = warning
EOF
    cat > "$dir/data/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
EOF
    chown "$(owner)" "$dir/data/postgresql.conf" "$dir/data/pg_hba.conf"
    pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { tail -n 30 "$dir/server.log" >&2; die "the server did not start (see $dir/server.log)"; }
    admin "$dir" -c "CREATE ROLE runbook LOGIN CREATEDB PASSWORD '$password'" \
        -c "CREATE DATABASE runbook OWNER runbook" >/dev/null
    env_lines "$dir" "$port" > "$dir/env"
    healthy "$dir" "$port" || die "the new server on 127.0.0.1:$port does not accept the runbook role"
}

case "${1:-}" in
    setup)
        install_packages
        if healthy "$SHARED_DIR" "$SHARED_PORT"; then
            cat "$SHARED_DIR/env"
            exit 0
        fi
        create_cluster "$SHARED_DIR" "$SHARED_PORT"
        cat "$SHARED_DIR/env"
        ;;
    cluster)
        [ $# -eq 3 ] || die "usage: $0 cluster DIR PORT"
        install_packages
        create_cluster "$2" "$3"
        cat "$2/env"
        ;;
    ctl)
        [ $# -eq 3 ] || die "usage: $0 ctl DIR restart|stop|start"
        case "$3" in
            start | restart) pg pg_ctl -D "$2/data" -l "$2/server.log" -m fast -w -t 60 "$3" >/dev/null ;;
            stop) pg pg_ctl -D "$2/data" -m fast -w -t 60 stop >/dev/null ;;
            *) die "unknown action $3" ;;
        esac
        ;;
    destroy)
        [ $# -eq 2 ] || die "usage: $0 destroy DIR"
        stop_cluster "$2"
        rm -rf "$2"
        ;;
    stop)
        stop_cluster "$SHARED_DIR"
        ;;
    *)
        sed -n '2,21p' "$0" >&2
        exit 2
        ;;
esac
