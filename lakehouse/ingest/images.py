"""Ingest chest X-ray image files (PNG, JPEG, DICOM) into the blob store and the ``images`` table.

PNG and JPEG bytes are stored as they are. A DICOM file is decoded with pydicom and stored as
an 8-bit grayscale PNG (the form every image model and the web page read); ``MONOCHROME1``
images are inverted so that bone is always bright. Indiana image ids (``CXR10_IM-0002-1001``)
link an image to its report; DICOM files link through their PatientID. A file that is not an
image is reported by name and skipped.
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

from core.settings import Settings
from lakehouse.blobs import BlobStore
from lakehouse.ingest.pipeline import IngestIssue, IngestReport, ProgressFn, TableCounts, _progress
from lakehouse.raw.schema import TABLES
from lakehouse.raw.store import RawStore

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".dcm": "application/dicom", ".dicom": "application/dicom"}
_INDIANA_IMAGE = re.compile(r"^(CXR\d+)_")


class NotAnImageError(ValueError):
    """The file could not be decoded as PNG, JPEG or DICOM."""


def dicom_to_png(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """Decode a DICOM file to an 8-bit PNG and the header fields the ``images`` row needs."""
    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        pixels = ds.pixel_array.astype(np.float32)
    except (InvalidDicomError, AttributeError, ValueError, RuntimeError) as exc:
        raise NotAnImageError(f"not a decodable DICOM image: {exc}") from exc
    if pixels.ndim == 3 and pixels.shape[-1] not in (3, 4):
        pixels = pixels[0]  # multi-frame: keep the first frame
    lo, hi = float(pixels.min()), float(pixels.max())
    scaled = (pixels - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(pixels)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        scaled = 255.0 - scaled
    image = Image.fromarray(scaled.astype(np.uint8))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    meta = {
        "image_id": str(getattr(ds, "SOPInstanceUID", "") or ""),
        "patient_id": str(getattr(ds, "PatientID", "") or "") or None,
        "view": str(getattr(ds, "ViewPosition", "") or "") or None,
        "width": image.width,
        "height": image.height,
    }
    return buf.getvalue(), meta


def _raster_meta(data: bytes) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            return {"width": img.width, "height": img.height}
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise NotAnImageError(f"not a decodable PNG/JPEG image: {exc}") from exc


def image_row(file: Path, blobs: BlobStore) -> dict[str, Any]:
    """Store one image file's bytes and return its ``images`` row.

    Raises:
        NotAnImageError: the file is not a PNG, JPEG or DICOM image.
    """
    data = file.read_bytes()
    media = IMAGE_SUFFIXES.get(file.suffix.lower())
    if media == "application/dicom" or data[128:132] == b"DICM":
        png, meta = dicom_to_png(data)
        sha, media = blobs.put(png), "image/png"
    else:
        meta = {"image_id": "", "patient_id": None, "view": None, **_raster_meta(data)}
        sha = blobs.put(data)
        media = media or "image/png"
    image_id = meta["image_id"] or file.stem
    match = _INDIANA_IMAGE.match(file.stem)
    return {
        "image_id": image_id, "report_id": match.group(1) if match else None, "patient_id": meta["patient_id"],
        "blob_sha256": sha, "media_type": media, "width": meta["width"], "height": meta["height"], "view": meta["view"],
    }


def ingest_images(settings: Settings, path: Path, progress: bool | ProgressFn = False) -> IngestReport:
    """Ingest one image file or every file in a folder (recursively); bad files are reported."""
    start = time.perf_counter()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    report = IngestReport(batch_id=uuid.uuid4().hex[:12], tables={t: TableCounts() for t in TABLES}, files=len(files))
    blobs, raw, show = BlobStore(settings), RawStore(settings), _progress(progress)
    rows: list[dict[str, Any]] = []
    for i, file in enumerate(files, 1):
        try:
            rows.append(image_row(file, blobs))
        except NotAnImageError as exc:
            report.errors.append(IngestIssue(file=str(file), field="content", message=str(exc)))
        if show:
            show("images", i, len(files))
    if rows:
        result = raw.append("images", rows, str(path), report.batch_id)
        report.tables["images"] = TableCounts(new=result.new, changed=result.changed, unchanged=result.unchanged)
    report.seconds = time.perf_counter() - start
    return report
