"""ICD-10 mapping, drug normalization, interaction checks and the knowledge graph, on real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.findings import FINDING_KEYS
from lakehouse.knowledge import (
    InteractionTable,
    InteractionTableError,
    UnknownDrugError,
    UnknownICD10Error,
    UnknownNodeError,
    default_graph,
    describe_icd10,
    findings_for_icd10,
    icd10_for_finding,
    neighbors,
    normalize_drug,
    require_drug,
)
from lakehouse.knowledge.graph import TREATMENTS
from lakehouse.knowledge.interactions import COLUMNS, DRUG_CLASSES

HEADER = ",".join(COLUMNS)


@pytest.mark.parametrize("key", FINDING_KEYS)
def test_every_finding_code_exists_with_its_cms_description(key: str) -> None:
    for code, description in icd10_for_finding(key):
        assert description == describe_icd10(code) and description
        assert key in findings_for_icd10(code)


@pytest.mark.parametrize(("key", "code"), [("cardiomegaly", "I51.7"), ("pleural_effusion", "J90"), ("pneumonia", "J18.9"), ("pneumothorax", "J93.9"), ("edema", "J81.0"), ("atelectasis", "J98.11"), ("lung_lesion", "R91.1")])
def test_expected_codes(key: str, code: str) -> None:
    assert code in [c for c, _ in icd10_for_finding(key)]


def test_icd_reverse_lookup_and_errors() -> None:
    assert findings_for_icd10("J18") == ["consolidation", "pneumonia"]  # a category reaches its codes
    assert findings_for_icd10("J189") == ["pneumonia"]  # without the dot
    assert icd10_for_finding("no_finding") == []
    with pytest.raises(UnknownICD10Error, match="Q99.999"):
        findings_for_icd10("Q99.999")
    with pytest.raises(ValueError, match="unknown finding"):
        icd10_for_finding("heart_attack")


@pytest.mark.parametrize(("name", "canonical"), [("warfarin", "warfarin"), ("Coumadin", "warfarin"), ("Zocor®", "simvastatin"), ("Advil", "ibuprofen"), ("acetylsalicylic acid", "aspirin"), ("potassium chloride", "potassium chloride"), ("Plavix", "clopidogrel")])
def test_normalize_drug(name: str, canonical: str) -> None:
    ref = normalize_drug(name)
    assert ref is not None and ref.key == canonical and ref.query == name


def test_drugbank_ids_and_unknown_drugs() -> None:
    ref = normalize_drug("warfarin")
    assert ref is not None and ref.drugbank_id == "DB00682"
    assert normalize_drug("notadrugatall") is None
    assert normalize_drug("warfarin and aspirin") is None  # two drugs are not one
    with pytest.raises(UnknownDrugError) as err:
        require_drug("warfarinn")
    assert "warfarin" in err.value.suggestions and "warfarin" in str(err.value)


def test_every_table_drug_and_class_member_normalizes_to_itself() -> None:
    names = {n for r in InteractionTable.default().rows for n in (r.drug_a, r.drug_b) if not n.startswith("class:")}
    names |= set().union(*DRUG_CLASSES.values()) | {drug for _, drug, _ in TREATMENTS}
    wrong = {n: (ref.key if (ref := normalize_drug(n)) else None) for n in names}
    assert {n: k for n, k in wrong.items() if k != n} == {}


@pytest.mark.parametrize(
    ("current", "proposed", "severity"),
    [
        ("warfarin", "amiodarone", "major"),
        ("amiodarone", "warfarin", "major"),  # both orders
        ("Coumadin", "aspirin", "major"),  # brand name
        ("warfarin", "Advil", "major"),  # NSAID class via brand
        ("ibuprofen", "warfarin", "major"),
        ("clarithromycin", "simvastatin", "contraindicated"),
        ("lisinopril", "spironolactone", "major"),
        ("enalapril", "potassium chloride", "major"),  # ACE inhibitor class
        ("metformin", "iohexol", "major"),
        ("sildenafil", "isosorbide mononitrate", "contraindicated"),
        ("Viagra", "nitrates", "contraindicated"),  # a class name as the drug
        ("sertraline", "phenelzine", "contraindicated"),
        ("fluoxetine", "tramadol", "major"),
        ("clopidogrel", "omeprazole", "major"),
        ("digoxin", "amiodarone", "major"),
        ("methotrexate", "trimethoprim", "major"),
        ("lithium", "NSAIDs", "major"),
    ],
)
def test_known_pairs(current: str, proposed: str, severity: str) -> None:
    hits = InteractionTable.default().check([current], proposed)
    assert hits and hits[0].severity == severity and hits[0].between == (current, proposed) and hits[0].source


def test_check_sorts_by_severity_and_ignores_safe_pairs() -> None:
    table = InteractionTable.default()
    hits = table.check(["warfarin", "clarithromycin", "metformin"], "simvastatin")
    assert [h.severity for h in hits] == ["contraindicated"]
    hits = table.check(["omeprazole", "lisinopril", "simvastatin"], "amiodarone")
    assert [h.severity for h in hits] == ["major"]
    hits = table.check(["warfarin", "simvastatin"], "clarithromycin")
    assert [(h.severity, h.between[0]) for h in hits] == [("contraindicated", "simvastatin"), ("major", "warfarin")]
    assert table.check(["metformin"], "amoxicillin") == []
    with pytest.raises(UnknownDrugError):
        table.check(["warfarin"], "amiodaronee")


def test_user_table_import_and_merge(tmp_path: Path) -> None:
    good = tmp_path / "site.csv"
    good.write_text(f"{HEADER}\nCoumadin,Flagyl,contraindicated,CYP2C9,avoid,Local formulary 2024\n")
    site = InteractionTable.from_csv(good)
    assert site.rows[0].drug_a == "warfarin" and site.rows[0].drug_b == "metronidazole"
    merged = InteractionTable.default().merged(site)
    assert len(merged) == len(InteractionTable.default())  # the site row overrides the shipped one
    assert merged.check(["warfarin"], "metronidazole")[0].severity == "contraindicated"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("drug_a,drug_b,severity\nwarfarin,aspirin,major\n", "missing column"),
        (f"{HEADER}\nwarfarin,aspirin,severe,x,y,z\n", r"row 2, column 'severity'"),
        (f"{HEADER}\nwarfarin,aspirin,major,x,y,z\nwarfarin,,major,x,y,z\n", r"row 3, column 'drug_b': empty"),
        (f"{HEADER}\nwarfarin,class:antibiotics,major,x,y,z\n", r"row 2, column 'drug_b': unknown class"),
        (f"{HEADER}\nwarfarinn,aspirin,major,x,y,z\n", r"row 2, column 'drug_a': unknown drug"),
    ],
)
def test_table_errors_name_row_and_column(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(InteractionTableError, match=match):
        InteractionTable.from_csv(path)


def test_knowledge_graph_links_findings_codes_and_drugs() -> None:
    out = neighbors("finding:cardiomegaly")
    assert {(e.kind, e.target) for e in out} >= {("coded_as", "icd10:I51.7"), ("associated_with", "icd10:I50.9")}
    assert ("treated_by", "drug:furosemide") in {(e.kind, e.target) for e in neighbors("icd10:I50.9")}
    assert ("treats", "icd10:I50.9") in {(e.kind, e.target) for e in neighbors("drug:furosemide")}
    assert ("codes", "finding:pneumonia") in {(e.kind, e.target) for e in neighbors("icd10:J18.9")}
    assert all(e.source for node in default_graph().nodes() for e in neighbors(node))
    for node in default_graph().nodes():
        if node.startswith("icd10:"):
            describe_icd10(node.removeprefix("icd10:"))
    with pytest.raises(UnknownNodeError):
        neighbors("finding:unknown")
