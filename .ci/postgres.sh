#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the tests that need one.
#
# Installs Debian's `postgresql` package when its binaries are missing, creates a
# cluster of its own in $AWS_MONITOR_PG_DIR that listens on 127.0.0.1 only, and
# creates a role and a database for the tests. A `main` cluster that existed before
# is left alone; one that this script's package install created is stopped. The
# role may create databases, because each test creates and drops a database of its own.
#
# Run it (`.ci/postgres.sh`) and it prints the SQLAlchemy URL on stdout, or source
# it (`. .ci/postgres.sh`) and it also exports AWS_MONITOR_TEST_POSTGRES_URL.
# Progress goes to stderr. Running it again reuses the cluster and starts it if it
# is stopped. `.ci/postgres.sh stop` stops the server.
#
# Settings (environment): AWS_MONITOR_PG_DIR (default /var/tmp/aws-monitor-postgres),
# AWS_MONITOR_PG_PORT (default 55432).

_aws_monitor_postgres() {
    local dir="${AWS_MONITOR_PG_DIR:-/var/tmp/aws-monitor-postgres}"
    local port="${AWS_MONITOR_PG_PORT:-55432}"
    local role="aws_monitor"
    local database="aws_monitor"
    local data="$dir/data"
    local bin

    _log() { echo "postgres.sh: $*" >&2; }

    # Run a command as the cluster's owner: `postgres` when this script runs as root.
    _as_owner() {
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- "$@"
        else
            "$@"
        fi
    }

    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            _log "PostgreSQL is not installed and installing it needs root: apt-get install postgresql"
            return 1
        fi
        _log "installing Debian's postgresql package"
        DEBIAN_FRONTEND=noninteractive apt-get update >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 || return 1
        bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
        # The package creates and may start a `main` cluster on localhost (also ::1).
        # The tests use their own cluster on 127.0.0.1, so the one just installed is stopped.
        local version
        version="$(basename "$(dirname "$bin")")"
        if command -v pg_ctlcluster >/dev/null 2>&1; then
            pg_ctlcluster "$version" main stop >&2 2>/dev/null || true
        fi
    fi

    if [ "${1:-}" = "stop" ]; then
        _as_owner "$bin/pg_ctl" -D "$data" -m fast stop >&2
        return $?
    fi

    mkdir -p "$dir" || return 1
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
    fi
    chmod 700 "$dir"

    local password_file="$dir/password"
    if [ ! -s "$password_file" ]; then
        # Letters and digits only, so the password needs no escaping in the URL.
        _as_owner sh -c "umask 077; tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 >'$password_file'"
    fi
    local password
    password="$(_as_owner cat "$password_file")" || return 1

    if [ ! -f "$data/PG_VERSION" ]; then
        _log "creating a cluster in $data"
        _as_owner "$bin/initdb" -D "$data" -U postgres --auth-local=peer \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2 || return 1
    fi

    if ! _as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        _log "starting the server on 127.0.0.1:$port"
        # The socket goes into the cluster directory, so no system directory is needed.
        _as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >&2 || {
            _log "the server did not start; its log is $dir/server.log"
            return 1
        }
    fi

    local psql=("$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    if [ "$(_as_owner "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != "1" ]; then
        _log "creating role $role"
        _as_owner "${psql[@]}" -c "CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password'" >&2 || return 1
    else
        _as_owner "${psql[@]}" -c "ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password'" >&2 || return 1
    fi
    if [ "$(_as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
        _log "creating database $database"
        _as_owner "${psql[@]}" -c "CREATE DATABASE $database OWNER $role" >&2 || return 1
    fi

    AWS_MONITOR_TEST_POSTGRES_URL="postgresql+psycopg://$role:$password@127.0.0.1:$port/$database"
    echo "$AWS_MONITOR_TEST_POSTGRES_URL"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: export the URL into the caller's shell and leave its options alone.
    if _aws_monitor_postgres "$@" >/dev/null; then
        export AWS_MONITOR_TEST_POSTGRES_URL
        echo "postgres.sh: AWS_MONITOR_TEST_POSTGRES_URL is set" >&2
    else
        echo "postgres.sh: no PostgreSQL server; the PostgreSQL tests will be skipped" >&2
    fi
    unset -f _aws_monitor_postgres _log _as_owner
else
    set -euo pipefail
    _aws_monitor_postgres "$@"
fi
