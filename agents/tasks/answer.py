"""Task "answer": questions about the system's own evidence, answered only from that evidence.

Sources, in order: the thread's earlier runs (task, status, route reason, review or denial
reason, cited ids, tools: the chat layer passes them in ``thread``), a case's labels (through
``query_records`` on ``report_labels``), the interaction table (``check_interactions``, which
cites a source per pair), and the labeler's finding definitions (its vocabulary of phrases).
Anything else gets "I cannot answer that from this system's evidence": this task never asks a
model to improvise, so every sentence it writes can be traced to a record.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import TaskContext, TaskSpec, register_task
from agents.tasks.evidence import call
from agents.tasks.mentions import case_id_in, findings_in
from agents.tasks.text_inputs import drugs_in_text
from lakehouse.findings import FINDINGS
from lakehouse.knowledge.interactions import SEVERITY_RANK
from tools.clinical import Interactions
from tools.records import Rows

_ABOUT_RUN = re.compile(r"\b(last|previous|earlier|that|my) (run|answer|draft|report|request|question|result|ddx|differential|impression)\b|^\s*why\b|\b(flagged|review|declined?|denied|fail(ed)?|cite[ds]?|evidence|tools?|trace|route|sql|steps|model)\b", re.IGNORECASE)
_DEFINE = re.compile(r"\b(define|definition|mean|means|count as|counts as|cover|same as|labell?er|negat\w*)\b", re.IGNORECASE)
CANNOT = "I cannot answer that from this system's evidence (earlier runs of this thread, case labels, the interaction table, the labeler's finding definitions)."


class AnswerInput(BaseModel):
    """A question about earlier runs, labels, the interaction table or the finding definitions."""

    question: str = Field(min_length=2, max_length=2000)
    thread: list[dict[str, Any]] = Field(default_factory=list, max_length=50, description="Earlier runs of the thread, newest last: task, status, route_reason, error, evidence_ids, tools.")


class EvidenceAnswer(BaseModel):
    """The answer and what it rests on (empty ``sources`` means it could not answer)."""

    answer: str
    sources: list[str]
    cited_ids: list[str] = Field(default_factory=list)


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Read the case's labels or the table's pairs when the question names a case or a drug."""
    assert isinstance(task, AnswerInput)
    # The thread's last run is evidence too: what it cited may be cited again (the grounding check reads ``ids``).
    last_ids = [str(i) for i in (task.thread[-1].get("evidence_ids") or [])] if task.thread and _ABOUT_RUN.search(task.question) else []
    evidence: dict[str, Any] = {"ids": last_ids}
    if (case_id := case_id_in(task.question)) and re.search(r"\blabel", task.question, re.IGNORECASE):
        sql = f"SELECT finding, state, label_version, labeler FROM report_labels WHERE report_id = '{case_id}' ORDER BY finding"
        evidence.update(case_id=case_id, labels=call(ctx, "query_records", {"sql": sql, "limit": 50}, Rows).rows, ids=[case_id])
    return evidence


def _from_thread(question: str, thread: list[dict[str, Any]]) -> tuple[str, list[str]] | None:
    if not thread or not _ABOUT_RUN.search(question):
        return None
    last = thread[-1]
    parts = [f"Your previous request went to the {last.get('task')} task ({last.get('status')})."]
    if last.get("route_reason"):
        parts.append(f"Route: {last['route_reason']}.")
    if error := last.get("error") or {}:
        parts.append(f"Reason: {error.get('message')}.")
    if last.get("status") == "review":
        parts.append("It went to a clinician's review because a governance check flagged the draft (see `sagehealth review list`).")
    if last.get("tools"):
        parts.append(f"Tools called: {', '.join(map(str, last['tools']))}.")
    ids = [str(i) for i in last.get("evidence_ids") or []]
    if ids:
        parts.append(f"Evidence cited: {', '.join(ids[:10])}.")
    return " ".join(parts), ids


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> EvidenceAnswer:
    """Answer from the first source that covers the question, or say it cannot."""
    assert isinstance(task, AnswerInput)
    question = task.question
    if "labels" in evidence:
        rows = evidence["labels"]
        if not rows:
            return EvidenceAnswer(answer=f"Case {evidence['case_id']} has no labels in the record.", sources=["report_labels"], cited_ids=[evidence["case_id"]])
        listed = "; ".join(f"{r['finding']}: {r['state']}" for r in rows)
        return EvidenceAnswer(answer=f"Labels of case {evidence['case_id']} (labeler {rows[0].get('labeler')}, version {rows[0].get('label_version')}): {listed}.", sources=["report_labels"], cited_ids=[evidence["case_id"]])
    if (found := _from_thread(question, task.thread)) is not None:
        return EvidenceAnswer(answer=found[0], sources=["thread runs"], cited_ids=found[1])
    if re.search(r"\bseverit", question, re.IGNORECASE) and not drugs_in_text(question):
        return EvidenceAnswer(answer=f"The interaction table grades pairs, most severe first: {', '.join(SEVERITY_RANK)}.", sources=["interaction table"])
    if drugs := [d.name for d in drugs_in_text(question)]:
        pairs = call(ctx, "check_interactions", {"current": drugs[1:], "proposed": drugs[0]}, Interactions).interactions
        if not pairs:
            return EvidenceAnswer(answer=f"The interaction table lists no pair for {' and '.join(drugs)} (absence is not proof of safety).", sources=["interaction table"])
        lines = [f"{p.drug_a} + {p.drug_b}: {p.severity}; source: {p.source}" for p in pairs[:10]]
        return EvidenceAnswer(answer="From the interaction table: " + " | ".join(lines), sources=["interaction table"], cited_ids=[f"{p.drug_a}+{p.drug_b}" for p in pairs[:10]])
    if (keys := findings_in(question)) and _DEFINE.search(question):
        from lakehouse.labeler.vocabulary import MENTIONS

        parts = [f"{FINDINGS[k]} ({k}) is labelled present when a sentence mentions e.g. " + "; ".join(p.replace("(?:", "(").replace("\\b", "") for p in MENTIONS.get(k, [])[:4]) for k in keys[:3]]
        return EvidenceAnswer(answer=" ".join(parts) + ". Negated mentions are labelled absent, hedged ones uncertain.", sources=["labeler vocabulary"])
    if re.search(r"\b(findings?|labels?)\b.{0,30}\b(know|label|list|14)\b|\b14 findings\b", question, re.IGNORECASE):
        return EvidenceAnswer(answer="The labeler assigns present/absent/uncertain to 14 findings: " + ", ".join(FINDINGS.values()) + ".", sources=["labeler vocabulary"])
    return EvidenceAnswer(answer=CANNOT, sources=[])


SPEC = register_task(
    TaskSpec(
        name="answer",
        description="Answer questions about earlier runs, their evidence and review reasons, case labels, the interaction table and the labeler's finding definitions, only from that evidence.",
        input_model=AnswerInput,
        output_model=EvidenceAnswer,
        retrieve=retrieve,
        compose=compose,
        tools=("query_records", "check_interactions"),
        examples=("why was my last report flagged for review?", "how does the labeler define pleural effusion?", "what labels does case CXR12 have"),
    )
)
