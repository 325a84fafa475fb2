#!/usr/bin/env bash
# make test: every tier, in order of cost.
#   1. pure Rust (cargo test): core rules and the shim's parsing, no database;
#   2. pg_regress: SQL behaviour inside a database with the extension;
#   3. integration (tests/ crate): several sessions, LISTEN/NOTIFY, pg_dump and restore.
# Tiers 2 and 3 share one throwaway cluster on a port of our own, stopped on exit.
# Ends with one line that sums every tier: "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/tmp/test port=${TEST_PORT:-55433}
log=$(mktemp)
trap 'scripts/pgcluster.sh stop "$dir"; rm -f "$log"' EXIT

summary() {
  # cargo: "test result: ok. N passed; M failed; ..."; pg_regress 15: "test NAME ... ok|FAILED  N ms"
  awk '/^test result:/ { p += $4; f += $6 }
       /^test [a-z_]+ +\.\.\. ok +[0-9]+ ms/ { p++ }
       /^test [a-z_]+ +\.\.\. FAILED +[0-9]+ ms/ { f++ }
       END { printf "%d passed, %d failed\n", p, f }' "$log"
}

echo "== tier 1: cargo test (pure Rust)"
cargo test -p auditlog-core -p auditlog-shim 2>&1 | tee -a "$log"

# The upgrade tests run 0.1.0's and 0.2.0's own builds (their release commits), built once into
# target/releases.
scripts/release-lib.sh 0.1.0 4d3d0e0d24369532d2afebbc3e399d6e36e3559d
scripts/release-lib.sh 0.2.0 f2f29b887a5b84ac23159a59dfedbacfd33ccea7
scripts/release-lib.sh 0.3.0 9184d2fe84a212072d931ac93f0b6a5b2f4a463d

# pg_cron and the background sealer need preloading; both work in the postgres database.
scripts/pgcluster.sh start "$dir" "$port" "shared_preload_libraries = 'pg_cron,auditlog'" \
  "cron.database_name = 'postgres'" "auditlog.seal_database = 'postgres'" "auditlog.seal_interval = 1"
echo "== tier 2: pg_regress"
if ! scripts/regress.sh "$dir" "$port" "$dir/regress" 2>&1 | tee -a "$log"; then
  cat "$dir/regress/regression.diffs" || true
  summary
  exit 1
fi

# The detection rules again: auditlog not preloaded (the windows in shared memory all the same),
# with too few windows for the groups in play (evicted all the time), and with none (each call
# counts from the table): the same answers.
windows_dir=$PWD/tmp/test-windows windows_port=$((port + 3))
trap 'scripts/pgcluster.sh stop "$dir"; scripts/pgcluster.sh stop "$windows_dir"; rm -f "$log"' EXIT
for conf in "" "auditlog.detection_slots = 16" "auditlog.detection_slots = 0"; do
  echo "== tier 2: pg_regress detection, ${conf:-auditlog not preloaded}"
  scripts/pgcluster.sh start "$windows_dir" "$windows_port" \
    ${conf:+"shared_preload_libraries = 'auditlog'" "auditlog.seal_interval = 0" "$conf"} >/dev/null
  if ! scripts/regress.sh "$windows_dir" "$windows_port" "$windows_dir/regress" \
      tests/regress/detection_schedule 2>&1 | tee -a "$log"; then
    cat "$windows_dir/regress/regression.diffs" || true
    summary
    exit 1
  fi
  scripts/pgcluster.sh stop "$windows_dir"
done

echo "== tier 3: integration tests against PostgreSQL"
AUDITLOG_TEST_HOST=$dir AUDITLOG_TEST_PORT=$port AUDITLOG_SHIM=$PWD/target/release/auditlog-shim \
  cargo test -p auditlog-tests 2>&1 | tee -a "$log"
summary
