"""Filtered top-10 vector search latency: project API vs direct Qdrant Edge vs NumPy brute force.

    .venv/bin/python -m benchmarks.search --sizes 10000,160000 --queries 200

Corpus: the PadChest label table shipped in the torchxrayvision wheel (160,861 image rows,
109,931 studies; read as a file, torchxrayvision is not imported). One point per image row,
so that the 160k size exists. Payload: patient id, sex, study date, the English finding labels
mapped to our 14 CheXpert keys (labels.<key> = present, positive_findings), a split by study
id, and *synthetic* access tags (site, consent, sensitivity drawn from a hash of the patient
id; PadChest is one hospital and has no such tags).

Vectors: NOT report embeddings. Embedding 160k stemmed Spanish reports with MiniLM on two
shared cores would take about an hour, so each point's 384-d vector is the L2-normalised mean
of the MiniLM embeddings of its English label strings (each distinct label embedded once, a
few hundred strings) plus Gaussian noise (sigma 0.02 per dimension) so identical label sets do
not collapse into one point. That keeps the cluster structure real label sets give, which is
what HNSW and filtering see. Queries are the vectors of randomly chosen points (excluded from
their own results, as the project does for a query case).

Methods, each timed per query (p50/p95 in ms), same vectors and filters:
  project  EdgeStore.search(vector, filter=SearchFilter)  (filter translation + pydantic hits)
  direct   EdgeShard.query(QueryRequest) with the Edge filter built beforehand, hits read
  numpy    boolean mask from payload columns, then matrix-vector product and argpartition
Recall@10 of the HNSW answers against the exact NumPy answers is reported too.
Writes benchmarks/results/search.json.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import shutil
import tempfile
import time
import zlib
from functools import partial
from itertools import permutations
from pathlib import Path

import duckdb
import numpy as np
import qdrant_edge as qe

from core.settings import Settings
from lakehouse.findings import FINDING_KEYS
from lakehouse.semantic import VECTORS, CasePoint, SearchFilter
from lakehouse.semantic.edge import EdgeStore
from lakehouse.semantic.filters import to_edge
from models.embedder import TextEmbedder
from models.lm.loader import package_folder

log = logging.getLogger("benchmarks.search")
PADCHEST = "data/PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
ORDERS = list(permutations(["direct", "project", "numpy"]))
NOISE = 0.02  # per dimension: noise norm ~0.4, so label structure dominates but no two points coincide
SITES, CONSENTS = ["site-a", "site-b", "site-c"], ["care", "research"]

# PadChest label (substring) -> CheXpert key; first match wins per label.
LABEL_MAP = [
    ("normal", "no_finding"), ("cardiomegaly", "cardiomegaly"), ("pleural effusion", "pleural_effusion"),
    ("pneumothorax", "pneumothorax"), ("atelectasis", "atelectasis"), ("consolidation", "consolidation"),
    ("pneumonia", "pneumonia"), ("infiltrates", "lung_opacity"), ("alveolar pattern", "lung_opacity"),
    ("nodule", "lung_lesion"), ("mass", "lung_lesion"), ("edema", "edema"), ("fracture", "fracture"),
    ("pleural thickening", "pleural_other"), ("mediastinal enlargement", "enlarged_cardiomediastinum"),
    ("pacemaker", "support_devices"), ("tube", "support_devices"), ("catheter", "support_devices"), ("device", "support_devices"),
]


def _finding_keys(labels: list[str]) -> list[str]:
    keys = []
    for label in labels:
        for pattern, key in LABEL_MAP:
            if pattern in label and key not in keys:
                keys.append(key)
                break
    return keys


def load_corpus(limit: int) -> dict[str, list]:
    """The first ``limit`` PadChest image rows with parsed labels (DuckDB reads the gzip CSV)."""
    path = package_folder("torchxrayvision") / PADCHEST
    rows = duckdb.connect().execute(
        f"SELECT ImageID, StudyID, PatientID, PatientSex_DICOM, StudyDate_DICOM, Labels FROM read_csv('{path}', all_varchar=true, header=true) LIMIT {int(limit)}"
    ).fetchall()
    corpus: dict[str, list] = {"id": [], "study": [], "patient": [], "sex": [], "date": [], "labels": []}
    for image, study, patient, sex, date, labels in rows:
        try:
            parsed = [s.strip() for s in ast.literal_eval(labels) if isinstance(s, str) and s.strip()] if labels else []
        except (ValueError, SyntaxError):
            parsed = []
        for key, value in zip(corpus, (image, study, patient, sex, date, parsed), strict=True):
            corpus[key].append(value)
    return corpus


def build_vectors(labels: list[list[str]], embedder: TextEmbedder, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    vocab = sorted({s for ls in labels for s in ls} | {"no finding"})
    table = dict(zip(vocab, embedder.embed(vocab), strict=True))
    out = np.empty((len(labels), 384), dtype=np.float32)
    for i, ls in enumerate(labels):
        out[i] = np.mean([table[s] for s in (ls or ["no finding"])], axis=0)
    out += rng.normal(0, NOISE, out.shape).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True), len(vocab)


def payloads(corpus: dict[str, list]) -> list[dict]:
    out = []
    for i, study in enumerate(corpus["study"]):
        h = zlib.crc32(corpus["patient"][i].encode())
        keys = _finding_keys(corpus["labels"][i])
        out.append({
            "patient_id": corpus["patient"][i], "sex": corpus["sex"][i], "study_date": corpus["date"][i],
            "split": "test" if zlib.crc32(study.encode()) % 5 == 0 else "train",
            "site": SITES[h % 3], "consent": CONSENTS[(h >> 4) % 2], "sensitivity": (h >> 8) % 4,
            "labels": dict.fromkeys(keys, "present"), "positive_findings": [k for k in keys if k != "no_finding"],
            "label_version": 1,
        })
    return out


def query_filters(case_id: str) -> list[SearchFilter]:
    """Realistic caller filters: access tags always, sometimes a finding; the query case excluded."""
    access = {"sites": ["site-a", "site-b"], "consents": ["research"], "max_sensitivity": 2, "split": "train", "exclude_ids": [case_id]}
    return [
        SearchFilter(**access),
        SearchFilter(**access, any_positive=["cardiomegaly", "pleural_effusion"]),
        SearchFilter(**access, findings={"support_devices": "present"}),
    ]


def numpy_mask(payload_cols: dict[str, np.ndarray], f: SearchFilter, index: dict[str, int]) -> np.ndarray:
    mask = np.isin(payload_cols["site"], [SITES.index(s) for s in f.sites or SITES])
    mask &= np.isin(payload_cols["consent"], [CONSENTS.index(c) for c in f.consents or CONSENTS])
    if f.max_sensitivity is not None:
        mask &= payload_cols["sensitivity"] <= f.max_sensitivity
    if f.split is not None:
        mask &= payload_cols["test"] == (f.split == "test")
    if f.any_positive:
        mask &= (payload_cols["bits"] & sum(1 << FINDING_KEYS.index(k) for k in f.any_positive)) != 0
    for key in f.findings:
        mask &= (payload_cols["bits"] & (1 << FINDING_KEYS.index(key))) != 0
    for cid in f.exclude_ids:
        mask[index[cid]] = False
    return mask


def brute_force(matrix: np.ndarray, q: np.ndarray, mask: np.ndarray, k: int = 10) -> list[int]:
    idx = np.flatnonzero(mask)
    scores = matrix[idx] @ q
    top = np.argpartition(-scores, min(k, len(idx) - 1))[:k] if len(idx) > k else np.arange(len(idx))
    return idx[top[np.argsort(-scores[top])]].tolist()


def direct_query(shard: qe.EdgeShard, qlist: list[float], edge_filter: qe.Filter | None) -> list:
    """The engine call with no project code around it (filter object built beforehand).

    The hits' id, score and payload are read, as any caller that uses the answer must: the
    engine converts a payload to Python only when it is accessed, and leaving that out would
    bill the project for work the baseline merely skipped.
    """
    hits = shard.query(qe.QueryRequest(limit=10, query=qe.Query.Nearest(qlist, using="text"), filter=edge_filter, with_payload=True))
    return [(h.id, h.score, h.payload) for h in hits]


def numpy_search(matrix: np.ndarray, q: np.ndarray, cols: dict[str, np.ndarray], f: SearchFilter, index: dict[str, int]) -> list[int]:
    """Exact filtered top-10: mask from payload columns, then one scan (mask built per query)."""
    return brute_force(matrix, q, numpy_mask(cols, f, index))


def pct(values: list[float]) -> dict[str, float]:
    ms = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3), "mean_ms": round(float(ms.mean()), 3)}


def run_size(n: int, corpus: dict[str, list], vectors: np.ndarray, pls: list[dict], n_queries: int, workdir: Path) -> dict:
    ids = corpus["id"][:n]
    matrix = vectors[:n]
    store = EdgeStore(workdir / f"n{n}", "cases")
    store.ensure_collection({"text": VECTORS["text"]})
    t0 = time.perf_counter()
    for start in range(0, n, 4096):
        store.upsert([CasePoint(case_id=ids[i], vectors={"text": matrix[i].tolist()}, payload=pls[i]) for i in range(start, min(n, start + 4096))], batch_size=1024)
    upsert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.optimize(progress=lambda d, t: log.info("optimize %d/%d", d, t))
    optimize_s = time.perf_counter() - t0
    info = store.shard.info()

    cols = {
        "site": np.array([SITES.index(p["site"]) for p in pls[:n]]), "consent": np.array([CONSENTS.index(p["consent"]) for p in pls[:n]]),
        "sensitivity": np.array([p["sensitivity"] for p in pls[:n]]), "test": np.array([p["split"] == "test" for p in pls[:n]]),
        "bits": np.array([sum(1 << FINDING_KEYS.index(k) for k in p["labels"]) for p in pls[:n]], dtype=np.int64),
    }
    index = {cid: i for i, cid in enumerate(ids)}
    rng = np.random.default_rng(n)
    picks = rng.choice(n, size=n_queries, replace=False)
    times: dict[str, list[float]] = {"project": [], "direct": [], "numpy": []}
    recall: list[float] = []
    for qi, i in enumerate([*picks[:20], *picks]):  # the first 20 warm caches and are not timed
        f = query_filters(ids[i])[qi % 3]
        q = matrix[i]
        qlist = q.tolist()
        edge_filter = to_edge(f)
        calls = {
            "direct": partial(direct_query, store.shard, qlist, edge_filter),
            "project": partial(store.search, qlist, filter=f, limit=10),
            "numpy": partial(numpy_search, matrix, q, cols, f, index),
        }
        # Cycle through all 6 orders: a method timed right after the NumPy scan (which sweeps the
        # whole matrix through the CPU caches) is slower, so every method must follow it equally often.
        order = ORDERS[qi % len(ORDERS)]
        answers = {}
        for method in order:
            t = time.perf_counter()
            answers[method] = calls[method]()
            if qi >= 20:
                times[method].append(time.perf_counter() - t)
        if qi >= 20:
            truth = {ids[j] for j in answers["numpy"]}
            recall.append(len(truth & {h.case_id for h in answers["project"]}) / max(1, len(truth)))
    store.close()
    result = {
        "points": n, "upsert_s": round(upsert_s, 2), "optimize_s": round(optimize_s, 2),
        "segments": info.segments_count, "indexed_vectors": info.indexed_vectors_count,
        "recall_at_10": round(float(np.mean(recall)), 4), **{m: pct(v) for m, v in times.items()},
    }
    result["project_overhead_pct"] = round(100 * (result["project"]["p50_ms"] / result["direct"]["p50_ms"] - 1), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,160000", help="comma-separated point counts (max 160861)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/search.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [int(s) for s in args.sizes.split(",")]

    t0 = time.perf_counter()
    corpus = load_corpus(max(sizes))
    log.info("loaded %d PadChest rows in %.1fs", len(corpus["id"]), time.perf_counter() - t0)
    t0 = time.perf_counter()
    embedder = TextEmbedder.from_settings(Settings(device="cpu"))
    vectors, vocab = build_vectors(corpus["labels"], embedder, np.random.default_rng(0))
    embed_s = time.perf_counter() - t0
    pls = payloads(corpus)
    log.info("embedded %d distinct label strings in %.1fs", vocab, embed_s)

    meta = {
        "corpus": "PadChest label table (torchxrayvision wheel), one point per image row; synthetic site/consent/sensitivity tags",
        "vectors": f"mean MiniLM embedding of each row's English label strings + N(0, {NOISE}) noise, L2-normalised; not report embeddings",
        "queries": args.queries, "distinct_label_strings_embedded": vocab, "embed_s": round(embed_s, 1),
        "filters": "access tags (2 of 3 sites, research consent, sensitivity<=2, train split, query case excluded), cycling with +any_positive and +findings",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sage-search-bench-"))
    results: list[dict] = []
    try:
        for n in sizes:
            log.info("size %d: loading, optimizing, querying", n)
            results.append(run_size(min(n, len(corpus["id"])), corpus, vectors, pls, args.queries, workdir))
            args.out.write_text(json.dumps({**meta, "results": results}, indent=2))  # partial results survive a long run
            log.info("size %d done: %s", n, json.dumps(results[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{'points':>8} {'method':>8} {'p50 ms':>8} {'p95 ms':>8} | upsert s  optimize s  recall@10  overhead")
    for r in results:
        for m in ("project", "direct", "numpy"):
            extra = f"| {r['upsert_s']:8.1f}  {r['optimize_s']:10.1f}  {r['recall_at_10']:9.3f}  {r['project_overhead_pct']:+.1f}%" if m == "project" else ""
            print(f"{r['points']:>8} {m:>8} {r[m]['p50_ms']:8.3f} {r[m]['p95_ms']:8.3f} {extra}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
