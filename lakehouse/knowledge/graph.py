"""A small knowledge graph: findings <-> ICD-10 conditions <-> drugs that treat them.

Diagnosis support uses it to attach evidence links to a differential ("cardiomegaly is coded
I51.7 and associated with heart failure I50.9, treated with furosemide"). It is a plain
adjacency dict built from the ICD table and a short curated list with a source per edge; no
graph database, no heavy dependency.

Node ids are typed strings: ``finding:<key>``, ``icd10:<code>``, ``drug:<canonical name>``.

Usage::

    neighbors("finding:cardiomegaly")  # [Edge(kind='coded_as', target='icd10:I51.7', ...), ...]
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Literal

from pydantic import BaseModel

from core.errors import SageError
from lakehouse.knowledge.icd10 import FINDING_CODES

EdgeKind = Literal["coded_as", "codes", "associated_with", "treated_by", "treats"]
_REVERSE: dict[str, EdgeKind] = {"coded_as": "codes", "associated_with": "associated_with", "treated_by": "treats"}

ICD_SOURCE = "ICD-10-CM 2026 (CMS), via simple_icd_10_cm; mapping curated in lakehouse/knowledge/icd10.py"
_HF = "2022 AHA/ACC/HFSA Guideline for the Management of Heart Failure"
_CAP = "ATS/IDSA 2019 Guideline: Diagnosis and Treatment of Adults with Community-acquired Pneumonia"
# (finding key, ICD-10 code, source): clinical associations beyond the finding's own codes.
ASSOCIATIONS: list[tuple[str, str, str]] = [
    ("cardiomegaly", "I50.9", _HF),
    ("pleural_effusion", "I50.9", _HF),
    ("consolidation", "J18.9", _CAP),
    ("lung_opacity", "J18.9", _CAP),
]
# (ICD-10 code, drug canonical name, source): first-line treatments.
TREATMENTS: list[tuple[str, str, str]] = [
    ("I50.9", "furosemide", _HF), ("I50.9", "lisinopril", _HF), ("I50.9", "spironolactone", _HF), ("I50.9", "carvedilol", _HF),
    ("J81.0", "furosemide", "2021 ESC Guidelines for the diagnosis and treatment of acute and chronic heart failure"),
    ("J81.0", "nitroglycerin", "2021 ESC Guidelines for the diagnosis and treatment of acute and chronic heart failure"),
    ("J18.9", "amoxicillin", _CAP), ("J18.9", "doxycycline", _CAP), ("J18.9", "azithromycin", _CAP), ("J18.9", "ceftriaxone", _CAP),
    ("J18.1", "amoxicillin", _CAP), ("J18.1", "ceftriaxone", _CAP),
]


class UnknownNodeError(SageError):
    """A node id that is not in the graph."""


class Edge(BaseModel):
    """A typed link from a node to ``target``, with the reference that supports it."""

    kind: EdgeKind
    target: str
    source: str


class KnowledgeGraph:
    """Adjacency lists of typed edges; every edge is stored in both directions."""

    def __init__(self) -> None:
        self._adj: dict[str, list[Edge]] = defaultdict(list)

    def add(self, node: str, kind: EdgeKind, target: str, source: str) -> None:
        """Add ``node -kind-> target`` and its reverse edge."""
        self._adj[node].append(Edge(kind=kind, target=target, source=source))
        self._adj[target].append(Edge(kind=_REVERSE.get(kind, kind), target=node, source=source))

    def nodes(self) -> list[str]:
        """All node ids, sorted."""
        return sorted(self._adj)

    def neighbors(self, node: str) -> list[Edge]:
        """Edges out of ``node``.

        Raises:
            UnknownNodeError: ``node`` is not in the graph.
        """
        if node not in self._adj:
            raise UnknownNodeError(f"no node {node!r} in the knowledge graph", hint="ids look like 'finding:cardiomegaly', 'icd10:I50.9', 'drug:furosemide'")
        return list(self._adj[node])


@cache
def default_graph() -> KnowledgeGraph:
    """The graph built from the ICD mapping and the curated associations and treatments."""
    graph = KnowledgeGraph()
    for key, codes in FINDING_CODES.items():
        for code in codes:
            graph.add(f"finding:{key}", "coded_as", f"icd10:{code}", ICD_SOURCE)
    for key, code, source in ASSOCIATIONS:
        graph.add(f"finding:{key}", "associated_with", f"icd10:{code}", source)
    for code, drug, source in TREATMENTS:
        graph.add(f"icd10:{code}", "treated_by", f"drug:{drug}", source)
    return graph


def neighbors(node: str) -> list[Edge]:
    """Edges out of ``node`` in the default graph."""
    return default_graph().neighbors(node)
