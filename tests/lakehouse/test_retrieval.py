from __future__ import annotations

import pytest

from core.settings import Settings
from lakehouse.findings import positive_findings
from lakehouse.retrieval import RetrievalError, label_jaccard, retrieve_batch, retrieve_similar_cases
from lakehouse.semantic import SearchFilter, open_store
from models.embedder import TextEmbedder


@pytest.fixture(scope="module")
def store_and_embedder(small_lakehouse: Settings):  # noqa: ANN201
    return open_store(small_lakehouse), TextEmbedder.from_settings(small_lakehouse)


def test_label_jaccard() -> None:
    assert label_jaccard([], []) == 1.0
    assert label_jaccard(["edema"], []) == 0.0
    assert label_jaccard(["edema", "cardiomegaly"], ["edema"]) == 0.5


def test_hits_are_real_cases_and_query_is_excluded(store_and_embedder) -> None:  # noqa: ANN001
    store, embedder = store_and_embedder
    case = next(p for p in store.scroll(limit=300) if p.payload.get("positive_findings") and p.payload.get("findings"))
    findings = case.payload["findings"]
    with_self = retrieve_similar_cases(store, embedder, findings, k=5)
    assert with_self[0].case_id == case.case_id  # its own text is its nearest neighbour...
    hits = retrieve_similar_cases(store, embedder, findings, k=5, exclude_ids=[case.case_id])
    assert len(hits) == 5 and case.case_id not in {h.case_id for h in hits}  # ...unless excluded
    stored = {p.case_id: p for p in store.retrieve([h.case_id for h in hits])}
    for hit in hits:
        assert hit.case_id in stored and hit.impression == stored[hit.case_id].payload["impression"]
        assert -1.0 <= hit.similarity <= 1.0 and hit.source == "qdrant:abnormal+labels"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_base_filter_is_applied(store_and_embedder) -> None:  # noqa: ANN001
    store, embedder = store_and_embedder
    hits = retrieve_similar_cases(store, embedder, "Heart size is enlarged. Small left pleural effusion.", k=4, base_filter=SearchFilter(split="train"))
    assert hits and all(store.retrieve([h.case_id])[0].payload["split"] == "train" for h in hits)
    assert retrieve_similar_cases(store, embedder, "Cardiomegaly.", k=3, base_filter=SearchFilter(sites=[])) == []


def test_bad_input_is_a_clear_error(store_and_embedder) -> None:  # noqa: ANN001
    store, embedder = store_and_embedder
    with pytest.raises(RetrievalError, match="empty"):
        retrieve_similar_cases(store, embedder, "   ")
    with pytest.raises(RetrievalError, match="image vector"):
        retrieve_similar_cases(store, embedder, "Cardiomegaly.", strategy="image")


def test_label_aware_shares_positive_findings_more_than_text(store_and_embedder) -> None:  # noqa: ANN001
    """Measured on every abnormal case of the small lakehouse used as a query (itself excluded)."""
    store, embedder = store_and_embedder
    queries = [p for p in store.scroll(limit=300) if positive_findings(p.payload["labels"]) and p.payload.get("findings")]
    assert len(queries) >= 30
    texts, excludes = [q.payload["findings"] for q in queries], [[q.case_id] for q in queries]
    shares = {}
    for strategy in ("text", "label-aware"):
        results = retrieve_batch(store, embedder, texts, k=3, exclude_ids=excludes, strategy=strategy)
        shared = [
            sum(bool(set(h.positive_findings) & set(positive_findings(q.payload["labels"]))) for h in hits) / len(hits)
            for q, hits in zip(queries, results, strict=True)
        ]
        assert all(q.case_id not in {h.case_id for h in hits} for q, hits in zip(queries, results, strict=True))
        shares[strategy] = sum(shared) / len(shared)
    print(f"share of top-3 neighbours with a common positive finding: {shares}")
    assert shares["label-aware"] > shares["text"] + 0.15
