"""Retrieve-then-edit impressions: the default ``rag`` drafting of the report task (issue 18).

Why not let the 135M model write: on the Indiana reports it copies abnormal findings from the
retrieved examples that the query does not have, and takes seconds per report on 2 cores. An
impression is mostly (a) which findings the radiologist chose to state and (b) how they are
worded. The first is learned; the wording comes from the patient's own findings text where it
can, and from label-matched prior cases where it cannot:

1. the impression planner (:mod:`agents.tasks.report_plan`) decides which findings the
   impression states: those of the findings text that radiologists restate, plus those they
   usually name from what the text describes (stated hedged, "Possible pneumonia.");
2. :func:`required_labels` turns that set into a retrieval filter, so the candidates are
   prior cases whose reports carry those findings (normal cases for a normal query);
3. :func:`edit_impression` picks the candidate whose impression states exactly the target
   findings and is most like the others (a minimum-Bayes-risk choice among the candidates whose
   findings read most like the query's, by TF-IDF cosine, so the phrasing is the house style of
   reports written in the same template). A normal query gets that impression as it is. An
   abnormal one gets its own findings sentences that state the target findings, shorn of filler
   ("There is a ... is seen"), a short house-style statement for each target finding they do not
   state, and the chosen impression's closing negative sentence ("No acute disease."), if it has
   one. Another patient's finding sentences are never copied: they carried that patient's sides,
   sizes and history (editor v2 edited them; v3 measured better on the development subset and is
   faithful by construction). The result is labelled again, so the draft never names a finding
   the plan does not hold.

The planner is fitted on the train split; the constants here were set on a development subset
of the train split (ids = 1 mod 5, held out from retrieval and from the planner's training),
never on the test split (docs/results.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from agents.tasks.report_plan import ImpressionPlanner, Plan, abnormal_positives, cosine, positive_states
from lakehouse.findings import FINDING_KEYS
from lakehouse.retrieval import CaseEvidence

EDITOR_VERSION = "retrieve-edit-v3"
NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
CANDIDATES = 60  # label-matched prior cases retrieved per query (the pool the editor picks from)
MBR_TOP = 5  # lexically closest candidates among which the consensus impression is chosen
# Added when a target finding is not stated by the chosen impression (house style: short, plain).
HOUSE_PHRASES: dict[str, str] = {
    "cardiomegaly": "Cardiomegaly.",
    "enlarged_cardiomediastinum": "Enlarged mediastinal silhouette.",
    "lung_opacity": "Airspace opacity.",
    "lung_lesion": "Pulmonary nodule.",
    "edema": "Pulmonary edema.",
    "consolidation": "Consolidation.",
    "pneumonia": "Pneumonia.",
    "atelectasis": "Atelectasis.",
    "pneumothorax": "Pneumothorax.",
    "pleural_effusion": "Small pleural effusion.",
    "pleural_other": "Pleural thickening.",
    "fracture": "Rib fracture.",
    "support_devices": "Medical devices in place.",
}
_WORD = re.compile(r"[a-z0-9]+")
# Where a finding is: a kept sentence may name only places the query's findings name.
_PLACE = re.compile(r"\b(right|left|bilateral|bibasilar|upper|middle|lower|lingula|lingular|apical|apex|retrocardiac|perihilar)\b")
# Filler a radiologist drops when a findings sentence becomes an impression ("There is a small effusion." -> "Small effusion.").
_LEAD = re.compile(r"^(?:there (?:is|are|has been|have been)|again (?:noted|seen) (?:is|are)|redemonstrat(?:ed|ion of)|(?:is|are) (?:again )?(?:seen|noted))"
                   r"\s+(?:an?\s+|the\s+)?", re.IGNORECASE)
_TAIL = re.compile(r"\s+(?:is|are) (?:again )?(?:seen|noted|present|identified|demonstrated)(?=[.,;]|$)", re.IGNORECASE)
_NEGATION = re.compile(r"\b(no|without|negative|otherwise)\b", re.IGNORECASE)
# The severity a findings sentence gives an enlarged heart ("mildly enlarged"), kept when it is restated as "Mild cardiomegaly."
_SEVERITY = re.compile(r"\b(mild|moderate|severe|marked|borderline|minimal|slight|massive)(?:ly)?\s+(?=enlarged|enlargement|increased|prominent)", re.IGNORECASE)


class Candidate(BaseModel):
    """A prior case offered to the editor (from ``retrieve_similar_cases`` hits)."""

    case_id: str
    findings: str = ""
    impression: str = ""
    similarity: float = 0.0


class EditedImpression(BaseModel):
    """The edited impression and how it was made (kept in the draft's evidence)."""

    impression: str
    target: list[str] = Field(description="Findings the impression states (no_finding when none).")
    inferred: list[str] = Field(default_factory=list, description="Target findings the findings text does not state (stated hedged).")
    left_out: list[str] = Field(default_factory=list, description="Findings of the findings text the impression leaves out.")
    probabilities: dict[str, float] = Field(default_factory=dict, description="The planner's probability per finding it weighed.")
    base_case_id: str | None = Field(None, description="Prior case whose impression gave the house phrasing (all of it for a normal query, its closing otherwise).")
    restated: list[str] = Field(default_factory=list, description="The query's own findings sentences the impression restates.")
    removed: list[str] = Field(default_factory=list, description="Sentences of the base impression not used: its finding sentences (another patient's), "
                                                                  "and any closing naming a side or lobe the query does not.")
    added: list[str] = Field(default_factory=list, description="House-style statements added for target findings.")
    version: str = EDITOR_VERSION


def required_labels(target: set[str], query_labels: Mapping[str, str]) -> dict[str, str]:
    """Retrieval filter for candidates: the target findings the query states as present, or a normal report."""
    if not target:
        return {"no_finding": "present"}
    return {f: "present" for f in sorted(target) if query_labels.get(f) == "present"}


def hedged(finding: str) -> str:
    """The house phrase of a finding, hedged ("Possible pneumonia."): for one the planner inferred or the text gives as possible."""
    phrase = HOUSE_PHRASES[finding]
    return f"Possible {phrase[0].lower()}{phrase[1:]}"


def lcs_f1(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F1 of two token lists (longest common subsequence); the editor's agreement measure."""
    if not a or not b:
        return float(not a and not b)
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    return 2 * lcs / (len(a) + len(b))


def _consensus(query_findings: str, pool: Sequence[Candidate], planner: ImpressionPlanner) -> Candidate:
    """Among the ``MBR_TOP`` candidates lexically closest to the query, the one agreeing most with the others.

    Lexical closeness of the findings texts (TF-IDF cosine over the planner's n-grams) identifies
    reports written in the same template, often by the same reader; the minimum-Bayes-risk choice
    then prefers the phrasing those reports share over an idiosyncratic one.
    """
    query = planner.vector(query_findings)
    closeness = {c.case_id: cosine(query, planner.vector(c.findings)) for c in pool}
    closest = sorted(pool, key=lambda c: (-closeness[c.case_id], -c.similarity, c.case_id))[:MBR_TOP]
    weights = [closeness[c.case_id] + 1e-6 for c in closest]
    words = [_WORD.findall(c.impression.lower()) for c in closest]
    scores = [sum(w * lcs_f1(a, b) for b, w in zip(words, weights, strict=True)) for a in words]
    return closest[max(range(len(closest)), key=lambda i: (scores[i], -i))]


def edit_impression(query_findings: str, plan: Plan, candidates: Sequence[Candidate], planner: ImpressionPlanner) -> EditedImpression:
    """Draft the impression stating exactly ``plan.target``: the consensus candidate's for a normal query, else the query's own words (module docstring)."""
    target = plan.target
    why = EditedImpression(impression="", target=sorted(target) or ["no_finding"], inferred=sorted(plan.inferred), left_out=sorted(plan.left_out),
                           probabilities=plan.probabilities)
    usable = [c for c in candidates if c.impression.strip()]
    stated = {c.case_id: abnormal_positives(c.impression) for c in usable}
    exact = [c for c in usable if stated[c.case_id] == target]
    pool = exact or [c for c in usable if stated[c.case_id] <= target] or usable
    base = _consensus(query_findings, pool, planner) if pool else None
    if not target and base is not None and not stated[base.case_id]:
        return why.model_copy(update={"impression": base.impression.strip(), "base_case_id": base.case_id})
    own = restated_sentences(query_findings, plan)
    have = abnormal_positives(" ".join(own))
    added = [_statement(f, plan) for f in FINDING_KEYS if f in target - have and f in HOUSE_PHRASES]
    closing, removed = _closing(base, query_findings) if base is not None else ([], [])
    text = " ".join(own + added + closing).strip()
    if abnormal_positives(text) != target:  # read together, the sentences say something else: state the plan plainly
        own, added = [], [_statement(f, plan) for f in FINDING_KEYS if f in target and f in HOUSE_PHRASES]
        text = " ".join(added).strip()
    return why.model_copy(update={"impression": text or NORMAL_IMPRESSION, "base_case_id": base.case_id if base else None,
                                  "restated": own, "removed": removed, "added": added or ([] if text else [NORMAL_IMPRESSION])})


def restated_sentences(query_findings: str, plan: Plan) -> list[str]:
    """The query's findings sentences that state target findings and nothing else, shorn of filler.

    A sentence is skipped when it states a finding outside the target, or states as certain a
    finding the plan holds only as possible or inferred (that one gets the hedged house phrase).
    """
    from lakehouse.labeler.rules import find_mentions

    sentences, mentions = find_mentions(query_findings)
    hedge = plan.uncertain | plan.inferred
    chosen: list[str] = []
    for index in sorted({m.sentence for m in mentions if m.finding in plan.target and m.state != "absent"}):
        sentence = sentences[index].strip()
        states = positive_states(sentence)
        if set(states) <= plan.target and not any(states[f] == "present" for f in hedge & set(states)):
            chosen.append(_in_house_terms(_shorn(sentence, states), states))
    return chosen


def _shorn(sentence: str, states: Mapping[str, str]) -> str:
    """``sentence`` without its leading and trailing filler, if the labeler still reads it the same."""
    trimmed = _TAIL.sub("", _LEAD.sub("", sentence))
    trimmed = trimmed[:1].upper() + trimmed[1:]
    return trimmed if trimmed and positive_states(trimmed) == dict(states) else sentence


def _in_house_terms(sentence: str, states: Mapping[str, str]) -> str:
    """A sentence stating only an enlarged heart in other words ("The heart is mildly enlarged.") as the impression's term ("Mild cardiomegaly.").

    Radiologists name it so in the impression; the severity is kept, nothing else of the sentence
    is (it states no other finding). Unchanged if the labeler would read the result differently.
    """
    if set(states) != {"cardiomegaly"} or "cardiomegaly" in sentence.lower():
        return sentence
    severity = list(dict.fromkeys(m.lower() for m in _SEVERITY.findall(sentence)))
    term = " ".join([*severity, "cardiomegaly."])
    term = f"Possible {term}" if states["cardiomegaly"] == "uncertain" else term[:1].upper() + term[1:]
    return term if positive_states(term) == dict(states) else sentence


def _closing(base: Candidate, query_findings: str) -> tuple[list[str], list[str]]:
    """The base impression's first negative sentence that states no finding ("No acute disease."), and the sentences left out.

    It keeps the reader's house closing; one naming a side or lobe the query's findings do not is left out too.
    """
    from lakehouse.labeler import split_sentences

    places = set(_PLACE.findall(query_findings.lower()))
    closing: list[str] = []
    removed: list[str] = []
    for sentence in split_sentences(base.impression):
        fits = not closing and not positive_states(sentence) and bool(_NEGATION.search(sentence)) and set(_PLACE.findall(sentence.lower())) <= places
        (closing if fits else removed).append(sentence)
    return closing, removed


def _statement(finding: str, plan: Plan) -> str:
    return hedged(finding) if finding in plan.inferred | plan.uncertain else HOUSE_PHRASES[finding]


def as_candidates(hits: Iterable[CaseEvidence]) -> list[Candidate]:
    """``retrieve_similar_cases`` hits as editor candidates (ranked by their cosine similarity)."""
    return [Candidate(case_id=h.case_id, findings=h.findings, impression=h.impression, similarity=h.similarity) for h in hits]
