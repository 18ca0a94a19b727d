"""Ingestion: source files -> raw tier (Delta) -> labels -> embeddings -> semantic tier (Qdrant).

``ingest_default`` builds the shipped lakehouse: the Indiana chest X-ray reports, wrapped in
seeded synthetic FHIR bundles (patients, encounters, labs, conditions, drugs), ingested like
any other FHIR folder. Work runs in batches; each batch is atomic across both tiers: the raw
appends run in a :meth:`RawStore.transaction` and the semantic upsert in a
:class:`SemanticBatch`, and a failure in either undoes both. Only new or changed reports are
labelled and embedded, so re-ingesting the same data writes nothing anywhere.

A malformed file is reported with its file and field and skipped; the rest of the batch goes in.

Usage::

    report = ingest_default(settings, limit=300)
    print(report.tables["reports"].new, report.reports_per_second)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from core.settings import Settings
from lakehouse.ingest.indiana import IndianaReport, ReadStats, read_indiana
from lakehouse.ingest.semantic_writer import (
    LABELER,
    SemanticBatch,
    StoredLabels,
    access_tags,
    build_points,
    label_reports,
    label_rows,
    stored_labels,
)
from lakehouse.raw.schema import TABLES, split_for
from lakehouse.raw.store import RawStore
from lakehouse.raw.tables import RowTypeError, coerce_row

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
"""(stage, done, total): how the CLI draws progress bars without the library printing."""

BATCH_SIZE = 256


class IngestIssue(BaseModel):
    """One file or record that could not be ingested."""

    file: str
    field: str
    message: str


class TableCounts(BaseModel):
    """Rows written and skipped for one raw table."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0


class IngestReport(BaseModel):
    """What one ingest call did."""

    batch_id: str
    tables: dict[str, TableCounts] = Field(default_factory=dict)
    files: int = Field(0, description="Source files read, failed ones included.")
    skipped: int = Field(0, description="Records skipped on purpose (e.g. reports with neither findings nor impression).")
    errors: list[IngestIssue] = Field(default_factory=list)
    points_upserted: int = 0
    seconds: float = 0.0
    reports_per_second: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed_files(self) -> int:
        """Source files with at least one error (a bundle with an error is not ingested at all)."""
        return len({e.file for e in self.errors})

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> Literal["ok", "partial", "failed", "empty"]:
        """``ok``: no file failed; ``partial``: some did; ``failed``: every file did; ``empty``: no input file."""
        if self.files == 0:
            return "failed" if self.errors else "empty"
        if not self.errors:
            return "ok"
        return "failed" if self.failed_files >= self.files else "partial"


@dataclass
class SourceBatch:
    """Rows from a few source files, ingested together."""

    rows: dict[str, list[tuple[dict[str, Any], str]]] = field(default_factory=dict)
    files: int = 0

    def add(self, table: str, row: dict[str, Any], source: str) -> None:
        """Queue one row of ``table`` read from ``source``."""
        self.rows.setdefault(table, []).append((row, source))


def _progress(progress: bool | ProgressFn) -> ProgressFn | None:
    if callable(progress):
        return progress
    if not progress:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=stage, unit="rec"))
        bar.total = total
        bar.n = done
        bar.refresh()

    return update


def _validated(rows: dict[str, list[dict[str, Any]]], file: str) -> IngestIssue | None:
    # Reject a whole file when one value does not fit, before it can abort the batch write.
    for table, table_rows in rows.items():
        if table not in TABLES:
            return IngestIssue(file=file, field=table, message=f"unknown table {table!r}")
        for row in table_rows:
            try:
                coerce_row(table, row)
            except RowTypeError as exc:
                return IngestIssue(file=file, field=f"{exc.table}.{exc.column}", message=str(exc))
            if not row.get(TABLES[table][0]):
                return IngestIssue(file=file, field=f"{table}.{TABLES[table][0]}", message="missing key")
    return None


class Ingestor:
    """Runs batches into both tiers; one instance per ingest call.

    Args:
        settings: Where the lakehouse lives.
        progress: True for a terminal progress bar, or a (stage, done, total) callback.
        store: The installation's semantic store (``tools.resources.Resources`` holds it); when
            not given, one is opened for this ingest and closed at its end.
        embedder: The text embedder (from the model zoo when not given).
    """

    def __init__(self, settings: Settings, progress: bool | ProgressFn = False, *, store: Any = None, embedder: Any = None) -> None:
        self.settings = settings
        self.raw = RawStore(settings)
        self.report = IngestReport(batch_id=uuid.uuid4().hex[:12], tables={t: TableCounts() for t in TABLES})
        self.progress = _progress(progress)
        self._store: Any = store
        self._owns_store = store is None
        self._ensured = False
        self._embedder: Any = embedder
        self._patients = {r["patient_id"]: r for r in self.raw.scan("patients").to_pylist()}
        self._labels = stored_labels(self.raw)  # with the feedback versions a re-ingest must keep

    @property
    def store(self) -> Any:
        """The semantic store, opened on first use and its collection ensured."""
        from lakehouse.semantic.base import VECTORS

        if self._store is None:
            from lakehouse.semantic import open_store

            self._store = open_store(self.settings)
        if not self._ensured:
            self._store.ensure_collection(VECTORS)
            self._ensured = True
        return self._store

    @property
    def embedder(self) -> Any:
        """The text embedder, loaded on first use."""
        if self._embedder is None:
            from models.zoo import ModelZoo

            self._embedder = ModelZoo(self.settings).embedder()
        return self._embedder

    def run(self, batches: Iterable[SourceBatch], total: int) -> IngestReport:
        """Ingest every batch and optimise the semantic index after writes.

        A store this ingest opened itself is closed at the end (its shard lease handed back).
        """
        start = time.perf_counter()
        done = 0
        try:
            for batch in batches:
                self._ingest(batch)
                done += batch.files
                if self.progress:
                    self.progress("ingest", done, total)
            if self.report.points_upserted and self._store is not None:
                self._store.optimize()
        finally:
            if self._owns_store and self._store is not None:
                self._store.close()
                self._store, self._ensured = None, False
        self.report.seconds = time.perf_counter() - start
        n_reports = sum(self.report.tables["reports"].model_dump().values())
        self.report.reports_per_second = n_reports / self.report.seconds if self.report.seconds else 0.0
        return self.report

    def _ingest(self, batch: SourceBatch) -> None:
        self.report.files += batch.files
        semantic = SemanticBatch(self.store) if "reports" in batch.rows else None
        pending_patients: dict[str, dict[str, Any]] = {}
        try:
            with self.raw.transaction():
                counts = {}
                for table in TABLES:
                    rows = batch.rows.get(table, [])
                    if not rows or table == "report_labels":
                        continue
                    counts[table] = self.raw.append(table, [r for r, _ in rows], [s for _, s in rows], self.report.batch_id)
                    if table == "patients":
                        pending_patients = {r["patient_id"]: r for r, _ in rows}
                if semantic is not None:
                    self._semantic(batch, counts["reports"].written_keys, {**self._patients, **pending_patients}, semantic, counts)
        except BaseException:
            if semantic is not None:
                semantic.undo()
            raise
        self._patients.update(pending_patients)
        for table, result in counts.items():
            tc = self.report.tables[table]
            tc.new, tc.changed, tc.unchanged = tc.new + result.new, tc.changed + result.changed, tc.unchanged + result.unchanged

    def _semantic(self, batch: SourceBatch, written: list[str], patients: dict[str, dict[str, Any]], semantic: SemanticBatch, counts: dict[str, Any]) -> None:
        rows = batch.rows["reports"]
        todo = set(written)
        # Repair: a report already in the raw tier but missing from the semantic tier is embedded too.
        others = [r["report_id"] for r, _ in rows if r["report_id"] not in todo]
        if others:
            present = {p.case_id for p in self.store.retrieve(others)}
            todo |= set(others) - present
        self._refresh_access_tags(rows, todo, patients, counts)
        selected = [(r, s) for r, s in rows if r["report_id"] in todo]
        if not selected:
            return
        labelled = label_reports(selected, self._labels)
        counts["report_labels"] = self.raw.append("report_labels", label_rows(labelled), f"labeler:{LABELER}", self.report.batch_id)
        points = build_points(labelled, patients, self.settings, self.embedder)
        semantic.upsert(points)
        self.report.points_upserted += len(points)
        for rep in labelled:
            self._labels[rep.row["report_id"]] = StoredLabels(states=dict(rep.labels), version=rep.label_version, feedback=set(rep.kept), reading=rep.reading)


    def _refresh_access_tags(self, rows: list[Any], todo: set[str], patients: dict[str, dict[str, Any]], counts: dict[str, Any]) -> None:
        """A patient whose consent, site or sensitivity changed: update the tags on their unchanged reports.

        Retrieval filters on these payload fields, so a withdrawn research consent must reach the
        semantic tier even when no report text changed. Runs inside the raw transaction: if it
        fails, the patient change is rolled back with the batch.
        """
        changed = set(counts["patients"].written_keys) if "patients" in counts else set()
        for row, _ in rows:
            pid = row.get("patient_id")
            if pid in changed and row["report_id"] not in todo:
                self.store.set_payload(row["report_id"], access_tags(row, patients.get(pid, {}), self.settings))


def report_row(report: IndianaReport, settings: Settings, patient_id: str | None = None) -> dict[str, Any]:
    """The ``reports`` row of a bare Indiana report (no FHIR wrapper)."""
    return {
        "report_id": report.report_id, "patient_id": patient_id, "encounter_id": None, "study_date": report.article_date,
        "modality": "CR", "indication": report.indication, "comparison": report.comparison, "findings": report.findings,
        "impression": report.impression, "mesh": report.mesh, "image_ids": report.image_ids,
        "split": split_for(report.report_id), "site": settings.site,
    }


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _fhir_batches(folder: Path, report: IngestReport, only: set[Path] | None) -> tuple[list[SourceBatch], int]:
    from lakehouse.ingest.fhir import BundleError, read_bundles

    batches: list[SourceBatch] = []
    current = SourceBatch()
    n = 0
    for path, result in read_bundles(folder):
        if only is not None and Path(path).resolve() not in only:
            continue
        n += 1
        if isinstance(result, BundleError):
            report.files += 1  # read, not ingested (good files are counted per batch)
            report.errors.append(IngestIssue(file=str(path), field=str(getattr(result, "field", "?")), message=str(getattr(result, "message", result))))
            continue
        issue = _validated(result, str(path))
        if issue is not None:
            report.files += 1
            report.errors.append(issue)
            continue
        current.files += 1
        for table, rows in result.items():
            for row in rows:
                current.add(table, row, str(path))
        if current.files >= BATCH_SIZE:
            batches.append(current)
            current = SourceBatch()
    if current.files:
        batches.append(current)
    return batches, n


def ingest_fhir_folder(settings: Settings, path: Path, progress: bool | ProgressFn = False, *, only: Iterable[Path] | None = None, store: Any = None, embedder: Any = None) -> IngestReport:
    """Ingest every FHIR R4 bundle (``*.json``) in a folder into both tiers.

    Args:
        settings: Where the lakehouse lives.
        path: Folder of bundles.
        progress: True for a terminal progress bar, or a (stage, done, total) callback.
        only: Ingest only these bundle files (e.g. a generator's output, not its ledger).
        store: The semantic store to write (see :class:`Ingestor`).
        embedder: The text embedder (see :class:`Ingestor`).
    """
    ingestor = Ingestor(settings, progress, store=store, embedder=embedder)
    batches, total = _fhir_batches(Path(path), ingestor.report, {Path(p).resolve() for p in only} if only is not None else None)
    return ingestor.run(batches, total)


def ingest_report_folder(settings: Settings, path: Path, progress: bool | ProgressFn = False, *, store: Any = None, embedder: Any = None) -> IngestReport:
    """Ingest a folder (or .tgz) of Indiana-style XML reports, without patients, into both tiers (store, embedder: see :class:`Ingestor`)."""
    ingestor = Ingestor(settings, progress, store=store, embedder=embedder)
    stats = ReadStats()
    reports = list(read_indiana(Path(path), stats=stats))
    ingestor.report.skipped += len(stats.skipped)
    ingestor.report.errors += [IngestIssue(file=e.file, field=e.field, message=e.msg) for e in stats.errors]
    batches = []
    for chunk in _chunks(reports, BATCH_SIZE):
        batch = SourceBatch(files=len(chunk))
        for rep in chunk:
            batch.add("reports", report_row(rep, settings), rep.source)
        batches.append(batch)
    out = ingestor.run(batches, len(reports))
    out.files += len(stats.skipped) + len(stats.errors)
    return out


def ingest_default(settings: Settings, limit: int | None = None, progress: bool | ProgressFn = True, *, store: Any = None, embedder: Any = None) -> IngestReport:
    """Build the shipped lakehouse: Indiana reports in seeded synthetic FHIR bundles, both tiers.

    Args:
        settings: Where the lakehouse lives (``settings.synthetic_dir`` receives the bundles).
        limit: Only the first ``limit`` reports by numeric id.
        progress: True for terminal progress bars, or a (stage, done, total) callback.
        store: The semantic store to write (see :class:`Ingestor`).
        embedder: The text embedder (see :class:`Ingestor`).
    """
    from lakehouse.synth.generate import SYNTHETIC_SITES, generate_bundles

    stats = ReadStats()
    reports = list(read_indiana(limit=limit, stats=stats))
    # Two synthetic hospitals (site-a, site-b: SYNTHETIC_SITES), assigned per report by hash: deterministic, so re-running adds nothing.
    generated = generate_bundles(reports, settings.synthetic_dir, settings.seed, settings.site, sites=SYNTHETIC_SITES)
    folders = {Path(p).parent for p in generated.paths}
    report: IngestReport | None = None
    for folder in sorted(folders):
        part = ingest_fhir_folder(settings, folder, progress, only=generated.paths, store=store, embedder=embedder)
        report = part if report is None else _merge(report, part)
    report = report or IngestReport(batch_id="empty")
    report.skipped += len(stats.skipped)
    report.errors += [IngestIssue(file=e.file, field=e.field, message=e.msg) for e in stats.errors]
    return report


def _merge(a: IngestReport, b: IngestReport) -> IngestReport:
    for table, counts in b.tables.items():
        tc = a.tables.setdefault(table, TableCounts())
        tc.new, tc.changed, tc.unchanged = tc.new + counts.new, tc.changed + counts.changed, tc.unchanged + counts.unchanged
    a.files += b.files
    a.skipped += b.skipped
    a.errors += b.errors
    a.points_upserted += b.points_upserted
    a.seconds += b.seconds
    n = sum(a.tables["reports"].model_dump().values())
    a.reports_per_second = n / a.seconds if a.seconds else 0.0
    return a
