#!/usr/bin/env bash
# Lifecycle costs (issue 5), each against a baseline in the same run, on a throwaway cluster.
# Called by bench/all.sh.
#   1. archive_audit_logs() moving whole partitions (detach and attach) against the seed's
#      archive_audit_logs() (INSERT ... SELECT into the archive, then DELETE) on the same rows;
#   2. pgbench ingest through audit_log() into the partitioned table (this version) against the
#      unpartitioned one (0.1.0, its own build, installed by scripts/release-lib.sh).
#   LIFECYCLE_EVENTS   events loaded for 1, spread over the past 12 months (default 1000000;
#                      quick 50000)
#   BENCH_SECONDS      pgbench seconds per side for 2 (default 20; quick 8), split over the rounds
#   LIFECYCLE_ROUNDS   rounds per side for 2, alternating (default 2)
#   LIFECYCLE_PORT     port of the throwaway cluster (default 55493)
#   LIFECYCLE_PARTS    which parts run (default "archive ingest")
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${LIFECYCLE_EVENTS:-$(quick_or 1000000 50000)}
SIDE_SECONDS=${BENCH_SECONDS:-$(quick_or 20 8)}
ROUNDS=${LIFECYCLE_ROUNDS:-2}
ROUND_SECONDS=$(( (SIDE_SECONDS + ROUNDS - 1) / ROUNDS ))
PORT=${LIFECYCLE_PORT:-55493}
DIR=$PWD/tmp/bench-lifecycle
PARTS=${LIFECYCLE_PARTS:-archive ingest}

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
scripts/release-lib.sh 0.1.0 4d3d0e0d24369532d2afebbc3e399d6e36e3559d
# auditlog is not preloaded: a backend of the 0.1.0 database loads the 0.1.0 build alone.
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 4GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" >/dev/null

if [[ " $PARTS " == *" archive "* ]]; then
# --- 1. Archiving. One event per month first, so that each month has its partition before the
# load (rows then go straight to theirs); then EVENTS events over the past 12 months through
# audit_log_batch(), 50000 per call, sealed.
at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE archive"
at "$DIR" "$PORT" -d archive -c "CREATE EXTENSION auditlog"
line="json_build_object('event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read',
          'authz.access.granted'])[1 + i % 4], 'timestamp', now() - (i % 365) * interval '1 day' - (i % 86400) * interval '1 second',
          'event_data', json_build_object('resource_id', i % 50000, 'request_id', md5(i::text)),
          'user_context', json_build_object('user_id', 1 + i % 1000, 'correlation_id', 'CORR_' || i / 20))::text"
at "$DIR" "$PORT" -d archive -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n') FROM generate_series(0, 364, 28) i))" \
  -c "SELECT audit_maintain_partitions()" >/dev/null
echo "Loading $EVENTS events over the past 12 months"
load_events "$DIR" "$PORT" archive 1 $(( EVENTS + 1 )) "$line"
at "$DIR" "$PORT" -d archive -c "SELECT seal_audit_events()" -c "VACUUM ANALYZE" >/dev/null
# The seed's tables, holding the same rows.
at "$DIR" "$PORT" -d archive -f bench/seed_schema.sql
at "$DIR" "$PORT" -d archive -c "CREATE TABLE bench.seed_audit_events_archive (LIKE bench.seed_audit_events INCLUDING ALL)" \
  -c "INSERT INTO bench.seed_audit_events SELECT event_id, \"timestamp\", event_type, event_data, user_id,
        session_id, correlation_id, ip_address, user_agent, status, enrichment_data, classification,
        integrity_hash, created_at, updated_at FROM audit.audit_events" \
  -c "VACUUM ANALYZE bench.seed_audit_events" -c "CHECKPOINT"
days=180
seed_sql="BEGIN;
  INSERT INTO bench.seed_audit_events_archive SELECT * FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days';
  DELETE FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days';
  COMMIT;"
seed_rows=$(at "$DIR" "$PORT" -d archive -At -c "SELECT count(*) FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days'")
seed_ms=$(ms "$DIR" "$PORT" archive "$seed_sql")
at "$DIR" "$PORT" -d archive -c "CHECKPOINT"
ours_ms=$(ms "$DIR" "$PORT" archive "SELECT archive_audit_logs($days)")
ours_rows=$(at "$DIR" "$PORT" -d archive -At -c "SELECT count(*) FROM audit.audit_events_archive")
verify=$(at "$DIR" "$PORT" -d archive -At -c "SELECT string_agg(kind, ',') FROM verify_audit_chain()")
[ "$verify" = ok ] || { echo "verify_audit_chain() after archiving: $verify" >&2; exit 1; }
printf '  seed INSERT ... SELECT + DELETE: %8.0f ms for %s rows\n  archive_audit_logs(%d):          %8.1f ms for %s rows (whole months), chain verifies\n' \
  "$seed_ms" "$seed_rows" "$days" "$ours_ms" "$ours_rows"
seed_per_row=$(awk -v t="$seed_ms" -v n="$seed_rows" 'BEGIN { print t / n }')
ours_per_row=$(awk -v t="$ours_ms" -v n="$ours_rows" 'BEGIN { print t / n }')
goal "archiving by partition vs the seed's INSERT ... SELECT + DELETE, per row (times faster)" \
  "$(ratio "$seed_per_row" "$ours_per_row")" ">=" 10 \
  "$(printf '%.0f ms for %s rows vs %.0f ms for %s rows' "$ours_ms" "$ours_rows" "$seed_ms" "$seed_rows")"
fi

if [[ " $PARTS " == *" ingest "* ]]; then
# --- 2. Ingest, alternating 0.1.0 (unpartitioned) and this version (partitioned), fresh databases.
ingest() {
  local version=$1
  at "$DIR" "$PORT" -d postgres -c "DROP DATABASE IF EXISTS ingest" -c "CREATE DATABASE ingest"
  at "$DIR" "$PORT" -d ingest -c "CREATE EXTENSION auditlog VERSION '$version'" -c "CHECKPOINT"
  pgbench_tps "$DIR" "$PORT" ingest bench/audit_log.sql "$ROUND_SECONDS" "$DIR/../bench-lifecycle-$1-$2.log"
}
current=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
echo "Ingest: pgbench, 4 clients, audit_log.sql, $ROUNDS rounds x $ROUND_SECONDS s per side"
plain=() parted=()
for r in $(seq 1 "$ROUNDS"); do
  plain+=("$(ingest 0.1.0 "$r")")
  parted+=("$(ingest "$current" "$r")")
  printf '  round %d: unpartitioned (0.1.0) %8.1f rows/s   partitioned (%s) %8.1f rows/s\n' \
    "$r" "${plain[-1]}" "$current" "${parted[-1]}"
done
p=$(mean "${plain[@]}") q=$(mean "${parted[@]}")
goal "audit_log() ingest, $current (partitioned, rules on) vs 0.1.0" "$(ratio "$q" "$p")" ">=" 0.95 "$q vs $p rows/s"
fi
