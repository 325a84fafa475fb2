#!/usr/bin/env bash
# Verification on a hot standby against on its primary (issue 14): verify_audit_chain() over the
# same STANDBY_EVENTS sealed events, on the primary and on its streaming standby (two clusters of
# this machine), each timed twice, alternating; the faster counts. Serial plans, as sealing.sh's.
# Called by bench/all.sh.
#   STANDBY_EVENTS  events (default 1000000; quick 30000)
#   STANDBY_PORT    port of the primary; the standby takes the next (default 55498)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${STANDBY_EVENTS:-$(quick_or 1000000 30000)}
PORT=${STANDBY_PORT:-55498}
PRIMARY=$PWD/tmp/bench-primary STANDBY=$PWD/tmp/bench-standby
CHUNK=100000

trap 'scripts/pgcluster.sh stop "$STANDBY"; scripts/pgcluster.sh stop "$PRIMARY"' EXIT
mapfile -t conf < <(preload_conf yes)
scripts/pgcluster.sh start "$PRIMARY" "$PORT" "shared_buffers = 2GB" "max_wal_size = 8GB" "${conf[@]}" >/dev/null
at "$PRIMARY" "$PORT" -d postgres -c "CREATE EXTENSION auditlog"
echo "Loading and sealing $EVENTS events on the primary"
for (( from = 1; from <= EVENTS; from += CHUNK )); do
  to=$(( from + CHUNK - 1 < EVENTS ? from + CHUNK - 1 : EVENTS ))
  at "$PRIMARY" "$PORT" -d postgres -c "SELECT count(audit_log(
      (ARRAY['auth.login.success', 'auth.logout', 'data.client.read', 'authz.access.granted'])[1 + i % 4],
      jsonb_build_object('resource_type', 'client', 'resource_id', i % 50000, 'request_id', md5(i::text)),
      jsonb_build_object('user_id', 1 + i % 1000, 'ip_address', '10.0.' || i % 1000 / 256 || '.' || i % 256,
                         'correlation_id', 'CORR_' || i / 20)))
    FROM generate_series($from, $to) i" -c "SELECT seal_audit_events()" >/dev/null
done
at "$PRIMARY" "$PORT" -d postgres -c "VACUUM ANALYZE" -c "CHECKPOINT"
scripts/pgcluster.sh standby "$PRIMARY" "$PORT" "$STANDBY" $(( PORT + 1 )) >/dev/null
VERIFY="SELECT string_agg(kind, ',') FROM verify_audit_chain()"
# verify DIR PORT: ms of one verify_audit_chain(), which must say ok.
verify() {
  local out
  out=$(PGOPTIONS="-c max_parallel_workers_per_gather=0" at "$1" "$2" -d postgres -At -c '\timing on' -c "$VERIFY")
  [ "$(head -1 <<<"$out")" = ok ] || { echo "verify_audit_chain() on $1: $out" >&2; exit 1; }
  sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out"
}
echo "verify_audit_chain() of $EVENTS events, twice on each side (serial plans, faster counts)"
p=() s=()
for r in 1 2; do
  p+=("$(verify "$PRIMARY" "$PORT")")
  s+=("$(verify "$STANDBY" $(( PORT + 1 )))")
  printf '  run %d: primary %8.0f ms   standby %8.0f ms\n' "$r" "${p[-1]}" "${s[-1]}"
done
pb=$(min "${p[@]}") sb=$(min "${s[@]}")
goal "verify_audit_chain() on a hot standby vs on its primary ($EVENTS events)" "$(ratio "$sb" "$pb")" "<=" - \
  "$(printf '%.0f vs %.0f ms' "$sb" "$pb")"
