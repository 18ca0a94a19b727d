"""A run's spans as a tree for people: workflow, agents, tool calls, model calls, routes, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.tree import Tree

from core.telemetry import Attr


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
    if attrs.get(Attr.FEEDBACK_EVENTS):
        parts.append(f"[yellow]feedback {', '.join(attrs[Attr.FEEDBACK_EVENTS])}[/]")
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
