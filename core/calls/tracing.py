"""Traces: OpenTelemetry spans for runs, tasks and model-call attempts.

Spans follow the GenAI semantic conventions: an attempt is a CLIENT span named
``chat {gen_ai.request.model}`` with ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` /
``output_tokens``, ``gen_ai.response.finish_reasons`` and ``error.type``, plus Orchestra's own
``orchestra.*`` attributes (run, task, tier, cost, sandbox mode, purpose). Attempts nest under
their task's span, tasks under their run's, through OpenTelemetry's context (asyncio tasks
inherit it).

Orchestra only uses the OpenTelemetry API: with no SDK configured, spans are no-ops and cost
next to nothing. ``configure_tracing`` (called by the entry points) installs the SDK with an
OTLP exporter when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; tests install an
in-memory exporter themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from core.calls.context import CallContext
    from core.catalog import ModelSpec
    from core.types import ChatRequest, ChatResult

TRACER_NAME = "orchestra"
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_SEMCONV_PROVIDERS = {"google": "gcp.gemini", "xai": "x_ai"}


def configure_tracing(environ: Mapping[str, str]) -> bool:
    """Export spans over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; True if so.

    The exporter reads the standard ``OTEL_*`` variables itself (endpoint, headers, service
    name). Without the variable nothing is installed and tracing stays a no-op.
    """
    if not environ.get(OTLP_ENDPOINT_ENV, "").strip():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = environ.get("OTEL_SERVICE_NAME", "orchestra")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def semconv_provider(provider: str) -> str:
    """The ``gen_ai.provider.name`` value for a catalog provider (``google`` → ``gcp.gemini``)."""
    return _SEMCONV_PROVIDERS.get(provider, provider)


@contextlib.contextmanager
def run_span(run_id: str, demand: str, tasks: int) -> Iterator[Span]:
    """The span around one run of a plan."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(f"orchestra.run {run_id}", attributes={
        "orchestra.run_id": run_id, "orchestra.tasks": tasks,
        "orchestra.demand": demand[:200],
    }) as span:
        yield span


@contextlib.contextmanager
def task_span(run_id: str, task_id: str, wave: int, kind: str) -> Iterator[Span]:
    """The span around one task of a run (its attempts nest inside)."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(f"orchestra.task {task_id}", attributes={
        "orchestra.run_id": run_id, "orchestra.task_id": task_id, "orchestra.wave": wave,
        "orchestra.task_kind": kind,
    }) as span:
        yield span


@contextlib.contextmanager
def attempt_span(spec: ModelSpec, request: ChatRequest, context: CallContext,
                 mode: str) -> Iterator[Span]:
    """The CLIENT span of one HTTP attempt; ``finish_attempt``/``fail_attempt`` complete it."""
    tracer = trace.get_tracer(TRACER_NAME)
    attributes: dict[str, str | int | float] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": semconv_provider(spec.provider),
        "gen_ai.request.model": spec.name,
        "gen_ai.request.max_tokens": request.max_tokens,
        "orchestra.model": spec.id, "orchestra.tier": spec.tier, "orchestra.mode": mode,
        "orchestra.purpose": context.purpose,
    }
    if request.temperature is not None:
        attributes["gen_ai.request.temperature"] = request.temperature
    if context.run_id:
        attributes["orchestra.run_id"] = context.run_id
    if context.task_id:
        attributes["orchestra.task_id"] = context.task_id
    with tracer.start_as_current_span(f"chat {spec.name}", kind=SpanKind.CLIENT,
                                      attributes=attributes,
                                      record_exception=False, set_status_on_exception=False,
                                      ) as span:
        yield span


def finish_attempt(span: Span, result: ChatResult) -> None:
    """Tag an attempt's span with what the answer used and cost."""
    span.set_attribute("gen_ai.response.model", result.model.partition(":")[2] or result.model)
    span.set_attribute("gen_ai.usage.input_tokens", result.usage.input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", result.usage.output_tokens)
    if result.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [result.finish_reason])
    if result.cost_usd is not None:
        span.set_attribute("orchestra.cost_usd", float(result.cost_usd))
    span.set_attribute("orchestra.latency_ms", result.latency_ms)


def fail_attempt(span: Span, error_class: str, message: str, status: int | None) -> None:
    """Mark an attempt's span as failed with its error class (``error.type``)."""
    span.set_attribute("error.type", error_class)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    span.set_status(Status(StatusCode.ERROR, message[:200]))


def span_ids(span: Span) -> tuple[str, str]:
    """The (trace id, span id) of a span as hex, or empty strings when tracing is off."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return "", ""
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)
