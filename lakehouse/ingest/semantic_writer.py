"""From raw report rows to semantic-tier case points: labels, embeddings, payload, upsert.

Each report becomes one Qdrant point with two text vectors: ``text`` (the findings, or the
impression when a report has no findings) and ``abnormal`` (only the sentences that state a
present finding, or a fixed normal sentence), because whole-report similarity is dominated by
normal boilerplate (docs/lakehouse.md). Access tags (site, consent, sensitivity) come from
the patient row so search can filter on them inside the engine.

:class:`SemanticBatch` makes an upsert undoable: it remembers the points it replaced, and
:meth:`SemanticBatch.undo` deletes what it wrote and puts the previous points back, which the
pipeline calls when the raw-tier transaction of the same batch fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.settings import Settings
from lakehouse.findings import FINDING_KEYS, NOT_STATED, Labels, positive_findings
from lakehouse.raw.store import content_hash
from lakehouse.raw.tables import coerce_row
from lakehouse.semantic.base import CasePoint, SemanticStore

log = logging.getLogger(__name__)

LABELER = "sage-rules-v1"
NORMAL_SENTENCE = "No acute cardiopulmonary abnormality."


@dataclass
class LabelledReport:
    """A report row with its labels and the label version they get.

    ``kept``: findings whose state a clinician's feedback set and the text does not contradict
    anew (no ingest row is written for them); ``dropped``: findings stated before and no longer.
    """

    row: dict[str, Any]
    source: str
    labels: Labels
    label_version: int
    kept: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    reading: dict[str, str] = field(default_factory=dict)
    unchanged: bool = False  # the raw tier already holds exactly these labels: no row to write
    events: dict[str, str] = field(default_factory=dict)  # kept finding -> the feedback event behind it (payload ``label_events``)


@dataclass
class StoredLabels:
    """A report's labels as the raw tier holds them.

    ``states``: the current state per finding (the latest ``report_labels`` row; "not stated"
    left out); ``feedback``: findings whose latest row a feedback version wrote (correction,
    propagation, rollback, import); ``reading``: the labeler's last reading of the report text,
    which a correction does not change; ``events``: finding -> the feedback event whose
    correction, propagation or import wrote its latest row (a rollback's row names none).
    """

    states: dict[str, str] = field(default_factory=dict)
    version: int = 0
    feedback: set[str] = field(default_factory=set)
    reading: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)


def stored_labels(raw: Any) -> dict[str, StoredLabels]:
    """Report id -> :class:`StoredLabels`, from every version of ``report_labels``."""
    from lakehouse.feedback.apply import SHAPING_KINDS

    data = raw.scan("report_labels", history=True)
    columns = ["label_id", "report_id", "finding", "state", "label_version", "labeler", "_version"]
    latest: dict[str, dict[str, Any]] = {}
    read: dict[str, dict[str, Any]] = {}
    for r in data.select(columns).to_pylist() if data.num_rows else []:
        key = r["label_id"]
        if key not in latest or r["_version"] > latest[key]["_version"]:
            latest[key] = r
        if r["labeler"] == LABELER and (key not in read or r["_version"] > read[key]["_version"]):
            read[key] = r
    out: dict[str, StoredLabels] = {}
    for key, r in latest.items():
        stored = out.setdefault(r["report_id"], StoredLabels())
        stored.version = max(stored.version, int(r["label_version"]))
        if r["state"] != NOT_STATED:
            stored.states[r["finding"]] = r["state"]
        if r["labeler"] != LABELER:
            stored.feedback.add(r["finding"])
            kind, _, event_id = str(r["labeler"]).partition(":")
            if kind in SHAPING_KINDS and event_id:
                stored.events[r["finding"]] = event_id
        ingest = read.get(key)
        if ingest is not None and ingest["state"] != NOT_STATED:
            stored.reading[r["finding"]] = ingest["state"]
    return out


def merge_labels(reading: Mapping[str, str], stored: StoredLabels | None) -> tuple[dict[str, str], set[str]]:
    """The labels of a (re-)ingested report: the labeler's reading, except where feedback stands; and the findings it keeps.

    A clinician's correction is a later version than the labeler's reading of the same text, so
    re-reading an unchanged report keeps it. When the report text itself changed, a finding
    whose reading changed too is read afresh (the amended report says something new about it,
    a correction of the old text no longer applies); the other corrections stay, and
    ``no_finding`` is recomputed from the result (as the feedback loop does).
    """
    if stored is None or not stored.feedback:
        return dict(reading), set()
    if reading == stored.reading:
        return dict(stored.states), set(stored.feedback)
    kept = {f for f in stored.feedback if reading.get(f) == stored.reading.get(f)}
    out = {f: s for f, s in reading.items() if f not in kept}
    out |= {f: stored.states[f] for f in kept if f in stored.states}
    if kept - {"no_finding"}:
        from lakehouse.feedback.session import with_no_finding

        out = dict(with_no_finding(out, explicit=False))  # type: ignore[arg-type]
        kept.discard("no_finding")
    return out, kept


def label_reports(rows: Sequence[tuple[dict[str, Any], str]], current: dict[str, StoredLabels]) -> list[LabelledReport]:
    """Label report rows; a report whose labels changed gets the next label version.

    Args:
        rows: (report row, source file) pairs.
        current: report_id -> what the raw tier holds (:func:`stored_labels`); feedback there
            survives a re-ingest (:func:`merge_labels`).
    """
    from lakehouse.labeler import label_report

    out: list[LabelledReport] = []
    for row, source in rows:
        reading = dict(label_report(row.get("findings") or "", row.get("impression") or ""))
        stored = current.get(row["report_id"])
        labels, kept = merge_labels(reading, stored)
        before = stored.states if stored is not None else {}
        version = stored.version if stored is not None else 0
        same = stored is not None and labels == before
        dropped = {f for f in before if f not in labels and f not in kept}
        events = {f: stored.events[f] for f in sorted(kept) if stored is not None and f in stored.events}
        out.append(LabelledReport(row, source, labels, version if same else version + 1, kept=kept, dropped=dropped, reading=reading, unchanged=same, events=events))  # type: ignore[arg-type]
    return out


def label_rows(reports: Sequence[LabelledReport]) -> list[dict[str, Any]]:
    """``report_labels`` rows: one per finding the labeler stated (or no longer states), in the 14-finding order.

    Findings held by feedback (``kept``) get no row: their latest row stays the feedback one.
    """
    rows = []
    for rep in reports:
        for finding in FINDING_KEYS:
            if rep.unchanged or finding in rep.kept:
                continue
            state = rep.labels.get(finding, NOT_STATED if finding in rep.dropped else None)
            if state is not None:
                rows.append({"label_id": f"{rep.row['report_id']}/{finding}", "report_id": rep.row["report_id"], "finding": finding, "state": state, "label_version": rep.label_version, "labeler": LABELER})
    return rows


def abnormal_text(findings: str, impression: str) -> str:
    """The sentences stating a present finding, or a fixed normal sentence when there are none."""
    from lakehouse.labeler import positive_sentences

    return " ".join(positive_sentences(f"{findings} {impression}".strip())) or NORMAL_SENTENCE


def access_tags(row: dict[str, Any], patient: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The payload fields retrieval filters enforce (site, consent, sensitivity), from the patient row.

    Fail closed: a report with no patient record, or a patient without tags, is
    ``treatment-only`` (never served to research use) at sensitivity 1 until a record says
    otherwise. Sensitivity 0 is a real value and is kept.
    """
    sensitivity = patient.get("sensitivity")
    return {
        "site": patient.get("site") or row.get("site") or settings.site,
        "consent": patient.get("consent") or "treatment-only",
        "sensitivity": 1 if sensitivity is None else int(sensitivity),
    }


def build_points(reports: Sequence[LabelledReport], patients: dict[str, dict[str, Any]], settings: Settings, embedder: Any) -> list[CasePoint]:
    """Embed the reports (both vectors in one embedder call) and assemble payloads."""
    texts = [(r.row.get("findings") or r.row.get("impression") or "") for r in reports]
    abnormal = [abnormal_text(r.row.get("findings") or "", r.row.get("impression") or "") for r in reports]
    vectors = embedder.embed(texts + abnormal) if reports else []
    now = datetime.now(UTC).isoformat()
    points = []
    for i, rep in enumerate(reports):
        row = rep.row
        patient = patients.get(row.get("patient_id") or "", {})
        payload = {
            "case_id": row["report_id"],
            "patient_id": row.get("patient_id"),
            "split": row.get("split"),
            **access_tags(row, patient, settings),
            "labels": dict(rep.labels),
            "positive_findings": positive_findings(rep.labels),
            "label_version": rep.label_version,
            "label_events": dict(rep.events),
            "findings": row.get("findings") or "",
            "impression": row.get("impression") or "",
            "indication": row.get("indication") or "",
            "source": rep.source,
            "content_hash": content_hash(coerce_row("reports", row)),
            "ingested_at": now,
        }
        points.append(CasePoint(case_id=row["report_id"], vectors={"text": vectors[i].tolist(), "abnormal": vectors[len(reports) + i].tolist()}, payload=payload))
    return points


@dataclass
class SemanticBatch:
    """Upserts that can be undone (the semantic half of an atomic two-tier batch)."""

    store: SemanticStore
    written: list[str] = field(default_factory=list)
    previous: list[CasePoint] = field(default_factory=list)

    def upsert(self, points: Sequence[CasePoint], batch_size: int = 256) -> None:
        """Remember the points about to be replaced, then upsert."""
        ids = [p.case_id for p in points]
        self.previous.extend(self.store.retrieve(ids, with_vectors=True))
        self.written.extend(ids)
        self.store.upsert(points, batch_size=batch_size)

    def undo(self) -> None:
        """Delete what this batch wrote and restore the points it replaced."""
        if self.written:
            log.warning("rolling back %d semantic points", len(self.written))
            self.store.delete(self.written)
        if self.previous:
            self.store.upsert(self.previous)
        self.written, self.previous = [], []
