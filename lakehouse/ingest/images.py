"""Ingest chest X-ray image files (PNG, JPEG, DICOM): blob store, ``images`` table, ``image`` vector.

Every file is decoded by :func:`models.image.load_image`, the one decoder the image encoders
also use. PNG and JPEG bytes are stored as they are; a DICOM file is stored as the 8-bit
grayscale PNG that decoder produced (modality and VOI LUT, robust windowing, ``MONOCHROME1``
inverted so bone is bright), so the stored image is exactly what the encoder saw. A file that
is not an image is reported by name and nothing of it is written.

Each decoded image is then embedded by the encoder ``settings.image_model`` names
(the zoo's ``settings.image_model``) and written as the ``image`` named vector of its case's
point in the semantic tier. Images link to cases by report id: Indiana image ids
(``CXR10_IM-0002-1001``) name their report; a DICOM without such a name links through its
PatientID when that patient has exactly one case. A case with several images in one call gets
their normalised mean (frontal and lateral together). An image whose case has no point yet is
still stored, and the report says so; ingest the image again after its report.
``IngestReport.points_upserted`` counts the points whose image vector was written.
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.settings import Settings
from lakehouse.blobs import BlobStore
from lakehouse.ingest.pipeline import IngestIssue, IngestReport, ProgressFn, TableCounts, _progress
from lakehouse.raw.schema import TABLES
from lakehouse.raw.store import RawStore
from lakehouse.semantic import CollectionMissingError, SearchFilter, SemanticStore, open_store
from models.image import ImageEncoder, InvalidImageError, checked_encoder, is_dicom, load_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".dcm": "application/dicom", ".dicom": "application/dicom"}
_INDIANA_IMAGE = re.compile(r"^(CXR\d+)_")
EMBED_BATCH = 32  # images decoded and held in memory before the encoder runs on them


@dataclass
class DecodedImage:
    """One image file after storing: its ``images`` row, and its pixels until they are embedded."""

    file: Path
    row: dict[str, Any]
    pixels: Image.Image | None
    vector: np.ndarray | None = None


def _dicom_header(data: bytes) -> dict[str, Any]:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return {
        "image_id": str(ds.get("SOPInstanceUID", "") or ""),
        "patient_id": str(ds.get("PatientID", "") or "") or None,
        "view": str(ds.get("ViewPosition", "") or "") or None,
    }


def image_row(file: Path, blobs: BlobStore) -> DecodedImage:
    """Decode one image file, store its bytes (a DICOM as PNG) and build its ``images`` row.

    Raises:
        InvalidImageError: the file is not a readable PNG, JPEG or DICOM image (nothing is stored).
    """
    if not file.is_file():
        raise InvalidImageError(f"{file}: no such image file", hint="check the path")
    data = file.read_bytes()
    pixels = load_image(data, name=str(file))
    if is_dicom(data):
        meta = _dicom_header(data)
        buf = io.BytesIO()
        pixels.save(buf, format="PNG")
        sha, media = blobs.put(buf.getvalue()), "image/png"
    else:
        meta = {"image_id": "", "patient_id": None, "view": None}
        sha = blobs.put(data)
        media = IMAGE_SUFFIXES.get(file.suffix.lower(), "image/png")
    match = _INDIANA_IMAGE.match(file.stem)
    row = {
        "image_id": meta["image_id"] or file.stem, "report_id": match.group(1) if match else None, "patient_id": meta["patient_id"],
        "blob_sha256": sha, "media_type": media, "width": pixels.width, "height": pixels.height, "view": meta["view"],
    }
    return DecodedImage(file=file, row=row, pixels=pixels)


def _case_of(image: DecodedImage, store: SemanticStore) -> tuple[str | None, str]:
    """(case id, "") for a linked image, else (None, why not)."""
    row = image.row
    if row["report_id"]:
        return row["report_id"], ""
    if not row["patient_id"]:
        return None, "image stored, but it names no case: name the file after its report (CXR10_IM-0002-1001.png) or set the DICOM PatientID"
    cases = sorted(p.case_id for p in store.scroll(SearchFilter(patient_id=row["patient_id"]), limit=10))
    if len(cases) == 1:
        return cases[0], ""
    if not cases:
        return None, f"image stored, but patient {row['patient_id']!r} has no case in the semantic tier yet: ingest the patient's report, then this image again"
    return None, f"image stored, but patient {row['patient_id']!r} has cases {', '.join(cases)}: name the file after its report (e.g. {cases[0]}_1.dcm) to choose one"


def _embed(encoder: ImageEncoder, pending: list[DecodedImage]) -> None:
    vectors = encoder.embed([d.pixels for d in pending if d.pixels is not None])
    for image, vector in zip(pending, vectors, strict=True):
        image.vector, image.pixels = vector, None  # keep 2 KB per image, not the full-size pixels
    pending.clear()


def link_image_vectors(store: SemanticStore, images: list[DecodedImage], report: IngestReport) -> None:
    """Set the ``image`` vector of every case the images link to; unlinkable images become issues."""
    try:
        store.count()
    except CollectionMissingError:
        report.errors.extend(IngestIssue(file=str(d.file), field="images.report_id", message="image stored, but the semantic tier is empty, so no image vector was written: ingest the reports first, then the images again") for d in images)
        return
    by_case: dict[str, list[DecodedImage]] = {}
    for image in images:
        case_id, why = _case_of(image, store)
        if case_id is None:
            report.errors.append(IngestIssue(file=str(image.file), field="images.report_id", message=why))
        else:
            by_case.setdefault(case_id, []).append(image)
    present = {p.case_id for p in store.retrieve(list(by_case))}
    for case_id, linked in sorted(by_case.items()):
        if case_id not in present:
            report.errors.extend(IngestIssue(
                file=str(d.file), field="images.report_id",
                message=f"image stored, but case {case_id!r} has no point in the semantic tier yet, so no image vector was written: ingest its report, then this image again",
            ) for d in linked)
            continue
        mean = np.mean([d.vector for d in linked if d.vector is not None], axis=0)
        store.set_vector(case_id, "image", mean / max(float(np.linalg.norm(mean)), 1e-12))
        report.points_upserted += 1


def ingest_images(settings: Settings, path: Path, progress: bool | ProgressFn = False, *, store: SemanticStore | None = None, encoder: ImageEncoder | None = None) -> IngestReport:
    """Ingest one image file or every file in a folder (recursively): store, embed, link; bad files are reported.

    The encoder runs before anything reaches the ``images`` table, so an encoder that fails to
    load leaves the raw and semantic tiers untouched. ``store`` and ``encoder`` are the
    installation's (``tools.resources.Resources``); when not given they are opened for this call.
    """
    start = time.perf_counter()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    report = IngestReport(batch_id=uuid.uuid4().hex[:12], tables={t: TableCounts() for t in TABLES}, files=len(files))
    blobs, raw, show = BlobStore(settings), RawStore(settings), _progress(progress)
    if encoder is None:
        from models.zoo import ModelZoo

        encoder = checked_encoder(ModelZoo(settings).image_encoder(), settings.image_model)
    decoded: list[DecodedImage] = []
    pending: list[DecodedImage] = []
    for i, file in enumerate(files, 1):
        try:
            image = image_row(file, blobs)
        except InvalidImageError as exc:
            report.errors.append(IngestIssue(file=str(file), field="content", message=str(exc)))
        else:
            decoded.append(image)
            pending.append(image)
            if len(pending) >= EMBED_BATCH:
                _embed(encoder, pending)
        if show:
            show("images", i, len(files))
    if pending:
        _embed(encoder, pending)
    if decoded:
        result = raw.append("images", [d.row for d in decoded], str(path), report.batch_id)
        report.tables["images"] = TableCounts(new=result.new, changed=result.changed, unchanged=result.unchanged)
        own = store is None
        target = store if store is not None else open_store(settings)
        try:
            link_image_vectors(target, decoded, report)
        finally:
            if own:
                target.close()
    log.info("images: %d stored, image vectors written for %d cases (encoder %s)", len(decoded), report.points_upserted, encoder.name)
    report.seconds = time.perf_counter() - start
    return report
