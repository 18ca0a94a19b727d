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
    console,
    emit,
    err_console,
    fail,
    open_resources,
    who,
)
from core.errors import SageError

LimitOpt = typer.Option(None, "--limit", help="Only the first N shipped reports (by id).")
FhirOpt = typer.Option(None, "--fhir", help="Folder of FHIR R4 bundles (*.json) to ingest.")
ReportsOpt = typer.Option(None, "--reports", help="Folder (or .tgz) of Indiana-style XML reports.")
ImagesOpt = typer.Option(None, "--images", help="Image file or folder (PNG, JPEG, DICOM).")
FindingOpt = typer.Option([], "--finding", help="Required label, KEY=STATE (repeatable).")


class SimilarCase(BaseModel):
    """One search hit as the CLI shows it."""

    case_id: str
    score: float
    similarity: float
    source: str
    positive_findings: list[str]
    labels: dict[str, str]
    impression: str

    @classmethod
    def from_hit(cls, hit: Any) -> SimilarCase:
        """From a ``lakehouse.retrieval.CaseEvidence`` hit."""
        return cls(case_id=hit.case_id, score=round(hit.score, 4), similarity=round(hit.similarity, 4), source=hit.source,
                   positive_findings=list(hit.positive_findings), labels=dict(hit.labels), impression=hit.impression[:160])


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
    return {key.strip(): state.strip() for key, _, state in (pair.partition("=") for pair in pairs)}


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``query`` and ``search`` to the CLI."""

    @app.command()
    def ingest(
        limit: int | None = LimitOpt, fhir: Path | None = FhirOpt, reports: Path | None = ReportsOpt, images: Path | None = ImagesOpt,
        as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt,
    ) -> None:
        """Ingest data into the lakehouse (default: the shipped Indiana reports with synthetic FHIR records).

        Exit status: 0 every file ingested, 3 some files failed (listed, the rest ingested),
        1 nothing ingested (every file failed, no input file, or the command failed).
        """
        from services.data import IngestRequest
        from services.data import ingest as ingest_service

        resources = open_resources()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            request = IngestRequest(limit=limit, fhir=fhir, reports=reports, images=images)
            with Progress(*columns, console=console, disable=as_json, transient=False) as bars:
                results = ingest_service(resources, who(resources, user, role, purpose), request, _rich_progress(bars) if not as_json else False)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()  # hand the shard lease back at once
        emit({k: v.model_dump(mode="json") for k, v in results.items()}, as_json, _render_ingest)
        code = ingest_exit_code([r.outcome for r in results.values()])
        if code:
            if not as_json:
                err_console.print("[bold red]error:[/] no input file was ingested" if code == 1 else f"[yellow]warning:[/] {sum(r.failed_files for r in results.values())} input file(s) not ingested (listed above)")
            raise typer.Exit(code)

    @app.command()
    def query(sql: str = typer.Argument(..., help="One read-only SELECT over the raw tables."), as_json: bool = JsonOpt,
              user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt,
              max_rows: int = typer.Option(1000, "--max-rows", min=1, max=5000)) -> None:
        """Run a read-only SQL query over the raw tier (DuckDB), within your role's tables and columns."""
        from services.data import QueryRequest
        from services.data import query as query_service

        resources = open_resources()
        try:
            result = query_service(resources, who(resources, user, role, purpose), QueryRequest(sql=sql, max_rows=max_rows))
        except SageError as exc:
            fail(exc, as_json)
            return
        emit(result, as_json, _render_query)

    @app.command()
    def search(text: str = typer.Argument(..., help="Findings text to match."), k: int = typer.Option(5, "--k", min=1, max=20, help="Number of cases."),
               finding: list[str] = FindingOpt, split: str | None = typer.Option(None, "--split", help="Only 'train' or 'test' cases (default: both)."),
               as_json: bool = JsonOpt, user: str | None = UserOpt, role: str | None = RoleOpt, purpose: str = PurposeOpt) -> None:
        """Find similar cases in the semantic tier (your role's access filter applies).

        Cases are ranked by ``score``: the cosine similarity of the findings texts plus a bonus
        for sharing the query's abnormal findings (label-aware retrieval); ``similarity`` is the
        plain cosine.
        """
        from services.data import SearchRequest
        from services.data import search as search_service

        resources = open_resources()
        try:
            try:
                request = SearchRequest.parse({"text": text, "k": k, "split": split, "required_findings": _parse_findings(finding)})
            except SageError as exc:
                hint = "use --finding KEY=STATE, e.g. pleural_effusion=present" if "required_findings" in exc.message else exc.hint
                raise SageError(exc.message, hint=hint) from None
            result = search_service(resources, who(resources, user, role, purpose), request)
        except SageError as exc:
            fail(exc, as_json)
            return
        finally:
            resources.close()
        emit(SearchResult(query=text, hits=[SimilarCase.from_hit(h) for h in result.hits]), as_json, _render_search)


INGEST_EXIT_CODES = {"ok": 0, "partial": 3, "failed": 1, "empty": 1}
"""``sagehealth ingest`` exit status per outcome (docs/data.md#input-limits): 0 every file
ingested, 3 some files failed (listed; the rest were ingested), 1 nothing ingested (every file
failed, no input file found, or the command itself failed: denied, bad path)."""


def ingest_exit_code(outcomes: list[str]) -> int:
    """One exit status for the sources of one ingest call: the worst of their outcomes."""
    codes = [INGEST_EXIT_CODES[o] for o in outcomes] or [1]
    if all(c == 1 for c in codes):
        return 1
    return 3 if any(codes) else 0


def _render_ingest(results: dict[str, Any]) -> None:
    for name, rep in results.items():
        table = Table(title=f"ingest {name}: {rep['files']} files, {rep['seconds']:.1f}s, {rep['reports_per_second']:.1f} reports/s")
        for col in ("table", "new", "changed", "unchanged"):
            table.add_column(col)
        for tname, c in rep["tables"].items():
            if any(c.values()):
                table.add_row(tname, str(c["new"]), str(c["changed"]), str(c["unchanged"]))
        console.print(table)
        console.print(f"skipped {rep['skipped']}, semantic points written {rep['points_upserted']}, files not ingested {rep['failed_files']}")
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
    table = Table(title="similar cases, ranked by score (cosine + shared-findings bonus)")
    for col in ("case", "score", "cosine", "positive findings", "impression"):
        table.add_column(col)
    for hit in result.hits:
        table.add_row(hit.case_id, f"{hit.score:.3f}", f"{hit.similarity:.3f}", ", ".join(hit.positive_findings) or "-", hit.impression)
    console.print(table)
