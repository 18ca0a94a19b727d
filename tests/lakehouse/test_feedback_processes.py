"""Feedback with real processes: two simultaneous corrections of one case, a process killed mid-propagation or mid-approval.

Workers run ``feedback_worker.py`` in their own interpreter. Qdrant Edge lets one process open
the shard at a time, so every worker opens it inside the feedback apply lock and closes it
before releasing the lock (``release_store=True``); the test process closes its own first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from lakehouse.feedback import (
    FeedbackEvent,
    FindingChange,
    label_history,
    pending_corrections,
    record_feedback,
)
from lakehouse.feedback import journal as feedback_journal
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.raw.store import RawStore
from lakehouse.semantic import SearchFilter, open_store
from policies.audit import AuditLog

sys.path.insert(0, str(Path(__file__).parent))
from feedback_setup import DR_A, DR_B, RULES, mislabel_atelectasis, writable_copy  # noqa: E402

WORKER = Path(__file__).parent / "feedback_worker.py"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(small_lakehouse: Settings, tmp_path: Path) -> Settings:
    return writable_copy(small_lakehouse, tmp_path / "home")


def _spawn(home: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, str(WORKER), str(home.home), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)


def _result(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _payload(home: Settings, case: str) -> dict[str, Any]:
    store = open_store(home)
    try:
        return store.retrieve([case])[0].payload
    finally:
        store.close()


def _raw_labels(home: Settings, case: str) -> dict[str, str]:
    return {r["finding"]: r["state"] for r in RawStore(home).scan("report_labels").to_pylist() if r["report_id"] == case and r["state"] != "not_stated"}


def test_two_simultaneous_corrections_are_both_kept(home: Settings) -> None:
    case = next(p.case_id for p in open_store(home).scroll(SearchFilter(split="train", findings={"cardiomegaly": "absent", "pleural_effusion": "absent"}), limit=50))
    rules = RULES.model_copy(update={"propagate": False}).model_dump_json()
    first = FeedbackEvent(case_id=case, clinician=DR_A, reason="enlarged heart, edema", changes=[FindingChange(finding="cardiomegaly", old="absent", new="present"), FindingChange(finding="edema", old=None, new="present")])
    second = FeedbackEvent(case_id=case, clinician=DR_B, reason="effusion, atelectasis", changes=[FindingChange(finding="pleural_effusion", old="absent", new="present"), FindingChange(finding="atelectasis", old=None, new="present")])
    start = time.time() + 8  # both interpreters are up by then
    procs = [_spawn(home, "record", e.model_dump_json(), rules, str(start)) for e in (first, second)]
    results = [_result(p) for p in procs]
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert sorted(r["label_version"] for r in results) == [2, 3]  # one after the other, none lost

    history = label_history(home, case)
    assert [v.kind for v in history] == ["ingest", "correction", "correction"]
    assert {v.event_id for v in history[1:]} == {first.event_id, second.event_id}
    final = _payload(home, case)
    assert final["labels"] == history[-1].labels == _raw_labels(home, case)
    # No update lost: each correction's findings survive the other.
    assert final["labels"]["cardiomegaly"] == "present" and final["labels"]["edema"] == "present"
    assert final["labels"]["pleural_effusion"] == "present" and final["labels"]["atelectasis"] == "present"
    assert [e.action for e in AuditLog(home.audit_path).entries()].count("feedback:correct") == 2


def test_same_finding_at_once_later_wins(home: Settings) -> None:
    case = next(p.case_id for p in open_store(home).scroll(SearchFilter(split="train", findings={"cardiomegaly": "absent"}), limit=50))
    rules = RULES.model_copy(update={"propagate": False}).model_dump_json()
    # Either may land first. A correction to *or from* 'uncertain' needs a second reviewer, so the
    # 'present' one needs it too when it lands after the 'uncertain' one (it then changes
    # uncertain -> present): without a reviewer it came back needs_review whenever the
    # 'uncertain' worker won the lock, which is what made this test flaky.
    events = [FeedbackEvent(case_id=case, clinician=who, reviewer=reviewer, reason="heart size", changes=[FindingChange(finding="cardiomegaly", old="absent", new=state)])
              for who, reviewer, state in ((DR_A, DR_B, "present"), (DR_B, DR_A, "uncertain"))]
    start = time.time() + 8
    results = [_result(p) for p in [_spawn(home, "record", e.model_dump_json(), rules, str(start)) for e in events]]
    assert all(r["status"] == "applied" for r in results), [(r["status"], r.get("reasons")) for r in results]
    later = max(results, key=lambda r: r["label_version"])
    earlier = min(results, key=lambda r: r["label_version"])
    assert any("changed meanwhile" in reason for reason in later["reasons"])  # it saw 'absent'; the other had already landed
    history = label_history(home, case)
    assert [v.event_id for v in history[-2:]] == [earlier["event_id"], later["event_id"]]
    assert _payload(home, case)["labels"]["cardiomegaly"] == later["labels"]["cardiomegaly"]


def test_killed_mid_propagation_recovers_all_or_nothing(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    mislabelled = mislabel_atelectasis(home, audit)
    store = open_store(home)
    target = next(p.case_id for p in store.retrieve(mislabelled) if p.payload.get("findings"))
    event = FeedbackEvent(case_id=target, clinician=DR_A, reason="atelectasis, not pneumonia",
                          changes=[FindingChange(finding="pneumonia", old="present", new="absent"), FindingChange(finding="atelectasis", old="absent", new="present")])
    rules = RULES.model_copy(update={"similarity_threshold": 0.5, "auto_apply_confidence": 0.5}).model_dump_json()  # many propagated versions
    marker = home.home / "paused"
    proc = _spawn(home, "record", event.model_dump_json(), rules, "0", env={"SAGE_FEEDBACK_PAUSE_AT": "mid_payloads:120", "SAGE_FEEDBACK_PAUSE_MARKER": str(marker)})
    plan_file = feedback_journal.journal_dir(home) / f"{event.event_id}.json"
    deadline = time.time() + 240
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the worker touches the marker once paused after its first payload write
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    plan = json.loads(plan_file.read_text())
    cases = [v["case_id"] for v in plan["versions"]]
    assert len(cases) >= 3, "the correction must propagate to make this a mid-propagation kill"
    store = open_store(home)
    stale = [v["case_id"] for v in plan["versions"] if store.retrieve([v["case_id"]])[0].payload["label_version"] != v["version"]]
    assert stale and len(stale) < len(cases)  # killed half way: the raw tier is ahead of some payloads
    assert "feedback:correct" not in [e.action for e in audit.entries()]

    assert _result(_spawn(home, "recover"))["replayed"] == [event.event_id]
    assert not plan_file.exists()
    store = open_store(home)
    for v in plan["versions"]:
        payload = store.retrieve([v["case_id"]])[0].payload
        assert payload["labels"] == v["labels"] == _raw_labels(home, v["case_id"]) and payload["label_version"] == v["version"]
    # Replaying again applies nothing twice.
    assert _result(_spawn(home, "recover"))["replayed"] == []
    rows = FeedbackTables(home).scan("label_versions", history=True)
    assert len([r for r in rows if r["event_id"] == event.event_id]) == len(cases)
    events = FeedbackTables(home).scan("feedback_events", history=True)
    assert len([r for r in events if r["event_id"] == event.event_id]) == 1
    assert [e.action for e in audit.entries()].count("feedback:correct") == 1 and audit.verify().ok
    assert label_history(home, target)[-1].event_id == event.event_id


def test_killed_while_approving_a_held_correction_recovers_it_once(home: Settings) -> None:
    audit = AuditLog(home.audit_path)
    store = open_store(home)
    case = next(p.case_id for p in store.scroll(SearchFilter(split="train"), limit=50) if "pneumothorax" not in (p.payload.get("labels") or {}))
    store.close()
    event = FeedbackEvent(case_id=case, clinician=DR_A, reason="apical pneumothorax", changes=[FindingChange(finding="pneumothorax", old=None, new="present")])
    assert record_feedback(home, event, audit=audit, rules=RULES, release_store=True).status == "needs_review"

    proc = _spawn(home, "decide", event.event_id, DR_B.model_dump_json(), "approve", env={"SAGE_FEEDBACK_CRASH_AT": "after_events"})
    proc.communicate(timeout=240)
    assert proc.returncode == 137  # the event row says applied; labels, payload and audit do not yet
    assert "pneumothorax" not in (_payload(home, case).get("labels") or {})
    assert (feedback_journal.journal_dir(home) / f"{event.event_id}.json").exists()

    assert _result(_spawn(home, "recover"))["replayed"] == [event.event_id]
    assert _payload(home, case)["labels"]["pneumothorax"] == "present" == _raw_labels(home, case)["pneumothorax"]
    assert pending_corrections(home) == [] and label_history(home, case)[-1].reviewer == "dr-b"
    trail = [(e.actor, e.action, e.decision) for e in audit.entries() if e.details.get("event_id") == event.event_id]
    assert trail.count(("dr-a", "feedback:correct", "ok")) == 1 and trail.count(("dr-b", "feedback:review", "ok")) == 1 and audit.verify().ok
