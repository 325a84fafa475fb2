"""AsyncAuditEventCollector against the real shim: tasks logging at once, each in its own
context (children of the context they were created in)."""

import asyncio
import unittest

from auditlog_client import (AsyncAuditEventCollector, CorrelationContext,
                             get_current_correlation_id, with_correlation_id)

from .support import SHIM_URL, expect, needs_shim, received


@needs_shim
class AsyncCollector(unittest.TestCase):
    def test_tasks_log_in_their_own_contexts(self):
        async def main():
            async with AsyncAuditEventCollector(SHIM_URL, batch_size=8,
                                                batch_timeout=0.2) as collector:
                @with_correlation_id("task")
                async def task(t, root):
                    mine = get_current_correlation_id()
                    for n in range(10):
                        data = {"task": t, "n": n}
                        event_id = await collector.collect_event("data.client.read", data,
                                                                 {"user_id": t})
                        expect(event_id, "data.client.read", data, t, mine, root)
                        await asyncio.sleep(0)  # the other tasks log in between
                    return mine

                async with CorrelationContext(operation_type="request") as root:
                    mine = await asyncio.gather(*(task(t, root) for t in range(1, 6)))
                    self.assertEqual(len(set(mine)), 5)
                    report = await collector.flush(timeout=10)
                    self.assertEqual((report.accepted, report.dead_letters), (50, []))
                    before = received()
                    data = {"immediate": True}
                    expect(await collector.collect_event("auth.logout", data, immediate=True),
                           "auth.logout", data, correlation_id=root)
                    # The shim has it when the call returns.
                    self.assertEqual(received(), before + 1)

        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
