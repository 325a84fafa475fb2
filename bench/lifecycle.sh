#!/usr/bin/env bash
# Lifecycle costs (issue 5), each against a baseline in the same run, on a throwaway cluster.
# Called by `make bench`.
#   1. archive_audit_logs() moving whole partitions (detach and attach) against the seed's
#      archive_audit_logs() (INSERT ... SELECT into the archive, then DELETE) on the same rows;
#   2. pgbench ingest through audit_log() into the partitioned table (0.2.0) against the
#      unpartitioned one (0.1.0, its own build, installed by scripts/release-lib.sh).
#   LIFECYCLE_EVENTS   events loaded for 1, spread over the past 12 months (default 1000000)
#   BENCH_SECONDS      pgbench seconds per side for 2 (default 20), split over the rounds
#   LIFECYCLE_ROUNDS   rounds per side for 2, alternating (default 2)
#   LIFECYCLE_PORT     port of the throwaway cluster (default 55493)
#   LIFECYCLE_PARTS    which parts run (default "archive ingest")
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=/usr/lib/postgresql/15/bin
EVENTS=${LIFECYCLE_EVENTS:-1000000}
SIDE_SECONDS=${BENCH_SECONDS:-20}
ROUND_SECONDS=$(( (SIDE_SECONDS + ${LIFECYCLE_ROUNDS:-2} - 1) / ${LIFECYCLE_ROUNDS:-2} ))
PORT=${LIFECYCLE_PORT:-55493}
DIR=$PWD/tmp/bench-lifecycle
CHUNK=50000
PARTS=${LIFECYCLE_PARTS:-archive ingest}

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
ms() {
  psql -d "$1" -At -c '\timing on' -c "$2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

scripts/release-lib.sh 0.1.0 4d3d0e0d24369532d2afebbc3e399d6e36e3559d
# auditlog is not preloaded: a backend of the 0.1.0 database loads the 0.1.0 build alone.
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 4GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" >/dev/null

seed_per_row=0 ours_per_row=1 ours_ms=0 ours_rows=0 seed_ms=0 seed_rows=0
if [[ " $PARTS " == *" archive "* ]]; then
# --- 1. Archiving. One event per month first, so that each month has its partition before the
# load (rows then go straight to theirs); then EVENTS events over the past 12 months through
# audit_log_batch(), CHUNK per call, sealed.
psql -d postgres -c "CREATE DATABASE archive"
psql -d archive -c "CREATE EXTENSION auditlog"
line="json_build_object('event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read',
          'authz.access.granted'])[1 + i % 4], 'timestamp', now() - (i % 365) * interval '1 day' - (i % 86400) * interval '1 second',
          'event_data', json_build_object('resource_id', i % 50000, 'request_id', md5(i::text)),
          'user_context', json_build_object('user_id', 1 + i % 1000, 'correlation_id', 'CORR_' || i / 20))::text"
psql -d archive -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n') FROM generate_series(0, 364, 28) i))" \
  -c "SELECT audit_maintain_partitions()"
echo "Loading $EVENTS events over the past 12 months"
for (( done_ = 0; done_ < EVENTS; done_ += CHUNK )); do
  psql -d archive -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n')
                        FROM generate_series($done_ + 1, $done_ + $CHUNK) i))" >/dev/null
done
psql -d archive -c "SELECT seal_audit_events()" -c "VACUUM ANALYZE"
# The seed's tables, holding the same rows.
psql -d archive -f bench/seed_schema.sql
psql -d archive -c "CREATE TABLE bench.seed_audit_events_archive (LIKE bench.seed_audit_events INCLUDING ALL)" \
  -c "INSERT INTO bench.seed_audit_events SELECT event_id, \"timestamp\", event_type, event_data, user_id,
        session_id, correlation_id, ip_address, user_agent, status, enrichment_data, classification,
        integrity_hash, created_at, updated_at FROM audit.audit_events" \
  -c "VACUUM ANALYZE bench.seed_audit_events" -c "CHECKPOINT"
days=180
seed_sql="BEGIN;
  INSERT INTO bench.seed_audit_events_archive SELECT * FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days';
  DELETE FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days';
  COMMIT;"
seed_rows=$(psql -d archive -At -c "SELECT count(*) FROM bench.seed_audit_events WHERE \"timestamp\" < now() - interval '$days days'")
seed_ms=$(ms archive "$seed_sql")
psql -d archive -c "CHECKPOINT"
ours_ms=$(ms archive "SELECT archive_audit_logs($days)")
ours_rows=$(psql -d archive -At -c "SELECT count(*) FROM audit.audit_events_archive")
verify=$(psql -d archive -At -c "SELECT string_agg(kind, ',') FROM verify_audit_chain()")
[ "$verify" = ok ] || { echo "verify_audit_chain() after archiving: $verify" >&2; exit 1; }
printf '  seed INSERT ... SELECT + DELETE: %8.0f ms for %s rows\n  archive_audit_logs(%d):          %8.1f ms for %s rows (whole months), chain verifies\n' \
  "$seed_ms" "$seed_rows" "$days" "$ours_ms" "$ours_rows"
seed_per_row=$(awk -v t="$seed_ms" -v n="$seed_rows" 'BEGIN { print t / n }')
ours_per_row=$(awk -v t="$ours_ms" -v n="$ours_rows" 'BEGIN { print t / n }')
fi

# --- 2. Ingest, alternating 0.1.0 (unpartitioned) and 0.2.0 (partitioned), fresh databases.
ingest() {
  local version=$1 log="$DIR/../bench-lifecycle-$1-$2.log"
  psql -d postgres -c "DROP DATABASE IF EXISTS ingest" -c "CREATE DATABASE ingest"
  psql -d ingest -c "CREATE EXTENSION auditlog VERSION '$version'"
  [ "$version" = 0.1.0 ] || psql -d ingest -c "SELECT audit_maintain_partitions()" >/dev/null
  psql -d ingest -c "CHECKPOINT"
  "$BIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -c 4 -j 2 -T "$ROUND_SECONDS" \
    -f bench/audit_log.sql ingest >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log"
}
current=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
plain=(1) parted=(1)
[[ " $PARTS " == *" ingest "* ]] && plain=() parted=()
for r in $( [[ " $PARTS " == *" ingest "* ]] && seq 1 "${LIFECYCLE_ROUNDS:-2}" ); do
  plain+=("$(ingest 0.1.0 "$r")")
  parted+=("$(ingest "$current" "$r")")
  printf '  round %d: unpartitioned (0.1.0) %8.1f rows/s   partitioned (%s) %8.1f rows/s\n' \
    "$r" "${plain[-1]}" "$current" "${parted[-1]}"
done
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }
p=$(mean "${plain[@]}") q=$(mean "${parted[@]}")

cat <<EOF

Lifecycle, $(nproc) cores:
  archiving by partition vs the seed's INSERT ... SELECT + DELETE, per row: $(ratio "$seed_per_row" "$ours_per_row")x faster (goal >= 10)  [$(printf '%.0f' "$ours_ms") ms for $ours_rows rows vs $(printf '%.0f' "$seed_ms") ms for $seed_rows rows]
  audit_log() ingest, partitioned vs unpartitioned:                         $(ratio "$q" "$p")x (goal >= 0.95)  [$q vs $p rows/s]
EOF
