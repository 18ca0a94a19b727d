"""`sagehealth feedback` holds a high-impact correction for a second reviewer; `feedback pending|approve|reject` decide it.

Corrections are made in both spellings: ``feedback CASE --set ...`` and ``feedback --case CASE --set ...``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from app.commands import feedback
from core.settings import Settings
from lakehouse.semantic import open_store

SUBMITTER = ("--user", "dr-a", "--role", "clinician", "--purpose", "treatment")
REVIEWER = ("--user", "dr-b", "--role", "radiologist", "--purpose", "quality")


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    feedback.register(app)
    return app


def run(cli: typer.Typer, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_a_held_correction_is_approved_or_rejected_from_the_command_line(cli: typer.Typer, home: Settings) -> None:
    first, second = [p.case_id for p in open_store(home).scroll(limit=100) if "pneumothorax" not in (p.payload.get("labels") or {})][:2]
    code, held = run(cli, "feedback", first, "--set", "pneumothorax=present", "--reason", "apical pneumothorax", *SUBMITTER)
    assert code == 0 and held["status"] == "needs_review", held
    text = CliRunner().invoke(cli, ["feedback", "--case", second, "--set", "pneumothorax=present", "--reason", "apical pneumothorax", *SUBMITTER])
    assert text.exit_code == 0 and "needs_review" in text.stdout
    other = text.stdout.split("held as ", 1)[1].split(";", 1)[0]
    assert f"sagehealth feedback approve {other}" in text.stdout  # what the second reviewer runs

    code, waiting = run(cli, "feedback", "pending", *REVIEWER)
    assert code == 0 and {c["event_id"] for c in waiting["corrections"]} == {held["event_id"], other}
    code, only = run(cli, "feedback", "pending", "--case", first, *REVIEWER)
    assert code == 0 and [c["event_id"] for c in only["corrections"]] == [held["event_id"]]
    code, denied = run(cli, "feedback", "pending", "--user", "r1", "--role", "researcher", "--purpose", "research")
    assert code == 1 and "may not update labels" in denied["error"]

    code, refused = run(cli, "feedback", "approve", held["event_id"], *SUBMITTER)
    assert code == 1 and refused["type"] == "ReviewRefusedError" and "another user" in refused["error"]
    code, approved = run(cli, "feedback", "approve", held["event_id"], "--note", "agree", *REVIEWER)
    assert code == 0 and approved["approved"] and approved["result"]["labels"]["pneumothorax"] == "present", approved
    code, history = run(cli, "labels", "history", first, *REVIEWER)
    assert code == 0 and (history[-1]["event_id"], history[-1]["reviewer"]) == (held["event_id"], "dr-b")

    code, rejected = run(cli, "feedback", "reject", other, "--note", "skin fold", *REVIEWER)
    assert code == 0 and rejected["approved"] is False and rejected["label_version"] is None
    assert "pneumothorax" not in (open_store(home).retrieve([second])[0].payload.get("labels") or {})
    code, again = run(cli, "feedback", "reject", other, *REVIEWER)
    assert code == 1 and "not pending review" in again["error"]
    code, waiting = run(cli, "feedback", "pending", *REVIEWER)
    assert waiting["corrections"] == []
