#!/usr/bin/env bash
# audit_log() against the seed's plain INSERT (issue 2) in the configurations users run: auditlog
# preloaded and not, durable (fsync on) and CPU-bound (fsync off), every shipped detection rule
# enabled. CPU-bound also with every rule disabled (what the rules cost), and with the user,
# session and resource lookups and the geolocation databases set (bench/lookups.sql). The sides
# alternate round by round, each round on empty tables after a CHECKPOINT. Called by bench/all.sh.
#   BENCH_SECONDS  seconds per side and round (default 10; quick 4)
#   BENCH_ROUNDS   rounds (default 3; quick 2)
#   BENCH_PORT     port of the throwaway cluster (default 55490)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SIDE_SECONDS=${BENCH_SECONDS:-$(quick_or 10 4)}
ROUNDS=${BENCH_ROUNDS:-$(quick_or 3 2)}
PORT=${BENCH_PORT:-55490}
DIR=$PWD/tmp/bench
trap 'scripts/pgcluster.sh stop "$DIR"' EXIT

# side NAME SCRIPT RULES: rows/s of one round on fresh tables (audit.audit_events refuses
# TRUNCATE by design; dropping the extension is allowed). RULES: on, off for none enabled, or
# lookups for on with every lookup set.
side() {
  at "$DIR" "$PORT" -d bench -f bench/seed_schema.sql -c "ALTER DATABASE bench RESET ALL"
  at "$DIR" "$PORT" -d bench -c "DROP EXTENSION IF EXISTS auditlog CASCADE" -c "CREATE EXTENSION auditlog"
  [ "$3" != off ] || at "$DIR" "$PORT" -d bench -c "UPDATE audit.detection_rules SET enabled = false"
  [ "$3" != lookups ] || at "$DIR" "$PORT" -d bench -v fixtures="$PWD/tests/fixtures" -f bench/lookups.sql
  at "$DIR" "$PORT" -d bench -c "CHECKPOINT"
  pgbench_tps "$DIR" "$PORT" bench "bench/$2.sql" "$SIDE_SECONDS" "$DIR/../bench-$1.log"
}

for preload in no yes; do
  config=$([ $preload = yes ] && echo preloaded || echo "not preloaded")
  # A large max_wal_size keeps checkpoints out of the timed runs; one is taken before each.
  mapfile -t conf < <(preload_conf $preload)
  scripts/pgcluster.sh start "$DIR" "$PORT" "max_wal_size = 4GB" "checkpoint_timeout = 30min" "${conf[@]}" >/dev/null
  at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE bench"
  for fsync in on off; do
    kind=$([ $fsync = on ] && echo durable || echo CPU-bound)
    at "$DIR" "$PORT" -d postgres -c "ALTER SYSTEM SET fsync = $fsync" -c "SELECT pg_reload_conf()" >/dev/null
    echo "auditlog $config, $kind (fsync $fsync): $ROUNDS rounds x $SIDE_SECONDS s per side, 4 clients"
    base=() audit=() none=() lookups=()
    for r in $(seq 1 "$ROUNDS"); do
      base+=("$(side "base-$preload-$fsync-$r" baseline_insert on)")
      audit+=("$(side "audit-$preload-$fsync-$r" audit_log on)")
      if [ $fsync = off ]; then
        none+=("$(side "norules-$preload-$fsync-$r" audit_log off)")
        lookups+=("$(side "lookups-$preload-$fsync-$r" audit_log lookups)")
      fi
      printf '  round %d: plain INSERT %8.1f   audit_log() %8.1f%s rows/s\n' "$r" "${base[-1]}" "${audit[-1]}" \
        "$([ $fsync = on ] || printf '   no rules %8.1f   with lookups %8.1f' "${none[-1]}" "${lookups[-1]}")"
    done
    # Rounds have equal durations: the mean rows/s is total rows over total time.
    b=$(mean "${base[@]}") a=$(mean "${audit[@]}")
    goal "audit_log() vs plain INSERT, $config, $kind" "$(ratio "$a" "$b")" ">=" 0.80 "$a vs $b rows/s"
    if [ $fsync = off ]; then
      n=$(mean "${none[@]}")
      goal "shipped detection rules vs none, $config" "$(ratio "$a" "$n")" ">=" 0.85 "$a vs $n rows/s"
      l=$(mean "${lookups[@]}")
      goal "audit_log() with user, session, resource lookups and geolocation vs plain INSERT, $config, $kind" \
        "$(ratio "$l" "$b")" ">=" 0.80 "$l vs $b rows/s"
    fi
  done
  scripts/pgcluster.sh stop "$DIR"
done
