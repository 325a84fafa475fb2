"""AuditEventCollector against the real shim: batches by size and by time, correlation of the
events built in nested contexts and in threads, rejected events reported, and events that
cannot be delivered handed back. Every event is listed for the database check."""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

import auditlog_client
from auditlog_client import (AuditEventCollector, CorrelationContext, DeliveryError,
                             EventRejected, get_current_correlation_id, with_correlation_id)

from .support import SHIM_URL, closed_port_url, expect, needs_shim, received, wait_for_received


@needs_shim
class Collector(unittest.TestCase):
    def test_a_full_batch_goes_at_once_and_the_rest_waits(self):
        before = received()
        collector = AuditEventCollector(SHIM_URL, batch_size=5, batch_timeout=60)
        for n in range(12):
            data = {"n": n, "test": "size"}
            expect(collector.collect_event("data.client.read", data, {"user_id": 3}),
                   "data.client.read", data, user_id=3)
        wait_for_received(before + 10)
        time.sleep(0.3)
        self.assertEqual(received(), before + 10, "two batches of 5; 2 events wait")
        self.assertEqual(collector.stats["batches_processed"], 2)
        report = collector.close()
        self.assertEqual((report.accepted, report.dead_letters), (12, []))
        self.assertEqual(received(), before + 12)

    def test_a_batch_that_does_not_fill_goes_after_its_timeout(self):
        before = received()
        collector = AuditEventCollector(SHIM_URL, batch_size=100, batch_timeout=0.4)
        started = time.monotonic()
        for n in range(3):
            data = {"n": n, "test": "timeout"}
            expect(collector.collect_event("data.client.read", data), "data.client.read", data)
        wait_for_received(before + 3)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        # The shim counts the events before the collector has read its answer.
        deadline = time.monotonic() + 5
        while collector.stats["batches_processed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(collector.stats["batches_processed"], 1)
        self.assertEqual(collector.close().accepted, 3)

    def test_nested_contexts_give_parent_ids(self):
        with AuditEventCollector(SHIM_URL, batch_size=3, batch_timeout=0.2) as collector:
            def log(data, correlation_id=None, parent=None):
                expect(collector.collect_event("auth.login.success", data, {"user_id": 9}),
                       "auth.login.success", data, 9, correlation_id, parent)

            @with_correlation_id("db_query")
            def query(child):
                log({"step": "query"}, get_current_correlation_id(), child)

            log({"step": "outside"})
            with CorrelationContext() as root:
                log({"step": "root"}, root)
                with CorrelationContext(operation_type="payment") as child:
                    log({"step": "child"}, child, root)
                    query(child)
                    # The caller's own correlation id wins over the context's.
                    data = {"step": "own id"}
                    expect(collector.collect_event("auth.login.success", data,
                                                   {"user_id": 9, "correlation_id": "CORR_own"}),
                           "auth.login.success", data, 9, "CORR_own")
                log({"step": "root again"}, root)

    def test_threads_keep_their_own_contexts(self):
        barrier = threading.Barrier(4)
        collector = AuditEventCollector(SHIM_URL, batch_size=7, batch_timeout=0.2)

        def worker(w):
            with CorrelationContext(operation_type=f"worker{w}") as mine:
                barrier.wait()  # every thread inside its own context before any logs
                for n in range(25):
                    data = {"worker": w, "n": n}
                    expect(collector.collect_event("data.client.read", data, {"user_id": w}),
                           "data.client.read", data, w, mine)

        with CorrelationContext():
            # Threads start outside any context: theirs are roots, not children of this one.
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(1, 5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(collector.close().accepted, 100)

    def test_an_application_that_exits_without_closing_delivers_at_exit(self):
        before = received()
        done = exit_without_closing(SHIM_URL)
        self.assertEqual((received(), done.stderr), (before + 1, ""))
        expect(done.stdout.strip(), "auth.logout", {"left": "at exit"})

    def test_a_rejected_event_is_reported_and_the_rest_of_its_batch_kept(self):
        seen = []
        collector = AuditEventCollector(SHIM_URL, batch_size=3, batch_timeout=60,
                                        on_dead_letter=seen.append)
        good = {"test": "rejected"}
        first = collector.collect_event("auth.logout", good)
        bad = collector.collect_event(" ", {"why": "no event type"})
        last = collector.collect_event("auth.logout", good)
        report = collector.flush(timeout=10)
        self.assertEqual(report.accepted, 2)
        self.assertEqual([d.event.event_id for d in report.dead_letters], [bad])
        self.assertIn("event_type must be a non-empty string", report.dead_letters[0].error)
        self.assertEqual(report.dead_letters[0].event.fields["event_data"], {"why": "no event type"})
        self.assertEqual(seen, report.dead_letters)
        self.assertEqual(collector.stats["events_failed"], 1)
        # Sent alone at once: the answer is the call's.
        with self.assertRaises(EventRejected) as rejected:
            collector.collect_event("x", {"nul": "\u0000"}, immediate=True)
        self.assertIn("\\u0000", str(rejected.exception))
        at_once = collector.collect_event("auth.logout", good, immediate=True)
        self.assertEqual(collector.close(), type(report)())
        for event_id in (first, last, at_once):
            expect(event_id, "auth.logout", good)
        expect(bad, " ", {}, stored=False)
        expect(rejected.exception.dead_letter.event.event_id, "x", {}, stored=False)


class Undeliverable(unittest.TestCase):
    def test_events_the_shim_never_took_are_handed_back(self):
        collector = AuditEventCollector(closed_port_url(), batch_size=2, batch_timeout=0.05,
                                        immediate_timeout=0.3)
        ids = [collector.collect_event("auth.logout", {"n": n}) for n in range(3)]
        with self.assertRaises(DeliveryError) as flushing:
            collector.flush(timeout=0.5)
        self.assertEqual([e.event_id for e in flushing.exception.undelivered], ids)
        self.assertIn("Connection refused", str(flushing.exception))
        with self.assertRaises(DeliveryError) as at_once:
            collector.collect_event("auth.logout", {}, immediate=True)
        self.assertEqual(len(at_once.exception.undelivered), 1)
        # Still kept after a failed flush; close hands them over.
        with self.assertRaises(DeliveryError) as closing:
            collector.close(timeout=0.5)
        self.assertEqual([e.event_id for e in closing.exception.undelivered], ids)

    def test_what_is_left_at_exit_is_written_out(self):
        done = exit_without_closing(closed_port_url())
        self.assertIn("at exit, these are lost", done.stderr)
        lost = json.loads(done.stderr.splitlines()[-1])
        self.assertEqual((lost["event_id"], lost["event_data"]),
                         (done.stdout.strip(), {"left": "at exit"}))


def exit_without_closing(url):
    """A program that collects one event (its id on stdout) and exits without closing."""
    script = ("import auditlog_client\n"
              f"c = auditlog_client.AuditEventCollector({url!r}, immediate_timeout=0.5)\n"
              "print(c.collect_event('auth.logout', {'left': 'at exit'}))\n")
    package_dir = os.path.dirname(os.path.dirname(auditlog_client.__file__))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=package_dir), timeout=30)
    assert done.returncode == 0, done.stderr
    return done


if __name__ == "__main__":
    unittest.main()
