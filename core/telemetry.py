"""OpenTelemetry set-up shared by every layer (GenAI semantic conventions).

Spans are named as the conventions ask: ``invoke_workflow {graph}``, ``invoke_agent {agent}``,
``execute_tool {tool}``, ``chat {model}`` / ``embeddings {model}``. Attribute names live in
:class:`Attr` so that emitters and readers (``sagehealth trace``) agree on one spelling.

``configure_tracing`` is idempotent and installs the exporter chosen in settings; code that
only emits spans calls :func:`get_tracer` and never configures anything itself.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from core.settings import Settings

TRACER_NAME = "sagehealth"


class Attr:
    """Attribute keys: ``gen_ai.*`` from the GenAI conventions, ``sage.*`` for our own."""

    OPERATION = "gen_ai.operation.name"
    PROVIDER = "gen_ai.provider.name"
    AGENT_NAME = "gen_ai.agent.name"
    TOOL_NAME = "gen_ai.tool.name"
    TOOL_CALL_ID = "gen_ai.tool.call.id"
    REQUEST_MODEL = "gen_ai.request.model"
    RESPONSE_MODEL = "gen_ai.response.model"
    MAX_TOKENS = "gen_ai.request.max_tokens"
    TEMPERATURE = "gen_ai.request.temperature"
    SEED = "gen_ai.request.seed"
    INPUT_TOKENS = "gen_ai.usage.input_tokens"
    OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    FINISH_REASONS = "gen_ai.response.finish_reasons"
    CONVERSATION_ID = "gen_ai.conversation.id"
    RUN_ID = "sage.run_id"
    THREAD_ID = "sage.thread_id"
    TASK = "sage.task"
    ROUTE = "sage.route"
    ROUTE_REASON = "sage.route.reason"
    ADAPTER = "sage.adapter"
    POLICY_EFFECT = "sage.policy.effect"
    USER = "sage.user"
    ROLE = "sage.role"
    PURPOSE = "sage.purpose"
    ERROR_TYPE = "error.type"
    WORKFLOW = "sage.workflow"
    FEEDBACK_EVENTS = "sage.feedback.event_ids"


class JsonlSpanExporter(SpanExporter):
    """Appends finished spans as JSON lines; the default, zero-service exporter."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append one JSON line per span (a lock and ``flock`` keep lines whole across threads and processes)."""
        lines = [json.dumps(span_to_dict(s), default=str) for s in spans]
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: every export opens and closes the file."""
        return None


def span_to_dict(span: ReadableSpan) -> dict[str, object]:
    """A flat, stable JSON shape for one span (ids as hex, times in ns)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
    }


_config_lock = threading.Lock()


class _SageTracerProvider(TracerProvider):
    """The project's provider; it remembers its exporters, so no module needs to (no global cache)."""

    def __init__(self, jsonl: SpanExporter | None) -> None:
        super().__init__(resource=Resource.create({"service.name": "sagehealth"}))
        self.jsonl = jsonl
        self.extras: list[SpanExporter] = []


def configure_tracing(settings: Settings, extra: SpanExporter | None = None) -> TracerProvider:
    """Install the global tracer provider once, with the exporter named in settings.

    OpenTelemetry's provider is process-global by design; its configuration lives on it.

    Args:
        settings: Chooses the exporter (``jsonl`` default, ``console``, ``otlp``, ``none``).
        extra: An additional exporter (tests pass an ``InMemorySpanExporter``), added with a
            synchronous processor so spans are visible as soon as they end.
    """
    with _config_lock:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, _SageTracerProvider):
            exporter = _exporter_for(settings)
            provider = _SageTracerProvider(exporter if isinstance(exporter, JsonlSpanExporter) else None)
            if exporter is not None:
                # The JSON-lines file must be complete when a CLI command exits: write synchronously.
                processor = SimpleSpanProcessor(exporter) if settings.telemetry_exporter != "otlp" else BatchSpanProcessor(exporter)
                provider.add_span_processor(processor)
            trace.set_tracer_provider(provider)
        elif settings.telemetry_exporter == "jsonl":
            if not isinstance(provider.jsonl, JsonlSpanExporter):  # first configured without a file: add it now
                provider.jsonl = JsonlSpanExporter(settings.traces_path)
                provider.add_span_processor(SimpleSpanProcessor(provider.jsonl))
            # One process may serve several SAGE_HOMEs (tests): follow the latest settings.
            provider.jsonl.path = settings.traces_path
            provider.jsonl.path.parent.mkdir(parents=True, exist_ok=True)
        if extra is not None and extra not in provider.extras:
            provider.add_span_processor(SimpleSpanProcessor(extra))
            provider.extras.append(extra)
        return provider


def _exporter_for(settings: Settings) -> SpanExporter | None:
    kind = settings.telemetry_exporter
    if kind == "jsonl":
        return JsonlSpanExporter(settings.traces_path)
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.otlp_endpoint) if settings.otlp_endpoint else OTLPSpanExporter()
    return None


def get_tracer() -> trace.Tracer:
    """The project's tracer; a no-op until :func:`configure_tracing` has run."""
    return trace.get_tracer(TRACER_NAME)
