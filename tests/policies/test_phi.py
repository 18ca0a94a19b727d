from __future__ import annotations

import base64
import json
import re
from collections import Counter

import pytest

from lakehouse.ingest.indiana import IndianaReport, read_indiana
from lakehouse.labeler import split_sentences
from lakehouse.synth.generate import generate_bundles
from policies.phi import PhiEntity, PhiRedactor

# Thresholds sit just under what was measured (see the helper report): a drop means a regression.
RECALL_FLOOR = 0.95
NARRATIVE_RECALL_FLOOR = 0.85
PRESERVED_FLOOR = 0.98


@pytest.fixture(scope="module")
def redactor() -> PhiRedactor:
    return PhiRedactor()


@pytest.fixture(scope="module")
def ledger_texts(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[dict]]]:
    doctor = IndianaReport(report_id="CXR90002", indication="XXXX-year-old male with fever.", comparison="XXXX, XXXX.",
                           findings="Left basilar opacity. Dr. XXXX XXXX was notified.", impression="Pneumonia. Dr. XXXX aware.",
                           article_date="2013-08-01", source="test")
    out = tmp_path_factory.mktemp("phi")
    result = generate_bundles([*read_indiana(limit=16), doctor], out, seed=21, site="site-a")
    ledger = json.loads(result.ledger_path.read_text())
    texts = []
    for entry in ledger["bundles"]:
        bundle = json.loads((out / entry["bundle"]).read_text())
        report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
        texts.append((base64.b64decode(report["presentedForm"][0]["data"]).decode(), entry["phi"]))
    return texts


def _covered(text: str, value: str, entities: list[PhiEntity]) -> bool | None:
    """Every word of every occurrence of ``value`` lies inside a redacted span (None: value not in text)."""
    starts = [m.start() for m in re.finditer(re.escape(value), text)]
    if not starts:
        return None
    words = [(m.start(), m.end()) for m in re.finditer(r"\w+", value)]
    return all(any(e.start <= s + a and s + b <= e.end for e in entities) for s in starts for a, b in words)


def _recall(pairs: list[tuple[str, list[dict]]], redactor: PhiRedactor) -> tuple[Counter[str], Counter[str]]:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for (text, items), result in zip(pairs, redactor.redact_batch([t for t, _ in pairs]), strict=True):
        for item in items:
            hit = _covered(text, item["value"], result.entities)
            if hit is None:
                continue
            kind = item["type"] if item["type"] != "AGE" else ("AGE>89" if int(item["value"]) > 89 else "AGE<90")
            total[kind] += 1
            # Ages under 90 are not PHI under Safe Harbor: "found" means left alone.
            found[kind] += (not hit) if kind == "AGE<90" else hit
    return found, total


def test_recall_on_generated_reports(ledger_texts: list[tuple[str, list[dict]]], redactor: PhiRedactor) -> None:
    found, total = _recall(ledger_texts, redactor)
    for kind in ("NAME", "MRN", "DATE", "PHONE", "ADDRESS", "ACCESSION"):
        assert total[kind] >= 10, (kind, total)
        assert found[kind] / total[kind] >= RECALL_FLOOR, (kind, found[kind], total[kind])
    assert found["AGE<90"] == total["AGE<90"] > 0
    redacted = redactor.redact(ledger_texts[-1][0]).text
    assert "Dr. [NAME]" in redacted and "MRN: [MRN]" in redacted and "FINDINGS: Left basilar opacity." in redacted


def test_recall_on_unlabelled_narrative(ledger_texts: list[tuple[str, list[dict]]], redactor: PhiRedactor) -> None:
    """Free text with no 'PATIENT:' style labels: spaCy's NER has to find the names and places."""
    pairs = []
    for _, items in ledger_texts:
        by = {i["where"]: i["value"] for i in items}
        given, family = by["Patient.name.given"], by["Patient.name.family"]
        text = (f"{given} {family} was seen today for cough. Spoke with {given} by phone at {by['Patient.telecom']}. "
                f"She lives at {by['Patient.address.line']} in {by['Patient.address.city']}.")
        pairs.append((text, [i for i in items if i["where"].startswith("Patient.") and i["type"] != "DATE"]))
    found, total = _recall(pairs, redactor)
    assert sum(found.values()) / sum(total.values()) >= NARRATIVE_RECALL_FLOOR, (found, total)


def test_clinical_text_survives(redactor: PhiRedactor) -> None:
    sentences = [s for r in read_indiana(limit=60) for s in split_sentences(f"{r.findings} {r.impression}") if "XXXX" not in s]
    results = redactor.redact_batch(sentences)
    unchanged = sum(r.text == s for r, s in zip(results, sentences, strict=True))
    assert len(sentences) > 150 and unchanged / len(sentences) >= PRESERVED_FLOOR, [
        (s, r.text) for r, s in zip(results, sentences, strict=True) if r.text != s]


@pytest.mark.parametrize("text", [
    "58-year-old male with chest pain.",
    "Continue lisinopril 10 mg daily and metformin 500 mg twice daily.",
    "Creatinine 1.4 mg/dL, INR 2.8, BNP 850 pg/mL.",
    "Nodular opacity in the right upper lobe measuring 8 mm. Kerley B lines. Pulmonary edema.",
    "Stable compared to the prior study from 2009.",
])
def test_clinical_phrases_are_not_phi(text: str, redactor: PhiRedactor) -> None:
    assert redactor.redact(text).text == text
    assert not redactor.contains_phi(text)


def test_phi_phrases_are_typed(redactor: PhiRedactor) -> None:
    result = redactor.redact("94-year-old woman, MRN: 4839201, seen 03/14/2012; call (317) 555-0143. Accession ACC123456789.")
    assert result.text == "[AGE] woman, MRN: [MRN], seen [DATE]; call [PHONE]. Accession [ACCESSION]."
    assert [e.type for e in result.entities] == ["AGE", "MRN", "DATE", "PHONE", "ACCESSION"]
    assert redactor.contains_phi("Discussed with Dr. Alice Whitfield on March 3, 2012.")
