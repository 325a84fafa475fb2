"""The collector for asyncio code: the same buffer and sending thread as AuditEventCollector,
with every wait moved off the event loop."""

import asyncio
from typing import Any, Dict, Optional

from .collector import AuditEventCollector, Report
from .events import encode_event


class AsyncAuditEventCollector:
    def __init__(self, url: str, **options):
        """`options` are AuditEventCollector's."""
        self._collector = AuditEventCollector(url, **options)

    @property
    def stats(self) -> Dict[str, Any]:
        return self._collector.stats

    async def collect_event(self, event_type: str, event_data: Dict[str, Any],
                            user_context: Optional[Dict[str, Any]] = None,
                            immediate: bool = False) -> str:
        # Built here, in the calling task, whose correlation is the event's.
        event = encode_event(event_type, event_data, user_context)
        if immediate or not self._collector.try_submit(event):
            await asyncio.to_thread(self._collector.submit, event, immediate)
        return event.event_id

    async def flush(self, timeout: Optional[float] = None) -> Report:
        return await asyncio.to_thread(self._collector.flush, timeout)

    async def close(self, timeout: Optional[float] = None) -> Report:
        return await asyncio.to_thread(self._collector.close, timeout)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close()
