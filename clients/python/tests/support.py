"""What the tests against a real shim share. tests/tests/python_client.rs starts the shim and
the database, runs these tests with AUDITLOG_SHIM_URL and AUDITLOG_CLIENT_MANIFEST set, then
checks in the database every event the manifest lists: stored once, with the listed fields and
correlation (or not stored, for a rejected one), and nothing else stored."""

import json
import os
import socket
import threading
import time
import unittest
import urllib.request

SHIM_URL = os.environ.get("AUDITLOG_SHIM_URL")
MANIFEST = os.environ.get("AUDITLOG_CLIENT_MANIFEST")

needs_shim = unittest.skipUnless(SHIM_URL and MANIFEST,
                                 "AUDITLOG_SHIM_URL and AUDITLOG_CLIENT_MANIFEST unset")

_manifest_lock = threading.Lock()


def expect(event_id, event_type, event_data, user_id=None, correlation_id=None, parent=None,
           stored=True):
    """Lists an event for the database check. correlation_id None: the database generates one
    (CORR_{seconds}_{user or anonymous}_{hex})."""
    entry = {"event_id": event_id, "event_type": event_type, "event_data": event_data,
             "user_id": user_id, "correlation_id": correlation_id,
             "parent_correlation_id": parent, "stored": stored}
    with _manifest_lock, open(MANIFEST, "a") as f:
        f.write(json.dumps(entry) + "\n")


def received():
    """The shim's count of events received, from its /metrics."""
    with urllib.request.urlopen(SHIM_URL + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("auditlog_shim_events_received_total "):
                return int(float(line.split()[1]))
    raise AssertionError("no auditlog_shim_events_received_total in /metrics")


def wait_for_received(count, seconds=10.0):
    """Waits until the shim has received `count` events; the time it took."""
    started = time.monotonic()
    while received() < count:
        if time.monotonic() - started > seconds:
            raise AssertionError(f"the shim received {received()} events, not {count}")
        time.sleep(0.02)
    return time.monotonic() - started


def closed_port_url():
    """A URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
