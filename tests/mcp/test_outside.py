"""Outside MCP tools under policy: a real FastMCP server (``outside_server.py``) started as a child.

Its tools reach an agent (LangGraph's ``ToolNode``, what executes a model's tool calls) only
once the policy pack grants them by name; a role's ``"*"`` is not enough. Injected instructions
in an answer are withheld from the agent; a hanging, flooding or dying server fails the one call
within its timeout, audited, and the rest keeps working.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from core.settings import Settings
from policies.packs import load_pack
from services.base import Caller
from services.mcp_tools import outside_tools_sync
from tools.mcp_client import McpConfig, OutsideServer, load_config
from tools.resources import Resources

SERVER = Path(__file__).with_name("outside_server.py")
CLINICIAN = Caller(user="dr-out", role="clinician", purpose="treatment")


def config(timeout_s: float = 20.0, **extra: OutsideServer) -> McpConfig:
    server = OutsideServer(command=sys.executable, args=[str(SERVER)], timeout_s=timeout_s, max_output_chars=10_000)
    return McpConfig(servers={"outside": server, **extra})


def resources_with(tmp_path: Path, granted: list[str]) -> Resources:
    pack = load_pack("default").model_dump()
    pack["roles"]["clinician"]["allowed_tools"] = ["*", *granted]
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack))
    return Resources(Settings(home=tmp_path / "home", policy_pack=str(path)))


def run_agent_call(tool: Any, args: dict[str, Any]) -> Any:
    """Execute one model tool call the way a LangGraph agent does."""
    message = AIMessage(content="", tool_calls=[{"name": tool.name, "args": args, "id": "call_1", "type": "tool_call"}])
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([tool], handle_tool_errors=True))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    return graph.compile().invoke({"messages": [message]})["messages"][-1]


def test_a_wildcard_role_does_not_get_outside_tools(tmp_path: Path) -> None:
    found = outside_tools_sync(resources_with(tmp_path, []), CLINICIAN, config())
    assert found.tools == [] and "mcp:outside:lookup" in found.hidden and not found.errors


def test_a_granted_tool_is_usable_by_an_agent_and_its_injected_instructions_are_withheld(tmp_path: Path) -> None:
    resources = resources_with(tmp_path, ["mcp:outside:lookup", "mcp:outside:poisoned"])
    found = outside_tools_sync(resources, CLINICIAN, config())
    tools = {t.metadata["qualified_name"]: t for t in found.tools}  # type: ignore[index]
    assert set(tools) == {"mcp:outside:lookup", "mcp:outside:poisoned"} and "mcp:outside:hang" in found.hidden

    answer = json.loads(run_agent_call(tools["mcp:outside:lookup"], {"term": "atelectasis"}).content)
    assert answer["text"].startswith("glossary: atelectasis") and answer["untrusted"] and not answer["withheld"]

    poisoned = run_agent_call(tools["mcp:outside:poisoned"], {"term": "effusion"}).content
    parsed = json.loads(poisoned)
    assert parsed["withheld"] and parsed["flagged"] and parsed["text"] == ""
    assert "Ignore all previous instructions" not in poisoned and "system prompt" not in poisoned  # never reaches a model

    events = [e for e in resources.audit.entries() if e.actor == "dr-out"]
    assert [(e.action, e.decision) for e in events] == [("mcp:outside:lookup", "allow"), ("mcp:outside:poisoned", "flagged")]
    assert all("atelectasis" not in json.dumps(e.details) for e in events)  # counts, never the text


def test_a_grant_removed_after_listing_is_enforced_at_call_time(tmp_path: Path) -> None:
    resources = resources_with(tmp_path, ["mcp:outside:*"])
    tool = next(t for t in outside_tools_sync(resources, CLINICIAN, config()).tools if t.metadata["qualified_name"] == "mcp:outside:lookup")  # type: ignore[index]
    message = run_agent_call(tool, {"term": "x"})
    assert message.status == "success"
    revoked = resources_with(tmp_path, [])  # the pack file is rewritten without the grant
    tool = next(t for t in outside_tools_sync(resources_with(tmp_path, ["mcp:outside:lookup"]), CLINICIAN, config()).tools)
    Path(revoked.settings.policy_pack).write_text(json.dumps(load_pack("default").model_dump()))
    fresh = Resources(revoked.settings)  # a new process reading the changed pack
    assert outside_tools_sync(fresh, CLINICIAN, config()).tools == []


def test_hanging_flooding_and_dying_servers_fail_one_call_quickly(tmp_path: Path) -> None:
    resources = resources_with(tmp_path, ["mcp:outside:hang", "mcp:outside:flood", "mcp:outside:die", "mcp:outside:lookup"])
    broken = OutsideServer(command=str(tmp_path / "no-such-server"))
    found = outside_tools_sync(resources, CLINICIAN, config(timeout_s=8.0, missing=broken))
    assert "missing" in found.errors and "could not be reached" in found.errors["missing"]
    tools = {t.metadata["qualified_name"]: t for t in found.tools}  # type: ignore[index]

    started = time.perf_counter()
    hung = run_agent_call(tools["mcp:outside:hang"], {"term": "x"})
    assert time.perf_counter() - started < 20 and hung.status == "error" and "did not answer within 8s" in hung.content
    flood = run_agent_call(tools["mcp:outside:flood"], {"term": "x"})
    assert flood.status == "error" and "over the 10000 limit" in flood.content and "xxxx" not in flood.content
    died = run_agent_call(tools["mcp:outside:die"], {"term": "x"})
    assert died.status == "error" and "mcp:outside:die failed" in died.content
    assert run_agent_call(tools["mcp:outside:lookup"], {"term": "ok"}).status == "success"  # the server still works
    outcomes = {e.action: e.decision for e in resources.audit.entries()}
    assert outcomes["mcp:outside:hang"] == outcomes["mcp:outside:flood"] == outcomes["mcp:outside:die"] == "failed"


def test_configuration_from_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "mcp.json").write_text(json.dumps({"caller": {"user": "u", "role": "clinician"}, "servers": {"a": {"command": "a-server"}}}))
    env = {"SAGE_MCP_SERVERS": json.dumps({"b": {"transport": "http", "url": "http://127.0.0.1:9/mcp"}}), "SAGE_MCP_PURPOSE": "treatment"}
    found = load_config(tmp_path, env)
    assert set(found.servers) == {"a", "b"} and (found.caller.user, found.caller.role, found.caller.purpose) == ("u", "clinician", "treatment")
    with pytest.raises(Exception, match="an http server needs a url"):
        load_config(tmp_path, {"SAGE_MCP_SERVERS": json.dumps({"c": {"transport": "http"}})})
    assert load_config(tmp_path / "nowhere", {}).caller.user == ""  # nothing configured: an empty caller, refused by the services
