# test/lib/cluster.sh — shared by test/run, test/demo and test/bench: install
# what is missing, build, stage an install, run a throwaway cluster.
#
# Source it, then call mo_setup (deps + build + stage) and mo_cluster_start.
# Everything lives under $MO_WORK (a fresh temp dir) and is removed by
# mo_cleanup; no cluster or file outside it is ever touched.
#
# The extension is installed with `make install DESTDIR=$MO_WORK/stage` into
# a private copy of the PostgreSQL installation, as PostgreSQL's own
# `make check` does (tmp_install): the server binaries find their share and
# lib directories relative to themselves, so the staged server loads the
# freshly built migrate_ops and the system installation stays untouched.

MO_PGMAJOR=${MO_PGMAJOR:-15}
MO_ROOT=${MO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MO_PACKAGES=(make gcc "postgresql-$MO_PGMAJOR" "postgresql-server-dev-$MO_PGMAJOR"
    libcurl4-openssl-dev "postgresql-$MO_PGMAJOR-pgtap"
    libtap-parser-sourcehandler-pgtap-perl python3 util-linux)

mo_log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mo_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages that are missing (root only).
mo_install_deps() {
    local missing=() p
    for p in "${MO_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || mo_die "missing packages (run as root to install them): ${missing[*]}"
    mo_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Runs a command as the cluster's owner (postgres when we are root).  pg_ctl
# and postgres get MO_SERVER_ENV's assignments (an LD_PRELOADed sanitizer
# runtime: test/memcheck, test/fuzz), so that every server the tests start
# or restart has them.
mo_as_owner() {
    local env=()
    case ${1##*/} in pg_ctl|postgres) [ -n "${MO_SERVER_ENV:-}" ] && read -r -a env <<<"$MO_SERVER_ENV";; esac
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env "${env[@]}" "$@"
    else
        env "${env[@]}" "$@"
    fi
}

# Builds with -Werror and stages an installation under $MO_WORK/stage.
mo_build_and_stage() {
    local pg_config=/usr/lib/postgresql/$MO_PGMAJOR/bin/pg_config
    local bindir sharedir pkglibdir build=${MO_BUILD_ROOT:-$MO_ROOT}
    [ -x "$pg_config" ] || mo_die "no pg_config for PostgreSQL $MO_PGMAJOR"
    bindir=$($pg_config --bindir); sharedir=$($pg_config --sharedir); pkglibdir=$($pg_config --pkglibdir)
    MO_STAGE=$MO_WORK/stage

    # MO_BUILD_ROOT, MO_MAKE_ARGS (one make argument a line), MO_EXTRA_CFLAGS: a
    # sanitizer build in a copy of the tree (test/memcheck, test/fuzz)
    local extra=()
    [ -n "${MO_MAKE_ARGS:-}" ] && mapfile -t extra <<<"$MO_MAKE_ARGS"
    mo_log "building migrate_ops (PostgreSQL $MO_PGMAJOR, -Wall -Wextra -Werror ${MO_EXTRA_CFLAGS:-}${MO_MAKE_ARGS:+ (${extra[*]})})"
    make -C "$build" -s PG_CONFIG="$pg_config" PG_CFLAGS="-Wall -Wextra -Werror ${MO_EXTRA_CFLAGS:-}" "${extra[@]}" >/dev/null

    # A private copy of the PostgreSQL installation (hard links where possible).
    mkdir -p "$MO_STAGE$(dirname "$bindir")" "$MO_STAGE$(dirname "$sharedir")"
    cp -al "$(dirname "$bindir")/." "$MO_STAGE$(dirname "$bindir")/" 2>/dev/null ||
        cp -a "$(dirname "$bindir")/." "$MO_STAGE$(dirname "$bindir")/"
    cp -al "$sharedir" "$MO_STAGE$(dirname "$sharedir")/" 2>/dev/null ||
        cp -a "$sharedir" "$MO_STAGE$(dirname "$sharedir")/"
    rm -f "$MO_STAGE$pkglibdir"/migrate_ops.so "$MO_STAGE$sharedir"/extension/migrate_ops*
    make -C "$build" -s PG_CONFIG="$pg_config" PG_CFLAGS="-Wall -Wextra -Werror ${MO_EXTRA_CFLAGS:-}" "${extra[@]}" \
        install DESTDIR="$MO_STAGE" >/dev/null
    MO_BIN=$MO_STAGE$bindir
    export MO_BIN MO_STAGE
    export PATH=$MO_BIN:$PATH
}

# Deps, a work dir, the build and the staged install.
mo_setup() {
    mo_install_deps
    MO_WORK=$(mktemp -d "${TMPDIR:-/tmp}/migrate_ops.XXXXXX")
    chmod 755 "$MO_WORK"
    export MO_WORK
    mo_build_and_stage
}

# Picks a TCP port nobody listens on.
mo_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Initialises and starts a throwaway cluster with the extension preloaded.
# Extra postgresql.conf lines may be passed as arguments.
mo_cluster_start() {
    MO_DATA=$MO_WORK/data
    MO_SOCK=$MO_WORK/sock
    MO_LOG=$MO_WORK/server.log
    PGPORT=$(mo_free_port)
    mkdir -p "$MO_DATA" "$MO_SOCK"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$MO_DATA" "$MO_SOCK" && touch "$MO_LOG" && chown postgres: "$MO_LOG"
    mo_as_owner "$MO_BIN/initdb" -D "$MO_DATA" -U postgres --auth=trust --no-sync \
        -E UTF8 --locale=C.UTF-8 >"$MO_WORK/initdb.log" 2>&1 || { cat "$MO_WORK/initdb.log"; mo_die "initdb failed"; }
    {
        echo "port = $PGPORT"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$MO_SOCK'"
        echo "shared_preload_libraries = 'migrate_ops'"
        echo "fsync = off"
        echo "max_connections = 50"
        echo "max_worker_processes = 32"   # migrate_ops: a worker per database with the extension
        echo "log_line_prefix = '%m [%p] %d %a '"
        for line in "$@"; do echo "$line"; done
    } >>"$MO_DATA/postgresql.conf"
    if [ -n "${MO_SERVER_WRAPPER:-}" ]; then
        # the postmaster under a wrapper (valgrind: test/memcheck/valgrind.sh)
        mo_as_owner bash -c "exec $MO_SERVER_WRAPPER '$MO_BIN/postgres' -D '$MO_DATA'" >>"$MO_LOG" 2>&1 </dev/null &
        local i
        for i in $(seq 600); do
            "$MO_BIN/pg_isready" -q -h "$MO_SOCK" -p "$PGPORT" && break
            sleep 0.5
        done
        "$MO_BIN/pg_isready" -q -h "$MO_SOCK" -p "$PGPORT" || { tail -30 "$MO_LOG"; mo_die "the server did not start"; }
    else
        mo_pg_ctl start -w -t 60 >/dev/null || { tail -30 "$MO_LOG"; mo_die "the server did not start"; }
    fi
    export PGHOST=$MO_SOCK PGPORT PGUSER=postgres PGDATABASE=postgres MO_DATA MO_LOG MO_SOCK
}

# pg_ctl on the throwaway cluster, as its owner.
mo_pg_ctl() {
    mo_as_owner "$MO_BIN/pg_ctl" -D "$MO_DATA" -l "$MO_LOG" "$@"
}

# Stops the cluster and removes the work dir (keep it with MO_KEEP=1).
mo_cleanup() {
    if [ -n "${MO_DATA:-}" ] && [ -f "$MO_DATA/postmaster.pid" ]; then
        mo_pg_ctl stop -m fast -w -t 600 >/dev/null 2>&1 || mo_pg_ctl stop -m immediate >/dev/null 2>&1 || true
    fi
    if [ -n "${MO_WORK:-}" ] && [ -d "$MO_WORK" ]; then
        if [ "${MO_KEEP:-0}" = 1 ]; then
            echo "kept $MO_WORK"
        else
            rm -rf "$MO_WORK"
        fi
    fi
}

# psql against the throwaway cluster, quiet and stopping at the first error.
mo_psql() {
    "$MO_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# A fresh database with pgTAP and migrate_ops installed.
mo_createdb() {
    PGOPTIONS="-c client_min_messages=warning" mo_psql -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\"" >/dev/null
    mo_psql -d "$1" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION migrate_ops" >/dev/null
}
