"""The MCP server over stdio, driven by the official MCP client SDK as its child process.

Real components throughout: ``sagehealth mcp serve`` in a subprocess on a copy of the small
lakehouse (Delta + DuckDB + Qdrant Edge), the default policy pack, the audit log, LangGraph runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

from services.catalog import served_tools
from services.data import SearchRequest

FINDINGS = "Heart size is enlarged. Small left pleural effusion. No pneumothorax."


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def with_server(serve_command: list[str], server_env: Callable[..., dict[str, str]]) -> Callable[..., Any]:
    """``with_server(home, body, **env)``: start ``sagehealth mcp serve`` (stdio), run ``body`` in an initialised session."""
    return lambda home, body, **env: _with_server(serve_command, server_env(home, **env), body)


def _with_server(command: list[str], env: dict[str, str], body: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(ROOT))

    async def main() -> Any:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)

    return anyio.run(main)


def payload(result: Any) -> dict[str, Any]:
    assert not result.isError, result.content[0].text
    return result.structuredContent or json.loads(result.content[0].text)


CLINICIAN = {"SAGE_MCP_USER": "dr-mcp", "SAGE_MCP_ROLE": "clinician", "SAGE_MCP_PURPOSE": "treatment"}


def test_a_clinician_lists_and_calls_every_tool_resource_and_prompt(mcp_home: Path, small_patient_id: str, with_server: Any, audit_entries: Any) -> None:
    async def body(s: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {"tools": {t.name: t for t in (await s.list_tools()).tools}}
        out["search"] = payload(await s.call_tool("similar_cases", {"text": FINDINGS, "k": 3, "required_findings": {"cardiomegaly": "present"}}))
        out["report"] = payload(await s.call_tool("draft_report", {"findings": FINDINGS, "mode": "retrieval-only", "k": 2}))
        out["interactions"] = payload(await s.call_tool("drug_interactions", {"proposed": "clarithromycin", "current": ["simvastatin"], "patient_id": small_patient_id}))
        out["differential"] = payload(await s.call_tool("diagnosis_support", {"findings": FINDINGS, "k": 3}))
        out["cohort"] = payload(await s.call_tool("cohort_query", {"question": "how many patients have cardiomegaly"}))
        out["run"] = payload(await s.call_tool("get_run", {"thread_id": out["interactions"]["thread_id"]}))
        out["trace"] = payload(await s.call_tool("get_trace", {"run_id": out["interactions"]["run_id"]}))
        case_id = out["search"]["hits"][0]["case_id"]
        out["case"] = (await s.read_resource(f"sage://cases/{case_id}/report")).contents[0].text  # type: ignore[union-attr]
        out["trace_resource"] = json.loads((await s.read_resource(f"sage://runs/{out['report']['run_id']}/trace")).contents[0].text)  # type: ignore[union-attr]
        out["templates"] = [t.uriTemplate for t in (await s.list_resource_templates()).resourceTemplates]
        out["prompt"] = (await s.get_prompt("draft_impression", {"findings": FINDINGS})).messages[0].content.text  # type: ignore[union-attr]
        return out

    out = with_server(mcp_home, body, **CLINICIAN)
    assert set(out["tools"]) == set(served_tools()) == {"similar_cases", "draft_report", "diagnosis_support", "cohort_query", "drug_interactions", "get_run", "get_trace"}
    # one definition: the tool schema is the service's request model's
    assert out["tools"]["similar_cases"].inputSchema["properties"] == SearchRequest.model_json_schema()["properties"]
    assert "image_path" not in out["tools"]["draft_report"].inputSchema["properties"]  # a server path is not for outside callers
    hits = out["search"]["hits"]
    assert 1 <= len(hits) <= 3 and all(h["labels"].get("cardiomegaly") == "present" for h in hits)
    assert out["report"]["status"] in ("done", "review") and out["report"]["evidence_ids"]
    assert out["interactions"]["status"] == "done"
    assert any("simvastatin" in json.dumps(i).lower() for i in out["interactions"]["output"]["interactions"])
    assert out["differential"]["status"] in ("done", "review") and out["differential"]["output"]
    assert out["cohort"]["status"] in ("done", "review") and "count" in out["cohort"]["output"]
    assert out["run"]["run_id"] == out["interactions"]["run_id"] and out["run"]["caller"]["user"] == "dr-mcp"
    assert out["trace"]["spans"] and any(s["name"].startswith("invoke_workflow") for s in out["trace"]["spans"])
    assert out["case"].startswith(f"CASE {hits[0]['case_id']}") and "FINDINGS:" in out["case"]
    assert out["trace_resource"] and FINDINGS in out["prompt"]
    # every call ran as the configured caller and was audited as them
    actions = {e["action"] for e in audit_entries(mcp_home) if e["actor"] == "dr-mcp"}
    assert {"tool:retrieve_similar_cases", "run:report", "run:interactions", "trace"} <= actions


def test_bad_calls_are_mcp_errors_naming_the_cause_and_write_nothing(mcp_home: Path, with_server: Any, audit_entries: Any) -> None:
    async def body(s: ClientSession) -> dict[str, Any]:
        before = len(audit_entries(mcp_home))
        calls = {
            "unknown": await s.call_tool("delete_everything", {}),
            "schema": await s.call_tool("similar_cases", {"text": FINDINGS, "k": 999}),
            "extra": await s.call_tool("draft_report", {"findings": FINDINGS, "image_path": "/etc/passwd"}),
            "type": await s.call_tool("drug_interactions", {"proposed": ["not", "a", "string"]}),
            "huge": await s.call_tool("similar_cases", {"text": "effusion " * 10_000}),
        }
        try:
            await s.read_resource("sage://nothing/here")
            bad_resource = ""
        except McpError as exc:
            bad_resource = str(exc)
        return {"calls": calls, "bad_resource": bad_resource, "written": len(audit_entries(mcp_home)) - before}

    out = with_server(mcp_home, body, **CLINICIAN)
    texts = {k: (r.isError, r.content[0].text) for k, r in out["calls"].items()}
    assert all(is_error for is_error, _ in texts.values()), texts
    assert "UnknownServedToolError" in texts["unknown"][1] and "similar_cases" in texts["unknown"][1]
    assert "RequestError" in texts["schema"][1] and "k:" in texts["schema"][1]
    assert "image_path" in texts["extra"][1]
    assert "proposed" in texts["type"][1]
    assert "PayloadTooLargeError" in texts["huge"][1]
    assert "unknown resource" in out["bad_resource"]
    assert out["written"] == 0  # refused before any service ran: no audit entry, no run


def test_a_role_without_the_right_gets_an_error_and_the_denial_is_audited(mcp_home: Path, with_server: Any, audit_entries: Any) -> None:
    async def body(s: ClientSession) -> Any:
        search = await s.call_tool("similar_cases", {"text": FINDINGS})
        try:
            await s.read_resource("sage://cases/1/report")
            resource = ""
        except McpError as exc:
            resource = str(exc)
        return search, resource

    search, resource = with_server(mcp_home, body, SAGE_MCP_USER="aud-mcp", SAGE_MCP_ROLE="auditor", SAGE_MCP_PURPOSE="audit")
    assert search.isError and "retrieve_similar_cases" in search.content[0].text and search.structuredContent is None
    assert "denied" in search.content[0].text.lower() or "may not" in search.content[0].text
    assert "query_records" in resource  # the case report needs the records right
    denials = [e for e in audit_entries(mcp_home) if e["actor"] == "aud-mcp" and e["decision"] in ("deny", "denied")]
    assert {e["action"] for e in denials} >= {"tool:retrieve_similar_cases", "tool:query_records"}


def test_without_a_configured_caller_every_call_is_refused(mcp_home: Path, with_server: Any) -> None:
    async def body(s: ClientSession) -> Any:
        return await s.call_tool("drug_interactions", {"proposed": "aspirin"})

    result = with_server(mcp_home, body, SAGE_MCP_ROLE="clinician")  # no user, no purpose
    assert result.isError and "CallerError" in result.content[0].text
