"""A client of auditlog-shim serve: the seed's AuditEventCollector and correlation contexts."""

from .async_collector import AsyncAuditEventCollector
from .collector import AuditEventCollector, BufferFull, DeliveryError, EventRejected, Report
from .correlation import (Correlation, CorrelationContext, current_correlation,
                          generate_correlation_id, get_current_correlation_id,
                          with_correlation_id)
from .events import DeadLetter, Event, encode_event

__all__ = [
    "AsyncAuditEventCollector", "AuditEventCollector", "BufferFull", "Correlation",
    "CorrelationContext", "DeadLetter", "DeliveryError", "Event", "EventRejected", "Report",
    "current_correlation", "encode_event", "generate_correlation_id",
    "get_current_correlation_id", "with_correlation_id",
]
