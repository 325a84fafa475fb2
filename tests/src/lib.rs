//! Integration tests live in `tests/tests/`; they need `AUDITLOG_TEST_DSN` (set by `make test`).
