"""Who may review: the ``review`` action of the policy pack, checked and audited per decision.

A paused run holds a draft that may carry patient data, and a reviewer's decision finishes it,
so listing, showing and deciding are governed like tools: the pack must grant the reviewer's
role ``review`` (``clinician`` and ``radiologist`` have ``*`` in the default pack; researchers,
auditors and data engineers do not). Every check is one audit event, allowed or denied.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings

REVIEW_ACTION = "review"


def reviewer_caller(decision: dict[str, Any]) -> Any:
    """The reviewer as the policy engine sees it, from a review decision.

    A decision without a role names no role of the pack and is denied (fail closed); without a
    purpose it is checked as ``treatment``, like every other caller.
    """
    from policies.engine import Caller

    return Caller(user=str(decision.get("reviewer") or ""), role=str(decision.get("role") or ""), purpose=str(decision.get("purpose") or "treatment"))


def authorize_review(settings: Settings, reviewer: Any, verb: str, resource: str, run_id: str | None = None) -> Any:
    """Allow ``reviewer`` to ``verb`` (list, show, approve, edit, reject) ``resource``, or raise.

    Raises:
        tools.governed.ActionDeniedError: the pack does not grant the reviewer's role ``review``.
    """
    from tools.governed import authorize_action

    return authorize_action(
        settings, reviewer, REVIEW_ACTION, resource=resource, run_id=run_id, audit_action=f"review:{verb}",
        hint="ask a clinician or radiologist to review (pass --user NAME --role clinician)",
    )
