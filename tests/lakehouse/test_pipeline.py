from __future__ import annotations

import json
import random
import shutil
import tarfile
from pathlib import Path

import pytest

from core.settings import Settings
from lakehouse.findings import positive_findings
from lakehouse.ingest.indiana import indiana_archive_path
from lakehouse.ingest.pipeline import ingest_default, ingest_fhir_folder, ingest_report_folder
from lakehouse.ingest.semantic_writer import abnormal_text
from lakehouse.raw.store import RawStore
from lakehouse.semantic import SearchFilter, open_store


def _extract_reports(target: Path, ids: range) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    names = {f"ecgen-radiology/{i}.xml" for i in ids}
    with tarfile.open(indiana_archive_path()) as tar:
        for member in tar:
            if member.name in names:
                (target / Path(member.name).name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    return target


def test_small_lakehouse_has_both_tiers(small_lakehouse: Settings) -> None:
    raw = RawStore(small_lakehouse)
    reports = raw.scan("reports").to_pylist()
    store = open_store(small_lakehouse)
    assert store.count() == len(reports) > 250
    point = store.retrieve(["CXR10"])[0]
    assert set(point.payload) >= {"case_id", "patient_id", "split", "site", "consent", "sensitivity", "labels", "positive_findings", "label_version", "findings", "impression", "indication", "source", "content_hash", "ingested_at"}
    assert point.payload["split"] == "test" and point.payload["label_version"] == 1
    assert raw.scan("patients").num_rows > 0 and raw.scan("report_labels").num_rows > len(reports)


def test_reingest_adds_nothing_and_a_change_is_versioned(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    folder = _extract_reports(tmp_path / "xml", range(1, 13))
    first = ingest_report_folder(settings, folder)
    n = first.tables["reports"].new
    assert n >= 10 and first.points_upserted == n
    second = ingest_report_folder(settings, folder)
    assert second.tables["reports"].new == second.tables["reports"].changed == 0
    assert second.points_upserted == 0 and second.tables["report_labels"].new == 0
    assert open_store(settings).count() == n

    xml = folder / "2.xml"
    xml.write_text(xml.read_text().replace("Label=\"FINDINGS\">", "Label=\"FINDINGS\">Large right pleural effusion. "))
    third = ingest_report_folder(settings, folder)
    assert third.tables["reports"].changed == 1 and third.points_upserted == 1
    raw = RawStore(settings)
    assert raw.current_versions("reports")["CXR2"] == 2
    assert len([r for r in raw.scan("reports", history=True).to_pylist() if r["report_id"] == "CXR2"]) == 2
    payload = open_store(settings).retrieve(["CXR2"])[0].payload
    assert "pleural_effusion" in payload["positive_findings"] and payload["label_version"] == 2


def test_semantic_failure_rolls_back_the_raw_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home")
    folder = _extract_reports(tmp_path / "xml", range(1, 6))
    store = open_store(settings)

    def broken_upsert(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")  # injected fault in the semantic tier

    monkeypatch.setattr(store, "upsert", broken_upsert)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_report_folder(settings, folder, store=store)
    raw = RawStore(settings)
    assert raw.scan("reports").num_rows == 0 and raw.scan("report_labels").num_rows == 0
    monkeypatch.undo()
    assert store.count() == 0
    assert ingest_report_folder(settings, folder, store=store).tables["reports"].new >= 4


def test_malformed_bundles_are_named_and_the_rest_ingests(small_lakehouse: Settings, tmp_path: Path) -> None:
    bundles = sorted(p for p in small_lakehouse.synthetic_dir.glob("CXR*.json"))[:3]
    folder = tmp_path / "bundles"
    folder.mkdir()
    for p in bundles:
        shutil.copy(p, folder / p.name)
    (folder / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    bad = json.loads(bundles[0].read_text())
    for entry in bad["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = "not-a-date"
    (folder / "bad_birthdate.json").write_text(json.dumps(bad))
    settings = Settings(home=tmp_path / "home")
    report = ingest_fhir_folder(settings, folder)
    named = {Path(e.file).name: e.field for e in report.errors}
    assert set(named) == {"broken.json", "bad_birthdate.json"}
    assert "birth" in named["bad_birthdate.json"].lower()
    assert report.tables["reports"].new == 3 and report.tables["patients"].new == 3


def test_search_precision_at_5_beats_random(small_lakehouse: Settings) -> None:
    from models.embedder import TextEmbedder

    store = open_store(small_lakehouse)
    points = store.scroll(limit=10_000)
    positives = {p.case_id: set(p.payload["positive_findings"]) for p in points}
    queries = [p for p in points if p.payload["split"] == "test" and positives[p.case_id]]
    assert len(queries) >= 10
    texts = [abnormal_text(p.payload["findings"], p.payload["impression"]) for p in queries]
    vectors = TextEmbedder.from_settings(small_lakehouse).embed(texts)
    rng = random.Random(0)
    hit_rate, random_rate = [], []
    for point, vec in zip(queries, vectors, strict=True):
        hits = store.search(vec.tolist(), using="abnormal", filter=SearchFilter(exclude_ids=[point.case_id]), limit=5)
        assert point.case_id not in {h.case_id for h in hits}
        want = positives[point.case_id]
        hit_rate.append(sum(bool(want & positives[h.case_id]) for h in hits) / len(hits))
        others = rng.sample([c for c in positives if c != point.case_id], 5)
        random_rate.append(sum(bool(want & positives[c]) for c in others) / 5)
    p_at_5, baseline = sum(hit_rate) / len(hit_rate), sum(random_rate) / len(random_rate)
    print(f"precision@5 {p_at_5:.3f} vs random {baseline:.3f} over {len(queries)} test queries")
    assert p_at_5 >= 1.5 * baseline and p_at_5 > 0.3
    assert positive_findings(queries[0].payload["labels"]) == queries[0].payload["positive_findings"]


def test_default_ingest_twice_adds_nothing_anywhere(tmp_path: Path) -> None:
    """The shipped path (reports + generated FHIR) is deterministic end to end: a rerun is a no-op."""
    settings = Settings(home=tmp_path / "home")
    first = ingest_default(settings, limit=15, progress=False)
    assert first.tables["patients"].new == first.tables["reports"].new >= 14
    second = ingest_default(settings, limit=15, progress=False)
    changed = {name: (c.new, c.changed) for name, c in second.tables.items() if c.new or c.changed}
    assert changed == {} and second.points_upserted == 0, changed


def test_a_consent_change_reaches_the_search_filter_without_new_text(tmp_path: Path) -> None:
    """Withdrawing research consent must hide the patient's cases from research retrieval at once."""
    from lakehouse.ingest.indiana import read_indiana
    from lakehouse.synth.generate import generate_bundles

    settings = Settings(home=tmp_path / "home")
    folder = tmp_path / "bundles"
    generate_bundles(read_indiana(limit=12), folder, seed=5, site="site-b")
    ingest_fhir_folder(settings, folder)
    store = open_store(settings)
    research = {p.case_id for p in store.scroll(limit=100) if p.payload["consent"] == "research"}
    assert research, "some generated patients consent to research"

    case_id = sorted(research)[0]
    bundle_path = folder / f"{case_id}.json"  # the generator names each bundle after its report
    bundle = json.loads(bundle_path.read_text())
    for entry in bundle["entry"]:
        for tag in entry["resource"].get("meta", {}).get("security", []):
            if tag.get("code") == "research":
                tag["code"] = "treatment-only"
    bundle_path.write_text(json.dumps(bundle))

    again = ingest_fhir_folder(settings, folder)
    assert again.tables["patients"].changed == 1 and again.tables["reports"].changed == 0 and again.points_upserted == 0
    assert store.retrieve([case_id])[0].payload["consent"] == "treatment-only"
    hits = store.search(store.retrieve([case_id], with_vectors=True)[0].vectors["text"], using="text", filter=SearchFilter(consents=["research"]), limit=50)
    assert case_id not in {h.case_id for h in hits}
