"""Tracing: one OpenTelemetry span per HTTP attempt, nested attempt → task → run, tagged per the
GenAI conventions; the ledger's attempts carry the same trace and span ids."""

from __future__ import annotations

from decimal import Decimal

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.calls.gateway import Gateway
from core.calls.tracing import configure_tracing, semconv_provider
from core.catalog import default_catalog
from core.execution.runs import RunSession
from core.planning.plan import Plan, Task
from core.policy import Policy
from core.sandbox.config import SandboxConfig

_EXPORTER = InMemorySpanExporter()
_ATTACHED: list[TracerProvider] = []


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """An in-memory exporter on the process's tracer provider (the SDK's, installed once:
    OpenTelemetry lets a process set its provider only once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if provider not in _ATTACHED:
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _ATTACHED.append(provider)
    _EXPORTER.clear()
    return _EXPORTER


def _seven_task_plan() -> Plan:
    first = [Task(id=f"r{i}", title=f"Research {i}", kind="research", complexity=1 + i % 3,
                  prompt=f"List three facts about topic {i}.", max_output_tokens=80)
             for i in range(4)]
    later = [
        Task(id="a", title="Analyse", kind="analysis", complexity=3, prompt="Compare them.",
             depends_on=["r0", "r1"], max_output_tokens=80),
        Task(id="b", title="Analyse more", kind="analysis", complexity=2, prompt="Contrast.",
             depends_on=["r2", "r3"], max_output_tokens=80),
        Task(id="w", title="Write", kind="writing", complexity=2, prompt="Write it up.",
             depends_on=["a", "b"], max_output_tokens=80),
    ]
    return Plan(demand="seven tasks", tasks=[*first, *later])


async def test_a_faulty_run_exports_one_span_per_attempt_nested_under_task_and_run(
        tmp_path, spans: InMemorySpanExporter) -> None:
    policy = Policy()
    policy.retry.base_s, policy.retry.cap_s = 0.001, 0.01
    policy.breaker.failure_threshold = 50
    config = SandboxConfig(latency_scale=0, failure_rate=0.3, seed=11,
                           fault_kinds=("rate_limit", "server_error", "overloaded"))
    gateway = Gateway(default_catalog(), sandbox=config)
    session = RunSession(_seven_task_plan(), db_path=tmp_path / "t.duckdb", gateway=gateway,
                         policy=policy, budget_usd=Decimal("1"))
    summary = await session.run()
    await gateway.aclose()
    assert summary.status == "done"

    exported: list[ReadableSpan] = list(spans.get_finished_spans())
    by_id = {s.context.span_id: s for s in exported}
    runs = [s for s in exported if s.name.startswith("orchestra.run ")]
    tasks = [s for s in exported if s.name.startswith("orchestra.task ")]
    chats = [s for s in exported if s.name.startswith("chat ")]
    attempts = session.ledger.get_attempts(run_id=summary.run_id)
    assert len(runs) == 1 and len(tasks) == 7
    assert len(chats) == len(attempts) > 7  # the faults made retries: one span per HTTP try
    assert any(a.status == "error" for a in attempts)
    for chat in chats:
        task = by_id[chat.parent.span_id]
        assert task.name.startswith("orchestra.task ")
        assert by_id[task.parent.span_id] is runs[0]
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == semconv_provider(
            chat.attributes["orchestra.model"].partition(":")[0])
        assert chat.attributes["orchestra.run_id"] == summary.run_id
    answered = [c for c in chats if "error.type" not in c.attributes]
    assert all(c.attributes["gen_ai.usage.output_tokens"] > 0 for c in answered)
    assert all(c.attributes["orchestra.cost_usd"] > 0 for c in answered)

    run_trace = trace.format_trace_id(runs[0].context.trace_id)
    span_of = {trace.format_span_id(c.context.span_id): c for c in chats}
    assert {a.trace_id for a in attempts} == {run_trace}
    for attempt in attempts:
        chat = span_of[attempt.span_id]
        assert chat.attributes["orchestra.model"] == attempt.model
        assert ("error.type" in chat.attributes) == (attempt.status == "error")


def test_otlp_export_is_off_unless_the_standard_endpoint_is_set() -> None:
    assert configure_tracing({}) is False
    assert semconv_provider("google") == "gcp.gemini" and semconv_provider("xai") == "x_ai"
