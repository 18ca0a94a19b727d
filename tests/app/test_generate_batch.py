from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.commands import batch
from core.settings import Settings


@pytest.fixture
def cli(small_lakehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    target, cached = small_lakehouse.models_dir / "smollm2-135m", Path("/tmp/sage-models/smollm2-135m")
    if not target.exists() and (cached / "config.json").is_file():  # reuse the machine's dequantized copy
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(cached, target_is_directory=True)
    monkeypatch.setenv("SAGE_HOME", str(small_lakehouse.home))
    app = typer.Typer()
    batch.register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer in multi-command mode
    return app


def _cases(settings: Settings, n: int) -> list[dict[str, str]]:
    from lakehouse.semantic import open_store

    points = [p for p in open_store(settings).scroll(limit=300) if p.payload.get("findings")][:n]
    return [{"id": p.case_id, "findings": p.payload["findings"]} for p in points]


def test_batch_never_retrieves_the_query_and_reports_bad_lines(cli, small_lakehouse: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    cases = _cases(small_lakehouse, 4)
    lines = [json.dumps(c) for c in cases[:2]] + ["{not json", json.dumps({"id": "X1"}), json.dumps(cases[2]), json.dumps({"id": "X2", "findings": " "})]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(src), "--out", str(out), "--mode", "retrieval-only", "--batch-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert [e["line"] for e in summary["skipped"]] == [3, 4, 6]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [c["id"] for c in cases[:3]]
    for row in rows:
        assert set(row) == {"id", "impression", "retrieved"} and len(row["retrieved"]) == 3
        assert row["id"] not in row["retrieved"] and row["impression"]


def test_rag_generates_short_impressions(cli, small_lakehouse: Settings, tmp_path: Path) -> None:  # noqa: ANN001
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in _cases(small_lakehouse, 2)))
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(src), "--out", str(out), "--mode", "rag", "--k", "2", "--max-new-tokens", "12", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2 and all(len(r["retrieved"]) == 2 and r["id"] not in r["retrieved"] for r in rows)


def test_missing_input_fails_and_writes_nothing(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["generate-batch", "--in", str(tmp_path / "nope.jsonl"), "--out", str(out), "--json"])
    assert result.exit_code != 0 and "nope.jsonl" in result.stdout
    assert not out.exists() and list(tmp_path.iterdir()) == []
