"""``retrieve_similar_cases``: prior cases like the query, with their labels and impressions; ``case_labels``: one case's labels.

Wraps ``lakehouse.retrieval.retrieve_similar_cases`` (label-aware ranking, so abnormal queries
get abnormal neighbours). Access tags from policy (site, consent, sensitivity) arrive in
``deps.access`` and go into the engine filter, so cases the caller may not see are never
scored. The model only chooses the query text, how many cases, and which to exclude.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from lakehouse.findings import FindingState
from lakehouse.retrieval import CaseEvidence
from tools.base import Provenance, ToolDefinition, ToolDeps, ToolResult, register_tool


class RetrieveArgs(BaseModel):
    """Arguments of ``retrieve_similar_cases``."""

    findings: str = Field(min_length=1, max_length=8000, description="FINDINGS text of the current chest X-ray report (1-8000 characters).")
    k: int = Field(3, ge=1, le=60, description="Number of similar prior cases to return (1-60; 3 is typical for report drafting, the rag editor picks from 60).")
    exclude_ids: list[str] = Field(default_factory=list, max_length=100, description="Case ids never returned (the query case itself, e.g. 'CXR10').")
    strategy: Literal["label-aware", "text", "image"] = Field("label-aware", description="label-aware (default: neighbours share the query's abnormal findings), text (plain similarity), image.")
    split: Literal["train", "test"] | None = Field("train", description="Only cases of this evaluation split; test cases are never retrieved by default.")
    image_vector: list[float] | None = Field(None, description="Image embedding of the study (512 floats), adds image-similar cases.")
    mode: str | None = Field(None, description="The calling task's mode (rag, retrieval-only); informational.")
    required_findings: dict[str, FindingState] = Field(default_factory=dict, description="Only cases whose labels match, e.g. {'pleural_effusion': 'present'}.")


class SimilarCases(ToolResult):
    """Retrieved cases, best first."""

    hits: list[CaseEvidence]

    @property
    def best_similarity(self) -> float | None:
        """The strongest cosine similarity among the hits (the review rule reads it), or None."""
        return max((h.similarity for h in self.hits), default=None)


def retrieve_similar_cases(deps: ToolDeps, args: RetrieveArgs) -> SimilarCases:
    """Label-aware search of the semantic tier under the caller's access filter."""
    from lakehouse.access import scoped_evidence, scoped_filter
    from lakehouse.retrieval import retrieve_similar_cases as retrieve
    from lakehouse.semantic.base import SearchFilter
    from tools.scope import caller_scope

    scope = caller_scope(deps)
    base = scoped_filter(scope, SearchFilter(split=args.split, findings=args.required_findings, **deps.access))  # the scope's row rules, forced
    hits = retrieve(
        deps.resources.store,
        deps.resources.embedder,
        args.findings,
        k=args.k,
        exclude_ids=args.exclude_ids,
        base_filter=base,
        strategy=args.strategy,
        image_vector=args.image_vector,
    )
    hits = scoped_evidence(hits, scope)  # free text scrubbed for scopes that do not see it
    source = f"qdrant:{deps.settings.qdrant_collection}"
    events = sorted({e for h in hits for e in h.feedback_events})
    return SimilarCases(hits=list(hits), provenance=Provenance(source=source, ids=[h.case_id for h in hits], feedback_events=events))


class CaseLabelArgs(BaseModel):
    """Arguments of ``case_labels``."""

    case_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Id of the case whose current labels are read, e.g. 'CXR880'.")


class CaseLabels(ToolResult):
    """One case's current labels, and which of them a clinician's feedback set."""

    case_id: str
    found: bool = Field(description="False for an unknown case and for one outside the caller's data scope (its existence is not disclosed).")
    labels: dict[str, FindingState] = Field(default_factory=dict)
    corrected: dict[str, str] = Field(default_factory=dict, description="Finding -> the feedback event (correction, propagation, import) behind its current state.")


def case_labels(deps: ToolDeps, args: CaseLabelArgs) -> CaseLabels:
    """The semantic tier's labels of one case, under the caller's data scope (the report task follows a case's corrections)."""
    from lakehouse.access import in_scope
    from tools.scope import caller_scope

    points = deps.resources.store.retrieve([args.case_id])
    source = f"qdrant:{deps.settings.qdrant_collection}"
    if not points or not in_scope(points[0].payload, caller_scope(deps)):
        return CaseLabels(case_id=args.case_id, found=False, provenance=Provenance(source=source))
    payload = points[0].payload
    corrected = {str(f): str(e) for f, e in (payload.get("label_events") or {}).items()}
    return CaseLabels(case_id=args.case_id, found=True, labels=dict(payload.get("labels") or {}), corrected=corrected,
                      provenance=Provenance(source=source, ids=[args.case_id], feedback_events=sorted(set(corrected.values()))))


register_tool(
    ToolDefinition(
        name="case_labels",
        description="Read one case's current finding labels and which of them clinician feedback set (no texts).",
        args_model=CaseLabelArgs,
        result_model=CaseLabels,
        run=case_labels,
    )
)

register_tool(
    ToolDefinition(
        name="retrieve_similar_cases",
        description="Find prior chest X-ray cases similar to a findings text (sharing its abnormal findings), with labels and impressions.",
        args_model=RetrieveArgs,
        result_model=SimilarCases,
        run=retrieve_similar_cases,
    )
)
