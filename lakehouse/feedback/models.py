"""Typed inputs and outputs of the feedback loop (the boundary services and the CLI call).

Strict and closed (``extra="forbid"``): a correction is a governance act, so a misspelt field
or a string where a state belongs is refused rather than guessed.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import SageError
from lakehouse.findings import FindingState, check_finding

EventKind = Literal["correction", "propagation", "rollback", "import"]
"""What made a label version: a clinician's correction, a proposal it caused, a rollback, or a bulk import (evaluation noise, migrations)."""

Status = Literal["applied", "needs_review", "rejected"]
Support = Literal["stated", "not_mentioned", "contradicted"]
"""How a case's own report supports a proposed state (see :func:`lakehouse.feedback.propagate.text_support`)."""
ProposalStatus = Literal["applied", "queued", "rejected", "rolled_back"]


def new_event_id() -> str:
    """A fresh event id (``fb-`` + 16 hex digits)."""
    return f"fb-{uuid.uuid4().hex[:16]}"


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Clinician(_Strict):
    """Who submits or reviews a correction (from the caller's context, never from a model)."""

    user: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=64)
    purpose: str | None = Field(None, max_length=64)


class FindingChange(_Strict):
    """One finding's correction: the state the clinician saw and the state it should have."""

    finding: str = Field(description="Finding key, e.g. 'pneumonia' (one of the 14 CheXpert keys).")
    old: FindingState | None = Field(description="State the clinician saw (None: not stated).")
    new: FindingState

    @field_validator("finding")
    @classmethod
    def _known(cls, value: str) -> str:
        return check_finding(value)

    @model_validator(mode="after")
    def _changes(self) -> FindingChange:
        if self.old == self.new:
            raise ValueError(f"{self.finding}: old and new state are both {self.new!r}; nothing to correct")
        return self


class FeedbackEvent(_Strict):
    """A clinician's correction of one case's labels."""

    event_id: str = Field(default_factory=new_event_id, pattern=r"^[A-Za-z0-9_.:-]{3,64}$")
    case_id: str = Field(min_length=1, max_length=64)
    changes: list[FindingChange] = Field(min_length=1, max_length=14)
    clinician: Clinician
    reason: str = Field(min_length=3, max_length=1000, description="Why; kept in the raw tier, only its fingerprint goes to the audit log.")
    run_id: str | None = Field(None, max_length=128, description="The run whose output was wrong, if any.")
    reviewer: Clinician | None = Field(None, description="Second reviewer who approved a correction the pack sends to review.")

    @model_validator(mode="after")
    def _one_change_per_finding(self) -> FeedbackEvent:
        keys = [c.finding for c in self.changes]
        if len(set(keys)) != len(keys):
            raise ValueError("a finding appears twice in changes")
        return self


class Proposal(BaseModel):
    """A correction proposed to a similar case, with why it was made."""

    proposal_id: str
    event_id: str = Field(description="The correction that caused it.")
    case_id: str
    finding: str
    old: FindingState | None
    new: FindingState
    similarity: float = Field(description="Cosine of the case's findings text to the corrected case's.")
    support: Support = Field("stated", description="stated: the report says so; not_mentioned: new state absent and the report never mentions it; contradicted: only without the text check.")
    supporting_sentence: str | None = Field(description="Sentence of the case's own report that states the new label (None when not stated).")
    confidence: float
    status: ProposalStatus


class FeedbackResult(BaseModel):
    """Outcome of one submitted correction."""

    event_id: str = Field(description="The correction's id; for ``needs_review``, the id a second reviewer approves or rejects.")
    case_id: str
    status: Status
    reasons: list[str] = Field(default_factory=list, description="Why it was rejected or needs review; empty when applied plainly.")
    label_version: int | None = Field(None, description="The case's label version after the correction (None: nothing changed).")
    labels: dict[str, FindingState] = Field(default_factory=dict, description="The case's labels after the correction.")
    proposals: list[Proposal] = Field(default_factory=list)


class LabelVersion(BaseModel):
    """One version of a case's labels, with who made it and why."""

    case_id: str
    version: int
    labels: dict[str, FindingState]
    changed: dict[str, list[FindingState | None]] = Field(default_factory=dict, description="finding -> [before, after] relative to the previous version.")
    kind: EventKind | Literal["ingest"]
    event_id: str | None = None
    parent_event_id: str | None = Field(None, description="For a propagation or rollback: the correction it belongs to.")
    actor: str
    role: str | None = None
    reviewer: str | None = Field(None, description="The second reviewer who approved the correction, if the pack asked for one.")
    reason: str | None = None
    created_at: str


class RollbackResult(BaseModel):
    """What a rollback restored and what it left alone."""

    event_id: str
    rollback_event_id: str
    restored: dict[str, dict[str, FindingState | None]] = Field(default_factory=dict, description="case -> finding -> restored state.")
    kept_later: dict[str, list[str]] = Field(default_factory=dict, description="case -> findings left as a later correction set them.")


class PendingCorrection(BaseModel):
    """A correction the pack sent to a second reviewer, stored (status ``pending_review``) until one decides it."""

    event_id: str = Field(description="The id a reviewer approves or rejects.")
    case_id: str
    changes: list[FindingChange]
    user: str = Field(description="The clinician who submitted it.")
    role: str
    reason: str = Field(description="The submitter's reason, as typed (services de-identify it before it leaves).")
    run_id: str | None = None
    why: list[str] = Field(default_factory=list, description="Why the pack wants a second reviewer (its rules, read now).")
    created_at: str


class ReviewOutcome(BaseModel):
    """A reviewer's decision on a pending correction or a queued proposal."""

    item_id: str
    kind: Literal["correction", "proposal"]
    approved: bool
    case_id: str
    reviewer: str
    label_version: int | None = Field(None, description="The case's new label version when the decision changed labels.")
    result: FeedbackResult | None = Field(None, description="An approved correction's outcome (labels, proposals it caused).")


class FeedbackError(SageError):
    """A feedback request that cannot be carried out (unknown event, refused caller, already undone)."""


class ReviewItemNotFoundError(FeedbackError):
    """No pending correction or queued proposal has this id (never had, or not in this installation)."""


class ReviewRefusedError(FeedbackError):
    """The reviewer may not decide this item (may not relabel, is the submitter, or not in a reviewer role); nothing changed."""
