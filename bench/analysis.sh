#!/usr/bin/env bash
# Analysis costs (issue 6), each against a baseline in the same run, on a throwaway cluster.
# Called by `make bench`.
#   1. pgbench ingest through audit_log() with every shipped detection rule enabled against
#      with none;
#   2. get_audit_statistics() over ANALYSIS_EVENTS events of the past 30 days against a plain
#      count(*) over the same range.
#   ANALYSIS_EVENTS   events loaded for 2 (default 1000000)
#   BENCH_SECONDS     pgbench seconds per side for 1 (default 20), split over ANALYSIS_ROUNDS
#   ANALYSIS_ROUNDS   rounds per side for 1, alternating (default 2)
#   ANALYSIS_PORT     port of the throwaway cluster (default 55494)
#   ANALYSIS_PARTS    which of "ingest stats" to run (default both)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=/usr/lib/postgresql/15/bin
EVENTS=${ANALYSIS_EVENTS:-1000000}
ROUNDS=${ANALYSIS_ROUNDS:-2}
ROUND_SECONDS=$(( (${BENCH_SECONDS:-20} + ROUNDS - 1) / ROUNDS ))
PORT=${ANALYSIS_PORT:-55494}
PARTS=${ANALYSIS_PARTS:-ingest stats}
DIR=$PWD/tmp/bench-analysis
CHUNK=50000

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
ms() { psql -d "$1" -At -c '\timing on' -c "$2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }

# auditlog is preloaded, as the README asks, so the rules count in shared memory; its sealer is
# off (sealing is measured by sealing.sh).
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 4GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" "shared_preload_libraries = 'auditlog'" "auditlog.seal_interval = 0" >/dev/null

# --- 1. Ingest with the shipped rules against without, fresh databases, alternating.
ingest() {
  local rules=$1 log="$DIR/../bench-analysis-$1-$2.log"
  psql -d postgres -c "DROP DATABASE IF EXISTS ingest" -c "CREATE DATABASE ingest"
  psql -d ingest -c "CREATE EXTENSION auditlog" -c "SELECT audit_maintain_partitions()" >/dev/null
  [ "$rules" = all ] || psql -d ingest -c "UPDATE audit.detection_rules SET enabled = false"
  psql -d ingest -c "CHECKPOINT"
  "$BIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -c 4 -j 2 -T "$ROUND_SECONDS" \
    -f bench/audit_log.sql ingest >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log"
}
wants() { [[ " $PARTS " == *" $1 "* ]]; }
echo
echo "Analysis, $(nproc) cores:"
if wants ingest; then
  none=() all=()
  echo "Ingest: pgbench, 4 clients, audit_log.sql, $ROUNDS rounds x $ROUND_SECONDS s per side"
  for r in $(seq 1 "$ROUNDS"); do
    none+=("$(ingest none "$r")")
    all+=("$(ingest all "$r")")
    printf '  round %d: no rules %8.1f rows/s   shipped rules %8.1f rows/s\n' "$r" "${none[-1]}" "${all[-1]}"
  done
  n=$(mean "${none[@]}") a=$(mean "${all[@]}")

  echo "  audit_log() ingest, shipped detection rules vs none: $(ratio "$a" "$n")x (goal >= 0.85)  [$a vs $n rows/s]"
fi

# --- 2. Statistics over EVENTS events spread over the past 30 days (rules off for the load).
if wants stats; then
  psql -d postgres -c "CREATE DATABASE stats"
  psql -d stats -c "CREATE EXTENSION auditlog" -c "UPDATE audit.detection_rules SET enabled = false" \
    -c "SELECT audit_maintain_partitions()" >/dev/null
  line="json_build_object('event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read',
            'authz.access.denied', 'security.breach.suspected'])[1 + i % 5],
            'timestamp', now() - (i % 30) * interval '1 day' - (i % 86400) * interval '1 second',
            'event_data', json_build_object('n', i),
            'user_context', json_build_object('user_id', 1 + i % 1000, 'correlation_id', 'CORR_' || i / 20))::text"
  echo "Loading $EVENTS events over the past 30 days"
  for (( done_ = 0; done_ < EVENTS; done_ += CHUNK )); do
    psql -d stats -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n')
                        FROM generate_series($done_ + 1, $done_ + $CHUNK) i))" >/dev/null
  done
  psql -d stats -c "VACUUM ANALYZE"
  range="\"timestamp\" >= current_date - 30 AND \"timestamp\" < current_date + 1"
  count_ms=() stats_ms=()
  for r in 1 2; do
    count_ms+=("$(ms stats "SELECT count(*) FROM audit.all_events WHERE $range")")
    stats_ms+=("$(ms stats "SELECT get_audit_statistics(current_date - 30, current_date)")")
  done
  min() { printf '%s\n' "$@" | sort -g | head -1; }
  c=$(min "${count_ms[@]}") s=$(min "${stats_ms[@]}")
  echo "  get_audit_statistics() vs count(*), $EVENTS events / 30 days: $(ratio "$s" "$c")x the time  [$(printf '%.0f' "$s") ms vs $(printf '%.0f' "$c") ms]"
fi
