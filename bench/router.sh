#!/usr/bin/env bash
# Ingest through the PL/Proxy router (issue 14, sql/router.sql) with 2 shards on 2 clusters,
# against the same batches into one database directly; same run, same machine. Each side loads
# ROUTER_EVENTS events through audit_log_batch(), 1000 lines a call, from 2 sessions at once;
# rounds alternate sides; the faster round of each side counts. The router and both shards run
# on this machine's cores, so the ratio says what the router costs here, not what two machines
# would give. In make bench, not in bench-quick. Called by bench/all.sh.
#   ROUTER_EVENTS  events per round and side (default 100000)
#   ROUTER_ROUNDS  rounds per side (default 2)
#   ROUTER_PORT    port of shard cluster A; B and the router take the next two (default 55485)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${ROUTER_EVENTS:-100000}
ROUNDS=${ROUTER_ROUNDS:-2}
PORT=${ROUTER_PORT:-55485}
A=$PWD/tmp/bench-shard-a B=$PWD/tmp/bench-shard-b ROUTER=$PWD/tmp/bench-router
SESSIONS=2
export CHUNK=1000

trap 'for d in "$ROUTER" "$B" "$A"; do scripts/pgcluster.sh stop "$d"; done' EXIT
mapfile -t conf < <(preload_conf yes)
scripts/pgcluster.sh start "$A" "$PORT" "${conf[@]}" >/dev/null
scripts/pgcluster.sh start "$B" $(( PORT + 1 )) "${conf[@]}" >/dev/null
scripts/pgcluster.sh start "$ROUTER" $(( PORT + 2 )) >/dev/null
# The direct side's database lives on cluster A, beside shard 0.
for db in shard direct; do
  at "$A" "$PORT" -d postgres -c "CREATE DATABASE $db"
  at "$A" "$PORT" -d "$db" -c "CREATE EXTENSION auditlog"
done
at "$B" $(( PORT + 1 )) -d postgres -c "CREATE DATABASE shard"
at "$B" $(( PORT + 1 )) -d shard -c "CREATE EXTENSION auditlog"
at "$ROUTER" $(( PORT + 2 )) -d postgres -c "CREATE DATABASE router"
at "$ROUTER" $(( PORT + 2 )) -d router -c "CREATE EXTENSION plproxy" -c "
  CREATE SERVER auditlog_shards FOREIGN DATA WRAPPER plproxy OPTIONS (
    p0 'host=$A port=$PORT dbname=shard', p1 'host=$B port=$(( PORT + 1 )) dbname=shard')" \
  -c "CREATE USER MAPPING FOR PUBLIC SERVER auditlog_shards OPTIONS (user 'postgres')"
at "$ROUTER" $(( PORT + 2 )) -d router -f sql/router.sql

# Events spread over users and correlations; the router routes them by correlation.
LINE="json_build_object('event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read', 'authz.access.granted'])[1 + i % 4],
        'event_data', json_build_object('resource_type', 'client', 'resource_id', i % 50000),
        'user_context', json_build_object('user_id', 1 + i % 1000, 'correlation_id', 'CORR_' || i / 20))::text"

# load DIR PORT DB FROM: seconds to log EVENTS events from FROM on, from SESSIONS sessions.
load() {
  local t0 s
  t0=$(date +%s.%N)
  for (( s = 0; s < SESSIONS; s++ )); do
    load_events "$1" "$2" "$3" "$4" $(( $4 + EVENTS )) "$LINE" "$SESSIONS" "$s" &
  done
  wait
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}
rate() { awk -v n="$EVENTS" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }

echo "audit_log_batch() of $EVENTS events per round, $SESSIONS sessions, $CHUNK lines a call"
r=() d=()
for (( round = 0; round < ROUNDS; round++ )); do
  d+=("$(load "$A" "$PORT" direct $(( round * EVENTS )))")
  r+=("$(load "$ROUTER" $(( PORT + 2 )) router $(( round * EVENTS )))")
  printf '  round %d: direct %7s events/s   router %7s events/s\n' $(( round + 1 )) \
    "$(rate "${d[-1]}")" "$(rate "${r[-1]}")"
done
stored=0
for side in "$A $PORT" "$B $(( PORT + 1 ))"; do
  set -- $side
  n=$(at "$1" "$2" -d shard -At -c "SELECT count(*) FROM audit.audit_events")
  [ "$n" -gt 0 ] || { echo "shard $1 got no events" >&2; exit 1; }
  stored=$(( stored + n ))
done
[ "$stored" -eq $(( ROUNDS * EVENTS )) ] || { echo "the shards hold $stored events, not $(( ROUNDS * EVENTS ))" >&2; exit 1; }
rb=$(rate "$(min "${r[@]}")") db=$(rate "$(min "${d[@]}")")
goal "ingest through a PL/Proxy router, 2 shards on 2 clusters, vs one database (one machine)" \
  "$(ratio "$rb" "$db")" ">=" - "$rb vs $db events/s"
