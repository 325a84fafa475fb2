#!/usr/bin/env bash
# The goal table of a bench run: every row the scripts recorded, its figure in this run, and
# whether it met its goal. Exits 1 if any goal was missed.
set -euo pipefail
cd "$(dirname "$0")/.."
GOALS=${BENCH_GOALS:-$PWD/tmp/bench-goals.tsv}
[ -s "$GOALS" ] || { echo "no goals recorded in $GOALS" >&2; exit 1; }
echo
echo "| goal | this run | target | verdict | measured |"
echo "|---|---|---|---|---|"
awk -F'\t' '
  { verdict = "-"
    if ($4 != "-") {
      met = ($3 == ">=") ? ($2 + 0 >= $4 + 0) : ($2 + 0 <= $4 + 0)
      verdict = met ? "met" : "MISSED"; if (!met) missed++
    }
    target = ($4 == "-") ? "-" : $3 " " $4
    printf "| %s | %s%s | %s | %s | %s |\n", $1, $2, ($6 == "" ? "x" : $6), target, verdict, $5 }
  END { exit missed > 0 }' "$GOALS"
