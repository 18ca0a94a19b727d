"""A site imports its own interaction table; the interaction tool then answers from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import knowledge
from core.settings import Settings
from tools.base import ToolDeps
from tools.clinical import InteractionArgs, check_interactions

HEADER = "drug_a,drug_b,severity,mechanism,management,source\n"
SITE_ROW = "metformin,furosemide,minor,Furosemide raises metformin levels slightly,Monitor glucose,Site pharmacy bulletin 2026-04\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SAGE_HOME", str(tmp_path / "home"))
    return Settings(home=tmp_path / "home")


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    knowledge.register(app)
    app.command("noop")(lambda: None)
    return app


def _check(settings: Settings, current: list[str], proposed: str) -> list[dict]:
    deps = ToolDeps(settings=settings, user="dr-k", role="clinician", purpose="treatment")
    return check_interactions(deps, InteractionArgs(current=current, proposed=proposed)).interactions


def test_imported_pair_is_found_and_audited(cli: typer.Typer, home: Settings, tmp_path: Path) -> None:
    assert _check(home, ["metformin"], "furosemide") == []
    src = tmp_path / "site.csv"
    src.write_text(HEADER + SITE_ROW)

    result = CliRunner().invoke(cli, ["knowledge", "import-interactions", str(src), "--name", "pharmacy", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1

    found = _check(home, ["Glucophage"], "Lasix")  # brand names resolve to the site's generic row
    assert [(f.drug_a, f.drug_b, f.severity, f.source) for f in found] == [("metformin", "furosemide", "minor", "Site pharmacy bulletin 2026-04")]
    assert _check(home, ["simvastatin"], "clarithromycin"), "shipped pairs still answer"

    listed = json.loads(CliRunner().invoke(cli, ["knowledge", "interactions", "--json"]).stdout)
    assert [t["table"] for t in listed] == ["shipped", "pharmacy"]
    audit = [json.loads(line) for line in home.audit_path.read_text().splitlines()]
    assert [(e["action"], e["resource"], e["decision"]) for e in audit] == [("knowledge:import-interactions", "pharmacy", "allow"), ("knowledge:list", "interaction-tables", "allow")]


def test_bad_table_names_the_row_and_installs_nothing(cli: typer.Typer, home: Settings, tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(HEADER + SITE_ROW + "warfarin,aspirin,deadly,x,y,z\n")
    result = CliRunner().invoke(cli, ["knowledge", "import-interactions", str(src), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert "row 3" in error["error"] and "severity" in error["error"] and "major" in error["hint"]
    assert not home.interactions_dir.exists() or not any(home.interactions_dir.iterdir())


@pytest.mark.parametrize(("role", "purpose"), [("researcher", "research"), ("auditor", "audit")])
def test_roles_without_import_interactions_are_denied_and_audited(cli: typer.Typer, home: Settings, tmp_path: Path, role: str, purpose: str) -> None:
    src = tmp_path / "site.csv"
    src.write_text(HEADER + SITE_ROW)
    result = CliRunner().invoke(cli, ["knowledge", "import-interactions", str(src), "--name", "pharmacy", "--user", "u-1", "--role", role, "--purpose", purpose, "--json"])
    assert result.exit_code == 1 and role in json.loads(result.stdout)["error"]
    assert not home.interactions_dir.exists() or not any(home.interactions_dir.iterdir())
    assert _check(home, ["metformin"], "furosemide") == []
    (entry,) = [json.loads(line) for line in home.audit_path.read_text().splitlines()]
    assert (entry["actor"], entry["action"], entry["resource"], entry["decision"]) == ("u-1", "knowledge:import-interactions", "pharmacy", "deny")
    assert entry["details"]["rule"] == f"roles.{role}.allowed_tools"


def test_data_engineer_may_import(cli: typer.Typer, home: Settings, tmp_path: Path) -> None:
    src = tmp_path / "site.csv"
    src.write_text(HEADER + SITE_ROW)
    result = CliRunner().invoke(cli, ["knowledge", "import-interactions", str(src), "--role", "data_engineer", "--purpose", "operations", "--json"])
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line)["decision"] for line in home.audit_path.read_text().splitlines()]
    assert decisions == ["allow"], "one audit event: the gate's decision, written before the table is installed"
