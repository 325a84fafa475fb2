"""A stream of events across a restart of the shim, run alone by tests/tests/python_client.rs:
it logs until the shim has been killed and started again (AUDITLOG_RESTARTED names the file it
creates then), and 200 more; every event must be delivered once, none rejected. Not named
test_*: unittest's discovery does not pick it up without the shim being restarted under it."""

import os
import time
import unittest

from auditlog_client import AuditEventCollector, CorrelationContext

from .support import SHIM_URL, expect, needs_shim


@needs_shim
class Restart(unittest.TestCase):
    def test_a_shim_restart_mid_stream_loses_nothing(self):
        restarted = os.environ["AUDITLOG_RESTARTED"]
        collector = AuditEventCollector(SHIM_URL, batch_size=20, batch_timeout=0.1,
                                        max_backoff=0.5)
        after, n, deadline = 0, 0, time.monotonic() + 120
        with CorrelationContext(operation_type="stream") as stream:
            while after < 200:
                self.assertLess(time.monotonic(), deadline, "the shim was not restarted")
                data = {"n": n, "test": "restart"}
                expect(collector.collect_event("data.client.read", data, {"user_id": 5}),
                       "data.client.read", data, 5, stream)
                n += 1
                after += os.path.exists(restarted)
                time.sleep(0.002)
        report = collector.close(timeout=60)
        self.assertEqual((report.accepted, report.dead_letters), (n, []))
        stats = collector.stats
        self.assertGreater(stats["events_retried"], 0, "the stream ran into the restart")
        print(f"{n} events, {stats['batches_processed']} batches, "
              f"{stats['events_retried']} events sent again")


if __name__ == "__main__":
    unittest.main()
