#!/usr/bin/env bash
# make demo: a throwaway cluster with the extension, sample events through the shim, a report.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/tmp/demo port=${DEMO_PORT:-55431}
trap 'scripts/pgcluster.sh stop "$dir"' EXIT
scripts/pgcluster.sh start "$dir" "$port"
psql=(psql -X -q -h "$dir" -p "$port" -U postgres)
"${psql[@]}" -c "CREATE DATABASE portal"
"${psql[@]}" -d portal -c "CREATE EXTENSION auditlog"
echo
echo "Sending demo/events.ndjson through auditlog-shim (two lines in it are bad on purpose):"
target/release/auditlog-shim --database-url "host=$dir port=$port user=postgres dbname=portal" send demo/events.ndjson || true
"${psql[@]}" -d portal -f demo/report.sql
