#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests and the demo, run as the postgres user (initdb refuses
# root). Only ever touches the directory it is given.
#   pgcluster.sh start DIR PORT [postgresql.conf line ...]
#   pgcluster.sh stop DIR
#   pgcluster.sh resume DIR        (starts a stopped cluster again, its data kept)
#   pgcluster.sh standby PRIMARY_DIR PRIMARY_PORT DIR PORT
#                                   (a hot standby of a running cluster, streaming from it)
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
cmd=$1 dir=$(realpath -m "$2")

# Starts the server in DIR. Test ports lie in Linux's ephemeral range; where setup.sh could not
# reserve them, a port can be briefly taken by some client connection's local end: then it waits
# and tries again, for up to 20 s.
start_server() {
  local dir=$1 try
  for try in $(seq 20); do
    sudo -u postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null && return 0
    tail -n 5 "$dir/server.log" | grep -q "Address already in use" || return 1
    sleep 1
  done
  return 1
}

case "$cmd" in
  start)
    port=$3; shift 3
    "$0" stop "$dir" 2>/dev/null || true
    rm -rf "$dir"; mkdir -p "$dir"; chown postgres:postgres "$dir"
    sudo -u postgres "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    {
      echo "port = $port"
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$dir'"
      echo "fsync = off"
      for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    start_server "$dir"
    echo "postgres started: host=$dir port=$port user=postgres"
    ;;
  resume)
    start_server "$dir"
    ;;
  standby)
    primary=$(realpath "$2") primary_port=$3 dir=$(realpath -m "$4") port=$5
    "$0" stop "$dir" 2>/dev/null || true
    rm -rf "$dir"; mkdir -p "$dir"; chown postgres:postgres "$dir"
    sudo -u postgres "$BIN/pg_basebackup" -h "$primary" -p "$primary_port" -U postgres \
      -D "$dir/data" -R -X stream -c fast
    printf '%s\n' "port = $port" "unix_socket_directories = '$dir'" >>"$dir/data/postgresql.conf"
    start_server "$dir"
    echo "standby of $primary started: host=$dir port=$port user=postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      sudo -u postgres "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
  *) echo "usage: $0 start DIR PORT [conf ...] | stop DIR | resume DIR | standby PRIMARY_DIR PRIMARY_PORT DIR PORT" >&2; exit 2 ;;
esac
