"""``sagehealth keys create --json`` prints the new key once as ``{"key": ...}``, and that key authenticates its caller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import keys
from core.settings import Settings
from services.base import Caller
from services.keys import authenticate
from tools.resources import Resources

ADMIN = ["--role", "admin", "--purpose", "operations"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SAGE_HOME", str(tmp_path / "home"))
    return Settings(home=tmp_path / "home")


def test_a_created_key_is_printed_once_and_authenticates(home: Settings) -> None:
    app = typer.Typer()
    keys.register(app)
    made = CliRunner().invoke(app, ["keys", "create", "--for-user", "dr-lee", "--for-role", "clinician", "--for-purpose", "treatment", *ADMIN, "--json"])
    assert made.exit_code == 0, made.stdout
    printed = json.loads(made.stdout)
    assert printed["key"] == printed["secret"] and printed["key"].startswith("sk-sage-")
    assert authenticate(Resources(home), printed["key"]) == Caller(user="dr-lee", role="clinician", purpose="treatment")
    listed = CliRunner().invoke(app, ["keys", "list", *ADMIN, "--json"])
    assert listed.exit_code == 0 and printed["key"] not in listed.stdout and [k["id"] for k in json.loads(listed.stdout)] == [printed["id"]]

    denied = CliRunner().invoke(app, ["keys", "create", "--for-user", "x", "--for-role", "clinician", "--for-purpose", "treatment",
                                      "--role", "clinician", "--purpose", "treatment", "--json"])
    assert denied.exit_code == 1 and "error" in json.loads(denied.stdout)
