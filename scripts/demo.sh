#!/usr/bin/env bash
# make demo: a throwaway cluster with the extension, sample events through the shim, a report.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/tmp/demo port=${DEMO_PORT:-55431}
shim_pid= witness_pid=
trap 'kill $shim_pid $witness_pid 2>/dev/null; scripts/pgcluster.sh stop "$dir"' EXIT
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
echo "A checkpoint of the log's tree, signed with a key the database never sees and cosigned by a"
echo "witness (as an auditor would run one), then checked; and an offline proof of one event:"
origin=$("${psql[@]}" -d portal -At -c "SELECT origin FROM audit_tree_head()")
"${shim[@]}" keygen --out "$dir/log" --name "$origin" >/dev/null
"${shim[@]}" keygen --out "$dir/witness" --name witness.demo --witness >/dev/null
witness=127.0.0.1:$((port + 1001))
"${shim[@]}" witness --listen "$witness" --key "$dir/witness.key" --log "$origin=$dir/log.vkey" \
  --state "$dir/witness-state" 2>"$dir/witness.log" &
witness_pid=$!
until curl -s -o /dev/null "http://$witness/"; do sleep 0.1; done
"${shim[@]}" checkpoint --key "$dir/log.key" --dir "$dir/checkpoints" --witness "http://$witness,$dir/witness.vkey"
"${shim[@]}" verify --dir "$dir/checkpoints" --pubkey "$dir/log.vkey" --witness-key "$dir/witness.vkey" --require 1
event=$("${psql[@]}" -d portal -At -c "SELECT event_id FROM audit.event_positions ORDER BY position LIMIT 1")
"${shim[@]}" proof "$event" --dir "$dir/checkpoints" >"$dir/event.tlog-proof"
"${shim[@]}" verify-proof --proof "$dir/event.tlog-proof" --pubkey "$dir/log.vkey" \
  --witness-key "$dir/witness.vkey" --require 1
