"""Service tests: a writable copy of the small lakehouse, its Resources, and in-memory spans."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.settings import Settings
from core.telemetry import configure_tracing
from tools.resources import Resources


@pytest.fixture(scope="module")
def resources(small_lakehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resources]:
    home = tmp_path_factory.mktemp("services") / "home"
    shutil.copytree(small_lakehouse.home, home, ignore=shutil.ignore_patterns("traces", "audit", "checkpoints.sqlite*", "models"))
    cached = Path("/tmp/sage-models/smollm2-135m")
    if cached.is_dir():  # saves dequantizing the GGUF again in this home
        (home / "models").mkdir(exist_ok=True)
        (home / "models" / "smollm2-135m").symlink_to(cached)
    found = Resources(Settings(home=home, checkpointer="sqlite"))
    yield found
    found.close()


@pytest.fixture(scope="session")
def service_spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def spans(service_spans: InMemorySpanExporter, resources: Resources) -> Iterator[InMemorySpanExporter]:
    configure_tracing(resources.settings, extra=service_spans)
    service_spans.clear()
    yield service_spans
