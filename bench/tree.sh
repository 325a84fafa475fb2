#!/usr/bin/env bash
# The log's one tree (issue 13): consistency proofs between random pairs of sizes and inclusion
# proofs of random events, on a tree of TREE_EVENTS sealed events, each a statement of its own in
# one session (one untimed first, which loads the library); the slowest counts. For scale, as
# many lookups of one position row by its key. The events are queued straight into
# audit.unsealed_events, their hashes made up (only the tree is measured here), and sealed by
# seal_audit_events() a chunk at a time, so the tree is the one seals build. Called by
# bench/all.sh.
#   TREE_EVENTS  events in the tree (default 10000000; quick 300000)
#   TREE_PROOFS  proofs of each kind (default 500; quick 200)
#   TREE_PORT    port of the throwaway cluster (default 55497)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=${TREE_EVENTS:-$(quick_or 10000000 300000)}
PROOFS=${TREE_PROOFS:-$(quick_or 500 200)}
PORT=${TREE_PORT:-55497}
DIR=$PWD/tmp/bench-tree
CHUNK=1000000

trap 'scripts/pgcluster.sh stop "$DIR"' EXIT
mapfile -t conf < <(preload_conf yes)
scripts/pgcluster.sh start "$DIR" "$PORT" "shared_buffers = 2GB" "max_wal_size = 16GB" \
  "checkpoint_timeout = 30min" "${conf[@]}" >/dev/null
at "$DIR" "$PORT" -d postgres -c "CREATE DATABASE tree"
at "$DIR" "$PORT" -d tree -c "CREATE EXTENSION auditlog"

echo "Sealing $EVENTS queued events, up to $CHUNK per seal"
t0=$(date +%s)
for (( from = 1; from <= EVENTS; from += CHUNK )); do
  to=$(( from + CHUNK - 1 < EVENTS ? from + CHUNK - 1 : EVENTS ))
  at "$DIR" "$PORT" -d tree -c "INSERT INTO audit.unsealed_events
      SELECT gen_random_uuid(), timestamptz '2026-01-01' + i * interval '1 ms', sha256(int8send(i)),
             sha256(int8send(-i)), 'CORR_TREE', NULL, 0
        FROM generate_series($from, $to) i" -c "SELECT seal_audit_events()" >/dev/null
done
at "$DIR" "$PORT" -d tree -c "VACUUM ANALYZE" -c "CHECKPOINT"
size=$(at "$DIR" "$PORT" -d tree -At -c "SELECT tree_size FROM audit_tree_head()")
echo "  sealed in $(( $(date +%s) - t0 )) s: $(at "$DIR" "$PORT" -d tree -At -c "SELECT count(*) || ' tiles, ' || pg_size_pretty(pg_total_relation_size('audit.tree_tiles')) FROM audit.tree_tiles")"

at "$DIR" "$PORT" -d tree -At -F $'\t' -c "SELECT setseed(0.13)" -c "
    SELECT format('SELECT cardinality(audit_consistency_proof(%s, %s));', least(a, b), greatest(a, b)),
           format('SELECT cardinality(inclusion_path) FROM audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = %s));', c),
           format('SELECT event_id FROM audit.event_positions WHERE position = %s;', c)
      FROM (SELECT 1 + floor(random() * $size)::bigint a, 1 + floor(random() * $size)::bigint b,
                   1 + floor(random() * $size)::bigint c FROM generate_series(1, $PROOFS)) r" >"$DIR/proofs.tsv"
# timings N: the ms of each statement of column N of proofs.tsv, after an untimed first one.
timings() {
  { echo "SELECT cardinality(audit_consistency_proof(1, 1));"; echo '\timing on'; cut -f "$1" "$DIR/proofs.tsv"; } |
    at "$DIR" "$PORT" -d tree -At -f - | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
# median and slowest
stats() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int((NR + 1) / 2)], v[NR] }'; }
read -r c_med c_max < <(timings 1 | stats)
read -r i_med i_max < <(timings 2 | stats)
read -r l_med l_max < <(timings 3 | stats)
echo "Proofs on a tree of $size events, $PROOFS of each (median / slowest ms): consistency $c_med / $c_max, inclusion $i_med / $i_max; a position lookup $l_med / $l_max"
goal "consistency proof between two random sizes of a $size-event tree, slowest of $PROOFS (ms)" "$c_max" "<=" 10 \
  "median $c_med ms; inclusion proofs $i_med / $i_max ms; a position lookup by key $l_med / $l_max ms" " ms"
