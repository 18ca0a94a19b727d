"""``retrieve_similar_cases``: prior cases like the query, with their labels and impressions.

Access tags from policy (site, consent, sensitivity) arrive in ``deps.access`` and are put in
the engine filter, so cases the caller may not see are never scored. The model only chooses
the query text, how many cases, and which findings must be present.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from lakehouse.findings import check_finding
from tools.base import Provenance, ToolDefinition, ToolDeps, ToolExecutionError, ToolResult, register_tool
from tools.resources import embedder, semantic_store


class RetrieveArgs(BaseModel):
    """Arguments of ``retrieve_similar_cases``."""

    query: str = Field(min_length=1, max_length=4000, description="FINDINGS text of the current chest X-ray report (1-4000 characters).")
    k: int = Field(3, ge=1, le=20, description="Number of similar prior cases to return (1-20; 3 is typical for report drafting).")
    using: Literal["text", "abnormal"] = Field("text", description="Vector to match on: whole findings text, or only its abnormal (present-finding) sentences.")
    any_positive: list[str] = Field(default_factory=list, description="CheXpert finding keys (e.g. 'cardiomegaly'); at least one must be present in a returned case.")
    exclude_ids: list[str] = Field(default_factory=list, description="Case ids never returned (the query case itself, e.g. 'CXR10').")
    split: Literal["train", "test"] | None = Field("train", description="Only cases of this evaluation split; test cases are never retrieved by default.")

    @field_validator("any_positive")
    @classmethod
    def _known_findings(cls, keys: list[str]) -> list[str]:
        return [check_finding(k) for k in keys]


class SimilarCase(BaseModel):
    """One retrieved prior case."""

    case_id: str
    score: float = Field(description="Cosine similarity to the query (-1..1).")
    findings: str = ""
    impression: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    positive_findings: list[str] = Field(default_factory=list)


class SimilarCases(ToolResult):
    """Retrieved cases, best first."""

    cases: list[SimilarCase]


def _search_filter(deps: ToolDeps, args: RetrieveArgs) -> Any:
    from lakehouse.semantic.base import SearchFilter

    fields: dict[str, Any] = {"any_positive": args.any_positive, "exclude_ids": args.exclude_ids, "split": args.split}
    fields.update(deps.access)  # policy access tags win over anything else
    return SearchFilter(**fields)


def retrieve_similar_cases(deps: ToolDeps, args: RetrieveArgs) -> SimilarCases:
    """Embed the query and search the semantic tier under the caller's access filter."""
    vector = embedder(deps.settings).embed([args.query])[0]
    try:
        hits = semantic_store(deps.settings).search(vector.tolist(), using=args.using, filter=_search_filter(deps, args), limit=args.k)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ToolExecutionError(f"semantic search on {deps.settings.qdrant_collection!r} failed: {exc}", hint="run `sagehealth ingest` to build the semantic tier") from exc
    cases = [
        SimilarCase(
            case_id=h.case_id,
            score=float(h.score),
            findings=str(h.payload.get("findings", "")),
            impression=str(h.payload.get("impression", "")),
            labels=dict(h.payload.get("labels", {})),
            positive_findings=list(h.payload.get("positive_findings", [])),
        )
        for h in hits
    ]
    source = f"qdrant:{deps.settings.qdrant_collection}"
    return SimilarCases(cases=cases, provenance=Provenance(source=source, ids=[c.case_id for c in cases]))


register_tool(
    ToolDefinition(
        name="retrieve_similar_cases",
        description="Find prior chest X-ray cases similar to a findings text, with their labels and impressions.",
        args_model=RetrieveArgs,
        result_model=SimilarCases,
        run=retrieve_similar_cases,
    )
)
