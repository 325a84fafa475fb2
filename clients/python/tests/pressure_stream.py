"""A stream that meets the shim's limits, run alone by tests/tests/python_client.rs: the shim
takes bodies of at most 4 kB (413 above) and holds at most 100 events while its database is
missing (503 with Retry-After above); the Rust side creates the database once the shim has
answered 503. Batches of 40 events are too large for one body, so the client must halve them
until they fit, and wait out the 503s: every event is then delivered once, none rejected. Not
named test_*: unittest's discovery does not pick it up without a shim set up so."""

import unittest

from auditlog_client import AuditEventCollector

from .support import SHIM_URL, expect, needs_shim

EVENTS = 300


@needs_shim
class Pressure(unittest.TestCase):
    def test_413_and_503_lose_nothing(self):
        collector = AuditEventCollector(SHIM_URL, batch_size=40, batch_timeout=0.1,
                                        max_backoff=0.5)
        for n in range(EVENTS):
            data = {"n": n, "test": "pressure", "padding": "x" * 100}
            expect(collector.collect_event("data.client.read", data, {"user_id": 6}),
                   "data.client.read", data, 6)
        report = collector.close(timeout=120)
        self.assertEqual((report.accepted, report.dead_letters), (EVENTS, []))
        self.assertGreater(collector.stats["events_retried"], 0, "the shim answered 503")


if __name__ == "__main__":
    unittest.main()
