"""Many processes, one SAGE_HOME: four `sagehealth run report` and an ingest at the same time.

Real CLI processes on a copy of the small lakehouse: every run finishes, the ingest lands, and
nothing is lost (the shard is leased between the processes, lakehouse/semantic/shared.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings
from tests.homes import copy_home

FINDINGS = ["The heart is enlarged.", "Small right pleural effusion.", "Lungs are clear. No pneumothorax.", "Right lower lobe opacity."]
REPORT = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="{id}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="FINDINGS">Heart size normal. Lungs clear. Case {id}.</AbstractText>
<AbstractText Label="IMPRESSION">No acute disease.</AbstractText>
</Abstract></Article></MedlineCitation></eCitation>
"""


def test_four_report_runs_and_an_ingest_share_one_home(small_lakehouse: Settings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    copy_home(small_lakehouse.home, home)
    reports = tmp_path / "reports"
    reports.mkdir()
    new_ids = [f"CXR99{i:04d}" for i in range(20)]
    for case in new_ids:
        (reports / f"{case}.xml").write_text(REPORT.format(id=case), encoding="utf-8")
    env = {**os.environ, "SAGE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "app.cli"]
    runs = [
        subprocess.Popen([*cli, "run", "report", "--input", json.dumps({"findings": f, "mode": "retrieval-only"}), "--json", "--role", "clinician", "--purpose", "treatment"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for f in FINDINGS
    ]
    ingest = subprocess.Popen([*cli, "ingest", "--reports", str(reports), "--json", "--role", "data_engineer", "--purpose", "operations"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=900) for p in [*runs, ingest]]
    for proc, (_, err) in zip([*runs, ingest], outputs, strict=True):
        assert proc.returncode in (0, 2), err[-1500:]  # 2: the run finished in review or was denied; never a crash
        assert "locked by another process" not in err
    results = [json.loads(out) for out, _ in outputs[:4]]
    assert all(r["status"] in ("done", "review") and r["evidence_ids"] for r in results), [r["status"] for r in results]
    report = json.loads(outputs[4][0])["reports"]
    assert report["tables"]["reports"]["new"] == len(new_ids) and report["points_upserted"] == len(new_ids)

    from lakehouse.semantic import open_store

    store = open_store(Settings(home=home))
    try:
        assert {p.case_id for p in store.retrieve(new_ids)} == set(new_ids), "every ingested case reached the shard"
    finally:
        store.close()
