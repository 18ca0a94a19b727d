"""``--role ""`` and ``--purpose ""`` at the command line are denied and audited, never defaulted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import knowledge
from core.settings import Settings
from policies.audit import AuditLog

CSV = "drug_a,drug_b,severity,mechanism,management,source\nmetformin,furosemide,minor,x,Monitor glucose,Site bulletin\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SAGE_HOME", str(tmp_path / "home"))
    return Settings(home=tmp_path / "home")


@pytest.mark.parametrize(("flags", "why"), [(["--role", ""], "no role"), (["--purpose", ""], "no purpose"), (["--user", ""], "no user")])
def test_empty_identity_options_are_denied(home: Settings, tmp_path: Path, flags: list[str], why: str) -> None:
    app = typer.Typer()
    knowledge.register(app)
    app.command("noop")(lambda: None)
    src = tmp_path / "site.csv"
    src.write_text(CSV)
    result = CliRunner().invoke(app, ["knowledge", "import-interactions", str(src), "--json", *flags])
    assert result.exit_code == 1 and why in json.loads(result.stdout)["error"]
    assert not home.interactions_dir.exists() or not any(home.interactions_dir.iterdir())
    (entry,) = AuditLog(home.audit_path).entries()
    assert entry.decision == "deny" and entry.details["rule"] == "identity"
    assert AuditLog(home.audit_path).verify().ok
