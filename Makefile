# auditlog: `make demo` shows it working, `make test` runs every test tier, `make bench` measures.
# Each target installs what is missing first (scripts/setup.sh skips what is there).

PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config

.PHONY: setup install demo test bench fmt

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

bench: install
	bash bench/run.sh
	bash bench/sealing.sh
	bash bench/ingest.sh
	bash bench/lifecycle.sh
	bash bench/analysis.sh

fmt:
	cargo fmt --all
