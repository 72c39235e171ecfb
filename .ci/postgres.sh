# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh && cargo test --all-features
# --test transaction_postgres`): starts a throwaway PostgreSQL cluster for the keel::tx tests and
# exports KEEL_PG_URL. Installs Debian's `postgresql` package when no `initdb` is found. The
# cluster lives in a temp dir, listens only on a Unix socket there, and is stopped and deleted
# when the sourcing shell exits. A KEEL_PG_URL already set is left alone.

keel_pg_start() {
    if [ -n "${KEEL_PG_URL:-}" ]; then
        echo "KEEL_PG_URL already set; using that server"
        return 0
    fi
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ] && ! command -v initdb >/dev/null 2>&1; then
        echo "installing PostgreSQL (Debian package postgresql)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    fi
    [ -n "$bin" ] || bin="$(dirname "$(command -v initdb)")"

    # initdb and postgres refuse to run as root: run them as the `postgres` system user.
    local as_pg=()
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        fi
        as_pg=(runuser -u postgres --)
    fi

    KEEL_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/keel-pg.XXXXXX")"
    export KEEL_PG_DIR
    [ "$(id -u)" = 0 ] && chown postgres "$KEEL_PG_DIR"
    local port=5432 # only names the socket file; no TCP listener
    "${as_pg[@]}" "$bin/initdb" -D "$KEEL_PG_DIR/data" -U postgres -A trust --no-sync >"$KEEL_PG_DIR/initdb.log" 2>&1 ||
        { cat "$KEEL_PG_DIR/initdb.log"; return 1; }
    "${as_pg[@]}" "$bin/pg_ctl" -D "$KEEL_PG_DIR/data" -l "$KEEL_PG_DIR/server.log" -w \
        -o "-c listen_addresses='' -k $KEEL_PG_DIR -p $port -c fsync=off" start >/dev/null ||
        { cat "$KEEL_PG_DIR/server.log"; return 1; }
    KEEL_PG_STOP="${as_pg[*]} $bin/pg_ctl -D $KEEL_PG_DIR/data -m immediate stop"
    trap 'keel_pg_stop' EXIT
    export KEEL_PG_URL="host=$KEEL_PG_DIR port=$port user=postgres dbname=postgres"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') running: KEEL_PG_URL=\"$KEEL_PG_URL\""
}

keel_pg_stop() {
    if [ -n "${KEEL_PG_STOP:-}" ]; then
        $KEEL_PG_STOP >/dev/null 2>&1 || true
        rm -rf "$KEEL_PG_DIR"
        KEEL_PG_STOP=""
    fi
}

keel_pg_start
