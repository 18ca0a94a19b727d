"""Outside MCP servers: their configuration, and their tools as LangChain tools with a timeout and a size limit.

Configuration (first found wins per field): the JSON file named by ``SAGE_MCP_CONFIG``, else
``SAGE_HOME/mcp.json``; then ``SAGE_MCP_SERVERS`` (a JSON object of servers) adds or replaces
servers, and ``SAGE_MCP_USER`` / ``SAGE_MCP_ROLE`` / ``SAGE_MCP_PURPOSE`` set the caller of the
stdio server. The file looks like::

    {"caller": {"user": "dr-lee", "role": "clinician", "purpose": "treatment"},
     "servers": {"pubmed": {"transport": "stdio", "command": "pubmed-mcp", "args": [], "timeout_s": 20}}}

This module only connects: a listing or a call that does not answer within the server's
``timeout_s`` raises :class:`OutsideToolError` (the stdio child is killed, nothing waits on it),
and an answer longer than ``max_output_chars`` is refused, not truncated. Which outside tools a
caller may use, and the injection check of their outputs, are decided above (``services.mcp_tools``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.base import ToolError

NAME = r"^[A-Za-z0-9_-]{1,64}$"


class OutsideToolError(ToolError):
    """An outside MCP server that cannot be reached, hangs, dies, errs or answers too much."""


class McpConfigError(ToolError):
    """The MCP configuration (file or environment) is not valid; the message names the field."""


class OutsideAnswer(BaseModel):
    """What an outside tool's governed wrapper hands an agent: untrusted text, or nothing when withheld."""

    tool: str = Field(description="mcp:<server>:<tool>")
    text: str = Field("", description="The answer; empty when withheld.")
    untrusted: bool = True
    withheld: bool = Field(False, description="The answer looked like prompt injection and was not passed on.")
    flagged: list[str] = Field(default_factory=list, description="Where the injection patterns matched.")


class OutsideServer(BaseModel):
    """One outside MCP server."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["stdio", "http"] = "stdio"
    command: str | None = Field(None, description="Executable (stdio).")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = Field(None, description="Environment of the child (stdio); default: the SDK's safe subset.")
    cwd: str | None = None
    url: str | None = Field(None, description="Streamable HTTP endpoint, e.g. http://127.0.0.1:9000/mcp (http).")
    headers: dict[str, str] | None = None
    timeout_s: float = Field(20.0, gt=0, le=300, description="Longest one call may take (each call opens its own session).")
    list_timeout_s: float = Field(30.0, gt=0, le=300, description="Longest listing the tools may take (start-up included).")
    max_output_chars: int = Field(20_000, ge=1, le=1_000_000, description="Longest answer accepted (longer: refused).")

    @model_validator(mode="after")
    def _endpoint(self) -> OutsideServer:
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio server needs a command")
        if self.transport == "http" and not self.url:
            raise ValueError("an http server needs a url")
        return self

    def connection(self) -> dict[str, Any]:
        """The ``langchain-mcp-adapters`` connection of this server."""
        if self.transport == "stdio":
            found: dict[str, Any] = {"transport": "stdio", "command": self.command, "args": list(self.args)}
            if self.env is not None:
                found["env"] = dict(self.env)
            if self.cwd:
                found["cwd"] = self.cwd
            return found
        return {"transport": "streamable_http", "url": self.url, "headers": dict(self.headers or {}), "timeout": self.timeout_s}


class CallerConfig(BaseModel):
    """Who the stdio MCP server acts for; an empty field leaves every call refused."""

    model_config = ConfigDict(extra="forbid")

    user: str = ""
    role: str = ""
    purpose: str = ""


class McpConfig(BaseModel):
    """The MCP section of an installation: the stdio caller and the outside servers by name."""

    model_config = ConfigDict(extra="forbid")

    caller: CallerConfig = Field(default_factory=CallerConfig)
    servers: dict[str, OutsideServer] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> McpConfig:
        import re

        bad = [n for n in self.servers if not re.match(NAME, n)]
        if bad:
            raise ValueError(f"server names may use letters, digits, _ and - only: {', '.join(bad)}")
        return self


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", hint="fix the JSON") from None


def load_config(home: Path, environ: Mapping[str, str] | None = None) -> McpConfig:
    """The installation's MCP configuration (file, then ``SAGE_MCP_*`` variables), validated."""
    env = os.environ if environ is None else environ
    path = Path(env["SAGE_MCP_CONFIG"]) if env.get("SAGE_MCP_CONFIG") else home / "mcp.json"
    data: dict[str, Any] = {}
    if env.get("SAGE_MCP_CONFIG") and not path.is_file():
        raise McpConfigError(f"SAGE_MCP_CONFIG names {path}, which does not exist", hint="point it at a JSON file, or unset it")
    if path.is_file():
        data = _json(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(data, dict):
            raise McpConfigError(f"{path} must hold a JSON object", hint='{"caller": {...}, "servers": {...}}')
    if env.get("SAGE_MCP_SERVERS"):
        servers = _json(env["SAGE_MCP_SERVERS"], "SAGE_MCP_SERVERS")
        if not isinstance(servers, dict):
            raise McpConfigError("SAGE_MCP_SERVERS must be a JSON object of servers by name", hint='{"name": {"transport": "stdio", "command": "..."}}')
        data["servers"] = {**data.get("servers", {}), **servers}
    caller = dict(data.get("caller") or {})
    for field in ("user", "role", "purpose"):
        if env.get(f"SAGE_MCP_{field.upper()}"):
            caller[field] = env[f"SAGE_MCP_{field.upper()}"]
    data["caller"] = caller
    try:
        return McpConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise McpConfigError(f"invalid MCP configuration: {problems}", hint="see docs/mcp.md") from None


class OutsideToolSource(Protocol):
    """The outside tools one run may use, as the services hand them to the graph (``Context.outside``).

    ``tools()`` maps ``mcp:<server>:<tool>`` to a LangChain tool that is already governed (decided
    and audited per call, timed out, size-limited, injection-checked: ``services.mcp_tools``);
    only tools the caller's role is granted by name are in it. Listing is lazy: a run that never
    asks starts no outside server. ``errors()`` names the servers that could not be listed.
    """

    def tools(self) -> Mapping[str, BaseTool]:
        """Granted outside tools by qualified name (listed on first use)."""

    def errors(self) -> Mapping[str, str]:
        """Server name -> why its tools are missing (after :meth:`tools`)."""


OUTSIDE_PREFIX = "mcp:"


def is_outside(name: str) -> bool:
    """Whether ``name`` names an outside MCP tool (``mcp:<server>:<tool>``)."""
    return name.startswith(OUTSIDE_PREFIX)


def split_name(name: str) -> tuple[str, str]:
    """``mcp:<server>:<tool>`` -> (server, tool); a malformed name is an :class:`OutsideToolError`."""
    parts = name.split(":")
    if len(parts) != 3 or parts[0] != "mcp" or not parts[1] or not parts[2]:
        raise OutsideToolError(f"malformed outside tool name {name[:100]!r}", hint="outside tools are named mcp:<server>:<tool>")
    return parts[1], parts[2]


def qualified_name(server: str, tool: str) -> str:
    """The name a policy pack grants an outside tool by: ``mcp:<server>:<tool>``."""
    return f"mcp:{server}:{tool}"


def _cause(exc: BaseException) -> str:
    """The innermost useful cause (task groups wrap the real error in ExceptionGroups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]


async def list_tools(name: str, server: OutsideServer) -> list[BaseTool]:
    """The tools of one outside server as LangChain tools (each call opens its own session)."""
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({name: server.connection()}, handle_tool_errors=False)  # type: ignore[dict-item]
    try:
        return await asyncio.wait_for(client.get_tools(server_name=name), timeout=server.list_timeout_s)
    except TimeoutError:
        raise OutsideToolError(f"MCP server {name!r} did not list its tools within {server.list_timeout_s:g}s", hint="check the server, or raise its list_timeout_s") from None
    except Exception as exc:  # noqa: BLE001 - any failure of an outside process is reported, never raised raw
        raise OutsideToolError(f"MCP server {name!r} could not be reached: {_cause(exc)}", hint="check its command/url in the MCP configuration") from None


def content_text(content: Any) -> str:
    """An adapter tool's answer as text (MCP content blocks joined; other JSON dumped)."""
    if isinstance(content, tuple):  # (content, artifact) of response_format="content_and_artifact"
        content = content[0]
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return json.dumps(content, default=str)


async def call_tool(name: str, server: OutsideServer, tool: BaseTool, args: dict[str, Any]) -> str:
    """Call one outside tool within the server's timeout; its answer as text, refused when too long."""
    try:
        answer = await asyncio.wait_for(tool.ainvoke(args), timeout=server.timeout_s)
    except TimeoutError:
        raise OutsideToolError(f"MCP tool {qualified_name(name, tool.name)} did not answer within {server.timeout_s:g}s", hint="the server hangs or is slow; raise its timeout_s") from None
    except Exception as exc:  # noqa: BLE001 - a dying server, a tool error or bad arguments: reported with its cause
        raise OutsideToolError(f"MCP tool {qualified_name(name, tool.name)} failed: {_cause(exc)}", hint="see the outside server's log") from None
    text = content_text(answer)
    if len(text) > server.max_output_chars:
        raise OutsideToolError(f"MCP tool {qualified_name(name, tool.name)} answered {len(text)} characters, over the {server.max_output_chars} limit",
                               hint="ask for less, or raise max_output_chars for this server")
    return text
