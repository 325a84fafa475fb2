#!/usr/bin/env bash
# make bench / make bench-quick: every benchmark, then one table of every goal in bench/README.md
# with its figure in this run and met / MISSED.  BENCH_QUICK=1: shorter rounds, smaller loads.
set -uo pipefail
cd "$(dirname "$0")/.."
export BENCH_GOALS=$PWD/tmp/bench-goals.tsv
mkdir -p tmp; rm -f "$BENCH_GOALS"
start=$(date +%s) failed=()
# router.sh runs in make bench only: it has no goal to check before resolving.
scripts=(run ingest sealing lifecycle analysis decay tree standby)
[ "${BENCH_QUICK:-0}" = 1 ] || scripts+=(router)
for script in "${scripts[@]}"; do
  echo; echo "== bench/$script.sh"
  t=$(date +%s)
  bash "bench/$script.sh" || failed+=("$script")
  echo "   ($(( $(date +%s) - t )) s)"
done
echo; echo "Goals ($(( $(date +%s) - start )) s, $(nproc) cores$([ "${BENCH_QUICK:-0}" = 1 ] && echo ", quick")):"
bash bench/report.sh; verdict=$?
[ ${#failed[@]} -eq 0 ] || { echo "failed to run: ${failed[*]}" >&2; exit 1; }
exit $verdict
