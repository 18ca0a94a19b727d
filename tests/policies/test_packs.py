"""Loading and validating policy packs (shipped JSON, user YAML/JSON, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.packs import PolicyPack, PolicyPackError, load_pack


def test_default_pack_roles() -> None:
    pack = load_pack("default")
    assert isinstance(pack, PolicyPack) and pack.name == "default"
    assert set(pack.roles) == {"clinician", "radiologist", "researcher", "data_engineer", "auditor", "admin"}
    researcher = pack.roles["researcher"]
    assert researcher.consents == ["research"] and not researcher.can_relabel
    assert {"mrn", "given_name", "family_name", "address", "phone", "birth_date"} <= set(researcher.denied_columns["patients"])
    assert pack.roles["auditor"].allowed_tables == ["audit"]
    assert pack.phi_output in ("redact", "deny")


def test_yaml_and_json_paths(tmp_path: Path) -> None:
    data = load_pack("default").model_dump(mode="json") | {"name": "site-b", "phi_output": "deny"}
    jpath = tmp_path / "site.json"
    jpath.write_text(json.dumps(data))
    assert load_pack(jpath).name == "site-b"
    ypath = tmp_path / "site.yaml"
    ypath.write_text("name: tiny\nversion: '0.1'\nroles:\n  nurse:\n    allowed_tools: [search_cases]\n    purposes: [treatment]\n")
    pack = load_pack(str(ypath))
    assert pack.roles["nurse"].allowed_tools == ["search_cases"] and pack.roles["nurse"].max_sensitivity == 3


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("name: x\nversion: '1'\nroles:\n  nurse:\n    max_sensitivity: 9\n", r"roles\.nurse\.max_sensitivity"),
        ("name: x\nversion: '1'\nroles: {}\nphi_output: shout\n", "phi_output"),
        ("name: x\nroles: {}\n", "version"),
        ("name: x\nversion: '1'\nroles:\n  Nurse Lead: {}\n", "lower-case"),
    ],
)
def test_invalid_pack_names_the_field(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(PolicyPackError, match=match):
        load_pack(path)


def test_missing_pack() -> None:
    with pytest.raises(PolicyPackError, match="not found") as err:
        load_pack("nope")
    assert "default" in (err.value.hint or "")


# --- shipped packs, line-numbered errors, the store, explain -------------------------------------------

from policies.engine import Caller, PolicyEngine  # noqa: E402
from policies.explain import explain  # noqa: E402
from policies.pack_source import check_pack  # noqa: E402
from policies.packs import shipped_packs  # noqa: E402
from policies.store import PolicyStore  # noqa: E402


@pytest.mark.parametrize("name", ["default", "hipaa", "gdpr", "site-example"])
def test_each_shipped_pack_loads_and_checks(name: str) -> None:
    assert name in shipped_packs()
    report = check_pack(name)
    assert report.ok and not report.issues and report.name == name and report.sha256 and report.roles
    pack = load_pack(name)
    engine = PolicyEngine(pack)
    auditor = Caller(user="a1", role="auditor", purpose="audit")
    assert engine.check_tool(auditor, "query_records").effect == "deny" and engine.check_tool(auditor, "policy_check").effect == "allow"


def test_hipaa_safe_harbor_and_minimum_necessary() -> None:
    pack = load_pack("hipaa")
    assert len(pack.identifiers) == 18 and {i.reference[-3:] for i in pack.identifiers.values()} >= {"(A)", "(H)", "(R)"}
    engine = PolicyEngine(pack)
    researcher = Caller(user="r1", role="researcher", purpose="research")
    star = engine.check_table_access(researcher, ["patients", "reports"], ["*"])
    assert star.effect == "redact" and {"mrn", "family_name", "birth_date", "study_date"} <= set(star.details["columns"])
    dated = engine.check_table_access(researcher, ["reports"], ["report_id", "study_date"])
    assert dated.effect == "deny" and dated.rule == "roles.researcher.deidentified"
    assert engine.search_filter_fields(researcher)["consents"] == ["research"]
    labeler = Caller(user="rad", role="radiologist", purpose="labeling")
    narrowed = engine.check_table_access(labeler, ["patients"], ["sex"])
    assert narrowed.effect == "deny" and narrowed.rule == "purposes.labeling.allowed_tables"
    assert engine.check_tool(labeler, "check_interactions").rule == "purposes.labeling.allowed_tools"
    treating = Caller(user="dr", role="clinician", purpose="treatment")
    assert engine.check_table_access(treating, ["patients"], ["mrn", "given_name"]).effect == "allow"  # treatment: minimum necessary exempt


def test_gdpr_purpose_limitation_and_consent() -> None:
    engine = PolicyEngine(load_pack("gdpr"))
    quality = Caller(user="dr", role="clinician", purpose="quality")
    assert engine.check_table_access(quality, ["patients"], ["mrn"]).rule == "purposes.quality.deidentified"
    assert engine.check_table_access(Caller(user="dr", role="clinician", purpose="treatment"), ["patients"], ["mrn"]).effect == "allow"
    assert engine.search_filter_fields(Caller(user="r", role="researcher", purpose="research"))["consents"] == ["research"]
    assert engine.check_tool(Caller(user="e", role="data_engineer", purpose="operations"), "generate_text").effect == "deny"
    assert engine.pack.purposes["research"].legal_basis and "9(2)" in engine.pack.purposes["research"].legal_basis


BAD_PACKS = [
    # (file name, text, line, rule)
    ("range.yaml", "name: x\nversion: '1'\nroles:\n  nurse:\n    purposes: [treatment]\n    max_sensitivity: 9\n", 6, "roles.nurse.max_sensitivity"),
    ("typo.yaml", "name: x\nversion: '1'\nroles:\n  nurse:\n    purposes: [treatment]\n    alowed_tools: [x]\n", 6, "roles.nurse.alowed_tools"),
    ("missing.yaml", "name: x\nroles: {}\n", 1, "version"),
    ("purpose.yaml", "name: x\nversion: '1'\npurposes:\n  treatment: {}\nroles:\n  nurse:\n    purposes:\n      - treatment\n      - research\n", 9, "roles.nurse.purposes.1"),
    ("ident.yaml", "name: x\nversion: '1'\nidentifiers:\n  names:\n    columns:\n      - patients.given_name\n      - family_name\nroles: {}\n", 7, "identifiers.names.columns.1"),
    ("dupe.yaml", "name: x\nversion: '1'\nroles:\n  nurse: {purposes: [treatment]}\n  nurse: {purposes: [treatment], allowed_tools: ['*']}\n", 5, "roles.nurse"),
    ("syntax.json", '{\n  "name": "x",\n  "version": "1",\n  "roles": {\n    "nurse": {"purposes": ["treatment"],}\n  }\n}\n', 5, "syntax"),
    ("enum.json", '{\n  "name": "x",\n  "version": "1",\n  "roles": {},\n  "phi_output": "shout"\n}\n', 5, "phi_output"),
]


@pytest.mark.parametrize(("fname", "text", "line", "rule"), BAD_PACKS, ids=[b[0] for b in BAD_PACKS])
def test_malformed_pack_names_file_line_and_rule(tmp_path: Path, fname: str, text: str, line: int, rule: str) -> None:
    path = tmp_path / fname
    path.write_text(text)
    report = check_pack(path)
    assert not report.ok and report.issues
    first = report.issues[0]
    assert (first.file, first.line, first.rule) == (str(path), line, rule), report.issues
    with pytest.raises(PolicyPackError) as err:
        load_pack(path)
    assert f"{path}:{line}: {rule}" in err.value.message


def test_store_keeps_previous_pack_when_reload_fails(tmp_path: Path) -> None:
    store = PolicyStore("default")
    assert store.pack.name == "default"
    broken = tmp_path / "site.yaml"
    broken.write_text("name: site\nversion: '2'\nroles:\n  clinician:\n    allowed_tools: ['*']\n    purposes: [treatment]\n    max_sensitivity: 99\n")
    result = store.reload(broken)
    assert not result.activated and result.active == "default@1.0.0" and result.report.issues[0].line == 7
    assert store.pack.name == "default" and store.engine.check_tool(Caller(user="r", role="researcher", purpose="research"), "query_records").effect == "allow"
    assert not store.reload(tmp_path / "absent.yaml").activated and store.pack.name == "default"
    broken.write_text(broken.read_text().replace("99", "2"))
    fixed = store.reload(broken)
    assert fixed.activated and fixed.active == "site@2" and store.pack.name == "site"
    assert store.engine.check_tool(Caller(user="r", role="researcher", purpose="research"), "query_records").effect == "deny"  # role gone in the new pack


def test_store_refuses_a_bad_initial_pack(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    with pytest.raises(PolicyPackError, match=r"bad\.yaml:1: version"):
        PolicyStore(bad)


def test_explain_names_the_rule_and_the_path() -> None:
    pack = load_pack("hipaa")
    allowed = explain(pack, "researcher", "research", tool="query_records")
    assert allowed.effect == "allow" and allowed.rule == "purposes.research.allowed_tools"
    assert [s.rule for s in allowed.steps][:3] == ["identity", "roles.researcher", "roles.researcher.purposes"]
    denied = explain(pack, "researcher", "research", tool="update_labels")
    assert denied.effect == "deny" and denied.rule == "roles.researcher.allowed_tools" and denied.steps[-1].outcome == "fail"
    wrong_purpose = explain(pack, "researcher", "treatment", tool="query_records")
    assert wrong_purpose.effect == "deny" and wrong_purpose.rule == "roles.researcher.purposes" and "research" in wrong_purpose.reason
    columns = explain(pack, "researcher", "research", tables=["reports"], columns=["study_date"])
    assert columns.effect == "deny" and columns.details["columns"] == ["study_date"]
    search = explain(pack, "researcher", "research", action="search")
    assert search.effect == "allow" and search.details["filter"]["consents"] == ["research"]
    nobody = explain(pack, "", "research", tool="query_records")
    assert nobody.effect == "deny" and nobody.rule == "identity" and "no role" in nobody.reason
