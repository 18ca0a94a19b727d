"""Loading and validating policy packs (shipped JSON, user YAML/JSON, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.packs import PolicyPack, PolicyPackError, load_pack


def test_default_pack_roles() -> None:
    pack = load_pack("default")
    assert isinstance(pack, PolicyPack) and pack.name == "default"
    assert set(pack.roles) == {"clinician", "radiologist", "researcher", "data_engineer", "auditor"}
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
