"""The ``feedback`` section of a policy pack: who needs a second reviewer, and how corrections spread.

Which roles may correct labels at all is the role policy's ``can_relabel`` (checked by
:meth:`policies.engine.PolicyEngine.check_relabel`). This section adds what only the feedback
loop needs, kept out of :class:`policies.packs.PolicyPack` so the loop can evolve without
touching the pack model every other check reads:

- a correction of a *high-impact* finding, or one that moves a label to or from ``uncertain``,
  needs a second reviewer (the caller routes it into a review interrupt and resubmits it with
  the reviewer); the reviewer must be another user in one of ``reviewer_roles``;
- propagation: similar cases above ``similarity_threshold`` that carry the old label are
  proposed the correction (``max_candidates`` only bounds the work per corrected finding: a
  top-30 cap once decided more than the threshold did, issue #19); proposals at or above ``auto_apply_confidence`` are applied,
  the others are queued for review.

This module imports only the standard library, pydantic and :mod:`policies.packs` (layering:
``policies`` knows nothing of the lakehouse), so finding names are plain strings here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.packs import PolicyPackError, packs_folder

ReviewEffect = Literal["allow", "review", "deny"]


class FeedbackRules(BaseModel):
    """Feedback-loop rules of one pack (defaults apply when the pack has no ``feedback`` section)."""

    model_config = ConfigDict(extra="forbid")

    reviewer_roles: list[str] = Field(default_factory=lambda: ["radiologist", "clinician"], description="Roles whose member may be the second reviewer.")
    high_impact_findings: list[str] = Field(
        default_factory=lambda: ["pneumothorax", "fracture", "lung_lesion"],
        description="Corrections of these findings need a second reviewer (missed or invented ones change care most).",
    )
    review_uncertain: bool = Field(True, description="A correction to or from 'uncertain' needs a second reviewer.")
    propagate: bool = Field(True, description="Propose the correction to similar cases.")
    require_text_support: bool = Field(True, description="A similar case gets a proposal only if its own report text states the new label.")
    similarity_threshold: float = Field(0.7, ge=-1.0, le=1.0, description="Minimum cosine (findings text) of a similar case.")
    max_candidates: int = Field(
        1000, ge=1, le=100_000,
        description="Most cases examined per corrected finding, nearest first (engine-side filter on the old label). A cost bound, not the selection: "
                    "the threshold, the old label and the text check select, so it should exceed the cases above the threshold (~0.2 ms per case examined).",
    )
    auto_apply_confidence: float = Field(0.85, ge=0.0, le=1.01, description="Proposals at or above this confidence are applied; the others are queued for review.")
    propagate_splits: list[str] | None = Field(None, description="Only cases of these splits receive proposals; None = any split.")


class FeedbackDecision(BaseModel):
    """What the pack says about one correction: apply, ask a second reviewer, or refuse."""

    effect: ReviewEffect
    reasons: list[str] = Field(default_factory=list)
    rule: str


def load_feedback_rules(name_or_path: str | Path = "default") -> FeedbackRules:
    """The ``feedback`` section of a pack (shipped name or ``.json`` path); defaults if absent.

    Raises:
        PolicyPackError: the pack is missing or its feedback section does not validate.
    """
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = packs_folder() / f"{name_or_path}.json"
    if not path.is_file():
        raise PolicyPackError(f"policy pack {str(name_or_path)!r} not found ({path})", hint="give a shipped pack name or a .json path")
    try:
        section = json.loads(path.read_text(encoding="utf-8")).get("feedback") or {}
        return FeedbackRules.model_validate(section)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise PolicyPackError(f"{path}: invalid feedback section: {exc}", hint="fix the named field of 'feedback'") from exc


def review_decision(rules: FeedbackRules, changes: Sequence[tuple[str, str | None, str]], user: str, reviewer: tuple[str, str] | None) -> FeedbackDecision:
    """Whether a correction (finding, old state, new state) may be applied as is.

    Args:
        rules: The pack's feedback rules.
        changes: Per finding: key, the state being replaced (None: not stated), the new state.
        user: The correcting clinician's user id.
        reviewer: (user, role) of a second reviewer who approved it, if any.
    """
    reasons = []
    for finding, old, new in changes:
        if finding in rules.high_impact_findings:
            reasons.append(f"{finding} is a high-impact finding")
        if rules.review_uncertain and "uncertain" in (old, new):
            reasons.append(f"{finding}: correction to or from 'uncertain'")
    if not reasons:
        return FeedbackDecision(effect="allow", reasons=[], rule="feedback")
    if reviewer is None:
        return FeedbackDecision(effect="review", reasons=[*reasons, "needs a second reviewer"], rule="feedback.high_impact_findings")
    r_user, r_role = reviewer
    if r_user == user:
        return FeedbackDecision(effect="deny", reasons=["the second reviewer must be another user"], rule="feedback.reviewer_roles")
    if r_role not in rules.reviewer_roles:
        return FeedbackDecision(effect="deny", reasons=[f"role {r_role!r} may not review corrections (allowed: {', '.join(rules.reviewer_roles)})"], rule="feedback.reviewer_roles")
    return FeedbackDecision(effect="allow", reasons=[*reasons, f"approved by second reviewer {r_user}"], rule="feedback.reviewer_roles")
