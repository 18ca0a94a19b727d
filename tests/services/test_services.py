"""Every service, allowed and denied: the policy decision, its one audit entry, and its span.

Real components throughout: the small lakehouse (Delta + Qdrant Edge), the policy pack, the
hash-chained audit log, LangGraph runs for the graph services, OpenTelemetry spans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.errors import SageError
from core.telemetry import Attr
from services import adapters, audit, batch, chat, data, feedback, knowledge, models, reviews, runs
from services.base import Caller, CallerError
from tools.resources import Resources

CLINICIAN = Caller(user="dr-s", role="clinician", purpose="treatment")
RESEARCHER = Caller(user="res-s", role="researcher", purpose="research")
ENGINEER = Caller(user="eng-s", role="data_engineer", purpose="operations")
AUDITOR = Caller(user="aud-s", role="auditor", purpose="audit")
UNKNOWN = Caller(user="x-s", role="janitor", purpose="treatment")
CSV = "drug_a,drug_b,severity,mechanism,management,source\nmetformin,furosemide,minor,Raises metformin levels,Monitor glucose,Site bulletin\n"


@dataclass(frozen=True)
class Case:
    """One service called by an allowed and by a denied caller."""

    name: str
    call: Callable[[Resources, Caller, Path], Any]
    allowed: Caller
    denied: Caller
    audit_action: str
    span: str


def _run(task_input: dict[str, Any]) -> Callable[[Resources, Caller, Path], Any]:
    return lambda r, c, _: runs.run_task(r, c, runs.RunRequest(task="interactions", input=task_input))


def _deid(r: Resources, c: Caller, tmp: Path) -> Any:
    from services.deid import DeidRequest, deidentify

    (tmp / "in.jsonl").write_text('{"id": "n1", "text": "Seen by Dr. Alice Wong on March 3, 2012, MRN 4839201."}\n')
    summary = deidentify(r, c, DeidRequest(in_path=tmp / "in.jsonl", out_path=tmp / "out.jsonl"))
    out = (tmp / "out.jsonl").read_text()
    assert "4839201" not in out and "Alice Wong" not in out and summary.masked
    return summary


def _feedback(r: Resources, c: Caller, _: Path) -> Any:
    labels = {p.case_id: p.payload.get("labels", {}) for p in r.store.scroll(limit=50)}
    case = next(cid for cid, lab in sorted(labels.items()) if lab.get("cardiomegaly") in (None, "absent"))
    change = {"finding": "cardiomegaly", "old": labels[case].get("cardiomegaly"), "new": "present"}
    return feedback.correct(r, c, feedback.CorrectionRequest.parse({"case_id": case, "changes": [change], "reason": "heart enlarged on review"}))


def _import(r: Resources, c: Caller, tmp: Path) -> Any:
    (tmp / "site.csv").write_text(CSV)
    return knowledge.import_interactions(r, c, knowledge.ImportRequest(path=tmp / "site.csv"))


CASES = [
    Case("search", lambda r, c, _: data.search(r, c, data.SearchRequest(text="enlarged heart", k=3)), CLINICIAN, AUDITOR, "tool:retrieve_similar_cases", "invoke_workflow search"),
    Case("query", lambda r, c, _: data.query(r, c, data.QueryRequest(sql="SELECT count(*) AS n FROM reports")), RESEARCHER, AUDITOR, "tool:query_records", "invoke_workflow query"),
    Case("ingest", lambda r, c, _: data.ingest(r, c, data.IngestRequest(limit=3)), ENGINEER, RESEARCHER, "ingest", "invoke_workflow ingest"),
    Case("generate_batch", lambda r, c, _: batch.generate_batch(r, c, batch.BatchRequest(cases=[batch.BatchCase(id="Q1", findings="Heart is enlarged.")], mode="retrieval-only")),
         CLINICIAN, AUDITOR, "batch:generate", "invoke_workflow generate_batch"),
    Case("chat", lambda r, c, _: chat.turn(r, c, chat.ChatRequest(thread_id=f"svc-{c.user}", message="is aspirin safe with warfarin?")), CLINICIAN, AUDITOR, "chat", "invoke_workflow chat"),
    Case("plan", lambda r, c, _: runs.plan(r, c, runs.PlanRequest(text="is aspirin safe with warfarin?")), RESEARCHER, UNKNOWN, "plan", "invoke_workflow plan"),
    Case("list_reviews", lambda r, c, _: reviews.list_reviews(r, c), CLINICIAN, RESEARCHER, "review:list", "invoke_workflow list_reviews"),
    Case("import_knowledge", _import, ENGINEER, RESEARCHER, "knowledge:import-interactions", "invoke_workflow import_knowledge"),
    Case("list_knowledge", lambda r, c, _: knowledge.list_tables(r, c), RESEARCHER, AUDITOR, "knowledge:list", "invoke_workflow list_knowledge"),
    Case("list_models", lambda r, c, _: models.list_models(r, c), AUDITOR, UNKNOWN, "models:list", "invoke_workflow list_models"),
    Case("list_adapters", lambda r, c, _: adapters.list_adapters(r, c), ENGINEER, UNKNOWN, "adapt:list", "invoke_workflow list_adapters"),
    Case("train_adapter", lambda r, c, _: adapters.train(r, c, adapters.TrainRequest(name="svc-test", config=adapters.LoraTrainConfig(max_steps=1))), ENGINEER, RESEARCHER,
         "adapt_train", "invoke_workflow train_adapter"),
    Case("feedback", _feedback, CLINICIAN, RESEARCHER, "feedback:correct", "invoke_workflow feedback"),
    Case("label_history", lambda r, c, _: feedback.history(r, c, "CXR2"), AUDITOR, UNKNOWN, "labels:history", "invoke_workflow label_history"),
    Case("deid", _deid, ENGINEER, RESEARCHER, "deid", "invoke_workflow deid"),
    Case("verify_audit", lambda r, c, _: audit.verify(r, c), AUDITOR, RESEARCHER, "audit:verify", "invoke_workflow verify_audit"),
]
SLOW_ALLOWED = {"train_adapter"}  # trains a real adapter: `make test-all`


def _entries(resources: Resources, before: int) -> list[Any]:
    return resources.audit.entries()[before:]


def _roots(spans: Any, name: str) -> list[Any]:
    return [s for s in spans.get_finished_spans() if s.name == name and s.parent is None]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_denied_call_is_refused_audited_and_traced(case: Case, resources: Resources, spans: Any, tmp_path: Path) -> None:
    before = len(resources.audit.entries())
    with pytest.raises(SageError, match="may not|not in policy pack|denied"):
        case.call(resources, case.denied, tmp_path)
    mine = [e for e in _entries(resources, before) if e.actor == case.denied.user]
    assert [(e.action, e.decision) for e in mine] in ([(case.audit_action, "deny")], [(case.audit_action, "denied")]), "one audit entry, the denial"
    root = _roots(spans, case.span)
    assert root and root[-1].attributes[Attr.USER] == case.denied.user and root[-1].status.status_code.name == "ERROR"


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.name in SLOW_ALLOWED else c for c in CASES], ids=lambda c: c.name)
def test_an_allowed_call_answers_is_audited_once_and_traced(case: Case, resources: Resources, spans: Any, tmp_path: Path) -> None:
    before = len(resources.audit.entries())
    result = case.call(resources, case.allowed, tmp_path)
    assert result is not None
    gate = [e for e in _entries(resources, before) if e.actor == case.allowed.user and e.action == case.audit_action]
    assert len(gate) == 1 and gate[0].decision in ("allow", "ok", "done", "applied", "needs_review"), [(e.action, e.decision) for e in gate]
    root = _roots(spans, case.span)
    assert root and root[-1].attributes[Attr.USER] == case.allowed.user and root[-1].status.status_code.name != "ERROR"


def test_a_task_run_is_gated_by_the_graph_and_audited_once(resources: Resources, spans: Any) -> None:
    before = len(resources.audit.entries())
    done = runs.run_task(resources, CLINICIAN, runs.RunRequest(task="interactions", input={"proposed": "aspirin", "current": ["warfarin"]}))
    denied = runs.run_task(resources, AUDITOR, runs.RunRequest(task="interactions", input={"proposed": "aspirin", "current": ["warfarin"]}))
    assert done.status == "done" and denied.status == "denied" and denied.policy_decisions[0]["effect"] == "deny"
    outcomes = [(e.actor, e.decision) for e in _entries(resources, before) if e.action == "run:interactions"]
    assert outcomes == [("dr-s", "done"), ("aud-s", "denied")]
    roots = _roots(spans, "invoke_workflow clinical")
    assert [r.attributes[Attr.RUN_ID] for r in roots] == [done.run_id, denied.run_id]
    assert {s.name for s in spans.get_finished_spans() if s.parent is not None and s.attributes.get(Attr.RUN_ID) == denied.run_id} <= {
        "invoke_agent planner", "invoke_agent governance_pre", "execute_tool policy_check"}, "a denied run touches no data"


@pytest.mark.parametrize("who", [Caller(user="", role="clinician", purpose="treatment"), Caller(user="u", role="", purpose="treatment"),
                                 Caller(user="u", role="clinician", purpose=""), Caller(user="u", role="clinician", purpose=None)])
def test_identity_is_never_defaulted(who: Caller, resources: Resources) -> None:
    with pytest.raises(CallerError):
        data.search(resources, who, data.SearchRequest(text="enlarged heart"))
    with pytest.raises(CallerError):
        runs.run_task(resources, who, runs.RunRequest(task="interactions", input={"proposed": "aspirin"}))


def test_requests_refuse_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(SageError, match="extra|Extra"):
        data.SearchRequest.parse({"text": "x", "patient": "p1"})
    with pytest.raises(SageError, match="k"):
        data.SearchRequest.parse({"text": "x", "k": "3"})
    with pytest.raises(SageError, match="required_findings"):
        data.SearchRequest.parse({"text": "x", "required_findings": {"not_a_finding": "present"}})
