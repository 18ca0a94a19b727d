"""`sagehealth generate-batch`: the JSONL contract, and the batch governed like a tool call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import batch
from core.settings import Settings
from policies.audit import AuditLog


@pytest.fixture
def cli(home: Settings) -> typer.Typer:
    app = typer.Typer()
    batch.register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer in multi-command mode
    return app


def _cases(settings: Settings, n: int) -> list[dict[str, str]]:
    from lakehouse.semantic import open_store

    points = [p for p in open_store(settings).scroll(limit=300) if p.payload.get("findings")][:n]
    return [{"id": p.case_id, "findings": p.payload["findings"]} for p in points]


def _run(cli: typer.Typer, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["generate-batch", *args, "--json"])
    return result.exit_code, json.loads(result.stdout[result.stdout.index("{") :])


def _split_and_consent(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    from lakehouse.query import QueryEngine

    rows = QueryEngine(settings).sql("SELECT r.report_id, r.split, p.consent FROM reports r JOIN patients p USING (patient_id)").records()
    return {r["report_id"]: r["split"] for r in rows}, {r["report_id"]: r["consent"] for r in rows}


def test_batch_never_retrieves_the_query_and_reports_bad_lines(cli, home: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    cases = _cases(home, 4)
    lines = [json.dumps(c) for c in cases[:2]] + ["{not json", json.dumps({"id": "X1"}), json.dumps(cases[2]), json.dumps({"id": "X2", "findings": " "})]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(src), "--out", str(out), "--mode", "retrieval-only", "--batch-size", "2", "--json"])
    assert result.exit_code == 3, result.output  # drafted, with lines skipped (as ingest's partial)
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert [e["line"] for e in summary["skipped"]] == [3, 4, 6]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [c["id"] for c in cases[:3]]
    for row in rows:
        assert set(row) == {"id", "impression", "retrieved"} and len(row["retrieved"]) == 3
        assert row["id"] not in row["retrieved"] and row["impression"]


def test_rag_generates_short_impressions(cli, home: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in _cases(home, 2)))
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(src), "--out", str(out), "--mode", "rag", "--k", "2", "--max-new-tokens", "12", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2 and all(len(r["retrieved"]) == 2 and r["id"] not in r["retrieved"] for r in rows)


def test_missing_input_fails_and_writes_nothing(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(tmp_path / "nope.jsonl"), "--out", str(out), "--json"])
    assert result.exit_code != 0 and "nope.jsonl" in result.stdout
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["home"]


def test_denied_role_exits_1_writes_nothing_and_is_audited(cli, home: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in _cases(home, 2)))
    code, error = _run(cli, "--in", str(src), "--out", str(out), "--mode", "retrieval-only", "--user", "aud-1", "--role", "auditor", "--purpose", "audit")
    assert code == 1 and "auditor" in error["error"] and error["type"] == "ActionDeniedError"
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["in.jsonl"]
    last = AuditLog(home.audit_path).entries()[-1]
    assert (last.actor, last.action, last.decision) == ("aud-1", "batch:generate", "deny") and last.details["items"] == 2

    code, error = _run(cli, "--in", str(src), "--out", str(out), "--role", "researcher")  # researcher without --purpose research
    assert code == 1 and "purpose" in error["error"] and not out.exists()


def test_researcher_gets_only_research_consented_train_cases_and_one_audit_event(cli, home: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    split, consent = _split_and_consent(home)
    pool = _cases(home, 100)
    cases = [c for c in pool if split[c["id"]] == "test"][:6] + [c for c in pool if split[c["id"]] == "train"][:6]
    assert len(cases) == 12, "the queries include test-split cases"
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in cases))
    before = len(AuditLog(home.audit_path).entries()) if home.audit_path.exists() else 0

    code, summary = _run(cli, "--in", str(src), "--out", str(out), "--mode", "retrieval-only", "--k", "5", "--batch-size", "4",
                         "--user", "res-1", "--role", "researcher", "--purpose", "research")
    assert code == 0, summary
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    retrieved = [case_id for r in rows for case_id in r["retrieved"]]
    assert [r["id"] for r in rows] == [c["id"] for c in cases] and retrieved
    assert all(consent[i] == "research" for i in retrieved), "researchers only get research-consented examples"
    assert all(split[i] == "train" for i in retrieved), "test-split cases are never retrieved"
    assert all(r["id"] not in r["retrieved"] for r in rows)

    entries = AuditLog(home.audit_path).entries()[before:]
    assert [(e.actor, e.action, e.decision) for e in entries] == [("res-1", "batch:generate", "ok")]
    details = entries[0].details
    assert details["items"] == 12 and details["written"] == 12 and details["access"]["consents"] == ["research"] and details["split"] == "train"
    assert details["ids"].startswith("sha256:") and cases[0]["findings"][:40] not in home.audit_path.read_text(), "ids fingerprinted, no texts"
    assert AuditLog(home.audit_path).verify().ok


def test_generated_impressions_are_redacted_before_they_are_written(cli, home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from agents.tasks import batch as engine
    from services import batch as service

    def leaky(resources, items, **kwargs):  # noqa: ANN001, ANN003, ANN202 - a model that echoes identifiers
        assert kwargs["base_filter"].split == "train"
        return [engine.BatchResult(id=i.id, impression=f"Cardiomegaly. Discussed with John Smith at (317) 555-0143 on {i.id}.", retrieved=[]) for i in items]

    monkeypatch.setattr(service, "generate_impressions", leaky)  # the model is not what this test is about
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "Q1", "findings": "Heart size is enlarged."}) + "\n")
    code, summary = _run(cli, "--in", str(src), "--out", str(out), "--mode", "no-rag")
    assert code == 0 and summary["redacted"] == 1, summary
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert "555-0143" not in row["impression"] and "John Smith" not in row["impression"] and "Cardiomegaly" in row["impression"]
    assert AuditLog(home.audit_path).entries()[-1].details["redacted"] == 1
