"""Similar prior cases for a findings text, ranked so they share the query's abnormal findings.

Plain whole-report similarity is dominated by normal boilerplate ("Heart size normal. No
pneumothorax."), so its neighbours are mostly normal cases even for an abnormal query
(docs/lakehouse.md). The default ``label-aware`` strategy therefore:

1. labels the query with the project labeler and embeds both its text and its abnormal
   sentences (exactly as ingestion builds the ``text`` and ``abnormal`` named vectors);
2. for an abnormal query, searches the ``abnormal`` vector among cases with at least one of the
   query's positive findings (``any_positive``), plus a plain ``text`` search as a fallback pool;
   for a normal query, searches ``text`` only;
3. reranks the pool by ``score = cosine + LABEL_WEIGHT * jaccard(query positives, case positives)``,
   where cosine is the mean of the text and abnormal cosines (the searches' own scores, and the
   engine's scores for pool cases one search did not return) and
   the Jaccard of two normal cases is 1, so a normal query prefers normal neighbours.

``strategy="text"`` is the naive baseline (kept for evaluation); ``strategy="image"`` searches the
``image`` vector only; an image vector given to ``label-aware`` adds its neighbours to the pool. The query case is always excluded by id, and ``base_filter`` (access tags from
policy, split) is applied inside the engine on every search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from core.errors import SageError
from lakehouse.findings import positive_findings
from lakehouse.semantic.base import SearchFilter, SearchHit, SemanticStore

Strategy = Literal["label-aware", "text", "image"]
LABEL_WEIGHT = 0.3  # best rag macro F1 on the dev split (train ids = 1 mod 5) of {0, .1, .2, .3, .4, .5, .7}; docs/results.md
POOL_FACTOR = 8  # candidates per requested case before reranking


class RetrievalError(SageError):
    """Bad retrieval input (empty findings, missing image vector, unknown strategy)."""


class CaseEvidence(BaseModel):
    """One retrieved prior case, as cited by tasks."""

    case_id: str
    score: float = Field(description="Ranking score (cosine + label agreement bonus for label-aware).")
    similarity: float = Field(description="Cosine similarity of the findings texts (-1..1).")
    labels: dict[str, str] = Field(default_factory=dict)
    positive_findings: list[str] = Field(default_factory=list)
    impression: str = ""
    findings: str = ""
    source: str = Field(description="How the case was found, e.g. 'qdrant:abnormal+labels'.")
    feedback_events: list[str] = Field(default_factory=list, description="Clinician feedback events (corrections, propagations, imports) behind the case's current labels.")


def label_jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard of two positive-finding sets; two normal cases (both empty) agree fully."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _with(base: SearchFilter | None, exclude_ids: Sequence[str], **extra: Any) -> SearchFilter:
    data = base.model_dump() if base is not None else {}
    data["exclude_ids"] = sorted(set(data.get("exclude_ids") or []) | set(exclude_ids))
    data.update(extra)
    return SearchFilter(**data)


def _evidence(hit: SearchHit, score: float, similarity: float, source: str) -> CaseEvidence:
    p = hit.payload
    return CaseEvidence(
        case_id=hit.case_id,
        score=round(float(score), 6),
        similarity=round(float(similarity), 6),
        labels=dict(p.get("labels") or {}),
        positive_findings=list(p.get("positive_findings") or []),
        impression=str(p.get("impression") or ""),
        findings=str(p.get("findings") or ""),
        source=source,
        feedback_events=sorted(set((p.get("label_events") or {}).values())),
    )


def _rerank(store: SemanticStore, pool: dict[str, SearchHit], sims: dict[str, dict[str, float]], text_vec: np.ndarray, abn_vec: np.ndarray, positives: list[str], k: int, source: str) -> list[CaseEvidence]:
    """Rank the pool; ``sims`` holds the cosines the searches already returned (``text``, ``abnormal``)."""
    for name, query in (("text", text_vec), ("abnormal", abn_vec)):
        missing = [c for c in pool if c not in sims[name]]
        sims[name].update(store.similarities(query.tolist(), using=name, case_ids=missing) if missing else {})
    ranked: list[tuple[float, float, SearchHit]] = []
    for case_id, hit in pool.items():
        text_sim = sims["text"].get(case_id, hit.score)
        abn_sim = sims["abnormal"].get(case_id, text_sim)  # a case without an abnormal vector counts its text cosine twice
        agreement = label_jaccard(positives, hit.payload.get("positive_findings") or [])
        ranked.append(((text_sim + abn_sim) / 2 + LABEL_WEIGHT * agreement, text_sim, hit))
    # Scores equal to the reported precision tie, and ties go by case id: float noise (which differs
    # between engines and batch shapes) never decides between cases with the same text.
    ranked.sort(key=lambda r: (-round(r[0], 6), r[2].case_id))
    return [_evidence(hit, score, sim, source) for score, sim, hit in ranked[:k]]


def retrieve_batch(
    store: SemanticStore,
    embedder: Any,
    findings: Sequence[str],
    *,
    k: int = 3,
    exclude_ids: Sequence[Sequence[str]] | None = None,
    base_filter: SearchFilter | None = None,
    strategy: Strategy = "label-aware",
    image_vectors: Sequence[Sequence[float] | None] | None = None,
    required_findings: Sequence[dict[str, str]] | None = None,
) -> list[list[CaseEvidence]]:
    """Similar cases for many queries: one embedder call and batched searches.

    Args:
        store: The semantic tier.
        embedder: Text embedder with ``embed(texts) -> (n, 384)`` unit vectors.
        findings: FINDINGS text per query.
        k: Cases per query.
        exclude_ids: Per query, case ids never returned (at least the query's own id).
        base_filter: Conditions every search carries (access tags, split).
        strategy: ``label-aware`` (default), ``text`` (naive baseline) or ``image``.
        image_vectors: Per query, an image embedding (required for ``image``).
        required_findings: Per query, label states the returned cases must carry (``text`` strategy
            only; the retrieve-then-edit drafting asks for cases with the findings it will state).

    Raises:
        RetrievalError: empty findings text, or ``image`` without an image vector.
    """
    from lakehouse.ingest.semantic_writer import abnormal_text
    from lakehouse.labeler import label_report

    n = len(findings)
    if any(not f or not f.strip() for f in findings):
        raise RetrievalError("findings text is empty", hint="pass the FINDINGS section of the report")
    if n == 0:
        return []
    excludes = [list(e) for e in exclude_ids] if exclude_ids is not None else [[] for _ in range(n)]
    if strategy == "image":
        if image_vectors is None or any(v is None for v in image_vectors):
            raise RetrievalError("image retrieval needs an image vector per query", hint="embed the image with models.image first")
        filters: list[SearchFilter | None] = [_with(base_filter, excludes[i]) for i in range(n)]
        hits = store.search_batch([list(v) for v in image_vectors if v is not None], using="image", filters=filters, limit=k)
        return [[_evidence(h, h.score, h.score, "qdrant:image") for h in row] for row in hits]

    labels = [label_report(f) for f in findings]
    positives = [positive_findings(lab) for lab in labels]
    vectors = embedder.embed(list(findings) + [abnormal_text(f, "") for f in findings])
    text_vecs, abn_vecs = vectors[:n], vectors[n:]
    if strategy == "text":
        required = list(required_findings) if required_findings is not None else [{} for _ in range(n)]
        filters = [_with(base_filter, excludes[i], findings={**(base_filter.findings if base_filter else {}), **required[i]}) for i in range(n)]
        hits = store.search_batch(text_vecs.tolist(), using="text", filters=filters, limit=k)
        return [[_evidence(h, h.score, h.score, "qdrant:text") for h in row] for row in hits]
    if strategy != "label-aware":
        raise RetrievalError(f"unknown retrieval strategy {strategy!r}", hint="use label-aware, text or image")

    limit = k * POOL_FACTOR
    text_hits = store.search_batch(text_vecs.tolist(), using="text", filters=[_with(base_filter, excludes[i]) for i in range(n)], limit=limit)
    abnormal_rows = [i for i in range(n) if positives[i]]
    abn_hits = store.search_batch(
        [abn_vecs[i].tolist() for i in abnormal_rows],
        using="abnormal",
        filters=[_with(base_filter, excludes[i], any_positive=positives[i]) for i in abnormal_rows],
        limit=limit,
    ) if abnormal_rows else []
    by_row = dict(zip(abnormal_rows, abn_hits, strict=True))
    # An image, when given, adds its nearest cases to the pool; the rerank still judges them by text and labels.
    image_rows = [i for i in range(n) if image_vectors is not None and image_vectors[i] is not None]
    image_hits = store.search_batch([list(image_vectors[i]) for i in image_rows], using="image", filters=[_with(base_filter, excludes[i]) for i in image_rows], limit=limit) if image_vectors is not None and image_rows else []  # type: ignore[arg-type]
    by_image = dict(zip(image_rows, image_hits, strict=True))
    results = []
    for i in range(n):
        pool = {h.case_id: h for h in by_row.get(i, [])}
        for h in [*text_hits[i], *by_image.get(i, [])]:
            pool.setdefault(h.case_id, h)
        sims = {"text": {h.case_id: h.score for h in text_hits[i]}, "abnormal": {h.case_id: h.score for h in by_row.get(i, [])}}
        source = "qdrant:abnormal+labels" if positives[i] else "qdrant:text+labels"
        results.append(_rerank(store, pool, sims, text_vecs[i], abn_vecs[i], positives[i], k, source))
    return results


def retrieve_similar_cases(
    store: SemanticStore,
    embedder: Any,
    findings: str,
    *,
    k: int = 3,
    exclude_ids: Sequence[str] = (),
    base_filter: SearchFilter | None = None,
    strategy: Strategy = "label-aware",
    image_vector: Sequence[float] | None = None,
) -> list[CaseEvidence]:
    """The ``k`` prior cases most like ``findings`` (see the module docstring for the ranking)."""
    return retrieve_batch(store, embedder, [findings], k=k, exclude_ids=[list(exclude_ids)], base_filter=base_filter, strategy=strategy, image_vectors=[image_vector])[0]
