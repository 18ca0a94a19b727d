"""The MCP server over streamable HTTP on 127.0.0.1, with API keys, driven by the official MCP client SDK."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from core.settings import Settings
from services.keys import KeyStore
from tests.servers import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


def start_server(home: Path, serve_command: list[str], env: dict[str, str], suffix: str = "") -> Generator[tuple[str, dict[str, str]], None, None]:
    store = KeyStore(Settings(home=home).home / "keys.json")
    keys = {role: store.create(f"{role}-http{suffix}", role, purpose).secret for role, purpose in (("clinician", "treatment"), ("auditor", "audit"))}
    port = free_port()
    child = subprocess.Popen([*serve_command, "--transport", "http", "--port", str(port)], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(240):
            try:
                httpx.post(url, json={}, timeout=1)
                break
            except httpx.TransportError:
                assert child.poll() is None, "the server exited"
                time.sleep(0.5)
        yield url, keys
    finally:
        stop(child, timeout=30)


@pytest.fixture(scope="module")
def http_server(mcp_home: Path, serve_command: list[str], server_env: Callable[..., dict[str, str]]) -> Iterator[tuple[str, dict[str, str]]]:
    yield from start_server(mcp_home, serve_command, server_env(mcp_home))


def session_calls(url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    async def main() -> tuple[list[str], list[Any]]:
        async with streamablehttp_client(url, headers=headers, timeout=120) as (read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            names = [t.name for t in (await s.list_tools()).tools]
            return names, [await s.call_tool(name, args) for name, args in calls]

    return anyio.run(main)


def timed_call(url: str, headers: dict[str, str], name: str, args: dict[str, Any], delay: float, marks: dict[str, Any]) -> Any:
    """Open a session, wait ``delay`` s, call ``name``; record when the call was sent and answered (perf_counter)."""

    async def main() -> None:
        async with streamablehttp_client(url, headers=headers, timeout=120) as (read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            await anyio.sleep(delay)
            marks[f"{name}_sent"] = time.perf_counter()
            marks[name] = await s.call_tool(name, args)
            marks[f"{name}_done"] = time.perf_counter()

    return main


@pytest.mark.slow  # ~25 s here: its own server start, and an 8 s run
def test_a_slow_call_does_not_block_a_fast_one(mcp_home: Path, serve_command: list[str], server_env: Callable[..., dict[str, str]]) -> None:
    # every graph run's data agent sleeps 8 s in this server (the SAGE_TEST_SLEEP_NODE hook); a search runs no graph
    server = start_server(mcp_home, serve_command, server_env(mcp_home, SAGE_TEST_SLEEP_NODE="data:8"), suffix="-slow")
    url, keys = next(server)
    try:
        headers = {"x-api-key": keys["clinician"]}
        search: dict[str, Any] = {"text": "Small right pleural effusion.", "k": 2}
        session_calls(url, headers, [("similar_cases", search)])  # warm-up: the embedder and the shard, outside the timing
        marks: dict[str, Any] = {}

        async def both() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(timed_call(url, headers, "draft_report", {"findings": "Small right pleural effusion.", "mode": "retrieval-only", "k": 2}, 0.0, marks))
                tg.start_soon(timed_call(url, headers, "similar_cases", search, 2.0, marks))  # sent while the run sleeps

        anyio.run(both)
    finally:
        server.close()
    assert not marks["draft_report"].isError and not marks["similar_cases"].isError
    assert marks["similar_cases_sent"] < marks["draft_report_done"]  # the calls overlapped
    assert marks["similar_cases_done"] < marks["draft_report_done"]  # the search did not wait for the run
    assert marks["similar_cases_done"] - marks["similar_cases_sent"] < 5.0, marks  # well under the run's 8 s sleep


def test_an_api_key_caller_lists_and_calls_tools(http_server: tuple[str, dict[str, str]], audit_entries: Any, mcp_home: Path) -> None:
    url, keys = http_server
    calls = [("similar_cases", {"text": "Small right pleural effusion.", "k": 2}),
             ("drug_interactions", {"proposed": "clarithromycin", "current": ["simvastatin"]}),
             ("draft_report", {"findings": "Small right pleural effusion.", "mode": "retrieval-only", "k": 2})]
    names, results = session_calls(url, {"Authorization": f"Bearer {keys['clinician']}"}, calls)
    assert "similar_cases" in names and "draft_report" in names
    assert all(not r.isError for r in results), [r.content[0].text for r in results]
    assert len(results[0].structuredContent["hits"]) == 2 and results[1].structuredContent["status"] == "done"
    assert results[2].structuredContent["caller"]["user"] == "clinician-http"
    assert any(e["actor"] == "clinician-http" and e["action"] == "run:interactions" for e in audit_entries(mcp_home))


def test_a_role_without_the_right_is_refused_and_audited(http_server: tuple[str, dict[str, str]], audit_entries: Any, mcp_home: Path) -> None:
    url, keys = http_server
    _, results = session_calls(url, {"x-api-key": keys["auditor"]}, [("similar_cases", {"text": "effusion"})])
    assert results[0].isError and "retrieve_similar_cases" in results[0].content[0].text and results[0].structuredContent is None
    assert any(e["actor"] == "auditor-http" and e["decision"] == "denied" for e in audit_entries(mcp_home))


def test_missing_or_unknown_keys_get_401_and_big_bodies_413(http_server: tuple[str, dict[str, str]], mcp_home: Path, audit_entries: Any) -> None:
    url, keys = http_server
    before = len(audit_entries(mcp_home))
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=body, headers=headers).status_code == 401
    assert httpx.post(url, json=body, headers={**headers, "x-api-key": "sk-sage-not-a-key"}).status_code == 401
    big = httpx.post(url, content=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={**headers, "content-type": "application/json", "x-api-key": keys["clinician"]})
    assert big.status_code == 413
    assert len(audit_entries(mcp_home)) == before
