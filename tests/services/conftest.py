"""Service tests: a writable copy of the small lakehouse, its Resources, and in-memory spans."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.settings import Settings
from core.telemetry import configure_tracing
from tools.resources import Resources


@pytest.fixture(scope="module")
def resources(home_copy: Callable[[Path], Settings], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resources]:
    found = Resources(home_copy(tmp_path_factory.mktemp("services") / "home"))
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
