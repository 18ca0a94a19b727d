"""Read the feedback record: a case's label versions, the events behind a set of cases, open proposals.

The first version(s) of a case come from ingestion (``report_labels`` rows written by the
labeler); every later one is a ``label_versions`` row with its event, actor and reason. Reads
only: no lock is taken, and a version being applied right now shows up once its rows commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.settings import Settings
from lakehouse.feedback.models import LabelVersion, Proposal
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.findings import NOT_STATED


def _ingest_versions(settings: Settings, case_id: str, known: set[int]) -> list[LabelVersion]:
    from lakehouse.raw.store import RawStore

    rows = [r for r in RawStore(settings).scan("report_labels", history=True).to_pylist() if r["report_id"] == case_id]
    by_version: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_version.setdefault(int(r["label_version"]), []).append(r)
    out: list[LabelVersion] = []
    labels: dict[str, str] = {}
    for version in sorted(by_version):
        batch = by_version[version]
        before = dict(labels)
        for r in batch:
            if r["state"] == NOT_STATED:
                labels.pop(r["finding"], None)
            else:
                labels[r["finding"]] = r["state"]
        if version in known:
            continue  # a feedback version: described by its label_versions row
        changed = {f: [before.get(f), labels.get(f)] for f in sorted(set(before) | set(labels)) if before.get(f) != labels.get(f)}
        out.append(LabelVersion(case_id=case_id, version=version, labels=dict(labels), changed=changed, kind="ingest", actor=str(batch[0]["labeler"]),
                                created_at=min(r["_ingested_at"] for r in batch).isoformat()))
    return out


def label_history(settings: Settings, case_id: str) -> list[LabelVersion]:
    """Every label version of a case, oldest first, with who changed it and why (empty: unknown case)."""
    tables = FeedbackTables(settings)
    rows = [r for r in tables.scan("label_versions") if r["case_id"] == case_id]
    events = {r["event_id"] for r in rows if r["kind"] == "correction"}
    reviewers = {e["event_id"]: e["reviewer"] for e in tables.scan("feedback_events") if e["event_id"] in events} if events else {}
    versions = [
        LabelVersion(case_id=case_id, version=int(r["version"]), labels=json.loads(r["labels"]), changed=json.loads(r["changed"]), kind=r["kind"],
                     event_id=r["event_id"], parent_event_id=r["parent_event_id"], actor=r["actor"], role=r["role"], reviewer=reviewers.get(r["event_id"]),
                     reason=r["reason"], created_at=r["created_at"])
        for r in rows
    ]
    base = _ingest_versions(settings, case_id, {v.version for v in versions})
    return sorted(base + versions, key=lambda v: v.version)


def feedback_events_for(settings: Settings, case_ids: Sequence[str]) -> list[str]:
    """Ids of the feedback events (corrections and rollbacks) that shaped these cases' current labels, oldest first.

    The whole record, rollbacks included. A run does not read it: the cases it retrieves carry
    the events behind their current labels in their payload (``label_events``), and the tool
    gate puts them on the run's trace (``sage.feedback.event_ids``).
    """
    wanted = set(case_ids)
    rows = sorted((r for r in FeedbackTables(settings).scan("label_versions") if r["case_id"] in wanted), key=lambda r: (r["created_at"], r["version"]))
    out: list[str] = []
    for r in rows:
        for event_id in (r["parent_event_id"] if r["kind"] == "propagation" else r["event_id"],):
            if event_id and event_id not in out:
                out.append(event_id)
    return out


def queued_proposals(settings: Settings, case_id: str | None = None) -> list[Proposal]:
    """Proposals waiting for review (optionally for one case), oldest first."""
    out = []
    for r in FeedbackTables(settings).scan("feedback_events"):
        if r["kind"] != "proposal" or r["status"] != "queued" or (case_id and r["case_id"] != case_id):
            continue
        change = json.loads(r["changes"])[0]
        out.append(Proposal(proposal_id=r["event_id"], event_id=r["parent_event_id"], case_id=r["case_id"], finding=change["finding"], old=change["old"], new=change["new"],
                            similarity=r["similarity"], support=change.get("support", "stated"), supporting_sentence=r["supporting_sentence"], confidence=r["confidence"], status="queued"))
    return sorted(out, key=lambda p: p.proposal_id)


def event_rows(settings: Settings, event_id: str) -> list[dict[str, Any]]:
    """The ``feedback_events`` rows of an event and its proposals (current versions)."""
    return [r for r in FeedbackTables(settings).scan("feedback_events") if r["event_id"] == event_id or r["parent_event_id"] == event_id]
