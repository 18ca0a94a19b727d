"""A data scope's row rules as vector-search payload filters, so search cannot surface what SQL hides.

The scoped SQL catalog (:mod:`lakehouse.scoped`) keeps a row when its patient's site is the
caller's, its consent is one the role needs (researchers: ``research``) and its sensitivity is
at most the role's maximum. Ingestion writes the same tags into every Qdrant point's payload
(``site``, ``consent``, ``sensitivity``, from ``access_tags``, with the same fail-closed
defaults), so the same three rules become payload conditions applied *inside* the engine:
points outside the scope are never scored. A caller's own filter can narrow the scope, never
widen it. Payload text is pattern-scrubbed for scopes that scrub free text, as in SQL.

Usage::

    hits = store.search(vector, filter=scoped_filter(scope, SearchFilter(findings={"edema": "present"})))
    hits = scoped_hits(hits, scope)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakehouse.semantic.base import SearchFilter, SearchHit
from policies.scope import DataScope

if TYPE_CHECKING:
    from lakehouse.retrieval import CaseEvidence

PAYLOAD_TEXT: tuple[str, ...] = ("findings", "impression", "indication")
# Payload fields that are a function of text a scrubbing scope does not see.
PAYLOAD_DROPPED_WHEN_SCRUBBED: tuple[str, ...] = ("content_hash",)


def _narrow(user: list[str] | None, scope: list[str] | None) -> list[str] | None:
    if scope is None:
        return user
    if user is None:
        return scope
    return [v for v in scope if v in set(user)]


def scoped_filter(scope: DataScope, user: SearchFilter | None = None) -> SearchFilter:
    """The caller's filter ANDed with the scope's row rules (site, consent, sensitivity).

    An empty intersection stays an empty list, which matches nothing (fail closed).
    """
    data = user.model_dump() if user is not None else {}
    rules = scope.search_fields()
    data["sites"] = _narrow(data.get("sites"), rules["sites"])  # type: ignore[arg-type]
    data["consents"] = _narrow(data.get("consents"), rules["consents"])  # type: ignore[arg-type]
    cap = int(rules["max_sensitivity"])  # type: ignore[call-overload]
    data["max_sensitivity"] = cap if data.get("max_sensitivity") is None else min(int(data["max_sensitivity"]), cap)
    return SearchFilter(**data)


def scoped_hits(hits: Sequence[SearchHit], scope: DataScope) -> list[SearchHit]:
    """Hits with payload text scrubbed (and text-derived fields dropped) when the scope scrubs free text.

    A hit outside the scope's rows is a bug upstream (the filter was not applied); it is
    dropped here rather than shown.
    """
    from policies.scrub import scrub_text

    out = []
    for hit in hits:
        if not in_scope(hit.payload, scope):
            continue
        if scope.free_text == "scrub":
            payload = {k: v for k, v in hit.payload.items() if k not in PAYLOAD_DROPPED_WHEN_SCRUBBED}
            for key in PAYLOAD_TEXT:
                if isinstance(payload.get(key), str):
                    payload[key] = scrub_text(payload[key])
            hit = hit.model_copy(update={"payload": payload})
        out.append(hit)
    return out


def scoped_evidence(evidence: Sequence[CaseEvidence], scope: DataScope) -> list[CaseEvidence]:
    """Retrieved cases (``lakehouse.retrieval``) with findings/impression scrubbed when the scope says so."""
    from policies.scrub import scrub_text

    if scope.free_text != "scrub":
        return list(evidence)
    return [e.model_copy(update={"findings": scrub_text(e.findings) or "", "impression": scrub_text(e.impression) or ""}) for e in evidence]


def in_scope(payload: dict[str, object], scope: DataScope) -> bool:
    """Whether a point's access tags fall inside the scope (the filter's rules, checked in Python)."""
    sensitivity = payload.get("sensitivity")
    return (
        payload.get("site") in scope.sites
        and (scope.consents is None or payload.get("consent") in scope.consents)
        and isinstance(sensitivity, int) and sensitivity <= scope.max_sensitivity
    )
