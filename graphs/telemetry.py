"""Reading a run's trace back: spans from the JSON-lines file, as a tree, rendered for people.

``core.telemetry`` writes one JSON line per finished span (``settings.traces_path``). A run is
every trace that has a span carrying its ``sage.run_id`` (a resumed run adds a second
``invoke_workflow`` root to the same run), plus every span of those traces (model and
embedding spans do not carry the run id themselves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.tree import Tree

from core.errors import SageError
from core.telemetry import Attr


class TraceNotFoundError(SageError):
    """No span of that run is in the trace file."""


@dataclass
class SpanNode:
    """One span and its children, ordered by start time."""

    span: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def ms(self) -> float:
        """Duration in milliseconds."""
        start, end = self.span.get("start_ns") or 0, self.span.get("end_ns") or 0
        return (end - start) / 1e6


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


def build_tree(spans: list[dict[str, Any]]) -> list[SpanNode]:
    """Roots of the span forest (parents linked by ``parent_id``)."""
    nodes = {s["span_id"]: SpanNode(s) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.get("parent_id") or "")
        (parent.children if parent else roots).append(node)
    return roots


def _label(node: SpanNode) -> str:
    span, attrs = node.span, node.span.get("attributes", {})
    name = span["name"]
    style = "red" if span.get("status") == "ERROR" else {"invoke_workflow": "bold cyan", "invoke_agent": "bold", "execute_tool": "green", "chat": "magenta", "embeddings": "magenta"}.get(name.split(" ")[0], "")
    parts = [f"[{style}]{name}[/]" if style else name, f"[dim]{node.ms:.1f} ms[/]"]
    if Attr.ROUTE in attrs:
        parts.append(f"-> [yellow]{attrs[Attr.ROUTE]}[/] ({attrs.get(Attr.ROUTE_REASON, '')})")
    if Attr.POLICY_EFFECT in attrs:
        parts.append(f"policy={attrs[Attr.POLICY_EFFECT]}")
    if Attr.OUTPUT_TOKENS in attrs:
        parts.append(f"tokens in/out={attrs.get(Attr.INPUT_TOKENS)}/{attrs[Attr.OUTPUT_TOKENS]}")
    if "sage.status" in attrs and attrs["sage.status"] not in ("running", "done"):
        parts.append(f"status={attrs['sage.status']}")
    if span.get("status") == "ERROR" and span.get("status_description"):
        parts.append(f"[red]{span['status_description']}[/]")
    return "  ".join(parts)


def render_tree(run_id: str, roots: list[SpanNode]) -> Tree:
    """A rich Tree of the run: workflow, agents, tool calls, model calls, route reasons."""
    tree = Tree(f"[bold]run {run_id}[/]")

    def add(parent: Tree, node: SpanNode) -> None:
        branch = parent.add(_label(node))
        for child in sorted(node.children, key=lambda n: n.span.get("start_ns") or 0):
            add(branch, child)

    for root in roots:
        add(tree, root)
    return tree
