from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from core.settings import Settings
from lakehouse.blobs import BlobStore
from lakehouse.ingest.images import ingest_images
from lakehouse.raw.store import RawStore


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
    assert [Path(e.file).name for e in report.errors] == ["notes.txt"]
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
    assert ingest_images(settings, folder).tables["images"].unchanged == 2
