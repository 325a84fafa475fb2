"""Batches to `auditlog-shim serve` (`POST /v1/events`, NDJSON). The shim answers 202 when every
line is spooled and fsynced, 400 with the rejected lines when some were malformed (the others
are spooled), 413 for a body too large, 503 with Retry-After when its queue is full. Anything
that is not a per-line answer (a 5xx, a refused connection, a dropped answer) is retried with
backoff; sending a batch again is safe because every event carries its own id."""

import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import List, Optional

from .events import DeadLetter, Event


class Interrupted(Exception):
    """The collector is closing, or the caller's deadline passed, while a batch is still being
    retried."""


@dataclass
class Outcome:
    accepted: int = 0
    dead_letters: List[DeadLetter] = field(default_factory=list)
    retries: int = 0


class Sender:
    def __init__(self, url: str, request_timeout: float, max_backoff: float,
                 stop: threading.Event):
        self.endpoint = url.rstrip("/") + "/v1/events"
        self.request_timeout = request_timeout
        self.max_backoff = max_backoff
        self.stop = stop
        self.last_error: Optional[str] = None

    def send(self, batch: List[Event], deadline: Optional[float] = None) -> Outcome:
        """Returns once every event of `batch` is accepted or rejected; raises Interrupted if
        `stop` is set while waiting to retry, or the next try would be after `deadline` (a
        time.monotonic() time)."""
        outcome = Outcome()
        parts = [batch]
        backoff = 0.1
        while parts:
            part = parts.pop()
            try:
                status, answer, retry_after = self._post(part)
            except (OSError, http.client.HTTPException, ValueError) as e:
                # Refused, reset, timed out, or an answer that is not the shim's JSON.
                status, answer, retry_after = None, f"{type(e).__name__}: {e}", 0.0
            per_line = status in (202, 400) and _is_per_line(answer)
            if per_line and _accounts_for(answer, len(part)):
                outcome.accepted += len(answer["accepted"])
                outcome.dead_letters += [DeadLetter(part[r["line"] - 1], r["error"])
                                         for r in answer["rejected"]]
                backoff = 0.1
            elif status == 413 and len(part) > 1:
                half = len(part) // 2
                parts += [part[half:], part[:half]]
            elif status is not None and 400 <= status < 500 and status not in (408, 429) \
                    and not per_line:
                # The request itself is wrong (too large alone, wrong type): no retry helps.
                outcome.dead_letters += [DeadLetter(e, f"HTTP {status}: {answer}") for e in part]
            else:
                self.last_error = f"HTTP {status}: {answer}" if status else answer
                outcome.retries += len(part)
                wait = max(random.uniform(0, backoff), retry_after)
                late = deadline is not None and time.monotonic() + wait > deadline
                if late or self.stop.wait(wait):
                    raise Interrupted(self.last_error)
                backoff = min(backoff * 2, self.max_backoff)
                parts.append(part)
        return outcome

    def _post(self, part: List[Event]):
        body = ("\n".join(e.line for e in part) + "\n").encode()
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST",
            headers={"Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as r:
                return r.status, json.loads(r.read()), 0.0
        except urllib.error.HTTPError as r:
            text = r.read().decode(errors="replace")
            try:
                answer = json.loads(text)
            except ValueError:
                answer = text
            return r.code, answer, _seconds(r.headers.get("Retry-After"))


def _is_per_line(answer) -> bool:
    return isinstance(answer, dict) and {"accepted", "rejected"} <= answer.keys()


def _accounts_for(answer, lines: int) -> bool:
    """Whether a per-line answer names every line once: if not, the batch is sent again."""
    named = sorted(a["line"] for a in answer["accepted"] + answer["rejected"])
    return named == list(range(1, lines + 1))


def _seconds(retry_after: Optional[str]) -> float:
    try:
        return float(retry_after)
    except (TypeError, ValueError):
        return 0.0
