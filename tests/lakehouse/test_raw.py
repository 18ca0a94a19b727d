from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from lakehouse.raw.store import RawStore
from lakehouse.raw.tables import RowTypeError


def _report(rid: str, findings: str) -> dict[str, object]:
    return {"report_id": rid, "findings": findings, "mesh": ["normal"], "study_date": "2013-08-01", "split": "train"}


def test_append_is_idempotent_and_changes_become_new_versions(tmp_path: Path) -> None:
    store = RawStore(Settings(home=tmp_path))
    rows = [_report("CXR1", "Clear lungs."), _report("CXR2", "Small effusion.")]
    first = store.append("reports", rows, "a.xml", "b1")
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    again = store.append("reports", rows, "a.xml", "b2")
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2) and again.delta_version is None
    changed = store.append("reports", [_report("CXR1", "Clear lungs. Mild cardiomegaly.")], "a2.xml", "b3")
    assert (changed.new, changed.changed, changed.written_keys) == (0, 1, ["CXR1"])

    current = {r["report_id"]: r for r in store.scan("reports").to_pylist()}
    assert current["CXR1"]["findings"] == "Clear lungs. Mild cardiomegaly." and current["CXR1"]["_version"] == 2
    history = [r for r in store.scan("reports", history=True).to_pylist() if r["report_id"] == "CXR1"]
    assert sorted((r["_version"], r["findings"]) for r in history) == [(1, "Clear lungs."), (2, "Clear lungs. Mild cardiomegaly.")]
    assert {r["_source"] for r in history} == {"a.xml", "a2.xml"}
    assert store.current_versions("reports") == {"CXR1": 2, "CXR2": 1}
    # Time travel to the first Delta version still shows the original text.
    old = store.scan("reports", version=0).to_pylist()
    assert {r["findings"] for r in old if r["report_id"] == "CXR1"} == {"Clear lungs."}


def test_transaction_rolls_back_every_table_on_failure(tmp_path: Path) -> None:
    store = RawStore(Settings(home=tmp_path))
    store.append("reports", [_report("CXR1", "Clear lungs.")], "a.xml", "b1")
    before = store.table_versions()
    with pytest.raises(RowTypeError, match="patients.sensitivity"):
        with store.transaction():
            store.append("reports", [_report("CXR1", "Changed."), _report("CXR3", "New.")], "b.xml", "b2")
            store.append("encounters", [{"encounter_id": "E1", "patient_id": "P1", "start": "2020-01-01T10:00:00Z"}], "b.xml", "b2")
            store.append("patients", [{"patient_id": "P1", "sensitivity": "very"}], "b.xml", "b2")  # fails mid-batch
    assert store.table_versions()["encounters"] is None and not store.exists("encounters")
    assert {r["report_id"]: r["findings"] for r in store.scan("reports").to_pylist()} == {"CXR1": "Clear lungs."}
    assert store.current_versions("reports") == {"CXR1": 1}
    assert store.table_versions()["reports"] != before["reports"]  # the restore is itself an auditable commit


def test_types_are_pinned(tmp_path: Path) -> None:
    store = RawStore(Settings(home=tmp_path))
    store.append("encounters", [{"encounter_id": "E1", "patient_id": "P1", "start": "2020-01-01T10:00:00+02:00"}], "x", "b")
    row = store.scan("encounters").to_pylist()[0]
    assert row["start"].isoformat() == "2020-01-01T08:00:00+00:00"
    assert str(store.scan("reports").schema.field("mesh").type) == "list<item: string>"
    with pytest.raises(RowTypeError, match="unknown column"):
        store.append("reports", [{"report_id": "CXR1", "colour": "red"}], "x", "b")


_READ_AND_EXIT = """
import sys
from pathlib import Path
from core.settings import Settings
from lakehouse.raw.store import RawStore
rows = RawStore(Settings(home=Path(sys.argv[1]))).scan("reports", history=True).num_rows
assert rows == 40, rows
"""


def test_a_process_that_reads_a_table_exits_cleanly(tmp_path: Path) -> None:
    """A short command that reads the raw tier exits 0: deltalake's own reader aborted about half of them at exit (exit 134)."""
    import subprocess
    import sys

    store = RawStore(Settings(home=tmp_path))
    for batch in range(4):  # several Parquet files, read by several I/O threads
        store.append("reports", [_report(f"CXR{batch}{i}", f"Finding {i}.") for i in range(10)], f"{batch}.xml", f"b{batch}")
    codes = [subprocess.run([sys.executable, "-c", _READ_AND_EXIT, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
             for _ in range(12)]
    assert [(c.returncode, c.stderr[-300:]) for c in codes if c.returncode] == []
