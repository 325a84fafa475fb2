"""One event as a line of the shim's NDJSON body (`event_type`, `event_data`, `user_context`,
`event_id`, `timestamp`), built when it is collected: the correlation in scope then is the one
it gets, and later changes to the caller's dicts do not reach it."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from .correlation import current_correlation


@dataclass(frozen=True)
class Event:
    event_id: str
    line: str

    @property
    def fields(self) -> Dict[str, Any]:
        return json.loads(self.line)


@dataclass(frozen=True)
class DeadLetter:
    """An event the shim rejected, with its reason: it is not stored, and not sent again."""
    event: Event
    error: str


def encode_event(event_type: str, event_data: Optional[Dict[str, Any]] = None,
                 user_context: Optional[Dict[str, Any]] = None) -> Event:
    """The event's id is chosen here, so a batch sent again after a lost answer is stored once
    (the database skips ids it has). Raises ValueError for data JSON cannot carry."""
    context = user_context
    correlation = current_correlation()
    # A correlation id of the caller's wins, as in the seed's AuditEvent; a context that is not
    # a dict is left for the database to record as malformed.
    if correlation and (context is None or isinstance(context, dict)) \
            and "correlation_id" not in (context or {}):
        context = dict(context or {}, correlation_id=correlation.id)
        if correlation.parent:
            context["parent_correlation_id"] = correlation.parent
    event_id = str(uuid.uuid4())
    fields = {
        "event_id": event_id,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "event_type": event_type,
        "event_data": {} if event_data is None else event_data,
    }
    if context is not None:
        fields["user_context"] = context
    # default=str as the seed's to_dict (datetimes, decimals); NaN is not JSON and is refused.
    line = json.dumps(fields, default=str, allow_nan=False, separators=(",", ":"))
    return Event(event_id, line)
