from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.settings import Settings
from core.telemetry import Attr, configure_tracing
from models.embedder import TextEmbedder


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SAGE_HOME for the module, so the ONNX export is made once and reused."""
    return tmp_path_factory.mktemp("embedder-home")


@pytest.fixture(scope="module", params=["onnx", "torch"])
def embedder(request: pytest.FixtureRequest, home: Path) -> TextEmbedder:
    """Every behaviour test runs on both engines: settings pick onnx on CPU, direct construction torch."""
    if request.param == "torch":
        return TextEmbedder(device="cpu")
    emb = TextEmbedder.from_settings(Settings(home=home, device="cpu"))
    assert emb.engine == "onnx"
    return emb


def same_engine(embedder: TextEmbedder, home: Path, **kwargs: int) -> TextEmbedder:
    return TextEmbedder(embedder.folder, engine=embedder.engine, onnx_dir=Settings(home=home).onnx_dir, **kwargs)


def test_shape_dtype_and_unit_norm(embedder: TextEmbedder) -> None:
    vectors = embedder.embed(["Small left pleural effusion.", "Heart size is normal."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert embedder.dim == 384 and embedder.name == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_empty_matrix(embedder: TextEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_similar_sentences_are_closer_than_unrelated(embedder: TextEmbedder) -> None:
    a, b, c = embedder.embed([
        "There is a large right pleural effusion.",
        "Large effusion in the right pleural space.",
        "The patient was prescribed metformin for diabetes.",
    ])
    assert float(a @ b) > float(a @ c) + 0.2


def test_matches_sentence_transformers_reference(embedder: TextEmbedder) -> None:
    # First components of all-MiniLM-L6-v2("hello world") as published by sentence-transformers.
    v = embedder.embed(["hello world"])[0]
    np.testing.assert_allclose(v[:5], [-0.0344773, 0.0310232, 0.0067350, 0.0261090, -0.0393620], atol=1e-4)


def test_deterministic_and_order_preserved_with_mixed_lengths(embedder: TextEmbedder, home: Path) -> None:
    texts = ["Cardiomegaly.", "No acute disease. " * 40, "Pneumothorax on the left side with mediastinal shift.", "", "Edema."]
    small = same_engine(embedder, home, batch_size=2)
    assert small.engine == embedder.engine and small.batch_size == 2
    together = small.embed(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_array_equal(embedder.embed(texts), embedder.embed(texts))


def test_the_zoo_loads_the_embedder_once(home: Path) -> None:
    from models.zoo import ModelZoo

    zoo = ModelZoo(Settings(home=home, device="cpu"))
    first = zoo.embedder()
    assert isinstance(first, TextEmbedder) and zoo.embedder() is first and zoo.loaded() == ["minilm-l6"]


def test_emits_embeddings_span(embedder: TextEmbedder, tmp_path) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing(Settings(home=tmp_path, telemetry_exporter="none"), extra=exporter)
    embedder.embed(["Right lower lobe pneumonia."])
    spans = [s for s in exporter.get_finished_spans() if s.name == "embeddings all-MiniLM-L6-v2"]
    assert spans, "no embeddings span recorded"
    attrs = spans[-1].attributes or {}
    assert attrs[Attr.OPERATION] == "embeddings" and attrs[Attr.REQUEST_MODEL] == "all-MiniLM-L6-v2"
    assert int(attrs[Attr.INPUT_TOKENS]) > 2


def test_settings_choose_the_embedder_from_the_zoo(home: Path) -> None:
    from core.errors import SageError
    from models.embedder import EmbedderLoadError

    assert TextEmbedder.from_settings(Settings(home=home)).dim == 384
    with pytest.raises(EmbedderLoadError, match="not an embedder"):
        TextEmbedder.from_settings(Settings(home=home, embed_model="smollm2-135m"))
    with pytest.raises(SageError, match="no-such-embedder"):
        TextEmbedder.from_settings(Settings(home=home, embed_model="no-such-embedder"))


def test_settings_choose_the_engine_and_the_export_folder(home: Path, tmp_path: Path) -> None:
    from pydantic import ValidationError

    shared = tmp_path / "shared-onnx"
    emb = TextEmbedder.from_settings(Settings(home=home, device="cpu", embed_engine="onnx", onnx_cache=shared))
    assert emb.engine == "onnx" and [p.suffix for p in shared.iterdir()] == [".onnx"]
    assert Settings(home=tmp_path, onnx_cache=None).onnx_dir == tmp_path / "models" / "onnx"
    assert TextEmbedder.from_settings(Settings(home=home, embed_engine="torch")).engine == "torch"
    with pytest.raises(ValidationError, match="embed_engine"):
        Settings(home=home, embed_engine="tensorrt")


def test_concurrent_callers_get_the_vectors_they_would_get_alone(embedder: TextEmbedder) -> None:
    import threading

    texts = [f"Small {side} pleural effusion, {size} in size." for side in ("left", "right") for size in ("tiny", "moderate", "large")] + ["Heart size is normal."]
    alone = {t: embedder.embed([t, "Heart size is normal."]) for t in texts}
    passes_before = embedder._coalescer.passes if embedder._coalescer is not None else 0
    got: dict[str, np.ndarray] = {}
    start = threading.Barrier(len(texts))

    def call(text: str) -> None:
        start.wait()
        for _ in range(3):
            got[text] = embedder.embed([text, "Heart size is normal."])

    threads = [threading.Thread(target=call, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for text in texts:
        np.testing.assert_allclose(got[text], alone[text], atol=1e-5)  # padding inside a shared pass changes nothing
    if embedder._coalescer is not None:  # torch: requests shared passes
        assert embedder._coalescer.passes - passes_before < 3 * len(texts)
    else:  # onnx: each caller runs on its own thread, ORT releases the GIL
        assert embedder.engine == "onnx"


def test_identical_texts_are_embedded_once(embedder: TextEmbedder) -> None:
    seen: list[int] = []
    forward = embedder._forward

    def counting(batch: list[str]):  # noqa: ANN202
        seen.append(len(batch))
        return forward(batch)

    embedder._forward = counting  # type: ignore[method-assign]
    try:
        v = embedder.embed(["Cardiomegaly.", "Edema.", "Cardiomegaly."])
    finally:
        del embedder._forward
    assert sum(seen) == 2  # two distinct texts reach the model (one pass on torch, one run each on onnx)
    np.testing.assert_array_equal(v[0], v[2])
