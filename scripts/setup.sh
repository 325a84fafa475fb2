#!/usr/bin/env bash
# Installs what building and testing auditlog needs, skipping what is already there.
# Safe to run again: every step checks before it acts.
set -euo pipefail

PGRX_VERSION=0.18.0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
# golang-go and golang-golang-x-mod-dev: Go's sumdb/note and sumdb/tlog, the implementation we did
# not write that the tests check our checkpoints, cosignatures and proofs with (tests/interop).
# postgresql-15-auto-failover: pg_auto_failover's monitor and keepers (pg_autoctl), the failover
# manager tests/tests/auto_failover.rs runs auditlog under.
# postgresql-15-plproxy: the router of sharded ingest (sql/router.sql, tests/tests/shards.rs).
# python3-venv: a virtual environment for the parsers we did not write that the export test reads
# CEF and syslog lines with (tests/interop/siem_parse.py).
DEB_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgaudit
              libclang-dev clang sudo pkg-config curl chromium golang-go golang-golang-x-mod-dev
              postgresql-15-auto-failover postgresql-15-plproxy python3-venv)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION (about 9 minutes on 2 cores)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# cargo pgrx init writes ~/.pgrx/config.toml; it downloads nothing when given pg_config.
if ! grep -q "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
  cargo pgrx init --pg15 "$PG_CONFIG"
fi
# The export test's readers we did not write, pinned, from PyPI, in a venv of the checkout's own:
# pycef, syslog-rfc5424-parser, and the OCSF schema (ocsf-json-schema ships the schema server's
# export of each OCSF version and makes JSON Schemas of it; jsonschema checks lines against them).
VENV=$(cd "$(dirname "$0")/.." && pwd)/tmp/interop-venv
if ! "$VENV/bin/python" -c "import pycef, syslog_rfc5424_parser, ocsf_json_schema, jsonschema" 2>/dev/null; then
  echo "setup: making $VENV (pycef, syslog-rfc5424-parser, ocsf-json-schema, jsonschema)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q pycef==1.11 syslog-rfc5424-parser==0.3.2 ocsf-json-schema==1.2.0 jsonschema==4.26.0
fi
echo "setup: ok"
