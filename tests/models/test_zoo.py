"""The zoo registry: built-in and user specs, availability, lazy cached loading, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from core.settings import Settings
from models.lm.loader import ModelLoadError
from models.lm.openai_backend import OpenAIChatModel
from models.specs import BUILTIN_SPECS, ModelSpec, ZooConfigError, register_spec
from models.zoo import ModelZoo, UnknownModelError, split_model_ref
from tests.homes import shared_smollm2


def write_zoo(settings: Settings, models: object) -> None:
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    (settings.models_dir / "zoo.json").write_text(json.dumps(models))


def test_builtin_specs_are_listed_without_loading(tmp_path: Path) -> None:
    zoo = ModelZoo(Settings(home=tmp_path))
    statuses = {s.spec.name: s for s in zoo.list()}
    assert {"smollm2-135m", "minilm-l6", "cxr-tiny", "openai"} <= set(statuses)
    assert set(statuses["smollm2-135m"].spec.roles) == {"chat", "report"}
    assert statuses["smollm2-135m"].available and not statuses["smollm2-135m"].cached  # fresh SAGE_HOME
    assert statuses["minilm-l6"].spec.role == "embed" and statuses["cxr-tiny"].spec.role == "image"
    assert not statuses["openai"].available and "SAGE_OPENAI_BASE_URL" in statuses["openai"].detail
    assert zoo.loaded() == []


@pytest.mark.parametrize("name", sorted(BUILTIN_SPECS))
def test_every_builtin_spec_round_trips_and_has_a_description(name: str) -> None:
    spec = BUILTIN_SPECS[name]
    assert ModelSpec.model_validate(spec.model_dump()) == spec
    assert spec.description


def test_unknown_model_lists_known_names(tmp_path: Path) -> None:
    zoo = ModelZoo(Settings(home=tmp_path))
    with pytest.raises(UnknownModelError) as err:
        zoo.chat_model("gpt-5")
    assert "gpt-5" in err.value.message and "smollm2-135m" in err.value.message and err.value.hint


def test_registry_rejects_duplicates_and_bad_specs() -> None:
    registry: dict[str, ModelSpec] = {}
    spec = ModelSpec(name="x", roles=("chat",), backend="openai")
    register_spec(spec, registry)
    with pytest.raises(ZooConfigError):
        register_spec(spec, registry)
    with pytest.raises(ValidationError):
        ModelSpec(name="base:adapter", roles=("chat",), backend="openai")  # ':' is the adapter separator
    with pytest.raises(ValidationError):
        ModelSpec(name="y", roles=("embed",), backend="python", location="no_colon_here")
    with pytest.raises(ValidationError):
        ModelSpec(name="z", roles=(), backend="openai")
    assert split_model_ref("smollm2-135m:indiana-v1") == ("smollm2-135m", "indiana-v1")
    assert split_model_ref("smollm2-135m") == ("smollm2-135m", None)


def test_user_zoo_file_errors_name_the_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    write_zoo(settings, {"models": [{"name": "smollm2-135m", "roles": ["chat"], "backend": "openai"}]})
    with pytest.raises(ZooConfigError, match="registered twice"):
        ModelZoo(settings)
    (settings.models_dir / "zoo.json").write_text("{not json")
    with pytest.raises(ZooConfigError) as err:
        ModelZoo(settings)
    assert "zoo.json" in err.value.message


def test_openai_spec_is_available_when_configured_and_loaded_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, openai_base_url="http://127.0.0.1:9/v1", openai_model="llama3")
    zoo = ModelZoo(settings)
    assert zoo.status("openai").available
    chat = zoo.chat_model("openai")
    assert isinstance(chat, OpenAIChatModel) and chat.base_url == "http://127.0.0.1:9/v1" and chat.model == "llama3"
    assert zoo.chat_model("openai") is chat and zoo.loaded() == ["openai"]


def test_non_chat_model_is_refused_as_chat(tmp_path: Path) -> None:
    with pytest.raises(ZooConfigError, match="not chat or report"):
        ModelZoo(Settings(home=tmp_path)).chat_model("minilm-l6")


def test_embedder_and_image_encoder_come_from_their_modules(tmp_path: Path) -> None:
    zoo = ModelZoo(Settings(home=tmp_path, device="cpu"))
    vectors = np.asarray(zoo.embedder().embed(["small left pleural effusion"]))
    assert vectors.shape == (1, 384)
    encoder = zoo.image_encoder()
    assert type(encoder).__name__ == "TinyCxrEncoder" and zoo.image_encoder() is encoder
    with pytest.raises(ZooConfigError):
        zoo.embedder("cxr-tiny")


def test_user_hf_folder_loads_and_generates(tmp_path: Path) -> None:
    from models.lm.types import GenerationParams

    settings = Settings(home=tmp_path, device="cpu", telemetry_exporter="none")
    folder = shared_smollm2()
    write_zoo(settings, [{"name": "my-smol", "roles": ["chat"], "backend": "transformers", "location": str(folder), "context_length": 2048}])
    zoo = ModelZoo(settings)
    status = zoo.status("my-smol")
    assert status.source == "user" and status.available and status.cached
    chat = zoo.chat_model("my-smol")
    assert chat.name == "my-smol" and chat.context_length == 2048
    out = chat.generate([{"role": "user", "content": "Say hello."}], GenerationParams(max_new_tokens=4))
    assert out.text and out.output_tokens <= 4


def test_corrupt_model_folders_raise_load_errors_with_rebuild_hint(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, device="cpu")
    source = shared_smollm2()
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, broken / name)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)  # truncated download / disk full
    write_zoo(settings, [{"name": "broken", "roles": ["chat"], "backend": "transformers", "location": str(broken)}])
    zoo = ModelZoo(settings)
    with pytest.raises(ModelLoadError) as err:
        zoo.chat_model("broken")
    assert str(broken) in err.value.message and "delete" in (err.value.hint or "")
    # The built-in cache folder half-written by an interrupted first run.
    (settings.models_dir / "smollm2-135m").mkdir(parents=True)
    with pytest.raises(ModelLoadError) as err:
        zoo.chat_model("smollm2-135m")
    assert "config.json missing" in err.value.message and "delete" in (err.value.hint or "")
    assert zoo.loaded() == []
