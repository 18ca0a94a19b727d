"""Content checks of the governance agent over JSON values: injection, harm, evidence, grounding.

The detectors live in :mod:`policies.guards` (pure text functions, measured by
``evals/guards.py``); this module applies them to the string leaves of requests, evidence and
outputs. A flagged request is denied, flagged evidence is dropped before the model sees it, and
a flagged or ungrounded output goes to human review; clinical content is never silently
rewritten (a flagged evidence leaf that is not a droppable item is replaced by a marker).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from policies.guards import GuardVerdict, Source, check_grounding, detect_harm, detect_injection

CITATION_KEYS = frozenset({"citations", "cited_ids", "cited_cases", "evidence_ids", "case_ids", "retrieved"})
# Output fields that list feedback event ids (a report's ``feedback_events``, ``corrected_labels``).
EVENT_ID_KEYS = frozenset({"feedback_events", "corrected_labels"})
_EVENT_ID = re.compile(r"(?:fb|rb|imp)-[0-9a-f]{16}")
"""The ids the feedback loop generates: hexadecimal, so no identifier fits in one (the de-identifier read one as a place)."""


def _only_event_ids(value: Any) -> bool:
    leaves = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and _EVENT_ID.fullmatch(v) for v in leaves)


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string leaf in a JSON value, skipping id-like keys (event-id fields only when they hold nothing but generated ids)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_id") or key in CITATION_KEYS or key == "ids" or (key in EVENT_ID_KEYS and _only_event_ids(item)):
                continue
            yield from strings_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")


# Evidence lists whose items are retrieved records (dropped whole when one of their texts is flagged).
RETRIEVED_KEYS = frozenset({"hits", "image_hits", "cases"})
ITEM_ID_KEYS = ("case_id", "report_id", "id", "patient_id")
REMOVED = "[removed by governance: possible prompt injection]"
# Tasks whose outputs are drafts checked for grounding, and the fields holding the draft text.
GROUNDED_TASKS: dict[str, tuple[str, ...]] = {"report": ("impression",)}


class GuardHit(BaseModel):
    """A flagged string leaf: where it is, which guard, why (rules only, never the text)."""

    path: str
    guard: str
    reason: str
    rules: list[str] = Field(default_factory=list)


class DroppedEvidence(BaseModel):
    """An evidence item removed before generation because one of its texts looked like injection."""

    key: str
    item_id: str | None
    paths: list[str]
    rules: list[str]


def injection_hits(value: Any, source: Source = "user") -> list[str]:
    """Paths of string leaves that :func:`policies.guards.detect_injection` flags for ``source``."""
    return [h.path for h in screen(value, source, harm=False)]


def screen(value: Any, source: Source = "user", harm: bool = True) -> list[GuardHit]:
    """Flagged string leaves of ``value``: injection (for ``source``) and, when ``harm``, harmful requests."""
    hits: list[GuardHit] = []
    for path, text in strings_in(value):
        if not text.strip():
            continue
        verdicts: list[GuardVerdict] = [detect_injection(text, source)]
        if harm:
            verdicts.append(detect_harm(text))
        hits += [GuardHit(path=path or "(text)", guard=v.guard, reason=v.reason, rules=v.rules) for v in verdicts if v.flagged]
    return hits


def screen_evidence(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[DroppedEvidence]]:
    """Evidence with injected items dropped (retrieved lists) or injected texts replaced (tool results).

    Items under :data:`RETRIEVED_KEYS` are judged as ``retrieved`` text, anything else as ``tool``
    text. Dropped items' ids leave ``evidence["ids"]``, so a draft citing them fails the citation
    check. Returns the screened copy and what was dropped (for the decision record and review).
    """
    screened = copy.deepcopy(evidence)
    dropped: list[DroppedEvidence] = []
    for key, value in evidence.items():
        if key in ("ids", "query_labels", "dropped_as_injection"):
            continue
        source: Source = "retrieved" if key in RETRIEVED_KEYS else "tool"
        if key in RETRIEVED_KEYS and isinstance(value, list):
            kept = []
            for item in value:
                hits = screen(item, source, harm=False)
                if hits:
                    item_id = next((str(item[k]) for k in ITEM_ID_KEYS if isinstance(item, dict) and k in item), None)
                    dropped.append(DroppedEvidence(key=key, item_id=item_id, paths=[h.path for h in hits], rules=sorted({r for h in hits for r in h.rules})))
                else:
                    kept.append(item)
            screened[key] = kept
            continue
        for hit in screen({key: value}, source, harm=False):
            set_path(screened, hit.path, REMOVED)
            dropped.append(DroppedEvidence(key=key, item_id=None, paths=[hit.path], rules=hit.rules))
    gone = {d.item_id for d in dropped if d.item_id}
    if gone and isinstance(screened.get("ids"), list):
        screened["ids"] = [i for i in screened["ids"] if str(i) not in gone]
    if dropped:
        screened["dropped_as_injection"] = [d.model_dump() for d in dropped]
    return screened, dropped


def grounding_reasons(task: str, output: dict[str, Any], evidence: dict[str, Any], query_text: str, labeler: Any = None) -> list[str]:
    """Review reasons for draft claims the evidence and the query do not support (tasks in :data:`GROUNDED_TASKS`)."""
    fields = GROUNDED_TASKS.get(task, ())
    if not fields or output.get("mode") == "retrieval-only":  # a copied prior impression is its own evidence
        return []
    texts = [str(h.get(k, "")) for key in RETRIEVED_KEYS for h in evidence.get(key, []) if isinstance(h, dict) for k in ("findings", "impression")]
    reasons = []
    for field in fields:
        draft = output.get(field)
        if isinstance(draft, str) and draft.strip():
            report = check_grounding(draft, [t for t in texts if t], query_text, labeler)
            if not report.grounded:
                reasons.append(f"{field}: {report.reason()}")
    return reasons


def cited_ids(value: Any) -> set[str]:
    """Ids an output cites: lists under citation keys, and ``case_id`` fields of cited items."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CITATION_KEYS and isinstance(item, list):
                found |= {str(i) for i in item if isinstance(i, str | int)}
                found |= {str(i["case_id"]) for i in item if isinstance(i, dict) and "case_id" in i}
            else:
                found |= cited_ids(item)
    elif isinstance(value, list):
        for item in value:
            found |= cited_ids(item)
    return found


def set_path(value: Any, path: str, text: str) -> None:
    """Replace the string leaf at ``path`` (as produced by :func:`strings_in`) in place."""
    tokens = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    target = value
    for token in tokens[:-1]:
        target = target[int(token[1:-1])] if token.startswith("[") else target[token]
    last = tokens[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = text
    else:
        target[last] = text
