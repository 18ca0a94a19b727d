"""Lakehouse use cases as services: ingest data, search similar cases, query the raw tier.

Ingestion writes both tiers, so the pack must grant ``ingest``. Search and query are the
``retrieve_similar_cases`` and ``query_records`` tools called for a person: the governed
invoker checks the role, forces the role's access filter and SQL scope into the call, traces
it and audits it, exactly as when an agent calls them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from lakehouse.findings import FindingState, check_finding
from lakehouse.ingest.pipeline import IngestReport, ProgressFn
from lakehouse.retrieval import CaseEvidence
from services.base import Caller, ServiceRequest, governed, require_caller, workflow
from tools.base import ToolDeps
from tools.governed import GovernedInvoker
from tools.records import Rows
from tools.resources import Resources

INGEST_HINT = "use a role the policy pack allows to ingest (e.g. --role data_engineer --purpose operations)"


class IngestRequest(ServiceRequest):
    """What to ingest: your own FHIR bundles, XML reports or images, else the shipped data."""

    fhir: Path | None = None
    reports: Path | None = None
    images: Path | None = None
    limit: int | None = Field(None, ge=1, description="Only the first N shipped reports (by id).")


class SearchRequest(ServiceRequest):
    """Similar cases for a findings text."""

    text: str = Field(min_length=1, max_length=8000)
    k: int = Field(5, ge=1, le=20)
    split: Literal["train", "test"] | None = None
    required_findings: dict[str, FindingState] = Field(default_factory=dict, description="Only cases whose labels match, e.g. {'pleural_effusion': 'present'}.")

    @field_validator("required_findings")
    @classmethod
    def _known_findings(cls, value: dict[str, FindingState]) -> dict[str, FindingState]:
        for key in value:
            check_finding(key)  # ValueError naming the known findings
        return value


class SearchResult(BaseModel):
    """Similar cases, best first, ranked by ``score`` (cosine similarity plus a label-agreement bonus)."""

    query: str
    hits: list[CaseEvidence]


class QueryRequest(ServiceRequest):
    """One read-only SELECT over the raw tier, within the caller's tables and columns."""

    sql: str = Field(min_length=1, max_length=20000)
    max_rows: int = Field(1000, ge=1, le=5000)


def invoker(resources: Resources, caller: Caller, agent: str = "cli") -> GovernedInvoker:
    """Tool calls for a person (not an agent): the same policy checks, spans and audit as the agents'."""
    deps = ToolDeps(settings=resources.settings, resources=resources, user=caller.user, role=caller.role, purpose=str(caller.purpose))
    return GovernedInvoker(deps, agent)


def ingest(resources: Resources, caller: Caller, request: IngestRequest, progress: bool | ProgressFn = False) -> dict[str, IngestReport]:
    """Ingest into both tiers; returns one report per source (``default`` for the shipped data)."""
    from lakehouse.ingest.images import ingest_images
    from lakehouse.ingest.pipeline import ingest_default, ingest_fhir_folder, ingest_report_folder

    sources = [str(p) for p in (request.fhir, request.reports, request.images) if p is not None] or ["shipped"]
    results: dict[str, IngestReport] = {}
    with governed(resources, caller, "ingest", "ingest", resource="lakehouse", details={"sources": len(sources)}, hint=INGEST_HINT):
        store, settings = resources.store, resources.settings
        try:
            if request.fhir:
                results["fhir"] = ingest_fhir_folder(settings, request.fhir, progress, store=store, embedder=resources.embedder)
            if request.reports:
                results["reports"] = ingest_report_folder(settings, request.reports, progress, store=store, embedder=resources.embedder)
            if request.images:
                results["images"] = ingest_images(settings, request.images, progress, store=store, encoder=resources.image_encoder)
            if not (request.fhir or request.reports or request.images):
                results["default"] = ingest_default(settings, limit=request.limit, progress=progress, store=store, embedder=resources.embedder)
        finally:
            resources.drop("query")  # the DuckDB views hold the old snapshot
            resources.drop("redactor")  # new patients join its deny-list
            resources.drop("impression_planner")  # fitted on the reports that were there before
        prepare_impression_planner(resources, progress)
    return results


def prepare_impression_planner(resources: Resources, progress: bool | ProgressFn = False) -> None:
    """Fit (or load, when these reports were fitted before) the report drafts' impression planner.

    Done at ingest so that the first ``rag`` report does not wait for it (for the shipped corpus,
    about 6 s on an idle 2-core machine and 25 s on a loaded one; agents.tasks.report_plan).
    """
    from agents.tasks.report_plan import planner_for
    from lakehouse.ingest.pipeline import _progress

    show = _progress(progress)
    planner_for(resources, progress=(lambda done, total: show("impression planner", done, total)) if show else None)


def search(resources: Resources, caller: Caller, request: SearchRequest) -> SearchResult:
    """Similar cases in the semantic tier, under the caller's access filter."""
    require_caller(caller, resources)
    args: dict[str, Any] = {"findings": request.text, "k": request.k, "split": request.split, "required_findings": dict(request.required_findings)}
    with workflow(resources, caller, "search"):
        result = invoker(resources, caller).call("retrieve_similar_cases", args)
    return SearchResult(query=request.text, hits=list(result.hits))  # type: ignore[attr-defined]


def query(resources: Resources, caller: Caller, request: QueryRequest) -> Rows:
    """Run one read-only SQL statement over the raw tier within the caller's scope."""
    require_caller(caller, resources)
    with workflow(resources, caller, "query"):
        return invoker(resources, caller).call("query_records", {"sql": request.sql, "limit": request.max_rows})  # type: ignore[return-value]
