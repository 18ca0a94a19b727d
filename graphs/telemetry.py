"""Reading a run's trace back: the spans of one run from the JSON-lines file (``app.tracetree`` draws them).

``core.telemetry`` writes one JSON line per finished span (``settings.traces_path``). A run is
every trace that has a span carrying its ``sage.run_id`` (a resumed run adds a second
``invoke_workflow`` root to the same run), plus every span of those traces (model and
embedding spans do not carry the run id themselves).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import SageError
from core.telemetry import Attr


class TraceNotFoundError(SageError):
    """No span of that run is in the trace file."""


def read_spans(path: Path) -> list[dict[str, Any]]:
    """Every span in a JSON-lines trace file (a torn last line from a killed process is skipped)."""
    if not path.is_file():
        return []
    spans = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                spans.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return spans


def run_spans(path: Path, run_id: str) -> list[dict[str, Any]]:
    """The spans of one run (all spans of the traces that mention it), by start time."""
    spans = read_spans(path)
    traces = {s["trace_id"] for s in spans if s.get("attributes", {}).get(Attr.RUN_ID) == run_id}
    if not traces:
        raise TraceNotFoundError(f"no spans for run {run_id!r} in {path}", hint="check the run id (sagehealth run prints it) and SAGE_HOME")
    return sorted((s for s in spans if s["trace_id"] in traces), key=lambda s: s.get("start_ns") or 0)
