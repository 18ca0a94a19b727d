"""Parse the Indiana University chest X-ray reports (NLMCXR) into typed records.

The collection ships inside the ``torchxrayvision`` wheel as ``data/NLMCXR_reports.tgz``: one
XML file per report with the sections COMPARISON / INDICATION / FINDINGS / IMPRESSION as
``AbstractText`` elements, MeSH problem terms and the ids of the report's images. It is
licensed CC BY-NC-ND 4.0, so the project reads it from the installed wheel and never copies it
into the repository. De-identification tokens (``XXXX``) are kept exactly as in the source.

Usage::

    from lakehouse.ingest.indiana import read_indiana
    for report in read_indiana(limit=10):
        print(report.report_id, report.impression)
"""

from __future__ import annotations

import logging
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from core.errors import SageError

log = logging.getLogger(__name__)

ARCHIVE_NAME = "NLMCXR_reports.tgz"


class MalformedRecordError(SageError):
    """A source record cannot be parsed; names the file and field so it can be fixed or dropped."""

    def __init__(self, file: str, field: str, msg: str) -> None:
        super().__init__(f"{file}: field {field!r}: {msg}", hint="fix or remove this record; the rest of the batch is ingested")
        self.file = file
        self.field = field
        self.msg = msg


class IndianaReport(BaseModel):
    """One Indiana chest X-ray report (one case)."""

    report_id: str = Field(description="Case id from <uId>, e.g. 'CXR10'.")
    indication: str = ""
    comparison: str = ""
    findings: str = ""
    impression: str = ""
    mesh: list[str] = Field(default_factory=list, description="MeSH major terms then automatic terms.")
    image_ids: list[str] = Field(default_factory=list, description="parentImage ids, e.g. 'CXR10_IM-0002-1001'.")
    article_date: str | None = Field(None, description="<articleDate> (ISO date) when present.")
    source: str = Field("", description="File the report came from (archive member or path).")


@dataclass
class ReadStats:
    """What a read skipped or could not parse; pass one in to collect instead of raising."""

    parsed: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[MalformedRecordError] = field(default_factory=list)


def indiana_archive_path() -> Path:
    """Path of ``NLMCXR_reports.tgz`` in the installed torchxrayvision package (not imported)."""
    from models.lm.loader import package_folder

    path = package_folder("torchxrayvision") / "data" / ARCHIVE_NAME
    if not path.is_file():
        raise SageError(f"{path} is missing", hint="reinstall: .venv/bin/pip install --no-deps --force-reinstall torchxrayvision")
    return path


def _numeric_id(name: str) -> int:
    digits = "".join(ch for ch in Path(name).stem if ch.isdigit())
    return int(digits) if digits else -1


def _text(elem: ET.Element | None) -> str:
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def parse_report_xml(data: bytes, source: str) -> IndianaReport | None:
    """Parse one report file; ``None`` when it has neither findings nor impression.

    Raises:
        MalformedRecordError: the XML does not parse or lacks the ``uId`` id.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MalformedRecordError(source, "xml", f"not well-formed XML ({exc})") from exc
    uid = root.find("uId")
    report_id = uid.get("id", "").strip() if uid is not None else ""
    if not report_id:
        raise MalformedRecordError(source, "uId", "missing report id (<uId id=...>)")
    sections: dict[str, str] = {}
    for elem in root.iter("AbstractText"):
        label = (elem.get("Label") or "").strip().upper()
        if label:
            sections[label] = _text(elem)
    if not sections.get("FINDINGS") and not sections.get("IMPRESSION"):
        return None
    mesh_root = root.find("MeSH")
    mesh: list[str] = []
    if mesh_root is not None:
        mesh = [_text(e) for e in mesh_root.findall("major")] + [_text(e) for e in mesh_root.findall("automatic")]
    date = _text(root.find("articleDate")) or None
    return IndianaReport(
        report_id=report_id,
        indication=sections.get("INDICATION", ""),
        comparison=sections.get("COMPARISON", ""),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh=[m for m in mesh if m],
        image_ids=[pid for e in root.findall("parentImage") if (pid := e.get("id"))],
        article_date=date,
        source=source,
    )


def _archive_members(path: Path) -> Iterator[tuple[str, bytes]]:
    # One sequential pass: random access into a gzip stream would re-decompress per member.
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".xml"):
                fh = tar.extractfile(member)
                if fh is not None:
                    yield f"{path.name}:{member.name}", fh.read()


def _folder_members(folder: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(folder.rglob("*.xml")):
        yield str(file), file.read_bytes()


def _parse_all(members: Iterable[tuple[str, bytes]], limit: int | None, ids: set[str] | None, stats: ReadStats | None) -> Iterator[IndianaReport]:
    ordered = sorted(members, key=lambda m: (_numeric_id(m[0].rsplit(":", 1)[-1]), m[0]))
    emitted = 0
    for source, data in ordered:
        if limit is not None and emitted >= limit:
            return
        try:
            report = parse_report_xml(data, source)
        except MalformedRecordError as exc:
            if stats is None:
                raise
            log.warning("skipping malformed report: %s", exc)
            stats.errors.append(exc)
            continue
        if report is None:
            if stats is not None:
                stats.skipped.append(source)
            continue
        if ids is not None and report.report_id not in ids:
            continue
        if stats is not None:
            stats.parsed += 1
        emitted += 1
        yield report


def read_indiana(path: Path | None = None, limit: int | None = None, ids: Iterable[str] | None = None, stats: ReadStats | None = None) -> Iterator[IndianaReport]:
    """Reports of the shipped archive (or another NLMCXR-style tgz), ordered by numeric id.

    Args:
        path: A ``.tgz`` archive or a folder of XML files; default: the shipped archive.
        limit: Stop after this many reports (the first ``limit`` by id: deterministic).
        ids: Only these report ids (e.g. ``{"CXR10"}``).
        stats: Collects skipped files and malformed records; without it a malformed record raises.

    Raises:
        MalformedRecordError: a record does not parse and no ``stats`` was given.
    """
    path = path or indiana_archive_path()
    members = _folder_members(path) if path.is_dir() else _archive_members(path)
    yield from _parse_all(members, limit, set(ids) if ids is not None else None, stats)
