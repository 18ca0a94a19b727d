"""Task "report": draft the IMPRESSION of a chest X-ray report from its FINDINGS, citing similar cases.

Modes (the same as ``sagehealth generate-batch``):

- ``rag`` (default): retrieve-then-edit (:mod:`agents.tasks.report_edit`): decide which of the
  findings the impression states from label-aware neighbours, retrieve prior cases carrying
  exactly those findings, and edit the consensus impression among them so that it states
  those findings and no others. No model call: measured better and faster than prompting the
  135M model (docs/results.md, issue 18);
- ``rag-lm``: retrieve similar prior cases (label-aware, see :mod:`lakehouse.retrieval`) and show
  them to the model as examples (the previous ``rag``);
- ``no-rag``: the model sees the findings only (no retrieval, no citations);
- ``retrieval-only``: no model; the impression is the nearest case's impression, cited.

With an ``image_path`` (rag and retrieval-only), the study image is embedded by the same encoder
ingestion used for the cases' ``image`` vectors; its nearest cases join the label-aware pool and
are also cited on their own (``basis="image"``). The default encoder is a placeholder
(``models.image``), so image citations show the path works, not clinical likeness.

Every draft is labelled and compared with the labels of the findings, so the clinician sees
when the draft names findings the text does not (or misses ones it does); drafts with a weak
nearest case or uncertain findings are flagged for review.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agents.tasks.base import TaskContext, TaskSpec, register_task
from agents.tasks.evidence import call, dump, dump_all, load
from agents.tasks.prompts import prior_cases
from agents.tasks.report_edit import (
    CANDIDATES,
    EDITOR_VERSION,
    as_candidates,
    edit_impression,
    required_labels,
)
from agents.tasks.text_inputs import clinical_text
from lakehouse.findings import positive_findings
from lakehouse.retrieval import CaseEvidence
from models.prompts import impression_messages
from tools.clinical import FindingLabels
from tools.generation import GeneratedText
from tools.retrieval import CaseLabels, SimilarCases

Mode = Literal["rag", "rag-lm", "no-rag", "retrieval-only"]
MAX_FINDINGS_CHARS = 5000
# Below this cosine the nearest prior case is too unlike the query to lean on (MiniLM on Indiana
# findings: near-duplicates score > 0.9, typical top-1 neighbours 0.7-0.9).
LOW_SIMILARITY = 0.6
# Short lines ending in a colon at the start of the output: titles, not impressions.
_TITLE_LINES = re.compile(r"\A(?:[ \t]*(?:\d+[.)]\s*)?[^\n:]{0,60}:[ \t]*\n+)+")
_CUT = re.compile(r"\n\s*\n|\b(?:findings|indication|comparison)\s*:|\[\d+\]", re.I)


class ReportInput(BaseModel):
    """A report-drafting request."""

    findings: str = Field(description=f"FINDINGS section of the chest X-ray report (1-{MAX_FINDINGS_CHARS} characters).")
    indication: str = Field("", max_length=1000, description="Clinical indication, if known.")
    mode: Mode = Field("rag", description="rag (retrieve-then-edit, default), rag-lm (model prompted with retrieved cases), no-rag, or retrieval-only (no model).")
    k: int = Field(3, ge=1, le=10, description="Similar prior cases to retrieve (1-10).")
    case_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Id of the case being reported; never retrieved as its own example, and its clinician-corrected labels outrank the text's reading.")
    image_path: str | None = Field(None, description="PNG/JPEG/DICOM of the study; embedded by the image encoder, image-similar cases join retrieval and are cited.")
    adapter: str | None = Field(None, max_length=128, description="LoRA adapter for the report model (default: the run's).")
    max_new_tokens: int = Field(96, ge=8, le=512, description="Generation budget (an impression needs about 40-100 tokens).")

    @classmethod
    def from_text(cls, text: str) -> ReportInput:
        """Read a chat line: the findings are what follows any "...findings:" request prefix."""
        return cls(findings=clinical_text(text))

    @field_validator("findings")
    @classmethod
    def _findings_text(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("findings is empty: pass the FINDINGS section of the report")
        if len(text) > MAX_FINDINGS_CHARS:
            raise ValueError(f"findings has {len(text)} characters, more than {MAX_FINDINGS_CHARS}: pass only the FINDINGS section")
        return text


class Citation(BaseModel):
    """A prior case the draft is based on, or (basis ``image``) whose image resembles the study's."""

    case_id: str
    similarity: float
    basis: Literal["findings", "image"] = Field("findings", description="What the similarity compares: the findings (label-aware ranking) or the images (image encoder cosine).")


class ReportDraft(BaseModel):
    """The drafted impression with its evidence and review flags."""

    impression: str
    mode: Mode
    citations: list[Citation] = Field(default_factory=list)
    query_labels: dict[str, str] = Field(default_factory=dict, description="Labels read off the findings.")
    draft_labels: dict[str, str] = Field(default_factory=dict, description="Labels read off the drafted impression.")
    needs_review: bool
    review_reasons: list[str] = Field(default_factory=list)
    model: str | None = None
    adapter: str | None = None
    feedback_events: list[str] = Field(default_factory=list, description="Clinician feedback events behind this case's corrected labels and the cited cases' labels: the corrections that shaped this draft.")
    corrected_labels: dict[str, str] = Field(default_factory=dict, description="Finding -> feedback event, for this case's labels a clinician set; the draft follows them over the text's reading.")


def clean_impression(text: str) -> str:
    """Model output -> impression.

    Small models often echo the prompt's example format (``[1] Findings: ... Impression: ...``):
    the text after the first ``Impression:`` is the answer when there is one; otherwise a leading
    example marker and section label are dropped. Leading title lines a chat model likes to write
    ("1. Chest X-ray Report:") and markdown emphasis go first. The result is cut at the first
    blank line, next section or example marker.
    """
    text = _TITLE_LINES.sub("", text.replace("*", "").replace("#", ""))
    parts = re.split(r"\bimpression\s*:\s*", text, maxsplit=1, flags=re.I)
    body = parts[1] if len(parts) == 2 else re.sub(r"^\s*(?:\[\d+\]\s*)?(?:findings\s*:\s*)?", "", text, flags=re.I)
    return _CUT.split(body.strip(), maxsplit=1)[0].strip()


def _image_vector(ctx: TaskContext, path: str) -> list[float]:
    """The study image embedded by the installation's encoder, the one ingestion used for the ``image`` vectors."""
    from models.image import load_image

    return ctx.resources.image_encoder.embed([load_image(Path(path))])[0].tolist()


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Label the findings and (except in no-rag) fetch similar prior cases, and image-similar ones for an image."""
    assert isinstance(task, ReportInput)
    # The image is read first: a bad file fails the step before any data is touched.
    vector = _image_vector(ctx, task.image_path) if task.image_path and task.mode != "no-rag" else None
    labels: dict[str, str] = dict(call(ctx, "label_findings", {"text": task.findings}, FindingLabels).labels)
    corrections, corrected_by = _own_corrections(ctx, task)
    for finding, state in corrections.items():  # a clinician's correction of this case outranks the text's reading
        if state is None:
            labels.pop(finding, None)
        else:
            labels[finding] = state
    hits: list[CaseEvidence] = []
    image_hits: list[CaseEvidence] = []
    evidence: dict[str, Any] = {"query_labels": labels, "corrected": corrected_by}
    if task.mode == "rag":  # the candidates are chosen by the findings the impression will state
        hits, evidence["edit"] = _edit_candidates(ctx, task, labels, corrections)
    if task.mode != "no-rag":
        args: dict[str, Any] = {"findings": task.findings, "k": task.k, "mode": task.mode, "exclude_ids": [task.case_id] if task.case_id else []}
        if vector is not None:
            args["image_vector"] = vector  # image neighbours join the label-aware pool
        if task.mode != "rag":
            hits = _similar(ctx, args, task.case_id)
        if vector is not None:
            # The label-aware rerank judges its pool by text, so image neighbours are also fetched and cited on their own.
            found = {h.case_id for h in hits}
            image_hits = [h for h in _similar(ctx, {**args, "k": task.k, "strategy": "image"}, task.case_id) if h.case_id not in found]
    return {"ids": [h.case_id for h in hits + image_hits], "hits": dump_all(hits), "image_hits": dump_all(image_hits), **evidence}


def _own_corrections(ctx: TaskContext, task: ReportInput) -> tuple[dict[str, str | None], dict[str, str]]:
    """The case's own labels that clinician feedback set: finding -> state (None: not stated), and finding -> event.

    Only for a named case (``case_id``) the caller may see; the labeler's reading of the text
    stands for every finding no feedback touched.
    """
    if not task.case_id:
        return {}, {}
    own = call(ctx, "case_labels", {"case_id": task.case_id}, CaseLabels)
    if not own.found:
        return {}, {}
    return {f: own.labels.get(f) for f in own.corrected}, dict(own.corrected)


def _similar(ctx: TaskContext, args: dict[str, Any], case_id: str | None) -> list[CaseEvidence]:
    """``retrieve_similar_cases`` hits, without the query's own case."""
    return [h for h in call(ctx, "retrieve_similar_cases", args, SimilarCases).hits if h.case_id != case_id]


def _edit_candidates(ctx: TaskContext, task: ReportInput, labels: dict[str, str], corrections: dict[str, str | None]) -> tuple[list[CaseEvidence], dict[str, Any]]:
    """rag: the findings the impression states (the impression planner) and the edited impression.

    The candidates come from a plain text search of ``report_edit.CANDIDATES`` cases restricted
    to reports carrying the target findings (normal reports for a normal query), retried
    unrestricted when none matches. The cited hits are the edited case first, then the other
    closest candidates (``task.k`` in all).
    """
    from agents.tasks.report_plan import planner_for, with_corrections

    planner = planner_for(ctx.resources)
    plan = with_corrections(planner.plan(task.findings), corrections)
    target = plan.target
    args: dict[str, Any] = {"findings": task.findings, "k": CANDIDATES, "mode": task.mode, "strategy": "text", "exclude_ids": [task.case_id] if task.case_id else []}
    found = _similar(ctx, {**args, "required_findings": required_labels(target, labels)}, task.case_id) or _similar(ctx, args, task.case_id)
    edited = edit_impression(task.findings, plan, as_candidates(found), planner)
    first = [h for h in found if h.case_id == edited.base_case_id]
    cited = (first + [h for h in found if h.case_id != edited.base_case_id])[: task.k]
    return cited, dump(edited)


def generate(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the report model for an impression (skipped in retrieval-only)."""
    assert isinstance(task, ReportInput)
    if task.mode == "retrieval-only":
        return None
    if task.mode == "rag":  # retrieve-then-edit: the draft was made from the evidence, no model call
        edit = evidence.get("edit") or {}
        return {"impression": str(edit.get("impression", "")), "model": EDITOR_VERSION, "adapter": None}
    examples = prior_cases(load(evidence.get("hits", []), CaseEvidence)) if task.mode == "rag-lm" else []
    args: dict[str, Any] = {"messages": impression_messages(task.findings, task.indication, examples), "max_new_tokens": task.max_new_tokens, "temperature": 0.0, "seed": 0}
    if task.adapter:
        args["adapter"] = task.adapter
    result = call(ctx, "generate_text", args, GeneratedText)
    return {"impression": clean_impression(result.text), "model": result.model, "adapter": result.adapter}


def _review_reasons(query_labels: dict[str, str], draft_labels: dict[str, str], hits: list[CaseEvidence], impression: str, mode: Mode) -> list[str]:
    reasons = []
    if not impression:
        reasons.append("the draft is empty")
    if mode != "no-rag":
        top = max((h.similarity for h in hits), default=None)
        if top is None:
            reasons.append("no similar prior case was found")
        elif top < LOW_SIMILARITY:
            reasons.append(f"nearest prior case is not very similar (cosine {top:.2f} < {LOW_SIMILARITY})")
    uncertain = sorted(k for k, v in query_labels.items() if v == "uncertain")
    if uncertain:
        reasons.append("findings state uncertain findings: " + ", ".join(uncertain))
    query_pos, draft_pos = set(positive_findings(query_labels)), set(positive_findings(draft_labels))  # type: ignore[arg-type]
    if draft_pos - query_pos - set(uncertain):
        reasons.append("draft names findings the findings text does not: " + ", ".join(sorted(draft_pos - query_pos)))
    if query_pos - draft_pos:
        reasons.append("draft omits findings stated in the findings text: " + ", ".join(sorted(query_pos - draft_pos)))
    return reasons


def _similarity(hit: CaseEvidence) -> float:
    return round(hit.similarity, 4)


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> ReportDraft:
    """Assemble the draft, its citations, labels and review flags."""
    assert isinstance(task, ReportInput)
    hits = load(evidence.get("hits", []), CaseEvidence)
    if task.mode == "retrieval-only":
        impression, model, adapter = (hits[0].impression if hits else ""), None, None
    else:
        drafts = drafts or {}
        impression, model, adapter = str(drafts.get("impression", "")), drafts.get("model"), drafts.get("adapter")
    query_labels = dict(evidence.get("query_labels", {}))
    draft_labels: dict[str, str] = dict(call(ctx, "label_findings", {"text": impression}, FindingLabels).labels) if impression else {}
    reasons = _review_reasons(query_labels, draft_labels, hits, impression, task.mode)
    image_hits = load(evidence.get("image_hits", []), CaseEvidence)
    citations = [Citation(case_id=h.case_id, similarity=_similarity(h)) for h in hits] if task.mode != "no-rag" else []
    citations += [Citation(case_id=h.case_id, similarity=_similarity(h), basis="image") for h in image_hits]
    cited = [*hits, *image_hits] if task.mode != "no-rag" else []
    corrected = {str(f): str(e) for f, e in (evidence.get("corrected") or {}).items()}
    events = sorted({e for h in cited for e in h.feedback_events} | set(corrected.values()))
    return ReportDraft(impression=impression, mode=task.mode, citations=citations, query_labels=query_labels, draft_labels=draft_labels, needs_review=bool(reasons), review_reasons=reasons,
                       model=model, adapter=adapter, feedback_events=events, corrected_labels=corrected)


SPEC = register_task(
    TaskSpec(
        name="report",
        description="Draft the impression of a chest X-ray report from its findings, citing similar prior cases.",
        input_model=ReportInput,
        output_model=ReportDraft,
        retrieve=retrieve,
        generate=generate,
        compose=compose,
        tools=("label_findings", "case_labels", "retrieve_similar_cases", "generate_text"),
        examples=("Draft an impression for these findings: heart size is enlarged, small bilateral effusions", "write the report impression", "summarise this chest x-ray"),
    )
)
