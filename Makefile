# auditlog: `make demo` shows it working, `make test` runs every test tier, `make bench` measures
# (`make bench-quick` in about 6 minutes).
# Each target installs what is missing first (scripts/setup.sh skips what is there).

PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config

.PHONY: setup install demo test bench bench-quick fmt

setup:
	bash scripts/setup.sh

# Builds the extension and installs it into the system PostgreSQL 15, and builds the shim.
install: setup
	cd extension && cargo pgrx install --release --pg-config $(PG_CONFIG)
	install -m 644 sql/auditlog--*--*.sql $$($(PG_CONFIG) --sharedir)/extension/
	cargo build --release -p auditlog-shim

demo: install
	bash scripts/demo.sh

test: install
	bash scripts/test.sh

# Every benchmark, then one table of every goal in bench/README.md, met or MISSED in this run.
bench: install
	bash bench/all.sh

# The same table from shorter rounds and smaller loads (about 6 minutes on 2 cores): run it
# before resolving anything that touches audit_log(), the batch path, sealing or the shim.
bench-quick: install
	BENCH_QUICK=1 bash bench/all.sh

fmt:
	cargo fmt --all
