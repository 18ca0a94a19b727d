"""Batch impression drafting as a service (``sagehealth generate-batch``, the API's batch route).

The caller's role must be allowed every tool the mode uses (least privilege: ``no-rag``
retrieves nothing), retrieval carries the role's access filter and the train split, every
impression passes PHI redaction, and the batch is **one** audit event: the tools it used,
counts and id fingerprints, never texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from agents.tasks.batch import MODE_TOOLS, BatchItem, BatchResult, generate_impressions
from core.errors import SageError
from lakehouse.semantic.base import SearchFilter
from policies.audit import AuditEvent
from policies.engine import fingerprint
from services.base import Caller, ServiceRequest, governed
from tools.governed import safe_error
from tools.resources import Resources

Mode = Literal["rag", "rag-lm", "no-rag", "retrieval-only"]
REDACT_TOOL = "redact_phi"
HINT = "use a role and --purpose the policy pack allows for the mode's tools (e.g. --role clinician)"


class BatchCase(ServiceRequest):
    """One case to draft: its id and its findings text."""

    id: str = Field(min_length=1, max_length=128)
    findings: str = Field(min_length=1, max_length=5000)


class BatchRequest(ServiceRequest):
    """Draft impressions for many cases in batched retrieval and generation."""

    cases: list[BatchCase] = Field(min_length=1, max_length=100_000)
    mode: Mode = "rag"
    model: str | None = Field(None, max_length=128)
    adapter: str | None = Field(None, max_length=128)
    k: int = Field(3, ge=1, le=10)
    batch_size: int = Field(8, ge=1, le=64)
    max_new_tokens: int = Field(96, ge=8, le=512)
    skipped: int = Field(0, ge=0, description="Input lines the entry point dropped as invalid (counted in the audit event).")


def _ids(ids: Sequence[str]) -> str:
    return fingerprint("\n".join(sorted(ids)))


def generate_batch(resources: Resources, caller: Caller, request: BatchRequest, on_batch: Callable[[int], None] | None = None) -> list[BatchResult]:
    """Draft every case's impression under policy, access filter, PHI redaction and one audit event.

    Raises:
        tools.governed.ActionDeniedError: the role (or purpose) may not use a tool the mode
            needs; audited, nothing drafted.
    """
    tools = [*MODE_TOOLS[request.mode], REDACT_TOOL]
    ids = _ids([c.id for c in request.cases])
    details: dict[str, Any] = {"mode": request.mode, "model": request.model or resources.settings.chat_model, "adapter": request.adapter, "k": request.k,
                               "items": len(request.cases), "skipped": request.skipped, "ids": ids}
    items = [BatchItem(id=c.id, findings=c.findings) for c in request.cases]
    with governed(resources, caller, "generate_batch", tools, resource=ids, audit_action="batch:generate", details=details, hint=HINT, audit=False) as (_, decision):
        # Policy access tags (site, consent, sensitivity) and the train split go into every search.
        access = {key: value for key, value in resources.policy.search_filter_fields(caller).items() if value is not None}

        def audit(outcome: str, **extra: Any) -> None:  # the batch's one event, written when its outcome is known
            event = {"role": caller.role, "purpose": caller.purpose, "rule": decision.rule, "actions": tools, **details, **extra}
            resources.audit.append(AuditEvent(actor=caller.user, action="batch:generate", resource=ids, decision=outcome, details=event))

        try:
            results = generate_impressions(resources, items, mode=request.mode, model=request.model, adapter=request.adapter, k=request.k, batch_size=request.batch_size,
                                           max_new_tokens=request.max_new_tokens, base_filter=SearchFilter(split="train", **access), on_batch=on_batch)
            todo = [r for r in results if r.impression.strip()]
            redactions = resources.redactor.redact_batch([r.impression for r in todo]) if todo else []
        except (SageError, OSError, RuntimeError, ValueError) as exc:
            audit("failed", error=safe_error(exc))
            raise
    redacted = 0
    for result, redaction in zip(todo, redactions, strict=True):
        if redaction.entities:
            result.impression, redacted = redaction.text, redacted + 1
            result.extra["phi_redacted"] = sorted({e.type for e in redaction.entities})
    retrieved = {case_id for r in results for case_id in r.retrieved}
    audit("ok", access=access, split="train", written=len(results), redacted=redacted, retrieved_distinct=len(retrieved), retrieved_ids=_ids(sorted(retrieved)))
    return results
