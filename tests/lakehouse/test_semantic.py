"""One suite, two backends: every SemanticStore operation on Qdrant Edge and on qdrant-client.

Expected answers come from an independent NumPy brute-force scan with the filter written out
in plain Python, so a wrong filter translation or a wrong ranking fails on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from core.files import copy_sparse, copy_tree
from core.settings import Settings
from lakehouse.semantic import (
    VECTORS,
    CasePoint,
    CollectionMissingError,
    InvalidFilterError,
    PointNotFoundError,
    SearchFilter,
    SemanticStore,
    SemanticStoreError,
    StoreLockedError,
    open_store,
    point_id,
)
from lakehouse.semantic.client import ClientStore
from lakehouse.semantic.edge import EdgeStore

N = 500
FINDING_POOL = ["cardiomegaly", "edema", "pleural_effusion", "pneumothorax", "atelectasis"]
STATES = ["present", "absent", "uncertain"]


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _build_points() -> tuple[list[CasePoint], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    text, abnormal, image = _unit(rng, N, 384), _unit(rng, N, 384), _unit(rng, N, 512)
    points = []
    for i in range(N):
        labels = {k: STATES[int(rng.integers(3))] for k in FINDING_POOL if rng.random() < 0.6}
        vectors = {"text": text[i].tolist(), "abnormal": abnormal[i].tolist()}
        if i % 3 == 0:  # only some cases have an image
            vectors["image"] = image[i].tolist()
        payload = {
            "patient_id": f"P{i % 40}",
            "split": "test" if i % 5 == 0 else "train",
            "site": ["site-a", "site-b", "site-c"][i % 3],
            "consent": ["care", "research"][i % 2],
            "sensitivity": int(rng.integers(0, 4)),
            "labels": labels,
            "positive_findings": [k for k, v in labels.items() if v == "present"],
            "label_version": 1,
        }
        points.append(CasePoint(case_id=f"CXR{i}", vectors=vectors, payload=payload))
    return points, {"text": text, "abnormal": abnormal, "image": image}


POINTS, MATRICES = _build_points()
QUERIES = _unit(np.random.default_rng(1), 8, 384)


def _matches(p: CasePoint, f: SearchFilter | None) -> bool:
    """Reference semantics of SearchFilter, written out independently of lakehouse.semantic.filters."""
    if f is None:
        return True
    pl = p.payload
    if any(pl["labels"].get(k) != s for k, s in f.findings.items()):
        return False
    if f.any_positive and not set(f.any_positive) & set(pl["positive_findings"]):
        return False
    if f.sites is not None and pl["site"] not in f.sites:
        return False
    if f.consents is not None and pl["consent"] not in f.consents:
        return False
    if f.max_sensitivity is not None and pl["sensitivity"] > f.max_sensitivity:
        return False
    if f.split is not None and pl["split"] != f.split:
        return False
    if f.patient_id is not None and pl["patient_id"] != f.patient_id:
        return False
    return p.case_id not in f.exclude_ids


def _brute_force(query: np.ndarray, f: SearchFilter | None, limit: int = 10, using: str = "text") -> list[tuple[str, float]]:
    mask = np.array([_matches(p, f) and using in p.vectors for p in POINTS])
    scores = np.where(mask, MATRICES[using] @ query, -np.inf)
    order = np.argsort(-scores, kind="stable")[: min(limit, int(mask.sum()))]
    return [(f"CXR{i}", float(scores[i])) for i in order]


@pytest.fixture(scope="module")
def edge_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed Edge shard holding POINTS, built once: creating 22 payload indexes costs seconds
    of fsync, so tests copy this folder instead of rebuilding it."""
    root = tmp_path_factory.mktemp("edge-template")
    store = EdgeStore(root, "cases")
    store.ensure_collection(VECTORS)
    store.upsert(POINTS, batch_size=128)
    store.close()
    return root


def _fresh(backend: str, tmp: Path, template: Path | None, loaded: bool = True) -> SemanticStore:
    """A new store on the backend: Edge from a copy of the template shard, qdrant-client in memory."""
    if backend == "edge":
        if loaded:
            assert template is not None
            copy_tree(template, tmp / "qdrant")
        return EdgeStore(tmp / "qdrant", "cases")
    store = ClientStore(QdrantClient(":memory:"), "cases")
    if loaded:
        store.ensure_collection(VECTORS)
        store.upsert(POINTS, batch_size=128)
    return store


@pytest.fixture(params=["client", "edge"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SemanticStore]:
    store = _fresh(request.param, tmp_path, None, loaded=False)
    yield store
    store.close()


@pytest.fixture(params=["client", "edge"])
def store(request: pytest.FixtureRequest, tmp_path: Path, edge_template: Path) -> Iterator[SemanticStore]:
    """A loaded store of one's own, for tests that write."""
    store = _fresh(request.param, tmp_path, edge_template)
    yield store
    store.close()


@pytest.fixture(scope="module", params=["client", "edge"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, edge_template: Path) -> Iterator[SemanticStore]:
    """A loaded store shared by the read-only tests of one backend."""
    store = _fresh(request.param, tmp_path_factory.mktemp(f"loaded-{request.param}"), edge_template)
    yield store
    store.close()


def test_both_backends_implement_the_protocol(loaded: SemanticStore) -> None:
    assert isinstance(loaded, SemanticStore)


def test_operations_before_ingest_say_what_to_do(empty_store: SemanticStore) -> None:
    with pytest.raises(CollectionMissingError, match="ingest"):
        empty_store.count()


def test_upsert_retrieve_round_trip(loaded: SemanticStore) -> None:
    got = loaded.retrieve(["CXR7", "missing", "CXR3"], with_vectors=True)
    assert [p.case_id for p in got] == ["CXR7", "CXR3"]
    assert got[0].payload == {**POINTS[7].payload, "case_id": "CXR7"}
    assert set(got[1].vectors) == {"text", "abnormal", "image"} and set(got[0].vectors) == {"text", "abnormal"}
    np.testing.assert_allclose(got[1].vectors["image"], MATRICES["image"][3], atol=1e-5)
    assert loaded.retrieve(["CXR7"])[0].vectors == {}
    assert loaded.count() == N


@pytest.mark.parametrize("using", ["text", "abnormal", "image"])
def test_search_ranking_equals_brute_force(loaded: SemanticStore, using: str) -> None:
    dim = VECTORS[using]
    for q in _unit(np.random.default_rng(2), 5, dim):
        hits = loaded.search(q.tolist(), using=using, limit=10)
        expected = _brute_force(q, None, using=using)
        assert [h.case_id for h in hits] == [c for c, _ in expected]
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-4)


FILTERS = {
    "finding_state": SearchFilter(findings={"edema": "present"}),
    "two_findings": SearchFilter(findings={"edema": "absent", "cardiomegaly": "uncertain"}),
    "any_positive": SearchFilter(any_positive=["pneumothorax", "atelectasis"]),
    "sites": SearchFilter(sites=["site-a", "site-c"]),
    "empty_sites_fail_closed": SearchFilter(sites=[]),
    "consents": SearchFilter(consents=["research"]),
    "max_sensitivity": SearchFilter(max_sensitivity=1),
    "split": SearchFilter(split="train"),
    "exclude_ids": SearchFilter(exclude_ids=["CXR0", "CXR1", "CXR2", "nonexistent"]),
    "patient_id": SearchFilter(patient_id="P3"),
    "access_combined": SearchFilter(sites=["site-b"], consents=["care"], max_sensitivity=2, split="train", any_positive=["edema"]),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_field(loaded: SemanticStore, name: str) -> None:
    f = FILTERS[name]
    expected_count = sum(_matches(p, f) for p in POINTS)
    assert loaded.count(f) == expected_count
    assert sorted(p.case_id for p in loaded.scroll(f, limit=N)) == sorted(p.case_id for p in POINTS if _matches(p, f))
    for q in QUERIES[:3]:
        hits = loaded.search(q.tolist(), filter=f, limit=10)
        expected = _brute_force(q, f)
        assert [h.case_id for h in hits] == [c for c, _ in expected]
        assert all(_matches(POINTS[int(h.case_id[3:])], f) for h in hits)


def test_exclude_ids_removes_the_query_case(loaded: SemanticStore) -> None:
    own = MATRICES["text"][42]
    assert loaded.search(own.tolist(), limit=1)[0].case_id == "CXR42"
    assert "CXR42" not in [h.case_id for h in loaded.search(own.tolist(), filter=SearchFilter(exclude_ids=["CXR42"]))]


def test_unknown_finding_is_refused(loaded: SemanticStore) -> None:
    with pytest.raises(InvalidFilterError, match="nodule"):
        loaded.count(SearchFilter(findings={"nodule": "present"}))


def test_set_payload_then_filter_sees_it(store: SemanticStore) -> None:
    f = SearchFilter(findings={"fracture": "present"})
    assert store.count(f) == 0
    store.set_payload("CXR11", {"labels": {"fracture": "present"}, "label_version": 2})
    assert [p.case_id for p in store.scroll(f)] == ["CXR11"]
    payload = store.retrieve(["CXR11"])[0].payload
    assert payload["label_version"] == 2 and payload["site"] == POINTS[11].payload["site"]
    assert store.search(QUERIES[0].tolist(), filter=f)[0].case_id == "CXR11"
    with pytest.raises(PointNotFoundError, match="CXR-none"):
        store.set_payload("CXR-none", {"x": 1})


def test_set_vector_adds_one_named_vector_and_keeps_the_rest(store: SemanticStore) -> None:
    """CXR7 has no image (i % 3 != 0): setting one makes it findable by image, text and payload unchanged."""
    query = _unit(np.random.default_rng(3), 1, VECTORS["image"])[0]
    assert "CXR7" not in [h.case_id for h in store.search(query.tolist(), using="image", limit=N)]
    store.set_vector("CXR7", "image", query)  # a NumPy array is accepted like a list
    got = store.retrieve(["CXR7"], with_vectors=True)[0]
    assert set(got.vectors) == {"text", "abnormal", "image"}
    np.testing.assert_allclose(got.vectors["text"], MATRICES["text"][7], atol=1e-5)
    assert got.payload == {**POINTS[7].payload, "case_id": "CXR7"}
    hit = store.search(query.tolist(), using="image", limit=1)[0]
    assert hit.case_id == "CXR7" and hit.score == pytest.approx(1.0, abs=1e-4)
    store.set_vector("CXR3", "image", query)  # replacing an existing image vector
    assert {h.case_id for h in store.search(query.tolist(), using="image", limit=2)} == {"CXR3", "CXR7"}
    assert store.count() == N
    with pytest.raises(PointNotFoundError, match="CXR-none"):
        store.set_vector("CXR-none", "image", query)
    with pytest.raises(SemanticStoreError, match="expected 512"):
        store.set_vector("CXR7", "image", query[:10])
    with pytest.raises(SemanticStoreError, match="unknown named vector 'xray'"):
        store.set_vector("CXR7", "xray", query)


def test_delete_and_count(store: SemanticStore) -> None:
    store.delete(["CXR0", "CXR1", "never-there"])
    assert store.count() == N - 2
    assert store.retrieve(["CXR0", "CXR1"]) == []
    assert "CXR0" not in [h.case_id for h in store.search(MATRICES["text"][0].tolist())]


def test_scroll_limit_and_order(loaded: SemanticStore) -> None:
    first = loaded.scroll(limit=7)
    assert len(first) == 7
    assert len(loaded.scroll(limit=N + 50)) == N
    ids = [point_id(p.case_id) for p in loaded.scroll(limit=N)]
    assert ids == sorted(ids)


def test_search_batch_equals_individual_searches(loaded: SemanticStore) -> None:
    filters = [None, FILTERS["sites"], FILTERS["finding_state"], FILTERS["exclude_ids"]]
    vectors = [q.tolist() for q in QUERIES[:4]]
    batch = loaded.search_batch(vectors, filters=filters, limit=5)
    single = [loaded.search(v, filter=f, limit=5) for v, f in zip(vectors, filters, strict=True)]
    assert [[h.case_id for h in hits] for hits in batch] == [[h.case_id for h in hits] for hits in single]
    assert loaded.search_batch([], limit=5) == []


@pytest.mark.parametrize("using", ["text", "abnormal", "image"])
def test_similarities_are_the_cosines_of_the_listed_cases_only(loaded: SemanticStore, using: str) -> None:
    q = _unit(np.random.default_rng(5), 1, VECTORS[using])[0]
    ids = ["CXR0", "CXR1", "CXR3", "CXR250", "missing"]
    got = loaded.similarities(q.tolist(), using=using, case_ids=ids)
    have = [c for c in ids[:-1] if using != "image" or int(c[3:]) % 3 == 0]  # only every third case has an image
    assert sorted(got) == sorted(have)
    for case in have:
        assert got[case] == pytest.approx(float(MATRICES[using][int(case[3:])] @ q), abs=1e-4)
    assert loaded.similarities(q.tolist(), using=using, case_ids=[]) == {}


def test_reupsert_replaces_the_whole_point(store: SemanticStore) -> None:
    new = CasePoint(case_id="CXR3", vectors={"text": QUERIES[5].tolist()}, payload={"site": "site-z", "labels": {}})
    store.upsert([new])
    got = store.retrieve(["CXR3"], with_vectors=True)[0]
    assert set(got.vectors) == {"text"} and got.payload == {"site": "site-z", "labels": {}, "case_id": "CXR3"}
    assert store.count() == N
    assert store.search(QUERIES[5].tolist(), limit=1)[0].case_id == "CXR3"


def test_edge_persists_across_reopen(tmp_path: Path, edge_template: Path) -> None:
    store = _fresh("edge", tmp_path, edge_template)
    store.delete([p.case_id for p in POINTS[50:]])
    store.set_payload("CXR5", {"label_version": 9})
    store.optimize(progress=lambda done, total: None)
    store.close()
    reopened = EdgeStore(tmp_path / "qdrant", "cases")
    try:
        assert reopened.count() == 50
        assert reopened.retrieve(["CXR5"])[0].payload["label_version"] == 9
        reopened.ensure_collection(VECTORS)  # idempotent on an existing shard
        assert reopened.search(MATRICES["text"][4].tolist(), limit=1)[0].case_id == "CXR4"
    finally:
        reopened.close()


def test_edge_second_open_of_same_shard_is_locked(tmp_path: Path, edge_template: Path) -> None:
    first = _fresh("edge", tmp_path, edge_template)
    try:
        with pytest.raises(StoreLockedError, match="SAGE_QDRANT_URL"):
            EdgeStore(tmp_path / "qdrant", "cases")
    finally:
        first.close()
    EdgeStore(tmp_path / "qdrant", "cases").close()  # the lock is released on close


def test_optimize_reports_progress(store: SemanticStore) -> None:
    calls: list[tuple[int, int]] = []
    store.optimize(progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (1, 1)
    assert store.count() == N and store.search(MATRICES["text"][9].tolist(), limit=1)[0].case_id == "CXR9"


def test_backends_are_congruent(tmp_path: Path, edge_template: Path) -> None:
    edge, client = _fresh("edge", tmp_path, edge_template), _fresh("client", tmp_path, None)
    try:
        for s in (edge, client):
            s.delete([p.case_id for p in POINTS[300:]])
            s.set_payload("CXR10", {"labels": {"edema": "present"}, "positive_findings": ["edema"]})
            s.delete(["CXR20", "CXR21"])
            s.upsert([POINTS[400]])
        for f in [None, *FILTERS.values()]:
            assert edge.count(f) == client.count(f)
            assert [p.case_id for p in edge.scroll(f, limit=50)] == [p.case_id for p in client.scroll(f, limit=50)]
            for q in QUERIES[:2]:
                a, b = edge.search(q.tolist(), filter=f), client.search(q.tolist(), filter=f)
                assert [h.case_id for h in a] == [h.case_id for h in b]
                np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)
                assert [h.payload for h in a] == [h.payload for h in b]
    finally:
        edge.close()
        client.close()


def _bytes(folder: Path) -> tuple[int, int]:
    """(apparent size, bytes allocated on disk) of the files under ``folder``."""
    files = [p.stat() for p in folder.rglob("*") if p.is_file()]
    return sum(f.st_size for f in files), sum(f.st_blocks * 512 for f in files)


def test_a_copied_shard_keeps_its_holes_and_its_points(tmp_path: Path, edge_template: Path) -> None:
    size, on_disk = _bytes(edge_template)
    assert size > 10 * on_disk, "Edge preallocates its WAL and storage pages as sparse files"
    copy = copy_tree(edge_template, tmp_path / "copy")
    copy_size, copy_on_disk = _bytes(copy)
    assert copy_size == size and copy_on_disk < size / 10, (copy_on_disk, on_disk)
    for original in edge_template.rglob("*"):
        if original.is_file():
            assert (copy / original.relative_to(edge_template)).read_bytes() == original.read_bytes(), original
    store = EdgeStore(copy, "cases")
    try:
        assert store.count() == N
    finally:
        store.close()
    tail = tmp_path / "tail"
    with open(tail, "wb") as f:  # data, then a hole to the end of the file
        f.write(b"x" * 10)
        f.truncate(3 << 20)
    copy_sparse(tail, tmp_path / "tail-copy")
    assert (tmp_path / "tail-copy").read_bytes() == tail.read_bytes()


def test_open_store_gives_a_new_shared_edge_store_each_time(tmp_path: Path, edge_template: Path) -> None:
    from lakehouse.semantic.shared import SharedEdgeStore

    settings = Settings(home=tmp_path)
    store = open_store(settings)
    try:
        assert isinstance(store, SharedEdgeStore) and open_store(settings) is not store
        with pytest.raises(CollectionMissingError):
            store.count()
        copy_tree(edge_template, settings.qdrant_path, dirs_exist_ok=True)
        assert store.count() == N, "the shard is loaded fresh on each lease"
    finally:
        store.close()
    assert not store.is_open
