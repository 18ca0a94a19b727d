"""Batch impression drafting: many findings -> impressions in batched retrieval and generation.

The engine behind ``sagehealth generate-batch`` and ``evals/report_quality.py``. It uses the same
prompt (:func:`models.prompts.impression_messages`), retrieval (:func:`lakehouse.retrieval.retrieve_batch`)
and post-processing (:func:`agents.tasks.report.clean_impression`) as the ``report`` task, but calls
the backends directly in batches instead of one graph run per report. Each item's own id is
always excluded from retrieval.

``services.batch.generate_batch`` is the governed entry point (the CLI's and the API's): the
caller's role must be allowed the tools the mode uses, retrieval carries the role's access
filter and the train split, every impression passes PHI redaction, and the batch is one audit
event. :func:`generate_impressions` is the ungoverned engine underneath, for evaluation scripts
over data their operator may read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.tasks.report import Mode, clean_impression
from lakehouse.semantic.base import SearchFilter
from models.prompts import PriorCase, impression_messages
from tools.base import ToolDeniedError
from tools.resources import Resources

if TYPE_CHECKING:
    from agents.tasks.report_plan import ImpressionPlanner

# Tools each mode uses, checked against the caller's role (least privilege: no-rag retrieves nothing).
MODE_TOOLS: dict[str, tuple[str, ...]] = {
    "rag": ("retrieve_similar_cases",),  # retrieve-then-edit: no model call
    "rag-lm": ("retrieve_similar_cases", "generate_text"),
    "no-rag": ("generate_text",),
    "retrieval-only": ("retrieve_similar_cases",),
}


class BatchDeniedError(ToolDeniedError):
    """The caller's role may not use a tool the batch mode needs (audited; nothing is written)."""


@dataclass
class BatchItem:
    """One input line: the case id and its findings text."""

    id: str
    findings: str


@dataclass
class BatchResult:
    """One output line, plus the time its batch took per item."""

    id: str
    impression: str
    retrieved: list[str]
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        """The JSON object written to the output file (``{"id", "impression", "retrieved"}``)."""
        return {"id": self.id, "impression": self.impression, "retrieved": self.retrieved}


def generate_impressions(
    resources: Resources,
    items: Sequence[BatchItem],
    *,
    mode: Mode = "rag",
    model: str | None = None,
    adapter: str | None = None,
    k: int = 3,
    batch_size: int = 8,
    max_new_tokens: int = 96,
    base_filter: SearchFilter | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[BatchResult]:
    """Draft an impression for every item, ``batch_size`` at a time.

    Args:
        resources: The installation (semantic store, embedder, model zoo).
        items: Cases to draft.
        mode: ``rag`` (retrieve-then-edit), ``rag-lm``, ``no-rag`` or ``retrieval-only``.
        model: Zoo name of the chat model (default ``settings.chat_model``).
        adapter: LoRA adapter name, if any.
        k: Retrieved cases per item (rag and retrieval-only).
        batch_size: Items per embedding/search/generation batch.
        max_new_tokens: Generation budget per impression.
        base_filter: Conditions on every search (e.g. ``split='train'`` for evaluation).
        on_batch: Called with the number of items finished after each batch (progress bars).
    """
    from lakehouse.retrieval import retrieve_batch
    from models.lm.types import GenerationParams

    chat = resources.zoo.chat_model(model) if mode in ("rag-lm", "no-rag") else None
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    results: list[BatchResult] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        began = time.perf_counter()
        evidence: list[list[Any]] = [[] for _ in batch]
        if mode not in ("no-rag", "rag"):
            evidence = retrieve_batch(resources.store, resources.embedder, [b.findings for b in batch], k=k, exclude_ids=[[b.id] for b in batch], base_filter=base_filter)
        if mode == "rag":
            evidence, impressions = _edit_batch(resources, batch, k, base_filter)
        elif chat is None:
            impressions = [hits[0].impression if hits else "" for hits in evidence]
        else:
            conversations = [impression_messages(b.findings, "", [PriorCase(h.case_id, h.findings, h.impression) for h in hits] if mode == "rag-lm" else []) for b, hits in zip(batch, evidence, strict=True)]
            impressions = [clean_impression(g.text) for g in chat.generate_batch(conversations, params, adapter)]
        per_item = (time.perf_counter() - began) / len(batch)
        for b, hits, text in zip(batch, evidence, impressions, strict=True):
            retrieved = [h.case_id for h in hits if h.case_id != b.id]
            results.append(BatchResult(id=b.id, impression=text, retrieved=retrieved, latency_s=per_item))
        if on_batch is not None:
            on_batch(len(batch))
    return results


def _edit_batch(resources: Resources, batch: Sequence[BatchItem], k: int, base_filter: SearchFilter | None) -> tuple[list[list[Any]], list[str]]:
    """The ``rag`` mode in batches: the same retrieve-then-edit steps as the report task (agents.tasks.report_edit)."""
    from agents.tasks.report_plan import planner_for

    planner = planner_for(resources, base_filter)
    return edit_drafts(resources.store, resources.embedder, [b.findings for b in batch], [b.id for b in batch], k=k, base_filter=base_filter, planner=planner)


def edit_drafts(store: Any, embedder: Any, texts: Sequence[str], ids: Sequence[str], *, k: int = 3, base_filter: SearchFilter | None = None,
                planner: ImpressionPlanner | None = None) -> tuple[list[list[Any]], list[str]]:
    """Retrieve-then-edit impressions (``rag``) for many findings texts on any store: (cited hits, impressions).

    The engine of :func:`generate_impressions` in ``rag`` mode; evaluations that hold their own
    store copy (``evals.feedback``) call it directly. Each item's own id is excluded. Without a
    ``planner``, one is fitted in memory on the store's train split within ``base_filter``.
    """
    from agents.tasks.report_edit import CANDIDATES, as_candidates, edit_impression, required_labels
    from agents.tasks.report_plan import planner_from_store
    from lakehouse.labeler import label_text
    from lakehouse.retrieval import retrieve_batch

    planner = planner or planner_from_store(store, None, base_filter)
    texts, excludes = list(texts), [[i] for i in ids]
    labels = [dict(label_text(t)) for t in texts]
    plans = [planner.plan(t) for t in texts]
    targets = [p.target for p in plans]
    found = retrieve_batch(store, embedder, texts, k=CANDIDATES, exclude_ids=excludes, base_filter=base_filter, strategy="text",
                           required_findings=[required_labels(t, lab) for t, lab in zip(targets, labels, strict=True)])
    empty = [i for i, hits in enumerate(found) if not hits]
    if empty:  # no prior case carries the target findings: edit the plain nearest cases instead
        retry = retrieve_batch(store, embedder, [texts[i] for i in empty], k=CANDIDATES, exclude_ids=[excludes[i] for i in empty], base_filter=base_filter, strategy="text")
        for i, hits in zip(empty, retry, strict=True):
            found[i] = hits
    evidence, impressions = [], []
    for text, plan, hits in zip(texts, plans, found, strict=True):
        edited = edit_impression(text, plan, as_candidates(hits), planner)
        evidence.append(([h for h in hits if h.case_id == edited.base_case_id] + [h for h in hits if h.case_id != edited.base_case_id])[:k])
        impressions.append(edited.impression)
    return evidence, impressions
