"""Correlation contexts and the events built in them: no shim needed."""

import asyncio
import json
import re
import threading
import unittest

from auditlog_client import (CorrelationContext, current_correlation, encode_event,
                             get_current_correlation_id, with_correlation_id)
from auditlog_client.correlation import Correlation

ROOT = re.compile(r"^CORR_\d{10}_[0-9a-f]{8}_root$")


class Contexts(unittest.TestCase):
    def test_nested_contexts_are_children_with_the_seed_format(self):
        self.assertIsNone(current_correlation())
        with CorrelationContext() as root:
            self.assertRegex(root, ROOT)
            self.assertEqual(current_correlation(), Correlation(root, None))
            with CorrelationContext(operation_type="payment") as child:
                self.assertRegex(child, r"^CORR_\d{10}_[0-9a-f]{8}_payment$")
                self.assertEqual(current_correlation().parent, root)

                @with_correlation_id("db_query")
                def query():
                    return current_correlation()

                grandchild = query()
                self.assertTrue(grandchild.id.endswith("_db_query"), grandchild.id)
                self.assertEqual(grandchild.parent, child)
                self.assertEqual(get_current_correlation_id(), child)
            with self.assertRaises(KeyError):
                with CorrelationContext():
                    raise KeyError("an exception leaves its context too")
            self.assertEqual(current_correlation(), Correlation(root, None))
        self.assertIsNone(current_correlation())

    def test_a_given_id_is_used_as_is(self):
        with CorrelationContext("CORR_upstream") as upstream:
            self.assertEqual(upstream, "CORR_upstream")
            with CorrelationContext("CORR_inner"):
                self.assertEqual(current_correlation(), Correlation("CORR_inner", upstream))
            # The id in scope again: the same context, not a child of itself.
            with CorrelationContext("CORR_upstream"):
                self.assertEqual(current_correlation(), Correlation(upstream, None))

    def test_threads_start_outside_any_context(self):
        seen = {}
        barrier = threading.Barrier(3)

        def worker(name):
            seen[name, "start"] = current_correlation()
            with CorrelationContext(operation_type=name) as mine:
                barrier.wait()  # all three inside their contexts at once
                seen[name] = (mine, current_correlation())
                barrier.wait()

        with CorrelationContext() as main:
            threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
            for t in threads:
                t.start()
            barrier.wait()
            barrier.wait()
            for t in threads:
                t.join()
            self.assertEqual(get_current_correlation_id(), main)
        for name in ("a", "b"):
            self.assertIsNone(seen[name, "start"])
            mine, inside = seen[name]
            self.assertEqual(inside, Correlation(mine, None))
            self.assertRegex(mine, ROOT)
        self.assertNotEqual(seen["a"][0], seen["b"][0])

    def test_asyncio_tasks_are_children_of_their_creators_context(self):
        @with_correlation_id("task")
        async def task():
            mine = current_correlation()
            await asyncio.sleep(0.01)  # the other tasks run, each in its own context
            self.assertEqual(current_correlation(), mine)
            return mine

        async def main():
            async with CorrelationContext() as root:
                results = await asyncio.gather(*(task() for _ in range(3)))
                self.assertEqual(get_current_correlation_id(), root)
                return root, results

        root, results = asyncio.run(main())
        self.assertEqual({r.parent for r in results}, {root})
        self.assertEqual(len({r.id for r in results}), 3)
        self.assertTrue(all(r.id.endswith("_task") for r in results))


class Events(unittest.TestCase):
    def test_an_event_gets_the_correlation_in_scope(self):
        outside = json.loads(encode_event("auth.logout", {}, {"user_id": 1}).line)
        self.assertEqual(outside["user_context"], {"user_id": 1})
        self.assertNotIn("user_context", json.loads(encode_event("auth.logout").line))
        with CorrelationContext() as root, CorrelationContext(operation_type="op") as child:
            context = {"user_id": 1}
            event = encode_event("auth.logout", {"n": 1}, context)
            fields = json.loads(event.line)
            self.assertEqual(fields["user_context"], {"user_id": 1, "correlation_id": child,
                                                      "parent_correlation_id": root})
            self.assertEqual(context, {"user_id": 1}, "the caller's dict is not changed")
            self.assertEqual(fields["event_id"], event.event_id)
            own = {"correlation_id": "CORR_mine"}
            self.assertEqual(json.loads(encode_event("x", {}, own).line)["user_context"], own)
        with self.assertRaises(ValueError):
            encode_event("x", {"nan": float("nan")})


if __name__ == "__main__":
    unittest.main()
