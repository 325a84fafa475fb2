#!/usr/bin/env bash
# End-to-end ingest through the shim (issue 4) against a raw COPY of the same events, already
# classified, into the seed's audit_events table with its nine indexes; same cluster, same run,
# with auditlog preloaded and not. Called by bench/all.sh.
#   1. NDJSON in over HTTP (4 curl clients, 1000 events per request), acknowledged after the
#      spool's fsync, batched through audit_log_batch(), until the last row is committed;
#   2. COPY of the rows the shim stored (the seed's columns) into bench.seed_audit_events;
#   3. the shim's peak RSS, at full speed and with its queue full (the database unreachable).
#   INGEST_EVENTS      events per run (default 200000; quick 25000)
#   INGEST_ROUNDS      rounds per configuration, alternating shim and COPY (default 2; quick 4:
#                      a first round's shim runs cold, and two short ones swung 0.70x-1.07x)
#   INGEST_BATCH_SIZE  the shim's --batch-size (default 100, its own default)
#   INGEST_PORT        port of the throwaway cluster (default 55492)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${INGEST_EVENTS:-$(quick_or 200000 25000)}
ROUNDS=${INGEST_ROUNDS:-$(quick_or 2 4)}
BATCH=${INGEST_BATCH_SIZE:-100}
PORT=${INGEST_PORT:-55492}
HTTP=127.0.0.1:${INGEST_HTTP_PORT:-18790}
DIR=$PWD/tmp/bench-ingest
WORK=$PWD/tmp/bench-ingest-work
SHIM=$PWD/target/release/auditlog-shim

shim_pid=
cleanup() {
  [ -n "$shim_pid" ] && kill "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
  scripts/pgcluster.sh stop "$DIR"
}
trap cleanup EXIT
now() { date +%s.%N; }
rate() { awk -v n="$EVENTS" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
sql() { at "$DIR" "$PORT" -d bench "$@"; }

fresh() {
  sql -f bench/seed_schema.sql
  sql -c "DROP EXTENSION IF EXISTS auditlog CASCADE" -c "CREATE EXTENSION auditlog" -c "CHECKPOINT"
}
# Events the shim has seen committed: its own counter, which costs the database nothing (a
# count(*) every 50 ms took CPU from the side being measured).
delivered() {
  curl -sf "http://$HTTP/metrics" | awk '/events_delivered_total / { print $2; found = 1 } END { if (!found) print 0 }'
}

# start_shim DSN EXTRA...: a fresh spool each time.
start_shim() {
  local dsn=$1; shift
  rm -rf "$WORK/spool"
  DATABASE_URL=$dsn "$SHIM" serve --listen "$HTTP" --spool-dir "$WORK/spool" --batch-size "$BATCH" \
    --batch-timeout-ms 200 "$@" >>"$WORK/shim.log" 2>&1 &
  shim_pid=$!
  until curl -sf "http://$HTTP/healthz" >/dev/null; do sleep 0.05; done
}
stop_shim() { kill "$shim_pid"; wait "$shim_pid" || true; shim_pid=; }
peak_rss_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$shim_pid/status"; }
post_all() {
  ls "$WORK"/part.* | xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST \
    -H 'content-type: application/x-ndjson' --data-binary @{} "http://$HTTP/v1/events"
}

rm -rf "$WORK"; mkdir -p "$WORK"; chmod 777 "$WORK"
DSN="host=$DIR port=$PORT user=postgres dbname=bench"
rss=()
for preload in no yes; do
  config=$([ $preload = yes ] && echo preloaded || echo "not preloaded")
  # Durable, as in production: fsync on for the database, and the shim fsyncs its spool.
  mapfile -t conf < <(preload_conf $preload)
  scripts/pgcluster.sh start "$DIR" "$PORT" "max_wal_size = 4GB" "checkpoint_timeout = 30min" "${conf[@]}" >/dev/null
  at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE bench"
  if [ ! -f "$WORK/events.ndjson" ]; then
    # The events: eight types, 1000 users with sessions, internal IPs, request ids, correlations
    # of 20, split into requests of 1000 lines.
    sql -At -c "COPY (SELECT json_build_object(
        'event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read', 'data.client.update',
                             'data.client.create', 'authz.access.granted', 'authz.access.denied',
                             'system.config.changed'])[1 + i % 8],
        'event_data', json_build_object('resource_type', 'client', 'resource_id', i % 50000, 'action', 'view',
                                        'request_id', md5(i::text), 'fields', json_build_array('name', 'email')),
        'user_context', json_build_object('user_id', 1 + i % 1000, 'session_id', 'sess_' || i % 5000,
                                          'ip_address', '10.0.' || i % 1000 / 256 || '.' || i % 256,
                                          'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
                                          'correlation_id', 'CORR_' || i / 20))
      FROM generate_series(1, $EVENTS) i) TO STDOUT" >"$WORK/events.ndjson"
    (cd "$WORK" && split -l 1000 -d -a 4 events.ndjson part.)
  fi
  echo "auditlog $config: $EVENTS events, $ROUNDS round(s); shim --batch-size $BATCH, 4 HTTP clients x 1000 events per request"
  copy_s=() shim_s=()
  for r in $(seq 1 "$ROUNDS"); do
    fresh
    start_shim "$DSN"
    t0=$(now)
    codes=$(post_all | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    until [ "$(delivered)" -ge "$EVENTS" ]; do sleep 0.05; done
    t1=$(now)
    rss+=("$(peak_rss_mb)")
    stop_shim
    shim_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
    # The baseline: the same events as the shim stored them, seed columns only, by one COPY.
    sql -c "COPY (SELECT event_id, \"timestamp\", event_type, event_data, user_id, session_id,
        correlation_id, ip_address, user_agent, status, enrichment_data, classification, integrity_hash,
        created_at, updated_at FROM audit.audit_events) TO '$WORK/classified.copy'"
    sql -c "CHECKPOINT"
    t0=$(now)
    sql -c "COPY bench.seed_audit_events FROM '$WORK/classified.copy'"
    t1=$(now)
    copy_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
    printf '  round %d: COPY %8s rows/s   shim end to end %8s rows/s   (HTTP answers:%s peak RSS %s MB)\n' \
      "$r" "$(rate "${copy_s[-1]}")" "$(rate "${shim_s[-1]}")" "$codes" "${rss[-1]}"
  done
  copy_total=$(sum "${copy_s[@]}") shim_total=$(sum "${shim_s[@]}")
  goal "shim end to end vs raw COPY of the classified rows, $config" "$(ratio "$copy_total" "$shim_total")" ">=" 0.8 \
    "$(rate "$(awk -v t="$shim_total" -v r="$ROUNDS" 'BEGIN { print t / r }')") vs $(rate "$(awk -v t="$copy_total" -v r="$ROUNDS" 'BEGIN { print t / r }')") rows/s"
  if [ $preload = yes ]; then
    # A full queue: the database out of reach, --max-queue 50000, every request sent; the shim
    # must answer 503 once full and hold its memory.
    echo "Full queue: database unreachable, --max-queue 50000"
    start_shim "host=$DIR port=1 user=postgres dbname=bench connect_timeout=1" --max-queue 50000
    full_codes=$(post_all | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    full_rss=$(peak_rss_mb)
    stop_shim
    echo "  HTTP answers:$full_codes peak RSS $full_rss MB (full speed: ${rss[*]} MB)"
  fi
  scripts/pgcluster.sh stop "$DIR"
done
