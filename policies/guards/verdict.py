"""Typed results of the guards: one verdict shape for injection and harm, one report for grounding.

Results are pydantic models because they cross boundaries (governance decisions, the audit log,
evaluation JSON); they never hold the text that was checked, only rule ids and short reasons,
so a verdict can be logged without leaking PHI from the text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["user", "retrieved", "tool"]
SOURCES: tuple[Source, ...] = ("user", "retrieved", "tool")


class RuleHit(BaseModel):
    """One rule that matched: its id, category, weight and the view of the text it matched in."""

    rule: str
    category: str
    weight: float
    view: str = Field(description="Which normalised view matched: plain, deleet, despaced or base64 (a non-plain view means the text was obfuscated).")


class GuardVerdict(BaseModel):
    """Outcome of one guard on one text.

    ``flagged`` is ``score >= threshold``; ``reason`` names the categories that fired and never
    quotes the text (the text may hold PHI).
    """

    guard: Literal["injection", "harm"]
    source: Source | None = None
    flagged: bool
    score: float = Field(ge=0.0, le=1.0)
    threshold: float
    matched: list[RuleHit] = Field(default_factory=list)
    reason: str = ""

    @property
    def rules(self) -> list[str]:
        """Ids of the rules that matched, in match order."""
        return [h.rule for h in self.matched]


class ClaimCheck(BaseModel):
    """One draft sentence and whether the evidence or the query findings support it."""

    claim: str
    supported: bool
    coverage: float = Field(ge=0.0, le=1.0, description="Share of the claim's content terms found in the evidence or query findings.")
    unsupported_terms: list[str] = Field(default_factory=list)
    unsupported_findings: list[str] = Field(default_factory=list, description="Findings the claim states present (or contradicts) that the query findings and evidence do not state.")


class GroundingReport(BaseModel):
    """Claims of a draft checked against its evidence; ``grounded`` when no claim is unsupported."""

    claims: list[ClaimCheck] = Field(default_factory=list)
    min_coverage: float

    @property
    def unsupported(self) -> list[ClaimCheck]:
        """The claims the evidence does not support."""
        return [c for c in self.claims if not c.supported]

    @property
    def grounded(self) -> bool:
        """True when every claim is supported (an empty draft is trivially grounded)."""
        return not self.unsupported

    def reason(self) -> str:
        """A short reason for a review decision (claims are clinical text, not PHI after redaction)."""
        parts = []
        for c in self.unsupported:
            why = []
            if c.unsupported_findings:
                why.append("findings " + ", ".join(c.unsupported_findings))
            if c.unsupported_terms:
                why.append("terms " + ", ".join(c.unsupported_terms[:5]))
            parts.append(f"{c.claim[:80]!r} ({'; '.join(why)})")
        return "claims not supported by the evidence: " + "; ".join(parts) if parts else ""
