"""OpenTelemetry traces across services, carried in NATS headers as W3C `traceparent`.

Off (no SDK loaded, nothing exported, no header added) unless
`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; then each
process exports its spans over OTLP/HTTP, named `switchboard-<service>` (or
`OTEL_SERVICE_NAME`), and the standard `OTEL_*` variables apply. One trace follows a
message: the gateway's webhook span, then a span per stage that handles an event
(parented by the `traceparent` header of the event it handles), calendar requests
(headers on the micro service request), and outbound's send. Per-stage latency does not
depend on this: the console computes it from the events themselves.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping

_tracer: Any = None


def tracing_enabled() -> bool:
    return _tracer is not None


def configure_tracing(service: str) -> bool:
    """Export spans when an OTLP endpoint is configured; returns whether tracing is on."""
    global _tracer
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:  # the SDK is an optional dependency (the `tracing` extra)
        return False
    name = os.environ.get("OTEL_SERVICE_NAME") or f"switchboard-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("switchboard")
    return True


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's `traceparent` (and `tracestate`) to outgoing headers."""
    if _tracer is not None:
        from opentelemetry import propagate

        propagate.inject(headers)
    return headers


@contextlib.contextmanager
def span(name: str, parent: Mapping[str, str] | None = None, kind: str = "internal",
         **attributes: str | int | float | bool) -> Iterator[None]:
    """A span around the block, the child of `parent`'s `traceparent` when it has one
    (else of the current span). Does nothing while tracing is off."""
    if _tracer is None:
        yield
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    context = propagate.extract(dict(parent)) if parent else None
    kinds = {"server": SpanKind.SERVER, "consumer": SpanKind.CONSUMER, "client": SpanKind.CLIENT,
             "internal": SpanKind.INTERNAL}
    with _tracer.start_as_current_span(name, context=context, kind=kinds[kind], attributes=attributes):
        yield
