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
# CEF and syslog lines with (tests/interop/siem_parse.py). openssl: the private CA and server
# certificate of the export's HTTPS test.
DEB_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgaudit
              libclang-dev clang sudo pkg-config curl chromium golang-go golang-golang-x-mod-dev
              postgresql-15-auto-failover postgresql-15-plproxy python3-venv openssl)

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
# The parsers and clients we did not write that the interop tests run (tests/interop/requirements.txt,
# pinned, from PyPI), in a venv of the checkout's own. pip leaves what is already there.
VENV=$(cd "$(dirname "$0")/.." && pwd)/tmp/interop-venv
[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r "$(dirname "$0")/../tests/interop/requirements.txt"
# The test and bench clusters and receivers listen on ports 55430-55539, inside Linux's ephemeral
# range: reserved, no outgoing connection takes one as its local end, whose TIME_WAIT would hold
# the port for 60 s (make test once failed to restart a cluster so). Not kept across a reboot,
# so it is checked on every run.
TEST_PORTS=55430-55539
RESERVED=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$RESERVED" ] && ! grep -q "$TEST_PORTS" "$RESERVED"; then
  current=$(cat "$RESERVED")
  echo "${current:+$current,}$TEST_PORTS" >"$RESERVED" 2>/dev/null ||
    echo "setup: could not reserve ports $TEST_PORTS; a test may find its port briefly taken"
fi
echo "setup: ok"
