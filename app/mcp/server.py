"""The MCP server: the served use cases (``services.catalog``) as MCP tools, resources and prompts.

A thin shell, like the CLI: it resolves *who* calls (a function given by the transport: the
configured caller on stdio, the API key's caller on HTTP) and hands the call to the services,
which check the policy, de-identify, audit and trace exactly as for ``sagehealth``. Anything the
services refuse comes back as an MCP error (``isError`` tool result, or a JSON-RPC error for
resources and prompts) whose text names the cause and carries no data.

Services are synchronous and may load models, so each call runs in a worker thread and calls
proceed concurrently, as in the HTTP API: graph runs (the tools that are not read-only: report
drafting, diagnosis support, cohort, interactions) share ``run_limit`` threads
(``Settings.api_concurrency``, the model-call concurrency limit; more wait their turn), reads
(search, run and trace lookups, resources) use anyio's default thread pool. A slow run does not
hold up a search. The services are safe to call from several threads at once (the HTTP API does):
the installation's backends lock what cannot be shared (``tools.resources``, the query
engine's connection, the Qdrant Edge shard, the audit log).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import McpError

from core.errors import SageError
from services.base import Caller
from services.catalog import call_tool, case_report_text, served_tools, trace_json

CallerFn = Callable[[], Caller]
CASE_URI = re.compile(r"^sage://cases/(?P<id>[^/]{1,64})/report$")
TRACE_URI = re.compile(r"^sage://runs/(?P<id>[^/]{1,128})/trace$")
INSTRUCTIONS = ("SAGE-Health clinical tools. Every call runs as your configured identity under the site's policy pack; "
                "outputs are decision support for clinicians, never a diagnosis. Draft reports may wait for human review.")

PROMPTS: dict[str, tuple[str, list[types.PromptArgument], str]] = {
    "draft_impression": (
        "Draft an IMPRESSION for chest X-ray FINDINGS, grounded in similar prior cases.",
        [types.PromptArgument(name="findings", description="The FINDINGS section", required=True)],
        "Call the tool similar_cases with text set to the findings below, then draft_report with the same findings. "
        "Quote the cited case ids; if the run's status is 'review', say that a clinician must approve the draft.\n\nFINDINGS: {findings}",
    ),
    "check_new_drug": (
        "Check a proposed drug against a patient's active medications.",
        [types.PromptArgument(name="proposed", description="Drug being considered", required=True),
         types.PromptArgument(name="patient_id", description="Patient id", required=False)],
        "Call drug_interactions with proposed={proposed!r} and patient_id={patient_id!r}. Report each interaction with its severity "
        "and source; do not recommend a change of therapy, list what a prescriber should review.",
    ),
}


def error_text(exc: SageError) -> str:
    """An expected error as the client sees it: its kind, the message and the hint (never data)."""
    return f"{type(exc).__name__}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")


def build_server(caller_of: CallerFn, resources_of: Callable[[], Any], run_limit: int | None = None) -> Server[Any, Any]:
    """An MCP server whose every request runs as ``caller_of()`` on ``resources_of()``.

    ``run_limit``: graph runs at once (default: the installation's ``api_concurrency``).
    """
    server: Server[Any, Any] = Server("sage-health", instructions=INSTRUCTIONS)
    runs = anyio.CapacityLimiter(run_limit or resources_of().settings.api_concurrency)

    async def in_thread(fn: Callable[..., Any], *args: Any, run: bool = False) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=runs if run else None)

    listed = [  # static: built once (the SDK also re-lists on every call of a tool it has not seen, e.g. an unknown name)
        types.Tool(name=t.name, title=t.title, description=t.description, inputSchema=t.input_schema(),
                   annotations=types.ToolAnnotations(title=t.title, readOnlyHint=t.read_only, openWorldHint=False))
        for t in served_tools().values()
    ]

    @server.list_tools()
    async def _list_tools() -> list[types.Tool]:
        return list(listed)

    @server.call_tool(validate_input=False)  # the services validate, naming every bad field
    async def _call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        caller = caller_of()
        served = served_tools().get(name)
        try:
            result = await in_thread(call_tool, resources_of(), caller, name, arguments, run=served is not None and not served.read_only)
        except SageError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=error_text(exc))], isError=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(result, default=str))], structuredContent=result, isError=False)

    @server.list_resource_templates()
    async def _templates() -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(uriTemplate="sage://cases/{case_id}/report", name="case_report", mimeType="text/plain",
                                   description="A case's radiology report, de-identified (names, dates and identifiers masked)."),
            types.ResourceTemplate(uriTemplate="sage://runs/{run_id}/trace", name="run_trace", mimeType="application/json",
                                   description="The OpenTelemetry spans of one run (needs the read_trace right)."),
        ]

    @server.read_resource()
    async def _read(uri: Any) -> str:
        text = str(uri)
        caller = caller_of()
        case, trace = CASE_URI.match(text), TRACE_URI.match(text)
        try:
            if case:
                return str(await in_thread(case_report_text, resources_of(), caller, case["id"]))
            if trace:
                return str(await in_thread(trace_json, resources_of(), caller, trace["id"]))
        except SageError as exc:
            raise McpError(types.ErrorData(code=types.INVALID_REQUEST, message=error_text(exc))) from None
        raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message=f"unknown resource {text[:200]!r}: use sage://cases/ID/report or sage://runs/ID/trace"))

    @server.list_prompts()
    async def _prompts() -> list[types.Prompt]:
        return [types.Prompt(name=name, description=desc, arguments=args) for name, (desc, args, _) in PROMPTS.items()]

    @server.get_prompt()
    async def _prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        if name not in PROMPTS:
            raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message=f"unknown prompt {name!r}; prompts: {', '.join(PROMPTS)}"))
        desc, params, template = PROMPTS[name]
        values = {p.name: (arguments or {}).get(p.name, "") for p in params}
        missing = [p.name for p in params if p.required and not values[p.name]]
        if missing:
            raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message=f"prompt {name!r} needs {', '.join(missing)}"))
        message = types.PromptMessage(role="user", content=types.TextContent(type="text", text=template.format(**values)))
        return types.GetPromptResult(description=desc, messages=[message])

    return server
