from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from lakehouse.ingest.indiana import MalformedRecordError, ReadStats, indiana_archive_path, read_indiana
from lakehouse.raw.schema import split_for


def test_archive_holds_3955_report_files_and_parses_all_with_text() -> None:
    with tarfile.open(indiana_archive_path()) as tar:
        xml = [m for m in tar.getmembers() if m.name.endswith(".xml")]
    assert len(xml) == 3955
    stats = ReadStats()
    reports = list(read_indiana(stats=stats))
    # Every file either parses into a report or is skipped for having neither findings nor impression.
    assert stats.errors == []
    assert len(reports) + len(stats.skipped) == 3955
    assert len(reports) == 3927
    assert all(r.findings or r.impression for r in reports)
    ids = [int(r.report_id[3:]) for r in reports]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_known_fields_of_cxr10() -> None:
    (report,) = read_indiana(ids={"CXR10"})
    assert report.report_id == "CXR10"
    assert report.indication == "XXXX-year-old male, chest pain."  # de-identification tokens kept
    assert report.comparison == "Chest radiographs XXXX."
    assert report.findings.startswith("The cardiomediastinal silhouette is within normal limits")
    assert "Stable calcified granuloma within the right upper lung." in report.findings
    assert report.impression == "No acute cardiopulmonary process."
    assert report.mesh == ["Calcified Granuloma/lung/upper lobe/right", "calcified granuloma"]
    assert report.image_ids == ["CXR10_IM-0002-1001", "CXR10_IM-0002-2001"]
    assert report.article_date == "2013-08-01"


def test_limit_takes_the_first_ids_in_numeric_order() -> None:
    assert [r.report_id for r in read_indiana(limit=5)] == ["CXR1", "CXR2", "CXR3", "CXR4", "CXR5"]


def test_split_rule() -> None:
    assert split_for("CXR10") == "test" and split_for("CXR15") == "test"
    assert split_for("CXR11") == "train" and split_for("CXR1") == "train"


def test_malformed_xml_is_named_and_the_rest_parses(tmp_path: Path) -> None:
    good = '<eCitation><uId id="CXR7"/><Abstract><AbstractText Label="FINDINGS">Clear lungs.</AbstractText></Abstract></eCitation>'
    (tmp_path / "7.xml").write_text(good)
    (tmp_path / "8.xml").write_text("<eCitation><uId id='CXR8'/>")  # truncated file
    (tmp_path / "9.xml").write_text('<eCitation><Abstract><AbstractText Label="FINDINGS">x</AbstractText></Abstract></eCitation>')
    (tmp_path / "6.xml").write_text('<eCitation><uId id="CXR6"/></eCitation>')  # no text: skipped
    stats = ReadStats()
    reports = list(read_indiana(tmp_path, stats=stats))
    assert [r.report_id for r in reports] == ["CXR7"]
    assert sorted((Path(e.file).name, e.field) for e in stats.errors) == [("8.xml", "xml"), ("9.xml", "uId")]
    assert [Path(s).name for s in stats.skipped] == ["6.xml"]
    with pytest.raises(MalformedRecordError, match="8.xml"):
        list(read_indiana(tmp_path))
