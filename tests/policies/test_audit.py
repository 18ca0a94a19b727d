"""The keyed audit chain: appends, every tampering form an attacker without the key can try, anchors, the CLI."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from core.settings import Settings
from policies.audit import GENESIS, AuditAnchor, AuditEvent, AuditFormatError, AuditLog
from policies.audit_chain import canonical
from policies.audit_key import AuditKeyError, key_id


def event(i: int, decision: str = "allow") -> AuditEvent:
    return AuditEvent(actor="dr-a", action="tool:search_cases", resource=f"CXR{i}", decision=decision, run_id="run-1", details={"hits": i})


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "audit.key"


def filled(tmp_path: Path, key_file: Path, n: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "home" / "audit" / "audit.jsonl", key_file=key_file)
    for i in range(n):
        log.append(event(i))
    return log


def rows(log: AuditLog) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def write(log: AuditLog, data: list[dict]) -> None:
    log.path.write_text("".join(canonical(r) + "\n" for r in data))


def rechain(data: list[dict], mac_of) -> list[dict]:
    """What an attacker does after an edit: recompute every link and MAC from the edit on."""
    prev = GENESIS
    out = []
    for r in data:
        body = {k: v for k, v in r.items() if k != "mac"} | {"prev_mac": prev}
        mac = mac_of(body)
        out.append(body | {"mac": mac})
        prev = mac
    return out


def sha_chain(body: dict) -> str:
    return hashlib.sha256((body["prev_mac"] + canonical(body)).encode()).hexdigest()


def test_append_chains_entries_with_seq_and_key(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    entries = log.entries()
    assert [e.seq for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0].prev_mac == GENESIS and all(b.prev_mac == a.mac for a, b in zip(entries, entries[1:], strict=False))
    assert {e.key_id for e in entries} == {key_id(log.key())}
    assert log.head() == entries[-1].mac
    result = log.verify()
    assert result.ok and result.entries == 5 and result.head_seq == 4 and result.checked_head and result.problem is None


def test_key_file_created_owner_only_and_reused(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file, 1)
    assert key_file.is_file() and (key_file.stat().st_mode & 0o777) == 0o600
    assert AuditLog(log.path, key_file=key_file).verify().ok  # a second process reads the same key


def test_tests_never_use_the_real_home_key() -> None:
    assert not str(Settings().audit_key_file).startswith(str(Path.home() / ".config"))


def test_edited_decision_is_detected_at_its_line(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    data = rows(log)
    data[2]["decision"] = "deny"
    write(log, data)
    result = log.verify()
    assert not result.ok and result.problem is not None
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (3, 2, "mac") and "altered" in result.problem.reason


@pytest.mark.parametrize("attacker", ["sha256", "own-hmac-key"])
def test_edit_and_rechain_is_detected(tmp_path: Path, key_file: Path, attacker: str) -> None:
    """Re-chaining every later entry (what defeated the v1 chain) cannot produce valid MACs."""
    import hmac

    log = filled(tmp_path, key_file)
    data = rows(log)
    data[1]["decision"] = "deny"
    mac_of = sha_chain if attacker == "sha256" else (lambda body: hmac.new(b"attacker-guess" * 3, canonical(body).encode(), "sha256").hexdigest())
    write(log, data[:1] + rechain(data, mac_of)[1:])
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (2, 1, "mac")


def test_forged_append_is_detected(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    data = rows(log)
    forged = {k: v for k, v in data[-1].items() if k != "mac"} | {"seq": 5, "prev_mac": data[-1]["mac"], "decision": "allow", "resource": "CXR999"}
    with log.path.open("a") as fh:
        fh.write(canonical(forged | {"mac": sha_chain(forged)}) + "\n")
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (6, 5, "mac")


def test_deleted_last_record_detected_without_anchor(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    write(log, rows(log)[:-1])
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (5, 4, "truncated")
    assert "removed from the end" in result.problem.reason


def test_deleted_last_record_and_head_record_detected(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    write(log, rows(log)[:-1])
    log.head_path.unlink()
    result = log.verify()
    assert not result.ok and result.problem.kind == "head" and "missing" in result.problem.reason


def test_rollback_of_log_and_head_needs_an_exported_anchor(tmp_path: Path, key_file: Path) -> None:
    """The documented limit: a consistent older copy of log + head verifies on its own; the anchor catches it."""
    log = filled(tmp_path, key_file, 3)
    saved_log, saved_head = log.path.read_bytes(), log.head_path.read_bytes()
    log.append(event(3, "deny"))
    log.append(event(4, "deny"))
    anchor = AuditAnchor.model_validate_json(log.anchor().model_dump_json())  # exported and read back
    log.path.write_bytes(saved_log)
    log.head_path.write_bytes(saved_head)
    assert log.verify().ok  # without the anchor the rollback is invisible (docs/governance.md)
    result = log.verify(anchor)
    assert not result.ok and result.checked_anchor and (result.problem.line, result.problem.seq, result.problem.kind) == (4, 3, "truncated")


def test_anchor_still_verifies_after_later_appends(tmp_path: Path, key_file: Path) -> None:
    from policies.audit import read_anchor

    log = filled(tmp_path, key_file, 3)
    exported = tmp_path / "elsewhere" / "anchor.json"
    exported.parent.mkdir()
    exported.write_text(log.anchor().model_dump_json())
    anchor = read_anchor(exported)
    with pytest.raises(AuditFormatError, match="not a readable audit anchor"):
        read_anchor(tmp_path / "missing.json")
    assert (anchor.seq, anchor.mac, anchor.log) == (2, log.head(), "audit.jsonl") and anchor.time
    log.append(event(9))
    result = log.verify(anchor)
    assert result.ok and result.checked_anchor and result.entries == 4


def test_forged_anchor_refused(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file, 3)
    forged = log.anchor().model_copy(update={"seq": 1})
    result = log.verify(forged)
    assert not result.ok and result.problem.kind == "anchor" and "signature" in result.problem.reason


def test_rebuilt_log_detected_against_anchor(tmp_path: Path, key_file: Path) -> None:
    """Another valid log under the same key (e.g. a sibling worker's) copied over this one."""
    log = filled(tmp_path, key_file, 3)
    anchor = log.anchor()
    other = AuditLog(tmp_path / "other" / "audit.jsonl", key_file=key_file)
    for i in range(4):
        other.append(event(100 + i))
    shutil.copy(other.path, log.path)
    shutil.copy(other.head_path, log.head_path)
    result = log.verify(anchor)
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (3, 2, "rewritten")


def test_deleted_middle_line_detected(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    data = rows(log)
    del data[1]
    write(log, data)
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (2, 2, "sequence") and "removed" in result.problem.reason


def test_reordered_lines_detected(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    data = rows(log)
    data[2], data[3] = data[3], data[2]
    write(log, data)
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (3, 3, "sequence")


def test_truncated_to_empty_detected(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file)
    log.path.write_text("")
    result = log.verify()
    assert not result.ok and (result.problem.line, result.problem.seq, result.problem.kind) == (1, 0, "truncated")


def test_garbage_line_fails(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file, 3)
    with log.path.open("a") as fh:
        fh.write("not json\n")
    result = log.verify()
    assert result.first_bad_seq == 3 and result.problem.kind == "malformed" and result.problem.line == 4
    with pytest.raises(AuditFormatError, match="last line"):
        log.append(event(4))


def test_wrong_key_named(tmp_path: Path, key_file: Path) -> None:
    log = filled(tmp_path, key_file, 2)
    other = AuditLog(log.path, key_file=tmp_path / "elsewhere" / "other.key")
    other.key()  # create a different key
    result = other.verify()
    assert not result.ok and result.problem.kind == "key" and "another key" in result.problem.reason


def test_key_problems_are_clear_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.raises(AuditKeyError, match="inside SAGE_HOME"):
        AuditLog.from_settings(Settings(home=home, audit_key_file=home / "audit.key"))
    (tmp_path / "dir.key").mkdir()
    with pytest.raises(AuditKeyError, match="cannot be read"):
        AuditLog(tmp_path / "logs" / "a.jsonl", key_file=tmp_path / "dir.key").append(event(0))
    loose = tmp_path / "loose.key"
    loose.write_text("ab" * 32)
    os.chmod(loose, 0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        AuditLog(tmp_path / "logs" / "a.jsonl", key_file=loose).append(event(0))
    with pytest.raises(AuditKeyError, match="inside SAGE_HOME"):
        AuditLog(tmp_path / "a.jsonl", key_file=tmp_path / "beside.key").append(event(0))  # next to the log it protects
    missing = AuditLog(tmp_path / "logs" / "b.jsonl", key_file=tmp_path / "none.key")
    assert missing.verify().ok  # nothing written, nothing to prove
    assert not (tmp_path / "none.key").exists(), "verification never mints a key"


def test_from_settings_uses_key_outside_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", audit_key_file=tmp_path / "cfg" / "audit.key")
    log = AuditLog.from_settings(settings)
    log.append(event(0))
    assert log.path == settings.audit_path and (tmp_path / "cfg" / "audit.key").is_file() and log.verify().ok


def _write_v1(path: Path, n: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    prev = GENESIS
    with path.open("w") as fh:
        for i in range(n):
            body = {**event(i).model_dump(mode="json"), "seq": i, "time": "2025-01-01T00:00:00+00:00", "prev_hash": prev}
            h = hashlib.sha256((prev + canonical(body)).encode()).hexdigest()
            fh.write(canonical(body | {"hash": h}) + "\n")
            prev = h
    return prev


def test_unkeyed_v1_log_named_and_migrated(tmp_path: Path, key_file: Path) -> None:
    from policies.audit_legacy import migrate_legacy_log, verify_legacy

    log = AuditLog(tmp_path / "audit" / "audit.jsonl", key_file=key_file)
    head = _write_v1(log.path, 3)
    result = log.verify()
    assert not result.ok and result.problem.kind == "legacy" and "sagehealth audit migrate" in result.problem.reason
    with pytest.raises(AuditFormatError, match="unkeyed"):
        log.append(event(9))
    assert verify_legacy(log.path).ok
    report = migrate_legacy_log(log)
    assert report.legacy.ok and report.legacy.entries == 3 and report.legacy.head_hash == head
    assert verify_legacy(report.archived_to).ok and log.verify().ok
    first = log.entries()[0]
    assert first.action == "audit:migrate" and first.details["legacy_head"] == head and first.details["legacy_entries"] == 3


def test_events_refuse_raw_text() -> None:
    with pytest.raises(ValidationError, match="fingerprint"):
        AuditEvent(actor="a", action="output", resource="x" * 300, decision="allow")
    with pytest.raises(ValidationError, match="details.draft_text"):
        AuditEvent(actor="a", action="output", resource="r", decision="allow", details={"draft_text": "Patient John Smith ... " * 20})


def test_error_and_sql_details_are_redacted_before_writing(tmp_path: Path, key_file: Path) -> None:
    from policies.redact import error_record

    log = AuditLog(tmp_path / "audit.jsonl", key_file=key_file)
    try:
        raise KeyError("John Smith MRN0012345")
    except KeyError as exc:
        record = error_record(exc)
    log.append(AuditEvent(actor="dr-a", action="tool:query_records", resource="query_records", decision="error", details={
        "error": "ToolError: patient John Smith MRN0012345 not found",
        "nested": {"message": "call 555-0100 for Mr Smith"},
        "exc": record,
        "sql": "SELECT given_name FROM patients WHERE mrn = 'MRN0012345' -- for John Smith",
    }))
    text = log.path.read_text() + log.head_path.read_text()
    for secret in ("John", "Smith", "MRN0012345", "555-0100"):
        assert secret not in text
    details = log.entries()[0].details
    assert details["exc"]["type"] == "KeyError" and details["error"].startswith("sha256:")
    assert details["sql"].endswith("SELECT given_name FROM patients WHERE mrn = ?")
    assert log.verify().ok


def test_concurrent_threads(tmp_path: Path, key_file: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", key_file=key_file)
    threads = [threading.Thread(target=lambda: [log.append(event(i)) for i in range(20)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = log.verify()
    assert result.ok and result.entries == 80


def _append_from_process(path: str, key_path: str) -> None:
    log = AuditLog(path, key_file=key_path)
    for i in range(15):
        log.append(event(i))


def test_concurrent_processes_share_one_new_key(tmp_path: Path, key_file: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_from_process, args=(path, str(key_file))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result = AuditLog(path, key_file=key_file).verify()
    assert result.ok and result.entries == 45


def test_cli_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from app.commands.audit import register

    monkeypatch.setenv("SAGE_HOME", str(tmp_path))
    app = typer.Typer()
    register(app)
    log = AuditLog(Settings(home=tmp_path).audit_path)  # key from SAGE_AUDIT_KEY_FILE (a temp file in tests)
    for i in range(5):
        log.append(event(i))
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["entries"] == 6, "the five events and the audited check itself"
    lines = log.path.read_text().splitlines()
    lines[3] = lines[3].replace('"allow"', '"deny"')
    log.path.write_text("\n".join(lines) + "\n")
    bad = runner.invoke(app, ["audit", "verify", "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad_seq"] == 3
    human = runner.invoke(app, ["audit", "verify"])
    assert human.exit_code == 1 and "seq 3" in human.output
