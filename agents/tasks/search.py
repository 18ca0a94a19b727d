"""Task "search": prior cases like a findings text or like a case id, with the score they are ranked by.

By text, the request's clinical part is the query. By case id ("cases like CXR45"), the case's
own findings (read through ``query_records``) are the query and the case itself is excluded.
The governed ``retrieve_similar_cases`` tool ranks label-aware: ``score = cosine + 0.3 x label
agreement``, so the answer shows that score (the ranking), the plain cosine beside it, and a
sentence explaining the difference: a list ordered by score can look unordered by cosine.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, model_validator

from agents.tasks.base import TaskContext, TaskInputError, TaskSpec, register_task
from agents.tasks.evidence import call, dump_all, load
from agents.tasks.mentions import case_id_in
from agents.tasks.text_inputs import clinical_text
from lakehouse.retrieval import CaseEvidence
from tools.records import Rows
from tools.retrieval import SimilarCases

_REQUEST_WORDS = re.compile(
    r"^\s*(please\s+)?(find|search|show|pull|retrieve|look ?up|get|give)?\s*(me\s+)?(\d+\s+)?(prior|previous|past|old|teaching)?\s*"
    r"(similar|comparable|matching)?\s*(cases?|reports?|studies|films|x-?rays|cxrs|examples)?\s*(like|similar to|resembling|to|of|with|for)?\s*[:\-]?\s*",
    re.IGNORECASE,
)
SCORE_EXPLANATION = (
    "Ranked by score = cosine similarity of the findings + 0.3 x agreement of positive findings (Jaccard); "
    "cosine alone is shown for comparison, so a case with shared findings can outrank a closer-worded one."
)


class SearchInput(BaseModel):
    """Similar-case search by findings text or by case id."""

    text: str | None = Field(None, max_length=8000, description="Findings to search for, e.g. 'large right pneumothorax'.")
    case_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,32}$", description="A case whose findings are the query, e.g. 'CXR45'.")
    k: int = Field(5, ge=1, le=20, description="Cases to return (1-20).")

    @model_validator(mode="after")
    def _one_query(self) -> SearchInput:
        if not (self.text and self.text.strip()) and not self.case_id:
            raise ValueError("give findings text or a case id to search for")
        return self

    @classmethod
    def from_text(cls, text: str) -> SearchInput:
        """A case id if the line names one ("cases like CXR45", "similar to case 880"), else its findings text."""
        if case_id := case_id_in(text):
            return cls(case_id=case_id)
        query = clinical_text(text) if ":" in text else _REQUEST_WORDS.sub("", text, count=1)
        query = query.strip(" '\"?.") or text.strip()
        if len(query) < 3:
            raise TaskInputError("no findings to search for", hint="e.g. 'find prior cases like: large right pneumothorax' or 'cases like CXR45'")
        return cls(text=query)


class SimilarCase(BaseModel):
    """One hit, in ranking order."""

    rank: int
    case_id: str
    score: float = Field(description="The ranking score.")
    cosine: float
    positive_findings: list[str]
    impression: str


class SearchResult(BaseModel):
    """Similar cases with the score they are ranked by, and why."""

    query: str
    case_id: str | None
    hits: list[SimilarCase]
    answer: str
    explanation: str = SCORE_EXPLANATION
    cited_cases: list[str]


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Read the case's findings when searching by id, then run the governed similar-case search."""
    assert isinstance(task, SearchInput)
    query, exclude = task.text or "", []
    if task.case_id:
        rows = call(ctx, "query_records", {"sql": f"SELECT report_id, findings, impression FROM reports WHERE report_id = '{task.case_id}'", "limit": 1}, Rows).rows
        if not rows:
            raise TaskInputError(f"no case {task.case_id!r} in the records", hint="case ids look like CXR45")
        query = str(rows[0].get("findings") or rows[0].get("impression") or "").strip()
        if not query:
            raise TaskInputError(f"case {task.case_id!r} has no findings text to search with")
        exclude = [task.case_id]
    hits = call(ctx, "retrieve_similar_cases", {"findings": query, "k": task.k, "exclude_ids": exclude}, SimilarCases).hits
    return {"ids": [h.case_id for h in hits], "query": query, "hits": dump_all(hits)}


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> SearchResult:
    """Hits in ranking order, each with its score and cosine, and a one-line answer."""
    assert isinstance(task, SearchInput)
    hits = [
        SimilarCase(rank=i, case_id=h.case_id, score=round(h.score, 3), cosine=round(h.similarity, 3), positive_findings=h.positive_findings, impression=h.impression[:300])
        for i, h in enumerate(load(evidence.get("hits", []), CaseEvidence), start=1)
    ]
    subject = f"case {task.case_id}" if task.case_id else repr(evidence.get("query", "")[:80])
    lines = [f"{len(hits)} similar case(s) to {subject}, best first (score | cosine | findings):"]
    lines += [f"{h.rank}. {h.case_id}  {h.score:.3f} | {h.cosine:.3f} | {', '.join(h.positive_findings) or 'no finding'} - {h.impression[:100]}" for h in hits]
    lines.append(SCORE_EXPLANATION)
    return SearchResult(query=str(evidence.get("query", "")), case_id=task.case_id, hits=hits, answer="\n".join(lines), cited_cases=[h.case_id for h in hits])


SPEC = register_task(
    TaskSpec(
        name="search",
        description="Find prior chest X-ray cases similar to a findings text or to a given case, ranked by label-aware similarity with the score shown.",
        input_model=SearchInput,
        output_model=SearchResult,
        retrieve=retrieve,
        compose=compose,
        tools=("query_records", "retrieve_similar_cases"),
        examples=("find prior cases like: large right pneumothorax", "similar cases to CXR45", "show me cases resembling bilateral hilar adenopathy"),
    )
)
