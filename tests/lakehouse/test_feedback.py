"""The feedback loop end to end on a real lakehouse copy: correct, propagate, report changes, roll back; bad input."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.settings import Settings
from lakehouse.feedback import (
    Clinician,
    FeedbackError,
    FeedbackEvent,
    FindingChange,
    feedback_events_for,
    label_history,
    queued_proposals,
    record_feedback,
    rollback,
)
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.labeler import label_text
from lakehouse.raw.store import RawStore
from lakehouse.semantic import SearchFilter, open_store
from policies.audit import AuditLog

sys.path.insert(0, str(Path(__file__).parent))  # feedback_setup, feedback_worker
from feedback_setup import DR_A, DR_B, RULES, mislabel_atelectasis, writable_copy  # noqa: E402


@pytest.fixture
def home(small_lakehouse: Settings, tmp_path: Path) -> Settings:
    return writable_copy(small_lakehouse, tmp_path / "home")


def _raw_labels(settings: Settings, case_ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {c: {} for c in case_ids}
    for r in RawStore(settings).scan("report_labels").to_pylist():
        if r["report_id"] in out and r["state"] != "not_stated":
            out[r["report_id"]][r["finding"]] = r["state"]
    return out


def _payloads(settings: Settings, case_ids: list[str]) -> dict[str, dict[str, Any]]:
    return {p.case_id: p.payload for p in open_store(settings).retrieve(case_ids)}


def _without_version(payloads: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c: {k: v for k, v in p.items() if k != "label_version"} for c, p in payloads.items()}


def _rendered(run_id: str, spans: list[dict[str, Any]]) -> str:
    from rich.console import Console

    from app.tracetree import build_tree, render_tree

    console = Console(record=True, width=400, file=io.StringIO())
    console.print(render_tree(run_id, build_tree(spans)))
    return console.export_text()


def _report(settings: Settings, case: dict[str, Any], traces: dict[str, list[str]] | None = None, mode: str = "retrieval-only") -> dict[str, Any]:
    """The report run's draft, citations and the feedback events behind them; ``traces`` gets the events on the run's trace."""
    from services.base import Caller
    from services.runs import RunRequest, run_task, trace
    from tools.resources import Resources

    request = RunRequest(task="report", input={"findings": case["findings"], "case_id": case["case_id"], "mode": mode})
    resources = Resources.for_settings(settings)
    resources.drop("query")  # labels changed since the last run: read the current snapshot
    caller = Caller(user="dr-a", role="clinician", purpose="treatment")
    result = run_task(resources, caller, request)
    assert result.status in {"done", "review"}, result.error
    if traces is not None:
        spans = trace(resources, caller, result.run_id)
        traces[case["case_id"]] = sorted({e for s in spans for e in (s.get("attributes") or {}).get("sage.feedback.event_ids", [])})
        shown = _rendered(result.run_id, spans)  # `sagehealth trace RUN` names them too
        assert all(e in shown for e in traces[case["case_id"]])
    return {key: result.output[key] for key in ("impression", "citations", "feedback_events", "draft_labels", "corrected_labels")}


def _most_connected(settings: Settings, mislabelled: list[str]) -> str:
    """The mislabelled case with findings text that has the most mislabelled neighbours above the threshold."""
    store = open_store(settings)
    best, best_n = "", -1
    for point in store.retrieve(mislabelled, with_vectors=True):
        if not point.payload.get("findings"):
            continue
        hits = store.search(point.vectors["text"], filter=SearchFilter(split="train", exclude_ids=[point.case_id]), limit=30)
        n = sum(h.score >= RULES.similarity_threshold and h.case_id in mislabelled for h in hits)
        if n > best_n:
            best, best_n = point.case_id, n
    return best


def test_pneumonia_to_atelectasis_end_to_end(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    mislabelled = mislabel_atelectasis(home, audit)
    assert len(mislabelled) >= 5
    store = open_store(home)
    queries = [p.payload for p in store.scroll(SearchFilter(split="test", findings={"atelectasis": "present"}), limit=100) if p.payload.get("findings")]
    assert queries, "the small lakehouse has test cases stating atelectasis"
    reports_before = {q["case_id"]: _report(home, q) for q in queries}
    target = _most_connected(home, mislabelled)
    payload_before = _payloads(home, mislabelled)
    raw_before = _raw_labels(home, mislabelled)

    event = FeedbackEvent(
        case_id=target, clinician=DR_A, reason="opacity is volume loss, not infection", run_id="run-test",
        changes=[FindingChange(finding="pneumonia", old="present", new="absent"), FindingChange(finding="atelectasis", old="absent", new="present")],
    )
    result = record_feedback(home, event, audit=audit, rules=RULES)
    assert result.status == "applied" and result.labels["atelectasis"] == "present" and result.labels["pneumonia"] == "absent"
    # Both tiers carry the new version at once.
    assert _raw_labels(home, [target])[target] == result.labels
    assert _payloads(home, [target])[target]["labels"] == result.labels
    assert _payloads(home, [target])[target]["label_version"] == result.label_version

    # Similar mislabelled cases got proposals, each with its similarity and the sentence that supports it.
    atelectasis = [p for p in result.proposals if p.finding == "atelectasis"]
    assert atelectasis, result.proposals
    for p in atelectasis:
        assert p.case_id in mislabelled and p.similarity >= RULES.similarity_threshold and p.support == "stated"
        assert p.supporting_sentence and label_text(p.supporting_sentence).get("atelectasis") == "present"
    for p in result.proposals:
        assert p.event_id == event.event_id and p.confidence <= p.similarity
    applied = {p.case_id for p in result.proposals if p.status == "applied"}
    queued = {p.proposal_id for p in result.proposals if p.status == "queued"}
    assert applied
    assert {p.proposal_id for p in queued_proposals(home)} == queued
    payloads = _payloads(home, sorted(applied))
    for case in applied:
        wanted = {p.finding: p.new for p in result.proposals if p.case_id == case and p.status == "applied"}
        assert {f: payloads[case]["labels"][f] for f in wanted} == wanted
        history = label_history(home, case)
        assert history[-1].kind == "propagation" and history[-1].parent_event_id == event.event_id
    history = label_history(home, target)
    assert [v.kind for v in history] == ["ingest", "import", "correction"]
    assert history[-1].actor == "dr-a" and history[-1].reason == event.reason and history[-1].changed["atelectasis"] == ["absent", "present"]
    assert event.event_id in feedback_events_for(home, [target, *applied])

    # The payloads name the event behind each corrected finding (the noise import stays behind the others).
    events_now = _payloads(home, [target, *applied])
    assert {f: events_now[target]["label_events"][f] for f in ("atelectasis", "pneumonia")} == {"atelectasis": event.event_id, "pneumonia": event.event_id}
    assert all(events_now[c]["label_events"]["atelectasis"] == event.event_id for c in applied)

    # The report of a case whose neighbours were corrected changes, and its output and trace name the correction.
    traces: dict[str, list[str]] = {}
    reports_after = {q["case_id"]: _report(home, q, traces) for q in queries}
    assert reports_after != reports_before
    touched = applied | {target}
    citing = [c for c, r in reports_after.items() if {x["case_id"] for x in r["citations"]} & touched]
    assert citing, "some report cites a corrected case"
    for c, r in reports_after.items():
        assert (event.event_id in r["feedback_events"]) == (c in citing)
        assert traces[c] == r["feedback_events"]

    # Rollback restores labels, payloads (but for the new version number) and reports exactly.
    undo = rollback(home, event.event_id, DR_B, audit=audit)
    assert set(undo.restored) == applied | {target} and not undo.kept_later
    assert _raw_labels(home, mislabelled) == raw_before
    after_payloads = _payloads(home, mislabelled)
    assert _without_version(after_payloads) == _without_version(payload_before)
    assert all(after_payloads[c]["label_version"] > payload_before[c]["label_version"] for c in applied | {target})
    assert {q["case_id"]: _report(home, q) for q in queries} == reports_before
    assert not queued_proposals(home)  # withdrawn with their correction
    assert [v.kind for v in label_history(home, target)][-1] == "rollback"
    with pytest.raises(FeedbackError, match="already rolled back"):
        rollback(home, event.event_id, DR_B, audit=audit)

    entries = audit.entries()
    actions = [e.action for e in entries]
    assert {"feedback:import", "feedback:correct", "feedback:propagate", "feedback:rollback"} <= set(actions)
    assert audit.verify().ok
    assert all(event.reason not in str(e.details) for e in entries)  # only its fingerprint


def test_the_corrected_study_gets_a_new_report_and_rollback_restores_it(home: Settings) -> None:
    """The paper's example on the study itself: its label corrected to atelectasis, its next draft says so."""
    audit = AuditLog(home.audit_path)
    case = next(p.payload for p in open_store(home).scroll(SearchFilter(split="train"), limit=200)
                if p.payload.get("findings") and (p.payload.get("labels") or {}).get("atelectasis") != "present")
    before = _report(home, case, mode="rag")
    assert before["draft_labels"].get("atelectasis") != "present" and not before["corrected_labels"]
    event = FeedbackEvent(case_id=case["case_id"], clinician=DR_A, reason="the opacity is volume loss", run_id="run-before",
                          changes=[FindingChange(finding="atelectasis", old=case["labels"].get("atelectasis"), new="present")])
    assert record_feedback(home, event, audit=audit, rules=RULES.model_copy(update={"propagate": False})).status == "applied"

    traces: dict[str, list[str]] = {}
    after = _report(home, case, traces, mode="rag")
    assert after["draft_labels"].get("atelectasis") == "present", after["impression"]
    assert after["corrected_labels"]["atelectasis"] == event.event_id and event.event_id in after["feedback_events"]
    assert traces[case["case_id"]] == after["feedback_events"]  # and on the run's trace

    rollback(home, event.event_id, DR_B, audit=audit)
    assert _report(home, case, mode="rag") == before


def test_the_planner_learns_a_correction_and_forgets_it_on_rollback(home: Settings, tmp_path: Path) -> None:
    from agents.tasks.report_plan import planner_from_store

    audit, store = AuditLog(home.audit_path), open_store(home)
    models = tmp_path / "models"
    before = planner_from_store(store, models)
    case = next(p.payload for p in store.scroll(SearchFilter(split="train"), limit=200)
                if p.payload.get("findings") and p.payload.get("impression") and (p.payload.get("labels") or {}).get("edema") != "present")
    event = FeedbackEvent(case_id=case["case_id"], clinician=DR_A, reason="interstitial edema", changes=[FindingChange(finding="edema", old=case["labels"].get("edema"), new="present")])
    assert record_feedback(home, event, audit=audit, store=store, rules=RULES.model_copy(update={"propagate": False})).status == "applied"
    taught = planner_from_store(store, models)
    assert taught.corpus != before.corpus and taught.reports == before.reports  # refitted on the corrected labels
    rollback(home, event.event_id, DR_B, audit=audit, store=store)
    assert planner_from_store(store, models) == before  # the labels are as before: so is the planner (loaded, not refitted)
    assert len(list((models / "impression-planner").glob("*.json"))) == 2


def test_later_unrelated_correction_survives_rollback(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    case = next(p.case_id for p in open_store(home).scroll(SearchFilter(split="train", findings={"cardiomegaly": "absent", "pleural_effusion": "absent"}), limit=50))
    no_spread = RULES.model_copy(update={"propagate": False})
    first = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_A, reason="heart is enlarged", changes=[FindingChange(finding="cardiomegaly", old="absent", new="present")]), audit=audit, rules=no_spread)
    second = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_B, reason="small effusion", changes=[FindingChange(finding="pleural_effusion", old="absent", new="present")]), audit=audit, rules=no_spread)
    assert first.status == second.status == "applied"
    undo = rollback(home, first.event_id, DR_B, audit=audit)
    labels = _payloads(home, [case])[case]["labels"]
    assert labels["cardiomegaly"] == "absent" and labels["pleural_effusion"] == "present"
    assert undo.restored[case]["cardiomegaly"] == "absent" and "pleural_effusion" not in undo.restored[case]
    events = _payloads(home, [case])[case]["label_events"]
    assert events["pleural_effusion"] == second.event_id and "cardiomegaly" not in events and first.event_id not in events.values()
    # A later correction of the same finding wins over the rollback of an earlier one.
    third = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_A, reason="on second look, cardiomegaly", changes=[FindingChange(finding="cardiomegaly", old="absent", new="present")]), audit=audit, rules=no_spread)
    fourth = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_B, reason="borderline heart size", changes=[FindingChange(finding="cardiomegaly", old="present", new="absent")]), audit=audit, rules=no_spread)
    assert third.status == fourth.status == "applied"
    undo = rollback(home, third.event_id, DR_B, audit=audit)
    assert "cardiomegaly" in undo.kept_later[case]
    assert _payloads(home, [case])[case]["labels"]["cardiomegaly"] == "absent"
    assert _payloads(home, [case])[case]["label_events"]["cardiomegaly"] == fourth.event_id  # the later correction is still behind it


def _snapshot(settings: Settings, case: str) -> tuple[Any, ...]:
    tables = FeedbackTables(settings)
    return (RawStore(settings).table_versions(), tables.exists("feedback_events"), tables.exists("label_versions"), _payloads(settings, [case]))


def test_bad_input_is_rejected_and_changes_nothing(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    case = next(p.case_id for p in open_store(home).scroll(SearchFilter(split="train", findings={"cardiomegaly": "absent"}), limit=50))
    change = [FindingChange(finding="cardiomegaly", old="absent", new="present")]
    before = _snapshot(home, case)

    with pytest.raises(ValidationError):
        FindingChange(finding="heart_attack", old=None, new="present")
    with pytest.raises(ValidationError):
        FindingChange(finding="edema", old="absent", new="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        FindingChange(finding="edema", old="absent", new="absent")
    with pytest.raises(ValidationError):
        FeedbackEvent(case_id=case, clinician=DR_A, reason="x ok", changes=change, extra_field=1)  # type: ignore[call-arg]

    refused = [
        record_feedback(home, FeedbackEvent(case_id="CXR-NOPE", clinician=DR_A, reason="wrong label", changes=change), audit=audit),
        record_feedback(home, FeedbackEvent(case_id=case, clinician=Clinician(user="r1", role="researcher", purpose="research"), reason="wrong label", changes=change), audit=audit),
        record_feedback(home, FeedbackEvent(case_id=case, clinician=Clinician(user="x", role="janitor", purpose="treatment"), reason="wrong label", changes=change), audit=audit),
        record_feedback(home, FeedbackEvent(case_id=case, clinician=Clinician(user="dr-a", role="clinician", purpose="research"), reason="wrong label", changes=change), audit=audit),
    ]
    assert [r.status for r in refused] == ["rejected"] * 4
    assert "unknown case" in refused[0].reasons[0] and "may not relabel" in refused[1].reasons[0]
    assert "not in policy pack" in refused[2].reasons[0] and "purpose" in refused[3].reasons[0]

    # A high-impact correction needs a second reviewer: another user in a reviewer role.
    risky = [FindingChange(finding="pneumothorax", old=None, new="present")]
    same = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_A, reviewer=DR_A, reason="apical pneumothorax", changes=risky), audit=audit)
    assert same.status == "rejected"
    assert _snapshot(home, case) == before  # nothing changed for any of them
    pending = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_A, reason="apical pneumothorax", changes=risky), audit=audit)
    assert pending.status == "needs_review" and any("second reviewer" in r for r in pending.reasons)
    # held for the reviewer as a pending row (tests/lakehouse/test_feedback_review.py decides it); no label changed
    assert [(r["event_id"], r["status"]) for r in FeedbackTables(home).scan("feedback_events")] == [(pending.event_id, "pending_review")]
    assert _snapshot(home, case)[0] == before[0] and _snapshot(home, case)[3] == before[3]
    assert [e.decision for e in audit.entries()] == ["deny"] * 4 + ["deny", "review"]

    approved = record_feedback(home, FeedbackEvent(case_id=case, clinician=DR_A, reviewer=DR_B, reason="apical pneumothorax", changes=risky), audit=audit)
    assert approved.status == "applied" and _payloads(home, [case])[case]["labels"]["pneumothorax"] == "present"
    with pytest.raises(FeedbackError, match="no correction"):
        rollback(home, "fb-unknown", DR_B, audit=audit)
    with pytest.raises(FeedbackError, match="may not relabel"):
        rollback(home, approved.event_id, Clinician(user="r1", role="researcher", purpose="research"), audit=audit)


def test_propagation_reaches_every_similar_case_above_the_threshold(home: Settings) -> None:
    """The threshold selects, not a top-k cap: every mislabelled case above it gets a proposal, however many are nearer (issue #19)."""
    import numpy as np

    from lakehouse.feedback.propagate import find_proposals, text_support

    mislabelled = mislabel_atelectasis(home, AuditLog(home.audit_path))
    target = _most_connected(home, mislabelled)
    store = open_store(home)
    points = {p.case_id: p for p in store.retrieve(mislabelled, with_vectors=True)}
    query = np.asarray(points[target].vectors["text"])
    threshold = 0.5
    cosine = {c: float(np.dot(query, v) / (np.linalg.norm(query) * np.linalg.norm(v))) for c, p in points.items() if c != target and (v := np.asarray(p.vectors["text"])).any()}
    # Computed here, outside the engine: mislabelled, above the threshold (away from its edge), and the report states atelectasis.
    expected = {c for c, s in cosine.items() if s >= threshold + 1e-4 and text_support(points[c].payload, "atelectasis", "present")[0] == "stated"}
    assert len(expected) > 3, "the small lakehouse has several similar mislabelled cases"
    change = [FindingChange(finding="atelectasis", old="absent", new="present")]
    labels = dict(points[target].payload["labels"])
    wide = RULES.model_copy(update={"similarity_threshold": threshold})
    found = {p.case_id for p in find_proposals(store, points[target], labels, change, wide, "ev-test")}
    below = {c for c, s in cosine.items() if s < threshold - 1e-4}
    assert expected <= found and not (found & below) and found <= set(mislabelled)
    # A cap below that count is what cut propagation short before: it keeps only the nearest.
    capped = {p.case_id for p in find_proposals(store, points[target], labels, change, wide.model_copy(update={"max_candidates": 3}), "ev-test")}
    assert len(capped) <= 3 < len(found)
    store.close()
