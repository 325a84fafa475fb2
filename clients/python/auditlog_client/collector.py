"""The seed's AuditEventCollector (section 5.1), posting to `auditlog-shim serve`: events are
buffered and sent by one background thread in batches of `batch_size`, or once the oldest has
waited `batch_timeout` seconds. An event is durable once the shim accepted it (spooled and
fsynced); one the shim rejects comes back as a DeadLetter; one that cannot be delivered stays
buffered, retried, and is handed back in a DeliveryError rather than dropped."""

import atexit
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional

from .events import DeadLetter, Event, encode_event
from .transport import Interrupted, Outcome, Sender


@dataclass
class Report:
    """What became of the queued events settled since the last report (an immediate event's
    outcome is its collect_event call's)."""
    accepted: int = 0
    dead_letters: List[DeadLetter] = field(default_factory=list)


class DeliveryError(Exception):
    """Events not delivered in time. `undelivered` are the events themselves: after flush()
    the collector still holds them and keeps trying; after close() they are the caller's."""

    def __init__(self, message: str, undelivered: List[Event]):
        super().__init__(message)
        self.undelivered = undelivered


class BufferFull(Exception):
    """`max_queue` events are waiting and no room was made within `queue_timeout`."""


class EventRejected(Exception):
    def __init__(self, dead_letter: DeadLetter):
        super().__init__(dead_letter.error)
        self.dead_letter = dead_letter


class AuditEventCollector:
    def __init__(self, url: str, batch_size: int = 100, batch_timeout: float = 5.0,
                 max_queue: int = 10000, queue_timeout: Optional[float] = 1.0,
                 max_backoff: float = 30.0, request_timeout: float = 10.0,
                 immediate_timeout: float = 30.0,
                 on_dead_letter: Optional[Callable[[DeadLetter], None]] = None):
        self.batch_size = max(1, batch_size)
        self.immediate_timeout = immediate_timeout
        self.batch_timeout = batch_timeout
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.on_dead_letter = on_dead_letter
        # The seed's counters, and how many times events were sent again.
        self.stats = {"events_collected": 0, "events_processed": 0, "events_failed": 0,
                      "events_retried": 0, "batches_processed": 0, "last_batch_time": None}
        self._stop = threading.Event()
        self._sender = Sender(url, request_timeout, max_backoff, self._stop)
        self._cond = threading.Condition()
        self._pending: List[Event] = []
        self._in_flight: List[Event] = []
        self._oldest = 0.0  # monotonic time the oldest pending event was collected
        # Events collected and settled (accepted or rejected) so far, in order: flush() waits
        # for the second to reach the first as it was when flush() was called.
        self._collected = 0
        self._settled = 0
        self._flush_to = 0
        self._closing = False
        self._report = Report()
        # A daemon thread (an application need not close the collector to exit), so what it
        # still holds at exit is sent then, or written to stderr: never lost unseen.
        self._worker = threading.Thread(target=self._run, name="auditlog-collector", daemon=True)
        self._worker.start()
        atexit.register(self._close_at_exit)

    def collect_event(self, event_type: str, event_data: Dict[str, Any],
                      user_context: Optional[Dict[str, Any]] = None,
                      immediate: bool = False) -> str:
        """Queues one event in the correlation in scope and returns its id. `immediate` sends it
        at once, alone, and returns once the shim has it: EventRejected if it refuses it,
        DeliveryError if it cannot be reached within `immediate_timeout` seconds."""
        return self.submit(encode_event(event_type, event_data, user_context), immediate)

    def submit(self, event: Event, immediate: bool = False) -> str:
        """collect_event() for an event already built by encode_event()."""
        if immediate:
            self._send_now(event)
        else:
            self._enqueue(event, self.queue_timeout)
        return event.event_id

    def try_submit(self, event: Event) -> bool:
        """Queues `event` if there is room now, without waiting."""
        return self._enqueue(event, 0, raise_when_full=False)

    def flush(self, timeout: Optional[float] = None) -> Report:
        """Sends everything collected so far and returns the report since the last one; raises
        DeliveryError if that is not done within `timeout` seconds."""
        with self._cond:
            target = self._collected
            self._flush_to = max(self._flush_to, target)
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self._settled >= target, timeout):
                undelivered = self._in_flight + self._pending
                raise DeliveryError(
                    f"{target - self._settled} events not delivered in {timeout} s "
                    f"(last error: {self._sender.last_error}); still buffered and retried",
                    undelivered[:target - self._settled])
            return self._take_report()

    def close(self, timeout: Optional[float] = None) -> Report:
        """Flushes and stops. If the shim cannot take everything within `timeout` seconds, stops
        anyway and raises DeliveryError with every event not delivered."""
        atexit.unregister(self._close_at_exit)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._worker.join(timeout)
        if self._worker.is_alive():
            self._stop.set()
            self._worker.join()
        with self._cond:
            if self._pending:
                raise DeliveryError(
                    f"{len(self._pending)} events not delivered in {timeout} s "
                    f"(last error: {self._sender.last_error})", list(self._pending))
            return self._take_report()

    def _close_at_exit(self):
        try:
            report = self.close(self.immediate_timeout)
        except DeliveryError as e:
            sys.stderr.write(f"auditlog_client: {e}; at exit, these are lost:\n")
            sys.stderr.writelines(event.line + "\n" for event in e.undelivered)
            return
        for dead_letter in report.dead_letters:
            sys.stderr.write(f"auditlog_client: the shim rejected {dead_letter.event.line}: "
                             f"{dead_letter.error}\n")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()

    def _enqueue(self, event: Event, timeout: Optional[float], raise_when_full=True) -> bool:
        with self._cond:
            if self._closing:
                raise RuntimeError("the collector is closed")
            if not self._cond.wait_for(lambda: len(self._pending) < self.max_queue, timeout):
                if raise_when_full:
                    raise BufferFull(f"{len(self._pending)} events are waiting for the shim "
                                     f"(last error: {self._sender.last_error})")
                return False
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(event)
            self._collected += 1
            self.stats["events_collected"] += 1
            self._cond.notify_all()
            return True

    def _send_now(self, event: Event):
        try:
            outcome = self._sender.send([event], time.monotonic() + self.immediate_timeout)
        except Interrupted:
            raise DeliveryError(f"the shim did not take the event in {self.immediate_timeout} s "
                                f"(last error: {self._sender.last_error})", [event])
        with self._cond:
            self.stats["events_collected"] += 1
            self._count(outcome)
        if outcome.dead_letters:
            raise EventRejected(outcome.dead_letters[0])

    def _ready(self) -> bool:
        if not self._pending:
            return False
        return (len(self._pending) >= self.batch_size or self._closing
                or self._flush_to > self._settled
                or time.monotonic() - self._oldest >= self.batch_timeout)

    def _run(self):
        while True:
            with self._cond:
                while not self._ready():
                    if self._closing and not self._pending:
                        return
                    wait = self._oldest + self.batch_timeout - time.monotonic() \
                        if self._pending else None
                    self._cond.wait(wait)
                batch = self._pending[:self.batch_size]
                del self._pending[:self.batch_size]
                self._in_flight = batch
                if self._pending:
                    # The next batch's clock starts now: its events waited behind this one.
                    self._oldest = time.monotonic()
            try:
                outcome = self._sender.send(batch)
            except Interrupted:
                with self._cond:
                    self._pending[:0] = batch
                    self._in_flight = []
                return
            with self._cond:
                self._in_flight = []
                self._settled += len(batch)
                self._count(outcome)
                self._report.accepted += outcome.accepted
                self._report.dead_letters += outcome.dead_letters
                self.stats["batches_processed"] += 1
                self.stats["last_batch_time"] = datetime.now()
                self._cond.notify_all()
            for dead_letter in outcome.dead_letters:
                if self.on_dead_letter:
                    # A failing callback must not stop delivery; the dead letter is in the
                    # report all the same.
                    try:
                        self.on_dead_letter(dead_letter)
                    except Exception:
                        logging.getLogger(__name__).exception("on_dead_letter failed")

    def _count(self, outcome: Outcome):
        self.stats["events_processed"] += outcome.accepted
        self.stats["events_failed"] += len(outcome.dead_letters)
        self.stats["events_retried"] += outcome.retries

    def _take_report(self) -> Report:
        report, self._report = self._report, Report()
        return report
