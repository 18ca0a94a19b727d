"""The hash-chained audit log: appends, tamper and deletion detection, concurrency, the CLI."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from policies.audit import GENESIS, AuditEvent, AuditLog


def event(i: int) -> AuditEvent:
    return AuditEvent(actor="dr-a", action="tool:search_cases", resource=f"CXR{i}", decision="allow", run_id="run-1", details={"hits": i})


def filled(tmp_path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    for i in range(n):
        log.append(event(i))
    return log


def test_append_chains_entries(tmp_path: Path) -> None:
    log = filled(tmp_path)
    entries = log.entries()
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert log.head() == entries[-1].hash
    assert log.verify().model_dump() == {"ok": True, "entries": 5, "first_bad_seq": None, "reason": None}


def test_tampered_line_fails_naming_its_seq(tmp_path: Path) -> None:
    log = filled(tmp_path)
    lines = log.path.read_text().splitlines()
    row = json.loads(lines[2])
    row["decision"] = "deny"
    lines[2] = json.dumps(row)
    log.path.write_text("\n".join(lines) + "\n")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2 and "altered" in (result.reason or "")


def test_deleted_line_fails(tmp_path: Path) -> None:
    log = filled(tmp_path)
    lines = log.path.read_text().splitlines()
    del lines[1]
    log.path.write_text("\n".join(lines) + "\n")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 1 and "missing" in (result.reason or "")


def test_garbage_line_fails(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    with log.path.open("a") as fh:
        fh.write("not json\n")
    assert log.verify().first_bad_seq == 3


def test_events_refuse_raw_text() -> None:
    with pytest.raises(ValidationError, match="fingerprint"):
        AuditEvent(actor="a", action="output", resource="x" * 300, decision="allow")
    with pytest.raises(ValidationError, match="details.draft"):
        AuditEvent(actor="a", action="output", resource="r", decision="allow", details={"draft": "Patient John Smith ... " * 20})


def test_concurrent_threads(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    threads = [threading.Thread(target=lambda: [log.append(event(i)) for i in range(20)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.verify().ok and log.verify().entries == 80


def _append_from_process(path: str) -> None:
    log = AuditLog(path)
    for i in range(15):
        log.append(event(i))


def test_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_from_process, args=(path,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result = AuditLog(path).verify()
    assert result.ok and result.entries == 45


def test_cli_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from app.commands.audit import register
    from core.settings import Settings

    monkeypatch.setenv("SAGE_HOME", str(tmp_path))
    app = typer.Typer()
    register(app)
    log = filled(tmp_path)
    assert log.path == Settings(home=tmp_path).audit_path
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["entries"] == 5
    lines = log.path.read_text().splitlines()
    lines[3] = lines[3].replace('"allow"', '"deny"')
    log.path.write_text("\n".join(lines) + "\n")
    bad = runner.invoke(app, ["audit", "verify", "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad_seq"] == 3
    human = runner.invoke(app, ["audit", "verify"])
    assert human.exit_code == 1 and "seq 3" in human.output
