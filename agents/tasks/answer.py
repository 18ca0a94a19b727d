"""Task "answer": questions about the system's own evidence, answered only from that evidence.

Sources, in order: the thread's earlier runs (task, status, route reason, review or denial
reason, cited ids, tools: the chat layer passes them in ``thread``), a case's labels (through
``query_records`` on ``report_labels``), the interaction table (``check_interactions``, which
cites a source per pair), and the labeler's finding definitions (its vocabulary of phrases).
Anything else gets "I cannot answer that from this system's evidence": this task never asks a
model to improvise, so every sentence it writes can be traced to a record.

Outside MCP tools: when none of those sources covers the question and the caller's role is
granted outside tools by name (``mcp:<server>:<tool>`` in the pack), the data agent asks each
granted tool that takes one text argument (at most :data:`MAX_OUTSIDE`), and the answer quotes
what they said, labelled as untrusted and never mixed with this system's evidence. An answer the
injection guard flagged is withheld (the reply says so), a tool that fails or times out is named
with its error, and the run goes on either way.
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
from tools.base import ToolDeniedError, ToolError
from tools.clinical import Interactions
from tools.governed import OutsideResult
from tools.records import Rows

_ABOUT_RUN = re.compile(r"\b(last|previous|earlier|that|my) (run|answer|draft|report|request|question|result|ddx|differential|impression)\b|^\s*why\b|\b(flagged|review|declined?|denied|fail(ed)?|cite[ds]?|evidence|tools?|trace|route|sql|steps|model)\b", re.IGNORECASE)
_DEFINE = re.compile(r"\b(define|definition|mean|means|count as|counts as|cover|same as|labell?er|negat\w*)\b", re.IGNORECASE)
_SEVERITY = re.compile(r"\bseverit", re.IGNORECASE)
_VOCABULARY = re.compile(r"\b(findings?|labels?)\b.{0,30}\b(know|label|list|14)\b|\b14 findings\b", re.IGNORECASE)
CANNOT = "I cannot answer that from this system's evidence (earlier runs of this thread, case labels, the interaction table, the labeler's finding definitions)."
MAX_OUTSIDE = 3  # outside tools asked per question (each may start a server)


class AnswerInput(BaseModel):
    """A question about earlier runs, labels, the interaction table or the finding definitions."""

    question: str = Field(min_length=2, max_length=2000)
    thread: list[dict[str, Any]] = Field(default_factory=list, max_length=50, description="Earlier runs of the thread, newest last: task, status, route_reason, error, evidence_ids, tools.")


class EvidenceAnswer(BaseModel):
    """The answer and what it rests on (empty ``sources`` means it could not answer)."""

    answer: str
    sources: list[str]
    cited_ids: list[str] = Field(default_factory=list)


def own_source(question: str, thread: list[dict[str, Any]], has_labels: bool) -> str | None:
    """Which of this system's sources covers ``question`` (what :func:`compose` answers from), or None."""
    if has_labels:
        return "labels"
    if thread and _ABOUT_RUN.search(question):
        return "thread"
    if _SEVERITY.search(question) and not drugs_in_text(question):
        return "severity"
    if drugs_in_text(question):
        return "interactions"
    if findings_in(question) and _DEFINE.search(question):
        return "definitions"
    if _VOCABULARY.search(question):
        return "vocabulary"
    return None


def _text_field(schema: dict[str, Any]) -> str | None:
    """The one required string argument of an outside tool's schema (the question goes there), else None."""
    required = list(schema.get("required") or [])
    props = schema.get("properties") or {}
    if len(required) == 1 and (props.get(required[0]) or {}).get("type") == "string":
        return str(required[0])
    return None


def consult_outside(ctx: TaskContext, question: str) -> dict[str, Any]:
    """Ask the granted outside tools that take one text argument; their answers and failures as evidence."""
    answers: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    usable = [(name, field) for name, info in ctx.outside_tools().items() if (field := _text_field(info["schema"]))]
    for name, field in usable[:MAX_OUTSIDE]:
        try:
            result = call(ctx, name, {field: question}, OutsideResult)
        except ToolDeniedError:
            raise  # the pack changed under the run: a denied run, as for any tool
        except ToolError as exc:  # a hung, dying or flooding server fails its call, never the run
            errors.append({"tool": name, "error": type(exc).__name__, "message": exc.message[:300]})
            continue
        answers.append({"tool": name, "text": result.text, "withheld": result.withheld, "flagged": result.flagged})
    return {"outside": answers, "outside_errors": errors} if usable else {}


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Read the case's labels or the table's pairs when the question names a case or a drug; else ask granted outside tools."""
    assert isinstance(task, AnswerInput)
    # The thread's last run is evidence too: what it cited may be cited again (the grounding check reads ``ids``).
    last_ids = [str(i) for i in (task.thread[-1].get("evidence_ids") or [])] if task.thread and _ABOUT_RUN.search(task.question) else []
    evidence: dict[str, Any] = {"ids": last_ids}
    if (case_id := case_id_in(task.question)) and re.search(r"\blabel", task.question, re.IGNORECASE):
        sql = f"SELECT finding, state, label_version, labeler FROM report_labels WHERE report_id = '{case_id}' ORDER BY finding"
        evidence.update(case_id=case_id, labels=call(ctx, "query_records", {"sql": sql, "limit": 50}, Rows).rows, ids=[case_id])
    if own_source(task.question, task.thread, "labels" in evidence) is None:
        evidence.update(consult_outside(ctx, task.question))
    return evidence


def _from_outside(evidence: dict[str, Any]) -> EvidenceAnswer:
    """What the outside tools said, quoted as untrusted; withheld and failed calls named."""
    parts = ["This system's own evidence does not cover that."]
    sources: list[str] = []
    for item in evidence.get("outside") or []:
        if item["withheld"]:
            parts.append(f"The answer of outside tool {item['tool']} was withheld: it looked like injected instructions (flagged: {', '.join(item['flagged'][:5]) or 'text'}).")
        elif item["text"].strip():
            sources.append(f"outside tool {item['tool']}")  # a bare "mcp:x:y" reads as a name label to the PHI redactor
            parts.append(f"Outside tool {item['tool']} (untrusted, not checked against this system's records) says: {item['text'][:2000]}")
    for failed in evidence.get("outside_errors") or []:
        parts.append(f"Outside tool {failed['tool']} gave no answer ({failed['error']}: {failed['message']}).")
    if not sources:
        parts[0] = CANNOT
    return EvidenceAnswer(answer=" ".join(parts), sources=sources)


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
    source = own_source(question, task.thread, "labels" in evidence)
    if source is None and (evidence.get("outside") or evidence.get("outside_errors")):
        return _from_outside(evidence)
    if "labels" in evidence:
        rows = evidence["labels"]
        if not rows:
            return EvidenceAnswer(answer=f"Case {evidence['case_id']} has no labels in the record.", sources=["report_labels"], cited_ids=[evidence["case_id"]])
        listed = "; ".join(f"{r['finding']}: {r['state']}" for r in rows)
        return EvidenceAnswer(answer=f"Labels of case {evidence['case_id']} (labeler {rows[0].get('labeler')}, version {rows[0].get('label_version')}): {listed}.", sources=["report_labels"], cited_ids=[evidence["case_id"]])
    if (found := _from_thread(question, task.thread)) is not None:
        return EvidenceAnswer(answer=found[0], sources=["thread runs"], cited_ids=found[1])
    if source == "severity":
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
    if source == "vocabulary":
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
