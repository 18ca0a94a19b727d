"""`sagehealth demo` end to end on a copy of the small real lakehouse: a traced `rag` report run, explained."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import demo
from core.settings import Settings


@pytest.fixture
def cli(home: Settings) -> typer.Typer:
    # No saved planner (a copy has no models folder of its own): the demo's first rag run fits
    # one for this home, as after an older ingest.
    app = typer.Typer()
    demo.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `demo` a named subcommand
    return app


def test_demo_drafts_explains_and_traces(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["demo"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "(test split)" in out and "drafted by: retrieve-then-edit" in out and "no adapter used" in out
    assert "impression plan: states " in out and "radiologist's impression (reference" in out
    assert "invoke_agent data" in out and "execute_tool retrieve_similar_cases" in out  # the trace tree
    assert list((Path(os.environ["SAGE_HOME"]) / "models" / "impression-planner").glob("*.json"))  # fitted once, saved


def test_demo_json_carries_the_plan_and_the_citations(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    output, evidence = data["result"]["output"], data["result"]["evidence"]
    assert output["mode"] == "rag" and output["model"] == "retrieve-edit-v3" and output["citations"]
    assert data["case_id"] not in [c["case_id"] for c in output["citations"]]  # never its own evidence
    assert set(evidence["edit"]["target"]) and evidence["edit"]["base_case_id"] == output["citations"][0]["case_id"]
