"""`sagehealth query` and `search` go through the governed tools: role scope, access filter, audit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import data
from core.settings import Settings
from policies.audit import AuditLog


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    data.register(app)
    return app


def invoke(cli: typer.Typer, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_query_is_scoped_by_role_and_audited(cli: typer.Typer, home: Settings) -> None:
    code, out = invoke(cli, "query", "SELECT sex, count(*) AS n FROM patients GROUP BY sex ORDER BY sex")
    assert code == 0 and out["columns"] == ["sex", "n"] and sum(r["n"] for r in out["rows"]) > 0

    code, out = invoke(cli, "query", "SELECT family_name FROM patients", "--role", "researcher", "--purpose", "research")
    assert code == 1 and "family_name" in out["error"], "identifying columns are hidden from researchers"
    code, out = invoke(cli, "query", "SELECT count(*) FROM reports", "--role", "auditor", "--purpose", "audit")
    assert code == 1 and "denied" in out["error"]
    code, out = invoke(cli, "query", "DELETE FROM reports")
    assert code == 1

    entries = AuditLog(home.audit_path).entries()
    assert [(e.action, e.decision) for e in entries][:3] == [("tool:query_records", "ok"), ("tool:query_records", "failed"), ("tool:query_records", "denied")]
    assert AuditLog(home.audit_path).verify().ok


def test_search_filters_by_finding_and_by_the_roles_access_tags(cli: typer.Typer, home: Settings) -> None:
    code, out = invoke(cli, "search", "enlarged cardiac silhouette", "--k", "3", "--finding", "cardiomegaly=present")
    assert code == 0 and len(out["hits"]) == 3
    assert all(h["labels"]["cardiomegaly"] == "present" for h in out["hits"])

    code, out = invoke(cli, "search", "enlarged cardiac silhouette", "--k", "20", "--role", "researcher", "--purpose", "research")
    from lakehouse.query import QueryEngine

    consent = {r["report_id"]: r["consent"] for r in QueryEngine(home).sql("SELECT r.report_id, p.consent FROM reports r JOIN patients p USING (patient_id)").records()}
    assert code == 0, out
    assert out["hits"] and all(consent[h["case_id"]] == "research" for h in out["hits"]), "researchers only see research-consented cases"

    code, out = invoke(cli, "search", "effusion", "--finding", "heart=big")
    assert code == 1 and "KEY=STATE" in out["hint"]


ENGINEER = ("--user", "eng-c", "--role", "data_engineer", "--purpose", "operations")


def test_ingest_exit_status_says_whether_anything_was_ingested(cli: typer.Typer, home: Settings, tmp_path: Path) -> None:
    """0: all ingested; 3: some files failed (named, the rest ingested); 1: nothing ingested. Refused bundles write nothing."""
    good = sorted(home.synthetic_dir.glob("CXR*.json"))[0]
    bad = json.loads(good.read_text())
    patient = next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "Patient")
    good_id, patient["id"] = patient["id"], "pat-oversized"
    patient["name"][0]["family"] = "X" * 2_000_000
    failing, mixed = tmp_path / "failing", tmp_path / "mixed"
    for folder in (failing, mixed):
        folder.mkdir()
        (folder / "oversized.json").write_text(json.dumps(bad))
    (failing / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    shutil.copy(good, mixed / good.name)

    code, out = invoke(cli, "ingest", "--fhir", str(failing), *ENGINEER)
    assert code == 1 and out["fhir"]["outcome"] == "failed" and out["fhir"]["files"] == out["fhir"]["failed_files"] == 2
    fields = {Path(e["file"]).name: e["field"] for e in out["fhir"]["errors"]}
    assert fields == {"oversized.json": "entry[0].Patient.name[0].family", "broken.json": "json"}
    assert all("XXXX" not in e["message"] for e in out["fhir"]["errors"])

    code, out = invoke(cli, "ingest", "--fhir", str(mixed), *ENGINEER)
    assert code == 3 and out["fhir"]["outcome"] == "partial" and (out["fhir"]["files"], out["fhir"]["failed_files"]) == (2, 1)

    shutil.rmtree(mixed)
    mixed.mkdir()
    shutil.copy(good, mixed / good.name)
    code, out = invoke(cli, "ingest", "--fhir", str(mixed), *ENGINEER)
    assert code == 0 and out["fhir"]["outcome"] == "ok" and out["fhir"]["errors"] == []

    code, out = invoke(cli, "query", f"SELECT patient_id FROM patients WHERE patient_id IN ('pat-oversized', '{good_id}')")
    assert code == 0 and out["rows"] == [{"patient_id": good_id}], "a refused bundle writes nothing (its twin, same site, is there)"

    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = invoke(cli, "ingest", "--fhir", str(empty), *ENGINEER)
    assert code == 1 and out["fhir"]["outcome"] == "empty"
