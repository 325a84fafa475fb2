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
shim=(target/release/auditlog-shim --database-url "host=$dir port=$port user=postgres dbname=portal")
"${shim[@]}" send demo/events.ndjson || true
"${psql[@]}" -d portal -c "SELECT seal_audit_events() AS events_sealed"
"${psql[@]}" -d portal -f demo/report.sql
echo
echo "Signing a checkpoint of the chain head with a key the database never sees, then checking it:"
"${shim[@]}" keygen --out "$dir/signer" >/dev/null
"${shim[@]}" checkpoint --key "$dir/signer.key" --dir "$dir/checkpoints"
"${shim[@]}" verify --dir "$dir/checkpoints" --pubkey "$dir/signer.pub"
