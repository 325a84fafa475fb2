# Shared by the bench scripts (sourced): throwaway clusters, pgbench, figures, and the goal table.
#   BENCH_QUICK=1   shorter rounds and smaller loads (make bench-quick); each script says which
#   BENCH_GOALS     where each script appends its goal rows (default tmp/bench-goals.tsv)

BIN=/usr/lib/postgresql/15/bin
QUICK=${BENCH_QUICK:-0}
GOALS=${BENCH_GOALS:-$PWD/tmp/bench-goals.tsv}
mkdir -p "$PWD/tmp"

# quick_or FULL QUICK: the figure for this run.
quick_or() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# at DIR PORT psql-args...: psql on a throwaway cluster, quiet, stopping at the first error.
at() {
  local dir=$1 port=$2; shift 2
  PGOPTIONS="-c client_min_messages=error ${PGOPTIONS:-}" command psql -h "$dir" -p "$port" \
    -U postgres -X -q -v ON_ERROR_STOP=1 "$@"
}

# preload_conf yes|no: the postgresql.conf lines for auditlog preloaded (its sealer off: the
# scripts decide when seals run) or not.
preload_conf() {
  [ "$1" = yes ] && printf '%s\n' "shared_preload_libraries = 'auditlog'" "auditlog.seal_interval = 0"
  return 0
}

# pgbench_tps DIR PORT DB SCRIPT SECONDS LOG: rows per second (one row per transaction) of 4
# clients on 2 threads with prepared statements; pgbench's output stays in LOG.
pgbench_tps() {
  local dir=$1 port=$2 db=$3 script=$4 seconds=$5 log=$6
  "$BIN/pgbench" -h "$dir" -p "$port" -U postgres -n -M prepared -c 4 -j 2 -T "$seconds" \
    -f "$script" "$db" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
  sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log"
}

# ms DIR PORT DB SQL: milliseconds the statement takes (psql's \timing, without connecting).
ms() {
  at "$1" "$2" -d "$3" -At -c '\timing on' -c "$4" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}

# load_events DIR PORT DB FROM TO LINE [SESSIONS SESSION SEAL]: logs events FROM..TO-1 through
# audit_log_batch(), CHUNK (default 50000) lines per call, each the JSON text that the SQL
# expression LINE makes of i. Of SESSIONS loading side by side, this is SESSION (0-based), taking
# every SESSIONS-th chunk; SEAL=yes seals after each chunk.
load_events() {
  local dir=$1 port=$2 db=$3 from=$4 to=$5 line=$6 sessions=${7:-1} session=${8:-0} seal=${9:-no}
  local chunk=${CHUNK:-50000} c
  for (( c = from + session * chunk; c < to; c += sessions * chunk )); do
    at "$dir" "$port" -d "$db" -c "SELECT count(*) FROM audit_log_batch((SELECT string_agg($line, E'\n')
                                   FROM generate_series($c, least($c + $chunk, $to) - 1) i))" >/dev/null
    if [ "$seal" = yes ]; then at "$dir" "$port" -d "$db" -c "SELECT seal_audit_events()" >/dev/null; fi
  done
}

mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'; }
sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { print s }'; }
min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# goal NAME VALUE OP TARGET DETAIL [UNIT]: one row of the goal table (OP: >= or <=; TARGET "-"
# for a figure with no goal; UNIT "x", a ratio, unless the goal is absolute, as " ms"), printed
# now and kept for bench/report.sh.
goal() {
  local unit=${6:-x}
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$unit" >>"$GOALS"
  printf '  %s: %s%s (%s)  [%s]\n' "$1" "$2" "$unit" "$([ "$4" = - ] && echo "no goal" || echo "goal $3 $4")" "$5"
}
