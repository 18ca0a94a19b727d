"""Re-ingesting keeps clinician corrections: a correction is a later version the labeler's re-reading must not undo.

Real components: the small lakehouse copy, its synthetic FHIR bundle of one case re-ingested
through ``ingest_fhir_folder`` (the same path ``sagehealth ingest`` takes), the feedback loop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from lakehouse.feedback import FeedbackEvent, FindingChange, label_history, record_feedback, rollback
from lakehouse.ingest.pipeline import ingest_fhir_folder
from lakehouse.labeler import label_report
from lakehouse.raw.store import RawStore
from lakehouse.semantic import SearchFilter, open_store
from policies.audit import AuditLog

sys.path.insert(0, str(Path(__file__).parent))
from feedback_setup import DR_A, RULES, writable_copy  # noqa: E402

NO_SPREAD = RULES.model_copy(update={"propagate": False})


@pytest.fixture
def home(small_lakehouse: Settings, tmp_path: Path) -> Settings:
    return writable_copy(small_lakehouse, tmp_path / "home")


def _state(settings: Settings, case: str) -> tuple[dict[str, Any], dict[str, str], list[tuple[int, str]]]:
    store = open_store(settings)
    try:
        payload = store.retrieve([case])[0].payload
    finally:
        store.close()
    raw = {r["finding"]: r["state"] for r in RawStore(settings).scan("report_labels").to_pylist() if r["report_id"] == case and r["state"] != "not_stated"}
    return payload, raw, [(v.version, v.kind) for v in label_history(settings, case)]


def _bundle(small: Settings, case: str, folder: Path, edit: Any = None) -> Path:
    """The case's synthetic bundle in its own folder, optionally with its DiagnosticReport edited."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{case}.json"
    bundle = json.loads((small.synthetic_dir / f"{case}.json").read_text())
    if edit is not None:
        report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
        edit(report)
    target.write_text(json.dumps(bundle))
    return target


def _reingest(settings: Settings, bundle: Path) -> None:
    report = ingest_fhir_folder(settings, bundle.parent, only=[bundle])
    assert not report.errors, report.errors


def test_reingest_keeps_corrections_and_an_amended_report_reopens_only_what_it_changed(small_lakehouse: Settings, home: Settings, tmp_path: Path) -> None:
    store = open_store(home)
    case = next(p.case_id for p in store.scroll(SearchFilter(split="train"), limit=300)
                if p.payload.get("impression") and not {"cardiomegaly", "edema"} & set(p.payload.get("labels") or {})
                and (small_lakehouse.synthetic_dir / f"{p.case_id}.json").is_file())
    store.close()
    audit = AuditLog(home.audit_path)
    event = FeedbackEvent(case_id=case, clinician=DR_A, reason="enlarged heart and edema on the film",
                          changes=[FindingChange(finding="cardiomegaly", old=None, new="present"), FindingChange(finding="edema", old=None, new="present")])
    result = record_feedback(home, event, audit=audit, rules=NO_SPREAD, release_store=True)
    assert result.status == "applied"
    corrected = _state(home, case)
    assert corrected[0]["labels"]["cardiomegaly"] == corrected[1]["cardiomegaly"] == "present"

    # 1. The same bundle again, and 2. a changed row whose text is the same: the correction stands, no new version.
    _reingest(home, _bundle(small_lakehouse, case, tmp_path / "same"))
    assert _state(home, case) == corrected
    _reingest(home, _bundle(small_lakehouse, case, tmp_path / "dated", lambda r: r.update(effectiveDateTime="2013-01-02T10:00:00+00:00")))
    payload, raw, history = _state(home, case)
    assert payload["labels"] == corrected[0]["labels"] and raw == corrected[1] and history == corrected[2]
    assert payload["label_version"] == corrected[0]["label_version"]
    assert payload["label_events"] == corrected[0]["label_events"] and corrected[0]["label_events"]["cardiomegaly"] == event.event_id  # the trace link survives

    # 3. An amended report that now says the heart is normal: cardiomegaly is read afresh, the edema correction stays.
    amended = f"{payload['impression']} Heart size is normal."

    def amend(report: dict[str, Any]) -> None:
        report["conclusion"] = amended

    findings = payload["findings"]
    assert label_report(findings, amended).get("cardiomegaly") == "absent"
    _reingest(home, _bundle(small_lakehouse, case, tmp_path / "amended", amend))
    payload, raw, history = _state(home, case)
    assert payload["labels"]["cardiomegaly"] == raw["cardiomegaly"] == "absent"
    assert payload["labels"]["edema"] == raw["edema"] == "present" and payload["labels"]["no_finding"] == "absent"
    assert payload["label_version"] == corrected[0]["label_version"] + 1
    assert payload["label_events"].get("edema") == event.event_id and "cardiomegaly" not in payload["label_events"]  # read afresh: no correction behind it
    assert history[: len(corrected[2])] == corrected[2] and history[-1] == (payload["label_version"], "ingest")

    # 4. Rolling the correction back undoes the edema it still stands behind, and leaves the
    #    amended report's fresh reading of the heart alone (it is newer than the correction).
    undone = rollback(home, event.event_id, DR_A, audit=audit, release_store=True)
    assert undone.kept_later == {case: ["cardiomegaly"]} and set(undone.restored[case]) >= {"edema"}
    payload, raw, history = _state(home, case)
    assert payload["labels"]["cardiomegaly"] == raw["cardiomegaly"] == "absent"
    assert "edema" not in payload["labels"] and "edema" not in raw and event.event_id not in payload["label_events"].values()
    assert payload["labels"] == label_report(findings, amended), "no feedback stands: the labeler's reading of the amended report"
    assert history[-1] == (payload["label_version"], "rollback")
