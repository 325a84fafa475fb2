#!/usr/bin/env bash
# Installs a released version's own build beside the current one: its library, built from its
# commit, as $libdir/auditlog-VERSION.so, and its install script pointing at that library. Then
# `CREATE EXTENSION auditlog VERSION 'VERSION'` runs that version's code, as on a server that ran
# it, and `ALTER EXTENSION auditlog UPDATE` moves it to this build. The upgrade test needs this.
# The build is kept under target/releases/VERSION.
#   release-lib.sh VERSION COMMIT
set -euo pipefail
cd "$(dirname "$0")/.."
version=$1 commit=$2
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
target=$PWD/target/releases/$version
so=$target/release/libauditlog.so
if [ ! -f "$so" ]; then
  tree=$PWD/tmp/release-$version
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  git worktree add --detach "$tree" "$commit" >/dev/null
  (cd "$tree/extension" && CARGO_TARGET_DIR=$target cargo build --release --lib --features pg15 --no-default-features)
  git worktree remove --force "$tree"
fi
install -m 755 "$so" "$("$PG_CONFIG" --pkglibdir)/auditlog-$version.so"
sed "s|'MODULE_PATHNAME'|'\$libdir/auditlog-$version'|" "sql/auditlog--$version.sql" \
  >"$("$PG_CONFIG" --sharedir)/extension/auditlog--$version.sql"
