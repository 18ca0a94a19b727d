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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.settings import Settings
from lakehouse.findings import FINDING_KEYS, Labels, positive_findings
from lakehouse.raw.store import content_hash
from lakehouse.raw.tables import coerce_row
from lakehouse.semantic.base import CasePoint, SemanticStore

log = logging.getLogger(__name__)

LABELER = "sage-rules-v1"
NORMAL_SENTENCE = "No acute cardiopulmonary abnormality."


@dataclass
class LabelledReport:
    """A report row with its labels and the label version they get."""

    row: dict[str, Any]
    source: str
    labels: Labels
    label_version: int


def label_reports(rows: Sequence[tuple[dict[str, Any], str]], current_labels: dict[str, dict[str, tuple[str, int]]]) -> list[LabelledReport]:
    """Label report rows; a report whose labels changed gets the next label version.

    Args:
        rows: (report row, source file) pairs.
        current_labels: report_id -> finding -> (state, label_version) from the raw tier.
    """
    from lakehouse.labeler import label_report

    out: list[LabelledReport] = []
    for row, source in rows:
        labels = label_report(row.get("findings") or "", row.get("impression") or "")
        old = current_labels.get(row["report_id"], {})
        old_version = max((v for _, v in old.values()), default=0)
        same = old and {k: s for k, (s, _) in old.items()} == dict(labels)
        out.append(LabelledReport(row, source, dict(labels), old_version if same else old_version + 1))
    return out


def label_rows(reports: Sequence[LabelledReport]) -> list[dict[str, Any]]:
    """``report_labels`` rows: one per finding the labeler stated, in the 14-finding order."""
    rows = []
    for rep in reports:
        for finding in FINDING_KEYS:
            if finding in rep.labels:
                rows.append({"label_id": f"{rep.row['report_id']}/{finding}", "report_id": rep.row["report_id"], "finding": finding, "state": rep.labels[finding], "label_version": rep.label_version, "labeler": LABELER})
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
