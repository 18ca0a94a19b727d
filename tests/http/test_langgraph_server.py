"""The real LangGraph server: ``langgraph dev`` from ``langgraph.json``, driven with ``langgraph_sdk``.

The server is started as users start it (``langgraph dev --no-browser``, the project's auth
handler from ``langgraph.json``) on a free port of 127.0.0.1, over a writable copy of the small
lakehouse with real API keys. It checks the doors the issue found open: a review approved
through the server by a role that may not review, the chat graph's standard input, and a
request without a key.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import AuthenticationError

from core.settings import Settings
from policies.audit import AuditLog
from tests.servers import free_port, stop

REPO = Path(__file__).resolve().parents[2]
# langgraph-api pins older grpcio/protobuf/jsonschema-rs than the dev venv holds, so `make test-all`
# installs the server into its own folder (`make server-overlay`, part of `make test`) that only the server process sees.
OVERLAY = Path(os.environ.get("SAGE_SERVER_OVERLAY", REPO / ".venv" / "server-overlay"))


def _server_path() -> list[str]:
    """What the server process needs in front of sys.path: nothing when the venv has it, else the overlay."""
    from importlib.util import find_spec

    if find_spec("langgraph_api") is not None:
        return []
    if (OVERLAY / "langgraph_api").is_dir():
        return [str(OVERLAY)]
    pytest.skip(f"langgraph-cli[inmem] is in neither the venv nor {OVERLAY} (make server-overlay, or pip install 'sagehealth[server]')")
UNCERTAIN = "Possible small right pleural effusion. Heart size normal."
WHO = {"clinician": ("dr-srv", "clinician", "treatment"), "researcher": ("res-srv", "researcher", "research")}
# Variables that would make the client or the server talk to a hosted service, or authenticate for us.
_OUTSIDE = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGGRAPH_API_KEY", "LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT")


@pytest.fixture(scope="module")
def served(home_copy: Callable[[Path], Settings], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, dict[str, str]]]:
    """``langgraph dev`` on a free port over a copy of the small lakehouse; yields (url, settings, keys by role)."""
    from services.keys import KeyStore

    settings = home_copy(tmp_path_factory.mktemp("lgserver") / "home")
    keys = {name: KeyStore(settings.home / "keys.json").create(*who).secret for name, who in WHO.items()}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
    env.update({
        "SAGE_HOME": str(settings.home), "PYTHONPATH": os.pathsep.join([*_server_path(), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false",
    })
    workdir = tmp_path_factory.mktemp("lgserver-log")
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_cli", "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port), "--config", str(REPO / "langgraph.json")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,  # cwd as users run it: langgraph.json's auth path is relative to it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (workdir / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("langgraph dev did not answer /ok within 120 s:\n" + (workdir / "server.log").read_text()[-3000:])
        yield url, settings, keys
    finally:
        stop(proc)
        log.close()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_review_through_the_server_needs_the_review_right(served: tuple[str, Settings, dict[str, str]]) -> None:
    url, settings, keys = served

    async def scenario() -> tuple[Any, ...]:
        clinician, researcher = get_client(url=url, api_key=keys["clinician"]), get_client(url=url, api_key=keys["researcher"])
        thread = (await clinician.threads.create())["thread_id"]
        await clinician.runs.wait(thread, "clinical", input={"request": {"task": "report", "input": {"findings": UNCERTAIN}, "text": ""}})
        paused = await clinician.threads.get_state(thread)
        refused = await researcher.runs.wait(thread, "clinical", command={"resume": {"action": "approve", "note": "looks fine"}})
        still = await clinician.threads.get_state(thread)
        approved = await clinician.runs.wait(thread, "clinical", command={"resume": {"action": "approve", "note": "ok"}})
        final = await clinician.threads.get_state(thread)
        return thread, paused, refused, still, approved, final

    thread, paused, refused, still, approved, final = _run(scenario())
    interrupts = [i["value"] for task in paused["tasks"] for i in task.get("interrupts", [])]
    assert paused["next"] == ["governance_post"] and interrupts and any("uncertain" in r for r in interrupts[0]["reasons"])
    run_id = paused["values"]["run_id"]
    assert run_id.startswith("run-") and paused["values"]["caller"] == {"user": "dr-srv", "role": "clinician", "purpose": "treatment"}

    # The researcher's "approve" is discarded: the run is still waiting for review, nothing was output as approved.
    assert refused["policy_decisions"][-1]["effect"] == "deny" and "res-srv" in refused["policy_decisions"][-1]["reason"]
    assert still["next"] == ["governance_post"] and [i for task in still["tasks"] for i in task.get("interrupts", [])]
    assert still["values"].get("status") != "done"
    denied = [e for e in AuditLog(settings.audit_path).entries() if e.action == "review:approve" and e.decision == "deny"]
    assert [(e.actor, e.resource, e.run_id) for e in denied] == [("res-srv", thread, run_id)], "the refused reviewer is audited under their own name"

    # A clinician may review: the same run finishes, recorded as approved by that clinician.
    assert approved["status"] == "done" and final["next"] == []
    last = approved["policy_decisions"][-1]
    assert (last["stage"], last["effect"]) == ("review", "allow") and last["reason"].startswith("dr-srv (clinician)")
    assert AuditLog(settings.audit_path).verify().ok


def test_chat_graph_takes_the_standard_messages_input_with_the_keys_identity(served: tuple[str, Settings, dict[str, str]]) -> None:
    url, _, keys = served

    async def scenario() -> dict[str, Any]:
        client = get_client(url=url, api_key=keys["clinician"])
        thread = (await client.threads.create())["thread_id"]
        # A caller in the request's context is ignored: identity comes from the API key only.
        context = {"user": "mallory", "role": "admin", "purpose": "operations"}
        return await client.runs.wait(thread, "chat", input={"messages": [{"role": "user", "content": "is aspirin safe with warfarin?"}]}, context=context)

    values = _run(scenario())
    assert values["status"] == "done", values.get("error")
    assert values["caller"] == {"user": "dr-srv", "role": "clinician", "purpose": "treatment"}
    assert values["messages"][-1]["type"] == "ai" and "warfarin" in values["messages"][-1]["content"].lower()


def test_requests_without_a_valid_key_are_rejected(served: tuple[str, Settings, dict[str, str]]) -> None:
    url, _, _ = served
    for headers in ({}, {"x-api-key": "sk-sage-not-a-key"}, {"authorization": "Bearer sk-sage-not-a-key"}):
        response = httpx.post(f"{url}/threads", json={}, headers=headers, timeout=10)
        assert response.status_code == 401, (headers, response.text)

    async def sdk_without_key() -> None:
        await get_client(url=url, api_key=None).threads.create()

    with pytest.raises(AuthenticationError):
        _run(sdk_without_key())
