#!/usr/bin/env bash
# No decay as the log grows (issue 11): audit_log() rows/s on a database that holds EVENTS
# events, the newest QUEUED of them not sealed yet (a sealer stopped for a minute), against an
# empty one in the same cluster, alternating round by round; then the same once the queue is
# sealed. And the scheduled check of the newest events on that log against the same check on a
# log that holds only them, per event. Called by bench/all.sh.
#   DECAY_EVENTS   events stored (default 10000000; quick 100000)
#   DECAY_QUEUED   of which waiting to be sealed (default 1000000; quick 10000)
#   BENCH_SECONDS  pgbench seconds per side and round (default 10; quick 4)
#   DECAY_ROUNDS   rounds per comparison (default 3; quick 2)
#   DECAY_PORT     port of the throwaway cluster (default 55495)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${DECAY_EVENTS:-$(quick_or 10000000 100000)}
QUEUED=${DECAY_QUEUED:-$(quick_or 1000000 10000)}
SIDE_SECONDS=${BENCH_SECONDS:-$(quick_or 10 4)}
ROUNDS=${DECAY_ROUNDS:-$(quick_or 3 2)}
PORT=${DECAY_PORT:-55495}
DIR=$PWD/tmp/bench-decay

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
# Preloaded with the background sealer off (the script decides when seals run), fsync off so
# that the load is quick and nothing hides CPU, shared buffers as a server of this size has.
mapfile -t conf < <(preload_conf yes)
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 4GB" "max_wal_size = 16GB" \
  "checkpoint_timeout = 30min" "fsync = off" "${conf[@]}" >/dev/null
at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE big"
at "$DIR" "$PORT" -d big -c "CREATE EXTENSION auditlog"

# The stored events: audit_log.sql's shape, 1000 users, correlations of 20, spread over the past
# 30 days (seconds apart, newest last).
line="json_build_object(
    'event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read', 'data.client.update',
                         'data.client.create', 'authz.access.granted', 'authz.access.denied',
                         'system.config.changed'])[1 + i % 8],
    'timestamp', now() - interval '30 days' * (1 - i::float8 / $EVENTS),
    'event_data', json_build_object('resource_type', 'client', 'resource_id', i % 50000, 'action', 'view',
                                    'request_id', md5(i::text), 'fields', json_build_array('name', 'email')),
    'user_context', json_build_object('user_id', 1 + i % 1000, 'session_id', 'sess_' || i % 5000,
                                      'ip_address', '10.0.' || i % 1000 / 256 || '.' || i % 256,
                                      'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
                                      'correlation_id', 'CORR_' || i / 20))::text"
echo "Loading $EVENTS events over the past 30 days, two sessions, 50000 per audit_log_batch(); the newest $QUEUED left unsealed"
t0=$(date +%s)
# One event a day first, so that each month has its partition before the load.
at "$DIR" "$PORT" -d big -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n')
                    FROM generate_series(0, $EVENTS - 1, $EVENTS / 30) i))" -c "SELECT audit_maintain_partitions()" >/dev/null
load_events "$DIR" "$PORT" big 0 $(( EVENTS - QUEUED )) "$line" 2 0 yes & l1=$!
load_events "$DIR" "$PORT" big 0 $(( EVENTS - QUEUED )) "$line" 2 1 yes & l2=$!
wait $l1 $l2
at "$DIR" "$PORT" -d big -c "SELECT seal_audit_events()" >/dev/null
load_events "$DIR" "$PORT" big $(( EVENTS - QUEUED )) "$EVENTS" "$line" 2 0 & l1=$!
load_events "$DIR" "$PORT" big $(( EVENTS - QUEUED )) "$EVENTS" "$line" 2 1 & l2=$!
wait $l1 $l2
at "$DIR" "$PORT" -d big -c "VACUUM ANALYZE" -c "CHECKPOINT"
echo "  loaded in $(( $(date +%s) - t0 )) s: $(at "$DIR" "$PORT" -d big -At -c "SELECT count(*) || ' events, ' || (SELECT count(*) FROM audit.unsealed_events) || ' waiting to be sealed, ' || pg_size_pretty(pg_database_size('big')) FROM audit.audit_events")"

# side DB: rows/s of one round; the empty database is made anew each round.
side() {
  if [ "$1" = empty ]; then
    at "$DIR" "$PORT" -d postgres -c "DROP DATABASE IF EXISTS empty" -c "CREATE DATABASE empty"
    at "$DIR" "$PORT" -d empty -c "CREATE EXTENSION auditlog"
  fi
  at "$DIR" "$PORT" -d "$1" -c "CHECKPOINT"
  pgbench_tps "$DIR" "$PORT" "$1" bench/audit_log.sql "$SIDE_SECONDS" "$DIR/../bench-decay-$1-$2.log"
}
# compare LABEL: alternating rounds, empty then big; sets e and b (mean rows/s).
compare() {
  local empty=() big=()
  echo "$1: $ROUNDS rounds x $SIDE_SECONDS s per side, 4 clients, audit_log.sql"
  for r in $(seq 1 "$ROUNDS"); do
    empty+=("$(side empty "$r")")
    big+=("$(side big "$r")")
    printf '  round %d: empty log %8.1f rows/s   %s events stored %8.1f rows/s\n' "$r" "${empty[-1]}" "$EVENTS" "${big[-1]}"
  done
  e=$(mean "${empty[@]}") b=$(mean "${big[@]}")
}
compare "With $QUEUED events waiting to be sealed"
goal "audit_log() with $EVENTS events stored, $QUEUED of them waiting to be sealed, vs an empty log" \
  "$(ratio "$b" "$e")" ">=" 0.9 "$b vs $e rows/s"
seal_ms=$(ms "$DIR" "$PORT" big "SELECT seal_audit_events()")
echo "  the waiting events sealed in one seal: $(printf '%.0f' "$seal_ms") ms"
since=$(at "$DIR" "$PORT" -d big -At -c "SELECT now()")
compare "All sealed"
goal "audit_log() with $EVENTS events stored, all sealed, vs an empty log" "$(ratio "$b" "$e")" ">=" 0.9 "$b vs $e rows/s"

# The scheduled check of what was logged since the last comparison began, on the big log,
# against the same check of the empty database's last round, which holds only its own: per event.
check() {
  at "$DIR" "$PORT" -d "$1" -c "SELECT seal_audit_events()" >/dev/null
  local n t
  n=$(at "$DIR" "$PORT" -d "$1" -At -c "SELECT count(*) FROM audit.audit_events WHERE \"timestamp\" >= '$2'")
  t=$(min "$(ms "$DIR" "$PORT" "$1" "SELECT verify_audit_batch_integrity('$2', now())")" \
          "$(ms "$DIR" "$PORT" "$1" "SELECT verify_audit_batch_integrity('$2', now())")")
  awk -v t="$t" -v n="$n" 'BEGIN { printf "%.2f", t * 1000 / n }'
}
small_us=$(check empty "-infinity") big_us=$(check big "$since")
goal "verify_audit_batch_integrity() of the newest events, $EVENTS stored vs only them, per event" \
  "$(ratio "$big_us" "$small_us")" "<=" 1.5 "$big_us vs $small_us us per event"

