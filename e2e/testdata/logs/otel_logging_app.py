"""Python's logging through the OpenTelemetry SDK's LoggingHandler, with a
span around part of the work: the records logged inside it carry its
trace and span ids. Logs and spans are exported over OTLP (gRPC or HTTP)
by batch processors, flushed by shutting the providers down at exit.

usage: otel_logging_app.py <grpc|http> <endpoint> <service>
  the endpoint is host:port of OTLP gRPC, or http://host:port of OTLP HTTP
It prints the span's ids as JSON.
"""

import json
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

protocol, endpoint, service = sys.argv[1], sys.argv[2], sys.argv[3]
if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True)
    span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    log_exporter = OTLPLogExporter(endpoint=endpoint + "/v1/logs")
    span_exporter = OTLPSpanExporter(endpoint=endpoint + "/v1/traces")

resource = Resource.create({"service.name": service, "deployment.environment": "e2e-py"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
set_logger_provider(logger_provider)

# The handler is on the app's logger, not the root: the SDK's own
# messages are not the app's records.
app = logging.getLogger("shop")
app.addHandler(LoggingHandler(level=logging.NOTSET, logger_provider=logger_provider))
app.setLevel(logging.DEBUG)
log = logging.getLogger("shop.checkout")

log.info("starting, outside any span")
with trace.get_tracer("shop").start_as_current_span("checkout") as span:
    ctx = span.get_span_context()
    print(json.dumps({"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}), flush=True)
    log.info("cart loaded", extra={"sku": "sku-42", "items": 3})
    log.warning("stock low for %s", "sku-42", extra={"sku": "sku-42"})
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("checkout failed")

logger_provider.shutdown()
tracer_provider.shutdown()
