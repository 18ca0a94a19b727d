"""Kill -9 a real run mid-node, then resume it on the same thread from the SQLite checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from graph_probe import caller
from langgraph.checkpoint.sqlite import SqliteSaver

from core.settings import Settings
from graphs.clinical import build_graph
from services.runs import resume
from tests.homes import copy_home
from tools.resources import Resources

PROBE_SCRIPT = Path(__file__).with_name("graph_probe.py")


def _next_nodes(settings: Settings, thread: str) -> tuple[str, ...]:
    if not settings.checkpoints_path.exists():
        return ()
    with SqliteSaver.from_conn_string(str(settings.checkpoints_path)) as saver:
        return tuple(build_graph(saver).get_state({"configurable": {"thread_id": thread}}).next)


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint(small_lakehouse: Settings, tmp_path: Path, probe: str) -> None:
    settings = Settings(home=copy_home(small_lakehouse.home, tmp_path / "home"), checkpointer="sqlite")
    thread = "thread-crash"
    env = {**os.environ, "SAGE_TEST_SLEEP_NODE": "model:120", "PYTHONPATH": os.pathsep.join([str(PROBE_SCRIPT.parent), str(PROBE_SCRIPT.parents[2])])}
    proc = subprocess.Popen([sys.executable, str(PROBE_SCRIPT), str(settings.home), thread], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _next_nodes(settings, thread) != ("model",):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never reached the model node"
            time.sleep(0.3)
        time.sleep(1.0)  # the model node is now sleeping inside its span
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    result = resume(Resources.for_settings(settings), caller("dr-probe", "clinician"), thread)
    assert result.status == "done", result.error
    calls = [c["tool"] for c in result.tool_calls]
    assert calls.count("retrieve_similar_cases") == 1, "finished nodes are not re-run"
    assert calls.count("generate_text") == 1 and result.output["citations"] == result.evidence_ids
    json.dumps(result.model_dump(mode="json"))
