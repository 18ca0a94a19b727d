"""Retrieval quality: precision@k and nDCG@k of five rankers, relevance = shared positive findings.

Queries are the test-split cases whose report has at least one positive finding (a normal
query shares no positive finding with anything, so it cannot be scored this way); the corpus
is the train split. A retrieved case's gain is the number of positive findings (payload
labels, findings + impression) it shares with the query; precision@k counts cases with gain
> 0; nDCG@k divides by the best ranking the whole corpus allows. Rankers:

- ``dense``: cosine of the MiniLM findings embeddings (``strategy="text"``);
- ``label-aware``: the project default (:mod:`lakehouse.retrieval`);
- ``bm25``: Okapi BM25 (``rank-bm25``) over the findings words;
- ``fusion``: reciprocal-rank fusion (k = 60) of dense and BM25;
- ``random``: seeded uniform sample of the corpus.

Run::

    SAGE_HOME=.sage .venv/bin/python -m evals.retrieval --k 5
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from core.settings import Settings

RESULTS = Path(__file__).parent / "results" / "retrieval.json"
RRF_K = 60
METHODS = ("dense", "label-aware", "bm25", "fusion", "random")


class RetrievalScores(BaseModel):
    """Mean precision@k and nDCG@k of one ranker."""

    method: str
    precision_at_k: float
    ndcg_at_k: float


class RetrievalEvalResult(BaseModel):
    """All rankers on the same queries."""

    k: int
    queries: int
    corpus: int
    seed: int
    methods: list[RetrievalScores]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def precision_at_k(gains: Sequence[int], k: int) -> float:
    """Share of the first ``k`` results with a positive gain (missing results count as misses)."""
    return sum(g > 0 for g in gains[:k]) / k


def ndcg_at_k(gains: Sequence[int], ideal: Sequence[int], k: int) -> float:
    """nDCG@k with linear gains; ``ideal`` is every corpus gain (sorted here)."""
    def dcg(values: Sequence[int]) -> float:
        return sum(g / math.log2(i + 2) for i, g in enumerate(values[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(gains) / best if best else 0.0


def rrf(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[str]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (k + rank)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda d: (-scores[d], d))


def evaluate_retrieval(settings: Settings, k: int = 5, limit: int | None = None, seed: int = 0, out_path: Path | None = RESULTS) -> RetrievalEvalResult:
    """Score the five rankers on the abnormal test queries against the train corpus."""
    from rank_bm25 import BM25Okapi

    from lakehouse.retrieval import retrieve_batch
    from lakehouse.semantic import SearchFilter, open_store
    from models.embedder import TextEmbedder

    store = open_store(settings)
    corpus = [p.payload for p in store.scroll(SearchFilter(split="train"), limit=100_000) if p.payload.get("findings")]
    corpus.sort(key=lambda c: c["case_id"])
    queries = [p.payload for p in store.scroll(SearchFilter(split="test"), limit=100_000) if p.payload.get("findings") and p.payload.get("positive_findings")]
    queries.sort(key=lambda c: int(re.sub(r"\D", "", c["case_id"]) or 0))
    queries = queries[:limit] if limit is not None else queries
    positives = {c["case_id"]: set(c.get("positive_findings") or []) for c in corpus}
    texts = [q["findings"] for q in queries]
    embedder = TextEmbedder.from_settings(settings)
    base = SearchFilter(split="train")
    depth = max(k, 50)
    dense = [[h.case_id for h in row] for row in retrieve_batch(store, embedder, texts, k=depth, strategy="text", base_filter=base)]
    label = [[h.case_id for h in row] for row in retrieve_batch(store, embedder, texts, k=k, base_filter=base)]
    bm25 = BM25Okapi([_words(c["findings"]) for c in corpus])
    ids = [c["case_id"] for c in corpus]
    lexical = []
    for text in texts:
        scores = bm25.get_scores(_words(text))
        lexical.append([ids[i] for i in sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:depth]])
    rng = random.Random(seed)
    rankings = {
        "dense": dense, "label-aware": label, "bm25": lexical,
        "fusion": [rrf([d, b]) for d, b in zip(dense, lexical, strict=True)],
        "random": [rng.sample(ids, k) for _ in queries],
    }
    rows = []
    for method in METHODS:
        p_sum = n_sum = 0.0
        for q, ranking in zip(queries, rankings[method], strict=True):
            qpos = set(q["positive_findings"])
            gains = [len(qpos & positives.get(d, set())) for d in ranking[:k]]
            ideal = sorted((len(qpos & s) for s in positives.values()), reverse=True)[:k]
            p_sum += precision_at_k(gains, k)
            n_sum += ndcg_at_k(gains, ideal, k)
        n = max(len(queries), 1)
        rows.append(RetrievalScores(method=method, precision_at_k=round(p_sum / n, 4), ndcg_at_k=round(n_sum / n, 4)))
    result = RetrievalEvalResult(k=k, queries=len(queries), corpus=len(corpus), seed=seed, methods=rows)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result.model_dump(), indent=2) + "\n")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """CLI entry: print the table, write evals/results/retrieval.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    r = evaluate_retrieval(Settings(), args.k, args.limit, args.seed, args.out)
    print(f"{r.queries} abnormal test queries, {r.corpus} train cases, k={r.k}\n\n| method | precision@{r.k} | nDCG@{r.k} |\n|---|---|---|")  # noqa: T201
    for m in r.methods:
        print(f"| {m.method} | {m.precision_at_k:.3f} | {m.ndcg_at_k:.3f} |")  # noqa: T201


if __name__ == "__main__":
    main()
