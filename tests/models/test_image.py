from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from models.image import IMAGE_DIM, ImageEncoder, InvalidImageError, TinyCxrEncoder, load_encoder, load_image
from models.lm.loader import ModelLoadError


def synthetic_cxr(seed: int, *, heart: int = 60, effusion: bool = False, size: int = 256) -> Image.Image:
    """A PIL-drawn frontal 'chest X-ray': dark lungs, bright mediastinum/heart, ribs, optional fluid."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (size, size), 200)
    draw = ImageDraw.Draw(img)
    draw.ellipse((30, 40, 120, 220), fill=40)  # right lung
    draw.ellipse((136, 40, 226, 220), fill=40)  # left lung
    draw.ellipse((128 - heart // 2, 130, 128 + heart, 130 + heart), fill=215)  # heart
    for y in range(60, 210, 22):
        draw.arc((20, y - 20, 236, y + 30), 200, 340, fill=120, width=3)  # ribs
    if effusion:
        draw.rectangle((136, 170, 226, 222), fill=190)
    noise = rng.normal(0, 6, (size, size))
    pixels = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").filter(ImageFilter.GaussianBlur(1.5))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_png_and_jpeg_roundtrip_embed_normalised(tmp_path: Path) -> None:
    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    synthetic_cxr(1).save(png)
    synthetic_cxr(1).convert("RGB").save(jpg, quality=90)
    images = [load_image(png), load_image(jpg), load_image(png.read_bytes(), name="upload.png")]
    assert all(img.mode == "L" and img.size == (256, 256) for img in images)
    encoder = TinyCxrEncoder()
    assert isinstance(encoder, ImageEncoder)
    vectors = encoder.embed(images)
    assert vectors.shape == (3, IMAGE_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)  # path and bytes agree
    assert cosine(vectors[0], vectors[1]) > 0.95  # JPEG artefacts barely move the vector
    assert encoder.embed([]).shape == (0, IMAGE_DIM)


def test_placeholder_is_deterministic_and_separates_different_images() -> None:
    a, a_noise, effusion = synthetic_cxr(1), synthetic_cxr(2), synthetic_cxr(1, heart=95, effusion=True)
    blank = Image.new("L", (256, 256), 128)
    v1 = TinyCxrEncoder().embed([a, a_noise, effusion, blank])
    v2 = TinyCxrEncoder().embed([a])
    np.testing.assert_array_equal(v1[0], v2[0])
    # Same drawing with new noise is closer than a changed anatomy, which is closer than a blank frame.
    assert cosine(v1[0], v1[1]) > cosine(v1[0], v1[2]) > cosine(v1[0], v1[3])


def test_non_image_file_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "report.png"
    bogus.write_text("FINDINGS: heart size normal")
    with pytest.raises(InvalidImageError, match="report.png"):
        load_image(bogus)
    with pytest.raises(InvalidImageError, match="missing.dcm"):
        load_image(tmp_path / "missing.dcm")
    fake_dicom = b"\0" * 128 + b"DICM" + b"garbage" * 10
    with pytest.raises(InvalidImageError, match="scan.dcm"):
        load_image(fake_dicom, name="scan.dcm")


def _rg1_path() -> Path | None:
    spec = importlib.util.find_spec("data_store")  # where pydicom-data installs its files
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "RG1_J2KI.dcm"
    return path if path.is_file() else None


def test_real_dicom_monochrome1_is_inverted_and_windowed() -> None:
    path = _rg1_path()
    if path is None:
        pytest.skip("pydicom-data (RG1_J2KI.dcm) is not installed: pip install --no-deps pydicom-data")
    image = load_image(path)
    assert image.mode == "L" and image.size == (1841, 1955)
    pixels = np.asarray(image, dtype=np.float64)
    assert pixels.min() == 0 and pixels.max() == 255  # full 8-bit range after windowing
    # After inverting MONOCHROME1 the air-filled lungs are dark: the central band (spine,
    # mediastinum) is brighter than the lung fields either side of it.
    h, w = pixels.shape
    centre = pixels[h // 3 : 2 * h // 3, int(w * 0.45) : int(w * 0.55)].mean()
    lungs = np.concatenate([pixels[h // 3 : 2 * h // 3, int(w * 0.2) : int(w * 0.35)], pixels[h // 3 : 2 * h // 3, int(w * 0.65) : int(w * 0.8)]]).mean()
    assert centre > lungs + 20
    vector = TinyCxrEncoder().embed([image])
    assert vector.shape == (1, IMAGE_DIM) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_load_encoder_torchscript_and_transformers(tmp_path: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTModel

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 5, stride=4)
            self.head = torch.nn.Linear(8 * 16, 128)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4)
            return self.head(y.flatten(1))

    torch.manual_seed(0)
    exported = tmp_path / "tower.pt2"
    torch.export.save(torch.export.export(Tower().eval(), (torch.zeros(2, 1, 64, 64),), dynamic_shapes=({0: torch.export.Dim("n")},)), str(exported))
    images = [synthetic_cxr(1), synthetic_cxr(1, heart=95, effusion=True)]
    ts = load_encoder(exported, size=64)
    assert ts.name == "tower"
    out = ts.embed(images)
    assert out.shape == (2, IMAGE_DIM)  # 128-d output projected to the named vector's size
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ts.embed(images[:1])[0], out[0], atol=1e-5)

    folder = tmp_path / "tiny-vit"
    ViTModel(ViTConfig(image_size=32, patch_size=8, num_channels=1, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    vit = load_encoder(folder)
    assert vit.embed(images).shape == (2, IMAGE_DIM)

    with pytest.raises(ModelLoadError, match="nowhere"):
        load_encoder(tmp_path / "nowhere")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="junk.pt"):
        load_encoder(junk)


def test_the_image_encoder_follows_settings_and_the_zoo(tmp_path: Path) -> None:
    """Default: the placeholder. A zoo.json image model with a location: that file, loaded once."""
    import json

    import torch

    from core.settings import Settings
    from models.image import TorchImageEncoder
    from models.specs import UnknownModelError, ZooConfigError
    from models.zoo import ModelZoo
    from tools.resources import Resources

    def image_encoder_for(settings: Settings) -> object:
        return Resources(settings).image_encoder

    assert isinstance(image_encoder_for(Settings(home=tmp_path / "default")), TinyCxrEncoder)

    torch.manual_seed(0)
    tower = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 8, stride=8), torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten())
    script = tmp_path / "cxr-tower.pt2"
    torch.export.save(torch.export.export(tower.eval(), (torch.zeros(2, 1, 224, 224),), dynamic_shapes=({0: torch.export.Dim("n")},)), str(script))
    settings = Settings(home=tmp_path / "home", image_model="my-cxr")
    settings.models_dir.mkdir(parents=True)
    models = [{"name": "my-cxr", "roles": ["image"], "backend": "transformers", "location": str(script)},
              {"name": "not-image", "roles": ["embed"], "backend": "python", "location": "models.embedder:TextEmbedder"}]
    (settings.models_dir / "zoo.json").write_text(json.dumps({"models": models}))
    assert ModelZoo(settings).status("my-cxr").available
    resources = Resources(settings)
    encoder = resources.image_encoder
    assert isinstance(encoder, TorchImageEncoder) and encoder.name == "cxr-tower" and resources.image_encoder is encoder
    vectors = encoder.embed([synthetic_cxr(1), synthetic_cxr(1, heart=95, effusion=True)])
    assert vectors.shape == (2, IMAGE_DIM)  # 64 outputs projected to the image vector's 512
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    with pytest.raises(ZooConfigError, match="not image"):
        image_encoder_for(settings.model_copy(update={"image_model": "not-image"}))
    with pytest.raises(UnknownModelError, match="no-such"):
        image_encoder_for(settings.model_copy(update={"image_model": "no-such"}))
