"""Data commands: ``sagehealth ingest``, ``sagehealth query`` and ``sagehealth search``.

Examples::

    sagehealth ingest --limit 300                 # shipped Indiana reports + synthetic FHIR
    sagehealth ingest --fhir bundles/ --images xrays/
    sagehealth query "SELECT split, count(*) FROM reports GROUP BY split"
    sagehealth search "small left pleural effusion" --k 5 --finding pleural_effusion=present
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.common import JsonOpt, RoleOpt, UserOpt, caller, console, emit, fail, load_settings
from core.errors import SageError
from lakehouse.findings import STATES, check_finding

# TODO(policies): replace with policies.engine table grants once it lands; until then these
# roles may read every raw table and every other role is refused.
QUERY_ROLES = {"clinician", "researcher", "admin"}


LimitOpt = typer.Option(None, "--limit", help="Only the first N shipped reports (by id).")
FhirOpt = typer.Option(None, "--fhir", help="Folder of FHIR R4 bundles (*.json) to ingest.")
ReportsOpt = typer.Option(None, "--reports", help="Folder (or .tgz) of Indiana-style XML reports.")
ImagesOpt = typer.Option(None, "--images", help="Image file or folder (PNG, JPEG, DICOM).")
FindingOpt = typer.Option([], "--finding", help="Required label, KEY=STATE (repeatable).")


class AccessDeniedError(SageError):
    """The caller's role may not use this command."""


class SimilarCase(BaseModel):
    """One search hit as the CLI shows it."""

    case_id: str
    score: float
    split: str | None
    positive_findings: list[str]
    labels: dict[str, str]
    impression: str


class SearchResult(BaseModel):
    """Answer of ``sagehealth search``."""

    query: str
    vector: str
    hits: list[SimilarCase]


def _rich_progress(progress: Progress) -> Any:
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return update


def _parse_findings(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, _, state = pair.partition("=")
        try:
            check_finding(key.strip())
        except ValueError as exc:
            raise SageError(str(exc), hint="use --finding KEY=STATE, e.g. pleural_effusion=present") from exc
        if state.strip() not in STATES:
            raise SageError(f"unknown state {state!r} for {key}", hint=f"one of: {', '.join(STATES)}")
        out[key.strip()] = state.strip()
    return out


def similar_cases(settings: Any, text: str, k: int, findings: dict[str, str]) -> SearchResult:
    """Nearest cases to free text: on the abnormal-sentence vector when the text states a finding."""
    from lakehouse.ingest.semantic_writer import abnormal_text
    from lakehouse.labeler import positive_sentences
    from lakehouse.semantic import SearchFilter, open_store
    from models.embedder import TextEmbedder

    using = "abnormal" if positive_sentences(text) else "text"
    query = abnormal_text(text, "") if using == "abnormal" else text
    vector = TextEmbedder.from_settings(settings).embed([query])[0]
    hits = open_store(settings).search(vector.tolist(), using=using, filter=SearchFilter(findings=findings), limit=k)  # type: ignore[arg-type]
    return SearchResult(query=text, vector=using, hits=[
        SimilarCase(case_id=h.case_id, score=round(h.score, 4), split=h.payload.get("split"), positive_findings=h.payload.get("positive_findings", []),
                    labels=h.payload.get("labels", {}), impression=(h.payload.get("impression") or "")[:160])
        for h in hits
    ])


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``query`` and ``search`` to the CLI."""

    @app.command()
    def ingest(
        limit: int | None = LimitOpt, fhir: Path | None = FhirOpt, reports: Path | None = ReportsOpt, images: Path | None = ImagesOpt,
        as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt,
    ) -> None:
        """Ingest data into the lakehouse (default: the shipped Indiana reports with synthetic FHIR records)."""
        from lakehouse.ingest.images import ingest_images
        from lakehouse.ingest.pipeline import ingest_default, ingest_fhir_folder, ingest_report_folder
        from lakehouse.semantic import close_stores

        settings = load_settings()
        _, role_name = caller(settings, user, role)
        results: dict[str, Any] = {}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            if role_name not in {"admin", "clinician", "researcher", "data-engineer"}:
                raise AccessDeniedError(f"role {role_name!r} may not ingest data", hint="use --role admin")
            with Progress(*columns, console=console, disable=as_json, transient=False) as bars:
                show = _rich_progress(bars) if not as_json else False
                if fhir:
                    results["fhir"] = ingest_fhir_folder(settings, fhir, show)
                if reports:
                    results["reports"] = ingest_report_folder(settings, reports, show)
                if images:
                    results["images"] = ingest_images(settings, images, show)
                if not (fhir or reports or images):
                    results["default"] = ingest_default(settings, limit=limit, progress=show)
        except SageError as exc:
            fail(exc, as_json)
        finally:
            close_stores()
        emit({k: v.model_dump(mode="json") for k, v in results.items()}, as_json, _render_ingest)

    @app.command()
    def query(sql: str = typer.Argument(..., help="One read-only SELECT over the raw tables."), as_json: bool = JsonOpt,
              user: str | None = UserOpt, role: str | None = RoleOpt, max_rows: int = typer.Option(1000, "--max-rows")) -> None:
        """Run a read-only SQL query over the raw tier (DuckDB)."""
        from lakehouse.query import QueryEngine

        settings = load_settings()
        _, role_name = caller(settings, user, role)
        try:
            if role_name not in QUERY_ROLES:
                raise AccessDeniedError(f"role {role_name!r} may not query records", hint=f"allowed roles: {', '.join(sorted(QUERY_ROLES))}")
            result = QueryEngine(settings).sql(sql, max_rows=max_rows)
        except SageError as exc:
            fail(exc, as_json)
        emit(result, as_json, _render_query)

    @app.command()
    def search(text: str = typer.Argument(..., help="Findings text to match."), k: int = typer.Option(5, "--k", help="Number of cases."),
               finding: list[str] = FindingOpt,
               as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt) -> None:
        """Find similar cases in the semantic tier, with scores and findings."""
        from lakehouse.semantic import close_stores

        settings = load_settings()
        _, role_name = caller(settings, user, role)
        try:
            if role_name not in QUERY_ROLES:
                raise AccessDeniedError(f"role {role_name!r} may not search cases", hint=f"allowed roles: {', '.join(sorted(QUERY_ROLES))}")
            result = similar_cases(settings, text, k, _parse_findings(finding))
        except SageError as exc:
            fail(exc, as_json)
        finally:
            close_stores()
        emit(result, as_json, _render_search)


def _render_ingest(results: dict[str, Any]) -> None:
    for name, rep in results.items():
        table = Table(title=f"ingest {name}: {rep['files']} files, {rep['seconds']:.1f}s, {rep['reports_per_second']:.1f} reports/s")
        for col in ("table", "new", "changed", "unchanged"):
            table.add_column(col)
        for tname, c in rep["tables"].items():
            if any(c.values()):
                table.add_row(tname, str(c["new"]), str(c["changed"]), str(c["unchanged"]))
        console.print(table)
        console.print(f"skipped {rep['skipped']}, semantic points written {rep['points_upserted']}")
        for issue in rep["errors"]:
            console.print(f"[red]error[/] {issue['file']} [{issue['field']}]: {issue['message']}")


def _render_query(result: Any) -> None:
    table = Table(title=f"{result.row_count} rows{' (truncated)' if result.truncated else ''}")
    for col in result.columns:
        table.add_column(col)
    for row in result.rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def _render_search(result: SearchResult) -> None:
    table = Table(title=f"similar cases ({result.vector} vector)")
    for col in ("case", "score", "positive findings", "impression"):
        table.add_column(col)
    for hit in result.hits:
        table.add_row(hit.case_id, f"{hit.score:.3f}", ", ".join(hit.positive_findings) or "-", hit.impression)
    console.print(table)
