#!/usr/bin/env bash
# Insert throughput of audit_log() against the seed design's plain INSERT into its audit_events
# table (nine indexes, two of them GIN), on a throwaway cluster. Called by `make bench`.
# Measured twice: durable (fsync on, as in production) and CPU-bound (fsync off).
#   BENCH_SECONDS  total seconds per side and setting (default 30), split over two rounds
#   BENCH_PORT     port of the throwaway cluster (default 55490)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=/usr/lib/postgresql/15/bin
SECONDS_TOTAL=${BENCH_SECONDS:-30}
PORT=${BENCH_PORT:-55490}
DIR=$PWD/tmp/bench
ROUNDS=2                                  # baseline, audit_log, baseline, audit_log
ROUND_SECONDS=$(( (SECONDS_TOTAL + ROUNDS - 1) / ROUNDS ))

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
psql() { PGOPTIONS="-c client_min_messages=warning" command psql -h "$DIR" -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

# Fresh, empty tables for every run, so neither side pays for the other's (or its own earlier)
# rows. audit.audit_events refuses TRUNCATE by design; dropping the extension is allowed.
fresh_tables() {
  psql -d bench -f bench/seed_schema.sql
  psql -d bench -c "DROP EXTENSION IF EXISTS auditlog CASCADE" -c "CREATE EXTENSION auditlog" -c "CHECKPOINT"
}

# Prints the tps of one pgbench run (one row per transaction, so rows/s); keeps its full output.
run() {
  local script=$1 round=$2 log="$DIR/../bench-$1-$2.log"
  fresh_tables
  "$BIN/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -c 4 -j 2 -T "$ROUND_SECONDS" \
    -f "bench/$script.sql" bench >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log"
}

mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }

# measure LABEL FSYNC: one cluster, alternating rounds (drift of the machine hits both sides).
measure() {
  local label=$1 fsync=$2 base=() audit=()
  # A large max_wal_size keeps checkpoints out of the timed runs; we take one before each.
  scripts/pgcluster.sh start "$DIR" "$PORT" "max_wal_size = 4GB" "checkpoint_timeout = 30min" "fsync = $fsync" >/dev/null
  psql -d postgres -c "CREATE DATABASE bench"
  echo "$label: ${ROUNDS} rounds x ${ROUND_SECONDS} s per side, 4 clients, 2 threads, -M prepared"
  for r in $(seq 1 "$ROUNDS"); do
    base+=("$(run baseline_insert "$r")")
    audit+=("$(run audit_log "$r")")
    printf '  round %d: plain INSERT %10.1f rows/s   audit_log() %10.1f rows/s\n' "$r" "${base[-1]}" "${audit[-1]}"
  done
  scripts/pgcluster.sh stop "$DIR"
  # Rounds have equal durations, so the mean tps is total rows over total time.
  local b a
  b=$(mean "${base[@]}") a=$(mean "${audit[@]}")
  printf '  plain INSERT %.1f rows/s, audit_log() %.1f rows/s\n' "$b" "$a"
  results+=("$(printf 'audit_log() vs plain INSERT, %s: %sx (goal >= 0.80)' "$label" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')")")
}

results=()
measure "durable (fsync on)" on
measure "CPU-bound (fsync off)" off
printf '%s\n' "${results[@]}"
