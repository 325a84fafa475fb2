#!/usr/bin/env bash
# make demo: a throwaway cluster with the extension, sample events through the shim, a report.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/tmp/demo port=${DEMO_PORT:-55431}
shim_pid=
trap '[ -n "$shim_pid" ] && kill "$shim_pid" 2>/dev/null; scripts/pgcluster.sh stop "$dir"' EXIT
scripts/pgcluster.sh start "$dir" "$port"
psql=(psql -X -q -h "$dir" -p "$port" -U postgres)
"${psql[@]}" -c "CREATE DATABASE portal"
"${psql[@]}" -d portal -c "CREATE EXTENSION auditlog"
echo
echo "Posting demo/events.ndjson to auditlog-shim serve (two lines in it are bad on purpose):"
shim=(target/release/auditlog-shim --database-url "host=$dir port=$port user=postgres dbname=portal")
http=127.0.0.1:$((port + 1000))
"${shim[@]}" serve --listen "$http" --spool-dir "$dir/spool" --batch-timeout-ms 200 2>"$dir/shim.log" &
shim_pid=$!
until curl -sf "http://$http/healthz" >/dev/null; do sleep 0.1; done
answer=$(curl -s -w ' %{http_code}' -H 'content-type: application/x-ndjson' \
  --data-binary @demo/events.ndjson "http://$http/v1/events")
echo "  HTTP ${answer##* }: $(grep -o '"event_id"' <<<"$answer" | wc -l) events accepted (fsynced to the spool), rejected:"
sed 's/.*"rejected":\[//; s/\]} [0-9]*$//; s/},{/}\n{/g' <<<"$answer" | sed 's/^/    /'
# SIGTERM: the shim delivers what it acknowledged, then exits.
kill -TERM "$shim_pid"; wait "$shim_pid"; shim_pid=
"${psql[@]}" -d portal -c "SELECT seal_audit_events() AS events_sealed"
"${psql[@]}" -d portal -f demo/report.sql
echo
echo "Signing a checkpoint of the chain head with a key the database never sees, then checking it:"
"${shim[@]}" keygen --out "$dir/signer" >/dev/null
"${shim[@]}" checkpoint --key "$dir/signer.key" --dir "$dir/checkpoints"
"${shim[@]}" verify --dir "$dir/checkpoints" --pubkey "$dir/signer.pub"
