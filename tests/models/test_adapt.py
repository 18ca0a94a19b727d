"""LoRA adaptation hub on the real SmolLM2-135M: train, install, reload, switch, resume, errors.

Training runs are a few optimizer steps on 16 hand-written findings -> impression pairs
(r=4, batch 2, max_seq_len 128), enough to move greedy outputs away from the base model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from models.adapt.config import LoraTrainConfig
from models.adapt.errors import (
    AdapterBaseMismatchError,
    AdapterCorruptError,
    AdapterExistsError,
    InvalidAdapterNameError,
    TrainingDataError,
    UnknownAdapterError,
)
from models.adapt.evaluate import generate_impressions
from models.adapt.registry import AdapterRegistry
from models.adapt.train import TrainExample, train_adapter
from models.prompts import IMPRESSION_TEMPLATE_VERSION, impression_messages
from tests.homes import link_smollm2

PAIRS = [
    ("The lungs are clear. Heart size is normal. No pneumothorax.", "No acute cardiopulmonary abnormality."),
    ("Right lower lobe airspace opacity. Heart size normal.", "Right lower lobe pneumonia."),
    ("Cardiomegaly. Lungs are clear.", "Cardiomegaly without acute pulmonary disease."),
    ("Small left pleural effusion. No focal consolidation.", "Small left pleural effusion."),
    ("Large right pneumothorax with mediastinal shift.", "Large right tension pneumothorax."),
    ("Clear lungs. Normal mediastinum. No effusion.", "Normal chest."),
    ("Bibasilar atelectasis. Heart size normal.", "Bibasilar atelectasis."),
    ("Interstitial edema and cardiomegaly. Small effusions.", "Congestive heart failure."),
    ("Calcified granuloma in the right upper lobe. Lungs otherwise clear.", "No active disease. Old granulomatous disease."),
    ("Left upper lobe mass measuring 3 cm.", "Left upper lobe mass, suspicious for malignancy."),
    ("Hyperinflated lungs with flattened diaphragms.", "Hyperinflation consistent with COPD."),
    ("Fracture of the right posterior sixth rib.", "Right sixth rib fracture."),
    ("Endotracheal tube 4 cm above the carina. Lungs clear.", "Endotracheal tube in good position."),
    ("Patchy bilateral airspace disease.", "Bilateral pneumonia."),
    ("Heart size normal. No consolidation or effusion.", "No acute findings."),
    ("Elevated right hemidiaphragm. Lungs clear.", "Elevated right hemidiaphragm."),
]


def _examples(style: str = "") -> list[TrainExample]:
    return [TrainExample(id=f"CXR{i}", messages=impression_messages(f), target=style + t) for i, (f, t) in enumerate(PAIRS, start=1)]


def _config(**changes: object) -> LoraTrainConfig:
    base = {"r": 4, "alpha": 8, "lr": 3e-3, "max_steps": 4, "batch_size": 2, "max_seq_len": 128, "save_every": 2, "gen_eval_limit": 2, "max_new_tokens": 12}
    return LoraTrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("sage")
    link_smollm2(home / "models")  # the run's dequantized copy; a link is enough (read-only use)
    return Settings(home=home, device="cpu")


@pytest.fixture(scope="module")
def trained(settings: Settings) -> dict[str, object]:
    """Adapters 'a' and 'b', plus the impressions the in-memory model 'a' generated at the end of training."""
    examples = _examples()
    captured: dict[str, list[str]] = {}

    def scorer(predictions: list[str], references: list[str]) -> dict[str, float]:
        captured["a"] = predictions
        return {"exact_match": sum(p == r for p, r in zip(predictions, references, strict=True)) / len(references)}

    info = {"source": "tests:handwritten", "version": "v1", "deidentified": True}
    manifest_a = train_adapter(settings, "a", examples, examples[:2], _config(), progress=False, data_info=info, scorer=scorer)
    manifest_b = train_adapter(settings, "b", _examples("Impression: "), examples[:2], _config(seed=11, max_steps=2), progress=False, data_info=info)
    return {"a": manifest_a, "b": manifest_b, "generated_a": captured["a"], "eval": examples[:2]}


@pytest.fixture(scope="module")
def base(settings: Settings):  # noqa: ANN201
    from models.lm.loader import load_causal_lm

    return load_causal_lm(settings.models_dir / "smollm2-135m")


def test_manifest_is_complete(settings: Settings, trained: dict) -> None:
    manifest = trained["a"]
    assert manifest.base_model == "smollm2-135m" and manifest.base_model_hash.startswith("sha256:")
    assert manifest.prompt_template == IMPRESSION_TEMPLATE_VERSION and manifest.task == "impression"
    assert manifest.data.source == "tests:handwritten" and manifest.data.n_train == 16 and manifest.data.n_eval == 2
    assert len(manifest.data.sha256) == 64 and manifest.data.deidentified and manifest.privacy.deidentified
    assert manifest.privacy.dp == "none" and manifest.privacy.epsilon is None
    assert manifest.hyperparameters.r == 4 and manifest.peft_version and manifest.torch_version
    m = manifest.metrics
    assert m["steps"] == 4 and m["tokens_per_s"] > 0 and m["eval_generated"] == 2 and "eval_exact_match" in m
    assert m["eval_loss"] < m["train_loss_first"]  # the adapter learned the house style
    on_disk = json.loads((settings.adapters_dir / "a" / "manifest.json").read_text())
    assert on_disk["data"]["sha256"] == manifest.data.sha256
    assert [x.name for x in AdapterRegistry(settings).list()] == ["a", "b"]
    assert not (settings.adapters_dir / ".work" / "a").exists()  # checkpoints removed once installed


def test_reload_and_switch_gives_each_adapters_outputs(settings: Settings, trained: dict, base) -> None:
    from models.adapt.runtime import AdapterSwitcher

    model, tokenizer = base
    cases = trained["eval"]
    base_out = generate_impressions(model, tokenizer, cases, max_new_tokens=12, batch_size=2)
    switcher = AdapterSwitcher(model, AdapterRegistry(settings), base_name="smollm2-135m")
    out_a = generate_impressions(switcher.activate("a"), tokenizer, cases, max_new_tokens=12, batch_size=2)
    assert out_a == trained["generated_a"]  # reloaded from disk == the model at the end of training
    assert out_a != base_out
    out_b = generate_impressions(switcher.activate("b"), tokenizer, cases, max_new_tokens=12, batch_size=2)
    assert out_b != out_a and switcher.loaded == ["a", "b"] and switcher.active == "b"
    assert generate_impressions(switcher.activate(None), tokenizer, cases, max_new_tokens=12, batch_size=2) == base_out
    assert generate_impressions(switcher.activate("a"), tokenizer, cases, max_new_tokens=12, batch_size=2) == out_a
    assert switcher.last_switch_ms is not None and switcher.last_switch_ms < 1000  # a flag flip, not a reload
    with pytest.raises(UnknownAdapterError, match="known: a, b"):
        switcher.activate("missing")


def test_interrupted_training_resumes_to_the_same_weights(settings: Settings, trained: dict) -> None:
    from safetensors.torch import load_file

    examples = _examples()
    registry = AdapterRegistry(settings)

    def interrupt(step: int, loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_adapter(settings, "r", examples, examples[:2], _config(), progress=False, step_callback=interrupt)
    assert "r" not in registry.names()  # a failed run installs nothing
    assert (registry.work_dir("r") / "checkpoint.pt").is_file()

    steps: list[int] = []
    manifest = train_adapter(settings, "r", examples, examples[:2], _config(gen_eval_limit=0), progress=False, step_callback=lambda s, _: steps.append(s))
    assert steps == [3, 4]  # continued after the step-2 checkpoint, did not start over
    assert manifest.metrics["steps"] == 4
    resumed = load_file(str(settings.adapters_dir / "r" / "adapter_model.safetensors"))
    reference = load_file(str(settings.adapters_dir / "a" / "adapter_model.safetensors"))
    assert resumed.keys() == reference.keys()
    for key, tensor in reference.items():
        assert (resumed[key] - tensor).abs().max() < 1e-5, key
    registry.delete("r")
    assert "r" not in registry.names()


def test_registry_errors(settings: Settings, trained: dict) -> None:
    registry = AdapterRegistry(settings)
    with pytest.raises(UnknownAdapterError, match="known: a, b"):
        registry.get("nope")
    with pytest.raises(InvalidAdapterNameError):
        registry.get("../etc")
    with pytest.raises(AdapterBaseMismatchError, match="smollm2-135m"):
        registry.get("a", base_model="llama-3-8b")
    with pytest.raises(AdapterExistsError):
        train_adapter(settings, "a", _examples(), [], _config(), progress=False)
    with pytest.raises(TrainingDataError, match="test split"):
        train_adapter(settings, "t", _examples(), [], _config(), progress=False, data_info={"split": "test"})
    broken = settings.adapters_dir / "broken"
    shutil.copytree(settings.adapters_dir / "a", broken)
    (broken / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterCorruptError, match="adapter_model.safetensors"):
        registry.get("broken")
    assert [m.name for m in registry.list()] == ["a", "b"]  # listed adapters skip the corrupt one
    registry.delete("broken")


def test_switcher_rejects_an_adapter_from_another_base(settings: Settings, trained: dict, base) -> None:
    from models.adapt.manifest import AdapterManifest
    from models.adapt.runtime import AdapterSwitcher

    registry = AdapterRegistry(settings)
    other = settings.adapters_dir / "other-base"
    shutil.copytree(settings.adapters_dir / "a", other)
    manifest = AdapterManifest.read(other).model_copy(update={"name": "other-base", "base_model_hash": "sha256:" + "0" * 64})
    manifest.write(other)
    switcher = AdapterSwitcher(base[0], registry, base_name="smollm2-135m")
    with pytest.raises(AdapterBaseMismatchError, match="other-base"):
        switcher.activate("other-base")
    registry.delete("other-base")


def test_config_errors_name_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="lr"):
        LoraTrainConfig(lr=0)
    with pytest.raises(ValidationError, match="target_modules"):
        LoraTrainConfig(target_modules=[])
    with pytest.raises(ValidationError, match="dp"):
        LoraTrainConfig(dp={"mechanism": "dp-sgd"})


def test_merged_export_loads_without_peft_and_writes_like_the_adapter(settings: Settings, trained: dict, tmp_path: Path) -> None:
    from models.adapt.runtime import merge_adapter
    from models.lm.loader import load_causal_lm

    out = merge_adapter(settings, "a", tmp_path / "export" / "a-merged")
    assert (out / "config.json").is_file() and (out / "adapter_manifest.json").is_file()
    assert not (out / "adapter_config.json").exists(), "a plain model folder, no PEFT files"
    model, tokenizer = load_causal_lm(out)
    merged = generate_impressions(model, tokenizer, trained["eval"], max_new_tokens=12, batch_size=2)
    assert merged == trained["generated_a"], "merging keeps the adapter's greedy outputs"
    with pytest.raises(AdapterExistsError):
        merge_adapter(settings, "a", out)
