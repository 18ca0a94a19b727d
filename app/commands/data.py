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

from app.common import (
    JsonOpt,
    PurposeOpt,
    RoleOpt,
    UserOpt,
    caller,
    console,
    emit,
    fail,
    governed_cli,
    load_settings,
)
from core.errors import SageError
from lakehouse.findings import STATES, check_finding

LimitOpt = typer.Option(None, "--limit", help="Only the first N shipped reports (by id).")
FhirOpt = typer.Option(None, "--fhir", help="Folder of FHIR R4 bundles (*.json) to ingest.")
ReportsOpt = typer.Option(None, "--reports", help="Folder (or .tgz) of Indiana-style XML reports.")
ImagesOpt = typer.Option(None, "--images", help="Image file or folder (PNG, JPEG, DICOM).")
FindingOpt = typer.Option([], "--finding", help="Required label, KEY=STATE (repeatable).")


def _authorize_ingest(settings: Any, user: str, role: str, purpose: str) -> None:
    """Ingestion writes both tiers: the pack must grant the role the ``ingest`` action (audited)."""
    from policies.engine import Caller
    from tools.governed import authorize_action

    authorize_action(settings, Caller(user=user, role=role, purpose=purpose), "ingest", resource="lakehouse",
                     hint="use a role the policy pack allows to ingest (e.g. --role data_engineer --purpose operations)")


class SimilarCase(BaseModel):
    """One search hit as the CLI shows it."""

    case_id: str
    similarity: float
    source: str
    positive_findings: list[str]
    labels: dict[str, str]
    impression: str

    @classmethod
    def from_hit(cls, hit: dict[str, Any]) -> SimilarCase:
        """From a ``retrieve_similar_cases`` hit (``lakehouse.retrieval.CaseEvidence``)."""
        return cls(case_id=str(hit["case_id"]), similarity=round(float(hit["similarity"]), 4), source=str(hit.get("source", "")),
                   positive_findings=list(hit.get("positive_findings", [])), labels=dict(hit.get("labels", {})), impression=str(hit.get("impression") or "")[:160])


class SearchResult(BaseModel):
    """Answer of ``sagehealth search``."""

    query: str
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


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``query`` and ``search`` to the CLI."""

    @app.command()
    def ingest(
        limit: int | None = LimitOpt, fhir: Path | None = FhirOpt, reports: Path | None = ReportsOpt, images: Path | None = ImagesOpt,
        as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt,
    ) -> None:
        """Ingest data into the lakehouse (default: the shipped Indiana reports with synthetic FHIR records)."""
        from lakehouse.ingest.images import ingest_images
        from lakehouse.ingest.pipeline import ingest_default, ingest_fhir_folder, ingest_report_folder
        from lakehouse.semantic import close_stores

        settings = load_settings()
        name, role_name = caller(settings, user, role)
        results: dict[str, Any] = {}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            _authorize_ingest(settings, name, role_name, purpose)
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
              user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt,
              max_rows: int = typer.Option(1000, "--max-rows", min=1, max=5000)) -> None:
        """Run a read-only SQL query over the raw tier (DuckDB), within your role's tables and columns."""
        settings = load_settings()
        try:
            result = governed_cli(settings, user, role, purpose).call("query_records", {"sql": sql, "limit": max_rows})
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(result, as_json, _render_query)

    @app.command()
    def search(text: str = typer.Argument(..., help="Findings text to match."), k: int = typer.Option(5, "--k", min=1, max=20, help="Number of cases."),
               finding: list[str] = FindingOpt, split: str | None = typer.Option(None, "--split", help="Only 'train' or 'test' cases (default: both)."),
               as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Find similar cases in the semantic tier, with scores and findings (your role's access filter applies)."""
        from lakehouse.semantic import close_stores

        settings = load_settings()
        try:
            args = {"findings": text, "k": k, "split": split, "required_findings": _parse_findings(finding)}
            result = governed_cli(settings, user, role, purpose).call("retrieve_similar_cases", args)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            close_stores()
        emit(SearchResult(query=text, hits=[SimilarCase.from_hit(h) for h in result.hits]), as_json, _render_search)


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
    table = Table(title=f"{len(result.rows)} rows{' (truncated)' if result.truncated else ''}")
    for col in result.columns:
        table.add_column(col)
    for row in result.rows:
        table.add_row(*(str(row.get(c)) for c in result.columns))
    console.print(table)


def _render_search(result: SearchResult) -> None:
    table = Table(title="similar cases")
    for col in ("case", "similarity", "positive findings", "impression"):
        table.add_column(col)
    for hit in result.hits:
        table.add_row(hit.case_id, f"{hit.similarity:.3f}", ", ".join(hit.positive_findings) or "-", hit.impression)
    console.print(table)
