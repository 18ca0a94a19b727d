"""Batch impression drafting: many findings -> impressions in batched retrieval and generation.

The engine behind ``sagehealth generate-batch`` and ``evals/report_quality.py``. It uses the same
prompt (:func:`models.prompts.impression_messages`), retrieval (:func:`lakehouse.retrieval.retrieve_batch`)
and post-processing (:func:`agents.tasks.report.clean_impression`) as the ``report`` task, but calls
the backends directly in batches instead of one graph run per report. Each item's own id is
always excluded from retrieval.

:func:`draft_impressions` is the governed entry point (the CLI's): the caller's role must be
allowed the tools the mode uses (``retrieve_similar_cases``, ``generate_text``), retrieval carries
the role's access filter and the train split, every impression passes PHI redaction, and the
batch is one audit event (counts and id fingerprints, never texts). :func:`generate_impressions`
is the ungoverned engine underneath, for evaluation scripts over data their operator may read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.tasks.report import Mode, clean_impression
from core.errors import SageError
from core.settings import Settings
from lakehouse.semantic.base import SearchFilter
from models.prompts import PriorCase, impression_messages
from tools.base import ToolDeniedError

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
        """The JSON object written to the output file (the contract in ../shared/DESIGN.md)."""
        return {"id": self.id, "impression": self.impression, "retrieved": self.retrieved}


def generate_impressions(
    settings: Settings,
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
        settings: Installation settings (lakehouse, model zoo).
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
    from lakehouse.semantic import open_store
    from models.embedder import TextEmbedder
    from models.lm.types import GenerationParams
    from models.zoo import ModelZoo

    chat = ModelZoo(settings).chat_model(model) if mode in ("rag-lm", "no-rag") else None
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    results: list[BatchResult] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        began = time.perf_counter()
        evidence: list[list[Any]] = [[] for _ in batch]
        if mode != "no-rag" and mode != "rag":
            store, embedder = open_store(settings), TextEmbedder.from_settings(settings)
            evidence = retrieve_batch(store, embedder, [b.findings for b in batch], k=k, exclude_ids=[[b.id] for b in batch], base_filter=base_filter)
        if mode == "rag":
            evidence, impressions = _edit_batch(settings, batch, k, base_filter)
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


def _edit_batch(settings: Settings, batch: Sequence[BatchItem], k: int, base_filter: SearchFilter | None) -> tuple[list[list[Any]], list[str]]:
    """The ``rag`` mode in batches: the same retrieve-then-edit steps as the report task (agents.tasks.report_edit)."""
    from agents.tasks.report_edit import (
        CANDIDATES,
        as_candidates,
        edit_impression,
        impression_findings,
        required_labels,
    )
    from lakehouse.labeler import label_text
    from lakehouse.retrieval import retrieve_batch
    from lakehouse.semantic import open_store
    from models.embedder import TextEmbedder

    store, embedder = open_store(settings), TextEmbedder.from_settings(settings)
    texts, excludes = [b.findings for b in batch], [[b.id] for b in batch]
    labels = [dict(label_text(t)) for t in texts]
    neighbours = retrieve_batch(store, embedder, texts, k=CANDIDATES, exclude_ids=excludes, base_filter=base_filter)
    targets = [impression_findings(lab, as_candidates(n)) for lab, n in zip(labels, neighbours, strict=True)]
    found = retrieve_batch(store, embedder, texts, k=CANDIDATES, exclude_ids=excludes, base_filter=base_filter, strategy="text",
                           required_findings=[required_labels(t, lab) for t, lab in zip(targets, labels, strict=True)])
    empty = [i for i, hits in enumerate(found) if not hits]
    if empty:  # no prior case carries the target findings: edit the plain nearest cases instead
        retry = retrieve_batch(store, embedder, [texts[i] for i in empty], k=CANDIDATES, exclude_ids=[excludes[i] for i in empty], base_filter=base_filter, strategy="text")
        for i, hits in zip(empty, retry, strict=True):
            found[i] = hits
    evidence, impressions = [], []
    for text, target, hits in zip(texts, targets, found, strict=True):
        edited = edit_impression(text, target, as_candidates(hits))
        evidence.append(([h for h in hits if h.case_id == edited.base_case_id] + [h for h in hits if h.case_id != edited.base_case_id])[:k])
        impressions.append(edited.impression)
    return evidence, impressions


def _ids_fingerprint(ids: Sequence[str]) -> str:
    from policies.engine import fingerprint

    return fingerprint("\n".join(sorted(ids)))


def draft_impressions(
    settings: Settings,
    caller: Any,
    items: Sequence[BatchItem],
    *,
    mode: Mode = "rag",
    model: str | None = None,
    adapter: str | None = None,
    k: int = 3,
    batch_size: int = 8,
    max_new_tokens: int = 96,
    skipped: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> list[BatchResult]:
    """:func:`generate_impressions` under policy, access filter, PHI redaction and audit.

    Args:
        settings: Installation settings.
        caller: ``policies.engine.Caller`` (user, role, purpose) running the batch.
        items: Cases to draft.
        mode: ``rag``, ``no-rag`` or ``retrieval-only``; decides which tools are checked.
        model: Zoo name of the chat model (default ``settings.chat_model``).
        adapter: LoRA adapter name, if any.
        k: Retrieved cases per item.
        batch_size: Items per embedding/search/generation batch.
        max_new_tokens: Generation budget per impression.
        skipped: Input lines the caller dropped as invalid (counted in the audit event).
        on_batch: Called with the number of items finished after each batch.

    Raises:
        BatchDeniedError: the role (or purpose) may not use a tool the mode needs; audited, nothing drafted.
    """
    from policies.audit import AuditEvent
    from tools.resources import audit_log, phi_redactor, policy_engine

    engine = policy_engine(settings)
    details: dict[str, Any] = {"role": caller.role, "purpose": caller.purpose, "mode": mode, "model": model or settings.chat_model, "adapter": adapter,
                               "k": k, "items": len(items), "skipped": skipped, "ids": _ids_fingerprint([i.id for i in items])}
    verdicts = [engine.check_tool(caller, tool) for tool in MODE_TOOLS[mode]]
    denied = next((v for v in verdicts if v.effect == "deny"), None)
    log = audit_log(settings)
    if denied is not None:
        log.append(AuditEvent(actor=caller.user, action="batch:generate", resource=details["ids"], decision="deny", details={**details, "rule": denied.rule}))
        raise BatchDeniedError(f"generate-batch --mode {mode} denied for role {caller.role!r}: {denied.reason}",
                               hint="use a role and --purpose the policy pack allows for retrieve_similar_cases and generate_text (e.g. --role clinician)")
    # Policy access tags (site, consent, sensitivity) and the train split go into every search.
    access = {key: value for key, value in engine.search_filter_fields(caller).items() if value is not None}
    try:
        results = generate_impressions(settings, items, mode=mode, model=model, adapter=adapter, k=k, batch_size=batch_size,
                                       max_new_tokens=max_new_tokens, base_filter=SearchFilter(split="train", **access), on_batch=on_batch)
        todo = [r for r in results if r.impression.strip()]
        redactions = phi_redactor().redact_batch([r.impression for r in todo]) if todo else []
    except (SageError, OSError, RuntimeError, ValueError) as exc:
        log.append(AuditEvent(actor=caller.user, action="batch:generate", resource=details["ids"], decision="failed", details={**details, "error": f"{type(exc).__name__}: {exc}"[:250]}))
        raise
    redacted = 0
    for result, redaction in zip(todo, redactions, strict=True):
        if redaction.entities:
            result.impression, redacted = redaction.text, redacted + 1
            result.extra["phi_redacted"] = sorted({e.type for e in redaction.entities})
    retrieved = {case_id for r in results for case_id in r.retrieved}
    log.append(AuditEvent(actor=caller.user, action="batch:generate", resource=details["ids"], decision="ok", details={
        **details, "rule": verdicts[-1].rule, "access": access, "split": "train", "written": len(results), "redacted": redacted,
        "retrieved_distinct": len(retrieved), "retrieved_ids": _ids_fingerprint(sorted(retrieved)),
    }))
    return results
