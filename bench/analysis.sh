#!/usr/bin/env bash
# Analysis cost (issue 6) against a baseline in the same run, on a throwaway cluster: what
# get_audit_statistics() costs over EVENTS events of the past 30 days against a plain count(*)
# over the same range. (What the detection rules cost on ingest is measured by bench/run.sh.)
# Called by bench/all.sh.
#   ANALYSIS_EVENTS   events loaded (default 1000000; quick 50000)
#   ANALYSIS_PORT     port of the throwaway cluster (default 55494)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${ANALYSIS_EVENTS:-$(quick_or 1000000 50000)}
PORT=${ANALYSIS_PORT:-55494}
DIR=$PWD/tmp/bench-analysis

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 4GB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" >/dev/null
at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE stats"
at "$DIR" "$PORT" -d stats -c "CREATE EXTENSION auditlog" -c "UPDATE audit.detection_rules SET enabled = false"
line="json_build_object('event_type', (ARRAY['auth.login.success', 'auth.logout', 'data.client.read',
          'authz.access.denied', 'security.breach.suspected'])[1 + i % 5],
          'timestamp', now() - (i % 30) * interval '1 day' - (i % 86400) * interval '1 second',
          'event_data', json_build_object('n', i),
          'user_context', json_build_object('user_id', 1 + i % 1000, 'correlation_id', 'CORR_' || i / 20))::text"
echo "Loading $EVENTS events over the past 30 days"
load_events "$DIR" "$PORT" stats 1 $(( EVENTS + 1 )) "$line"
at "$DIR" "$PORT" -d stats -c "SELECT audit_maintain_partitions()" -c "VACUUM ANALYZE" >/dev/null
range="\"timestamp\" >= current_date - 30 AND \"timestamp\" < current_date + 1"
count_ms=() stats_ms=()
for r in 1 2; do
  count_ms+=("$(ms "$DIR" "$PORT" stats "SELECT count(*) FROM audit.all_events WHERE $range")")
  stats_ms+=("$(ms "$DIR" "$PORT" stats "SELECT get_audit_statistics(current_date - 30, current_date)")")
done
c=$(min "${count_ms[@]}") s=$(min "${stats_ms[@]}")
goal "get_audit_statistics() vs count(*), $EVENTS events over 30 days (time)" "$(ratio "$s" "$c")" "<=" - \
  "$(printf '%.0f vs %.0f ms' "$s" "$c")"
