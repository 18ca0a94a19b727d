"""Translate a :class:`SearchFilter` into each backend's filter objects, from one rule list.

Both backends speak the same Qdrant filter language but with different Python classes
(``qdrant_edge.FieldCondition`` vs ``qdrant_client.models.FieldCondition``). The rules that
decide *which* conditions a SearchFilter means live once, in :func:`conditions`; the two
``to_*`` functions only change the spelling. That keeps the two backends congruent by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lakehouse.findings import FINDINGS
from lakehouse.semantic.base import InvalidFilterError, SearchFilter, point_id

if TYPE_CHECKING:
    import qdrant_edge
    from qdrant_client import models as qm

Kind = Literal["value", "any", "lte", "ids"]


@dataclass(frozen=True)
class Condition:
    """One backend-neutral condition: ``key`` matched by ``kind``; ``negate`` puts it in must_not."""

    key: str
    kind: Kind
    value: object
    negate: bool = False


def _check_findings(keys: list[str], field: str) -> None:
    unknown = [k for k in keys if k not in FINDINGS]
    if unknown:
        raise InvalidFilterError(
            f"SearchFilter.{field} names unknown finding(s) {unknown}",
            hint=f"use one of: {', '.join(FINDINGS)}",
        )


def conditions(f: SearchFilter | None) -> list[Condition]:
    """The conditions a filter stands for (empty list: match everything)."""
    if f is None:
        return []
    _check_findings(list(f.findings), "findings")
    _check_findings(f.any_positive, "any_positive")
    out = [Condition(f"labels.{key}", "value", state) for key, state in sorted(f.findings.items())]
    if f.any_positive:
        out.append(Condition("positive_findings", "any", list(f.any_positive)))
    # Access tags: None means "any"; an empty list matches nothing (MatchAny([]) is false).
    if f.sites is not None:
        out.append(Condition("site", "any", list(f.sites)))
    if f.consents is not None:
        out.append(Condition("consent", "any", list(f.consents)))
    if f.max_sensitivity is not None:
        out.append(Condition("sensitivity", "lte", f.max_sensitivity))
    if f.split is not None:
        out.append(Condition("split", "value", f.split))
    if f.patient_id is not None:
        out.append(Condition("patient_id", "value", f.patient_id))
    if f.exclude_ids:
        out.append(Condition("", "ids", {point_id(c) for c in f.exclude_ids}, negate=True))
    return out


def to_edge(f: SearchFilter | None) -> qdrant_edge.Filter | None:
    """``qdrant_edge.Filter`` for the embedded shard (None when unconditional)."""
    import qdrant_edge as qe

    must: list[object] = []
    must_not: list[object] = []
    for c in conditions(f):
        cond: object
        if c.kind == "ids":
            cond = qe.HasIdCondition(c.value)  # type: ignore[arg-type]
        elif c.kind == "value":
            cond = qe.FieldCondition(c.key, match=qe.MatchValue(c.value))  # type: ignore[arg-type]
        elif c.kind == "any":
            cond = qe.FieldCondition(c.key, match=qe.MatchAny(c.value))  # type: ignore[arg-type]
        else:
            cond = qe.FieldCondition(c.key, range=qe.RangeFloat(lte=float(c.value)))  # type: ignore[arg-type]
        (must_not if c.negate else must).append(cond)
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)  # type: ignore[arg-type]


def to_client(f: SearchFilter | None) -> qm.Filter | None:
    """``qdrant_client.models.Filter`` for a Qdrant server or qdrant-client local mode."""
    from qdrant_client import models as qm

    must: list[qm.Condition] = []
    must_not: list[qm.Condition] = []
    for c in conditions(f):
        cond: qm.Condition
        if c.kind == "ids":
            cond = qm.HasIdCondition(has_id=sorted(c.value))  # type: ignore[call-overload]
        elif c.kind == "value":
            cond = qm.FieldCondition(key=c.key, match=qm.MatchValue(value=c.value))  # type: ignore[arg-type]
        elif c.kind == "any":
            cond = qm.FieldCondition(key=c.key, match=qm.MatchAny(any=c.value))  # type: ignore[arg-type]
        else:
            cond = qm.FieldCondition(key=c.key, range=qm.Range(lte=c.value))  # type: ignore[arg-type]
        (must_not if c.negate else must).append(cond)
    if not must and not must_not:
        return None
    return qm.Filter(must=must or None, must_not=must_not or None)
