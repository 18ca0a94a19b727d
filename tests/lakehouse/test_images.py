"""Image ingestion end to end: stored in the raw tier, embedded into the case's ``image`` vector, found by image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.settings import Settings
from lakehouse.blobs import BlobStore
from lakehouse.ingest.images import ingest_images
from lakehouse.ingest.pipeline import IngestReport, TableCounts
from lakehouse.raw.store import RawStore
from lakehouse.retrieval import retrieve_similar_cases
from lakehouse.semantic import open_store
from models.image import load_image
from tools.resources import Resources


def test_png_dicom_and_a_non_image(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (32, 24), color=200).save(folder / "CXR10_IM-0002-1001.png")
    (folder / "notes.txt").write_text("not an image")
    data = pytest.importorskip("pydicom.data")
    dcm = Path(data.get_testdata_file("RG1_J2KI.dcm"))
    (folder / "chest.dcm").write_bytes(dcm.read_bytes())
    settings = Settings(home=tmp_path / "home")
    report = ingest_images(settings, folder)
    assert [Path(e.file).name for e in report.errors if e.field == "content"] == ["notes.txt"]
    # Nothing is in the semantic tier of this home: both images are stored, and the report says why no vector was written.
    assert sorted(Path(e.file).name for e in report.errors if e.field == "images.report_id") == ["CXR10_IM-0002-1001.png", "chest.dcm"]
    assert report.points_upserted == 0
    assert report.tables["images"].new == 2
    rows = {r["media_type"] + ":" + str(r["report_id"]): r for r in RawStore(settings).scan("images").to_pylist()}
    png = rows["image/png:CXR10"]
    assert (png["width"], png["height"]) == (32, 24)
    dicom = next(r for r in rows.values() if r["report_id"] is None)
    assert (dicom["width"], dicom["height"]) == (1841, 1955)
    img = Image.open(io.BytesIO(BlobStore(settings).get(dicom["blob_sha256"])))
    # MONOCHROME1 inverted: the border (air, dark on a display) is darker than the centre (body).
    w, h = img.size
    assert img.getpixel((5, h // 2)) < img.getpixel((w // 2, h // 2))
    # One decoder: the stored PNG is exactly what models.image.load_image makes of the DICOM.
    assert np.array_equal(np.asarray(img), np.asarray(load_image(dcm)))
    assert ingest_images(settings, folder).tables["images"].unchanged == 2


def chest(seed: int, *, heart: int, effusion: bool = False, size: int = 192) -> np.ndarray:
    """A frontal-chest-like intensity pattern in [0, 1]: bright body, dark lungs, bright heart, ribs, noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.full((size, size), 0.8)
    for cx in (0.3, 0.7):
        image[((x - cx) / 0.17) ** 2 + ((y - 0.5) / 0.36) ** 2 < 1] = 0.15  # lungs
    image[((x - 0.55) / (heart / size)) ** 2 + ((y - 0.65) / 0.14) ** 2 < 1] = 0.85  # heart
    image += 0.1 * (np.sin(y * (30 + seed)) > 0.7)  # ribs, spacing varies by seed
    if effusion:
        image[(y > 0.75) & (x > 0.55) & (x < 0.87)] = 0.75
    image += np.random.default_rng(seed).normal(0, 0.02, image.shape)
    return np.clip(image, 0, 1)


def save_png(pattern: np.ndarray, path: Path) -> Path:
    Image.fromarray((pattern * 255).astype(np.uint8), mode="L").save(path)
    return path


def save_dicom(pattern: np.ndarray, path: Path, *, patient_id: str, monochrome1: bool = False) -> Path:
    """A 12-bit DX DICOM with rescale and window, as a modality would write it."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality, ds.ViewPosition = patient_id, "DX", "PA"
    ds.Rows, ds.Columns = pattern.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, -1024, 1024, 4096
    stored = 1 - pattern if monochrome1 else pattern  # MONOCHROME1 stores dense as dark
    ds.PixelData = (stored * 4095).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture(scope="module")
def imaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Path], IngestReport]:
    """A 20-report lakehouse, then one folder of images: PNG, JPEG, two DICOMs, an unknown case, a non-image."""
    from lakehouse.ingest.pipeline import ingest_default

    settings = Settings(home=tmp_path_factory.mktemp("imaged") / "home")
    ingest_default(settings, limit=20, progress=False)
    folder = tmp_path_factory.mktemp("cxr")
    cxr7_patient = open_store(settings).retrieve(["CXR7"])[0].payload["patient_id"]
    files = {
        "CXR1": save_png(chest(1, heart=40), folder / "CXR1_IM-0001-1001.png"),
        "CXR1-lateral": save_png(chest(11, heart=60)[:, ::-1], folder / "CXR1_IM-0001-2001.png"),
        "CXR6": save_dicom(chest(6, heart=70, effusion=True), folder / "CXR6_IM-0006-1001.dcm", patient_id="someone", monochrome1=True),
        "CXR7": save_dicom(chest(7, heart=55), folder / "study-0007.dcm", patient_id=cxr7_patient),  # linked by PatientID
        "missing": save_png(chest(9, heart=50), folder / "CXR99999_IM-0001-1001.png"),
    }
    Image.fromarray((chest(2, heart=35, effusion=True) * 255).astype(np.uint8)).convert("RGB").save(folder / "CXR2_IM-0002-1001.jpg", quality=92)
    files["CXR2"] = folder / "CXR2_IM-0002-1001.jpg"
    (folder / "notes.png").write_text("findings: not an image")
    files["notes"] = folder / "notes.png"
    return settings, files, ingest_images(settings, folder)


def test_images_are_stored_and_set_the_case_image_vector(imaged) -> None:  # noqa: ANN001
    settings, files, report = imaged
    issues = {Path(e.file).name: e for e in report.errors}
    assert set(issues) == {"notes.png", "CXR99999_IM-0001-1001.png"}
    assert issues["notes.png"].field == "content" and "not a PNG, JPEG or DICOM" in issues["notes.png"].message
    assert "CXR99999" in issues["CXR99999_IM-0001-1001.png"].message and "ingest its report" in issues["CXR99999_IM-0001-1001.png"].message
    assert report.tables["images"].new == 6 and report.points_upserted == 4

    store = open_store(settings)
    points = {p.case_id: p for p in store.retrieve(["CXR1", "CXR2", "CXR6", "CXR7", "CXR8"], with_vectors=True)}
    assert {c for c, p in points.items() if "image" in p.vectors} == {"CXR1", "CXR2", "CXR6", "CXR7"}
    assert {"text", "abnormal"} <= set(points["CXR1"].vectors) and points["CXR7"].payload["findings"] is not None
    # Two images of one case: the normalised mean of their embeddings.
    encoder = Resources(settings).image_encoder
    both = encoder.embed([load_image(files["CXR1"]), load_image(files["CXR1-lateral"])]).mean(axis=0)
    np.testing.assert_allclose(points["CXR1"].vectors["image"], both / np.linalg.norm(both), atol=1e-5)


@pytest.mark.parametrize("case", ["CXR2", "CXR6", "CXR7"])
def test_image_similarity_search_finds_the_image_own_case_first(imaged, case: str) -> None:  # noqa: ANN001
    settings, files, _ = imaged
    vector = Resources(settings).image_encoder.embed([load_image(files[case])])[0]
    hits = retrieve_similar_cases(open_store(settings), None, "query by image", k=3, strategy="image", image_vector=vector.tolist())
    assert hits[0].case_id == case and hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert {h.case_id for h in hits} <= {"CXR1", "CXR2", "CXR6", "CXR7"}  # only cases with an image vector


def test_a_non_image_writes_nothing_and_a_rerun_changes_nothing(imaged) -> None:  # noqa: ANN001
    settings, files, _ = imaged
    rows = RawStore(settings).scan("images").to_pylist()
    assert len(rows) == 6 and not [r for r in rows if r["image_id"] == "notes"]
    assert len([p for p in settings.blobs_dir.rglob("*") if p.is_file()]) == 6
    # The DICOM linked by PatientID keeps its header in the row; the stored PNG is what the encoder saw.
    cxr7_patient = open_store(settings).retrieve(["CXR7"])[0].payload["patient_id"]
    dicom = next(r for r in rows if r["patient_id"] == cxr7_patient)
    assert dicom["report_id"] is None and dicom["view"] == "PA" and dicom["media_type"] == "image/png"
    assert np.array_equal(np.asarray(load_image(BlobStore(settings).get(dicom["blob_sha256"]))), np.asarray(load_image(files["CXR7"])))

    alone = ingest_images(settings, files["notes"])
    assert [e.field for e in alone.errors] == ["content"] and alone.tables["images"] == TableCounts() and alone.points_upserted == 0
    again = ingest_images(settings, files["CXR1"].parent)
    assert again.tables["images"].unchanged == 6 and again.tables["images"].new == again.tables["images"].changed == 0
    assert again.points_upserted == 4
    assert len(RawStore(settings).scan("images").to_pylist()) == 6
