"""Sends audit records to auditlog-shim's OTLP/HTTP endpoint with the OpenTelemetry SDK for Python
(opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http, pinned by scripts/setup.sh), the
way an application instrumented with OpenTelemetry logs: Python's logging, through the SDK's
LoggingHandler, inside spans.

usage: otel_send.py ENDPOINT N
Logs N audit records (one span each), one ordinary log record, and one record whose
audit.event_type is not a string; prints one JSON line per audit record: {"n", "trace_id"}.
Exits 1 if the exporter reports a failure.
"""

import json
import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

endpoint, n = sys.argv[1], int(sys.argv[2])

results = []


class Recording(OTLPLogExporter):
    """The SDK's own exporter; its results are kept so that a failed export fails the test."""

    def export(self, batch):
        result = super().export(batch)
        results.append(result)
        return result


resource = Resource.create({"service.name": "otel-interop"})
trace.set_tracer_provider(TracerProvider(resource=resource))
provider = LoggerProvider(resource=resource)
provider.add_log_record_processor(
    BatchLogRecordProcessor(Recording(endpoint=endpoint), max_export_batch_size=64)
)
log = logging.getLogger("shop.auth")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=provider))
tracer = trace.get_tracer("shop")

for i in range(n):
    with tracer.start_as_current_span(f"login {i}") as span:
        log.info(
            "user signed in",
            extra={
                "audit.event_type": "auth.login.success",
                "enduser.id": 1000 + i,
                "session.id": f"sess-{i}",
                "client.address": f"10.0.{i // 256}.{i % 256}",
                "user_agent.original": "otel-interop/1.0",
                "n": i,
            },
        )
        print(json.dumps({"n": i, "trace_id": format(span.get_span_context().trace_id, "032x")}))
log.info("cache warmed", extra={"entries": 12})
log.warning("odd audit record", extra={"audit.event_type": 7})
provider.force_flush()
provider.shutdown()
if not results or any(r != LogRecordExportResult.SUCCESS for r in results):
    sys.exit(f"an export failed: {results}")
