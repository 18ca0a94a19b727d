"""Graph-test fixtures: a writable copy of the small lakehouse, in-memory spans, the probe task."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.settings import Settings
from core.telemetry import configure_tracing
from tests.homes import copy_home

sys.path.insert(0, str(Path(__file__).parent))  # graph_probe: also run as a script by the crash test


@pytest.fixture(scope="module")
def graph_home(small_lakehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_home(small_lakehouse.home, tmp_path_factory.mktemp("graph") / "home")


@pytest.fixture(scope="module")
def settings(graph_home: Path) -> Settings:
    return Settings(home=graph_home, checkpointer="sqlite")


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter, settings: Settings) -> Iterator[InMemorySpanExporter]:
    configure_tracing(settings, extra=span_exporter)
    span_exporter.clear()
    yield span_exporter


@pytest.fixture(scope="module")
def probe() -> str:
    from graph_probe import PROBE, register_probe

    register_probe()
    return PROBE
