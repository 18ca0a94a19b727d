"""The ONNX Runtime engine of the text embedder: same vectors as torch, a sound export cache, thread safety.

Real model, real export, real ORT. An export costs a few seconds on 2 cores, so one exported file
is shared by the module; only the tests about making a new export make their own.
"""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from models import onnx_export
from models.embedder import COALESCE_MAX_TEXTS, EmbedderConfigError, TextEmbedder, resolve_engine

REPORT_TEXTS = [
    "No acute cardiopulmonary process.",
    "Heart size is normal. Lungs are clear without focal consolidation.",
    "Small left pleural effusion with adjacent basilar atelectasis.",
    "Large right pleural effusion with compressive atelectasis of the right lower lobe.",
    "Moderate cardiomegaly with pulmonary vascular congestion, consistent with mild interstitial edema.",
    "Right upper lobe consolidation concerning for pneumonia.",
    "Small apical left pneumothorax, no mediastinal shift.",
    "Endotracheal tube terminates 4 cm above the carina. Nasogastric tube courses below the diaphragm.",
    "Healed fractures of the left posterior sixth and seventh ribs.",
    "Hyperinflated lungs with flattened hemidiaphragms, compatible with emphysema.",
    "Stable 8 mm nodule in the right mid lung, unchanged from prior.",
    " ".join(["Interval increase in bilateral perihilar opacities and small effusions, suggesting worsening edema."] * 12),
]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_dir: Path) -> TextEmbedder:
    emb = TextEmbedder(engine="onnx", onnx_dir=onnx_dir)
    assert emb.engine == "onnx"
    return emb


@pytest.fixture(scope="module")
def torch_embedder() -> TextEmbedder:
    return TextEmbedder(engine="torch")


def exported_file(folder: Path) -> Path:
    files = sorted(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx", files  # no temporary file left behind
    return files[0]


def test_engines_agree_on_report_texts(onnx_embedder: TextEmbedder, torch_embedder: TextEmbedder) -> None:
    a, b = onnx_embedder.embed(REPORT_TEXTS), torch_embedder.embed(REPORT_TEXTS)
    assert a.dtype == np.float32 and a.shape == b.shape == (len(REPORT_TEXTS), 384)
    assert np.all(np.sum(a * b, axis=1) >= 0.99999)
    queries = ["Left pleural effusion.", "Enlarged heart and edema.", "Collapsed lung on the left.", "Support lines and tubes."]
    qa, qb = onnx_embedder.embed(queries), torch_embedder.embed(queries)
    np.testing.assert_array_equal(np.argmax(qa @ a.T, axis=1), np.argmax(qb @ b.T, axis=1))
    short = REPORT_TEXTS[:-1]  # token counts; the long text would pad every row to 256 again
    assert [n for _, n in onnx_embedder._rows(short)] == [n for _, n in torch_embedder._rows(short)]


def test_a_second_construction_reuses_the_export_without_torch_weights(onnx_embedder: TextEmbedder, onnx_dir: Path) -> None:
    path = exported_file(onnx_dir)
    before = path.stat()
    again = TextEmbedder(engine="onnx", onnx_dir=onnx_dir)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.engine == "onnx" and again._model is None and onnx_embedder._model is None
    np.testing.assert_array_equal(again.embed(REPORT_TEXTS[:3]), onnx_embedder.embed(REPORT_TEXTS[:3]))


def test_a_corrupt_cached_file_is_exported_again(onnx_embedder: TextEmbedder, onnx_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = exported_file(onnx_dir)
    (tmp_path / good.name).write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "embedder-0123456789abcdef01234567.onnx").write_bytes(b"an export for another torch")
    with caplog.at_level(logging.INFO, logger="models.onnx_export"):
        emb = TextEmbedder(engine="onnx", onnx_dir=tmp_path, prune_exports=True)
    assert emb.engine == "onnx" and "does not load" in caplog.text
    assert "removed 1 stale embedder export" in caplog.text  # the home's own folder keeps only the export in use
    assert exported_file(tmp_path).stat().st_size > good.stat().st_size // 2  # replaced by a whole export
    np.testing.assert_allclose(emb.embed(REPORT_TEXTS), onnx_embedder.embed(REPORT_TEXTS), atol=1e-5)


def test_a_file_without_the_torch_probe_vectors_is_not_trusted(onnx_embedder: TextEmbedder, onnx_dir: Path, tmp_path: Path) -> None:
    import onnx

    proto = onnx.load(str(exported_file(onnx_dir)))
    del proto.metadata_props[:]
    stripped = tmp_path / "stripped.onnx"
    onnx.save(proto, str(stripped))
    tokenize = lambda texts: onnx_embedder._tokenize(texts, "np")  # noqa: E731
    assert onnx_export.load_verified(stripped, tokenize) is None
    assert onnx_export.load_verified(exported_file(onnx_dir), tokenize) is not None


def test_failed_parity_falls_back_to_torch_and_caches_nothing(torch_embedder: TextEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(onnx_export, "PARITY_ATOL", -1.0)  # every export now misses the bound
    with caplog.at_level(logging.WARNING, logger="models.embedder"):
        emb = TextEmbedder(engine="onnx", onnx_dir=tmp_path)
    assert emb.engine == "torch" and "differs from torch" in caplog.text and "embedding with torch instead" in caplog.text
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(emb.embed(REPORT_TEXTS), torch_embedder.embed(REPORT_TEXTS))


def test_concurrent_callers_get_the_serial_result(onnx_embedder: TextEmbedder) -> None:
    requests = [[text] for text in REPORT_TEXTS[:8]] + [[REPORT_TEXTS[i], REPORT_TEXTS[4]] for i in range(8)]
    serial = [onnx_embedder.embed(r) for r in requests]
    got: dict[int, list[np.ndarray]] = {}
    start = threading.Barrier(8)

    def call(worker: int) -> None:
        start.wait()
        got[worker] = [onnx_embedder.embed(requests[(worker + i) % len(requests)]) for i in range(len(requests))]

    threads = [threading.Thread(target=call, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for worker, results in got.items():
        for i, result in enumerate(results):
            np.testing.assert_allclose(result, serial[(worker + i) % len(requests)], atol=1e-6)


def test_bulk_requests_match_per_text_results_in_order(onnx_embedder: TextEmbedder) -> None:
    distinct = [f"{text} Comparison with study {i}." for i, text in enumerate(REPORT_TEXTS * 4)]
    texts = distinct + distinct[:10]
    random.Random(7).shuffle(texts)
    assert len(texts) > COALESCE_MAX_TEXTS and len(set(texts)) < len(texts)
    bulk = onnx_embedder.embed(texts)
    alone = {text: onnx_embedder.embed([text])[0] for text in distinct}
    np.testing.assert_allclose(bulk, np.stack([alone[t] for t in texts]), atol=1e-5)
    first = {t: bulk[texts.index(t)] for t in texts}
    np.testing.assert_array_equal(bulk, np.stack([first[t] for t in texts]))  # a duplicate is the same row


def test_engine_choice_and_rejections(onnx_dir: Path) -> None:
    assert resolve_engine("auto", "cpu") == "onnx" and resolve_engine("auto", "cuda") == "torch"
    assert resolve_engine("torch", "cpu") == "torch" and resolve_engine("onnx", "cuda") == "onnx"
    with pytest.raises(EmbedderConfigError, match="unknown embedder engine 'tensorrt'.*auto, onnx, torch") as err:
        TextEmbedder(engine="tensorrt", onnx_dir=onnx_dir)
    assert err.value.hint and "SAGE_EMBED_ENGINE" in err.value.hint
    with pytest.raises(EmbedderConfigError, match="needs a cache folder"):
        TextEmbedder(engine="onnx")
