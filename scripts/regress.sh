#!/usr/bin/env bash
# pg_regress against a running cluster: regress.sh HOST PORT [OUTPUT_DIR [SCHEDULE]]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
host=$1 port=$2 out=${3:-$here/tmp/regress} schedule=${4:-$here/tests/regress/schedule}
mkdir -p "$out"
/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
  --inputdir="$here/tests/regress" --outputdir="$out" \
  --host="$host" --port="$port" --user=postgres \
  --dbname=auditlog_regress --load-extension=auditlog \
  --schedule="$schedule"
