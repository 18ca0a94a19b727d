"""The use cases offered to outside agents as tools (the MCP server; later any tool-calling API).

Each served tool is a service with its input model: the model's JSON schema *is* the tool's
input schema (one definition, not two). Search takes the service's ``SearchRequest``; the four
clinical tasks take their task's own input model (``agents.tasks``), the same one the planner
validates with, and run through ``services.runs.run_task``; the run/trace lookups take a small
``ServiceRequest`` each. Every call goes through :func:`call_tool`, which refuses an unknown
tool, an oversized payload and arguments that fail the schema *before* any service runs, so a
bad call writes nothing. A run the graph's governance denies comes back as
:class:`RunDeniedError` (reason only): a client never gets a denied run's partial state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from agents.tasks.base import get_task
from core.errors import SageError
from services import cases, data, runs
from services.base import Caller, RequestError, ServiceRequest, require_caller
from tools.resources import Resources

MAX_ARGUMENT_BYTES = 64 * 1024  # a findings text is at most a few KiB; anything far larger is not a request


class UnknownServedToolError(SageError):
    """A tool name the server does not offer."""


class PayloadTooLargeError(SageError):
    """Arguments over :data:`MAX_ARGUMENT_BYTES` (refused before parsing)."""


class RunDeniedError(SageError):
    """The graph's governance denied the run; the message carries the reason, never the run's data."""


class RunLookup(ServiceRequest):
    """A run, by the thread it ran on."""

    thread_id: str = Field(min_length=1, max_length=128, description="Thread id of the run (returned by the task tools).")


class TraceLookup(ServiceRequest):
    """A run's trace, by run id."""

    run_id: str = Field(min_length=1, max_length=128, description="Run id (returned by the task tools).")


@dataclass(frozen=True)
class ServedTool:
    """One use case as a tool: its name, what it does, its input model and its handler."""

    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    handler: Callable[[Resources, Caller, dict[str, Any]], Any]
    read_only: bool = True
    hidden: frozenset[str] = field(default_factory=frozenset)  # server-side fields outside callers may not set

    def input_schema(self) -> dict[str, Any]:
        """The input model's JSON schema, closed to unknown fields (what ``tools/list`` shows)."""
        schema = self.input_model.model_json_schema()
        schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in self.hidden}
        schema["required"] = [k for k in schema.get("required", []) if k not in self.hidden]
        schema["additionalProperties"] = False
        return schema


def _search(resources: Resources, caller: Caller, args: dict[str, Any]) -> Any:
    return data.search(resources, caller, data.SearchRequest.parse(args, strict=False))


def _task(task: str) -> Callable[[Resources, Caller, dict[str, Any]], Any]:
    def run(resources: Resources, caller: Caller, args: dict[str, Any]) -> Any:
        result = runs.run_task(resources, caller, runs.RunRequest(task=task, input=args))
        if result.status == "denied":
            reasons = [str(d.get("reason")) for d in result.policy_decisions if d.get("effect") == "deny"]
            message = "; ".join(reasons) or str((result.error or {}).get("message") or "denied by the policy pack")
            raise RunDeniedError(f"run {result.run_id} denied: {message}", hint="use a role and purpose the policy pack allows for this task")
        return result

    return run


def _get_run(resources: Resources, caller: Caller, args: dict[str, Any]) -> Any:
    return runs.get_run(resources, caller, RunLookup.parse(args).thread_id)


def _get_trace(resources: Resources, caller: Caller, args: dict[str, Any]) -> Any:
    return {"run_id": args["run_id"], "spans": runs.trace(resources, caller, TraceLookup.parse(args).run_id)}


def _tools() -> dict[str, ServedTool]:
    tasks = {name: get_task(name) for name in ("report", "differential", "cohort", "interactions")}
    found = [
        ServedTool("similar_cases", "Similar-case search", "Prior chest X-ray cases most similar to a findings text, ranked by cosine similarity "
                   "plus a shared-findings bonus, within the caller's access filter.", data.SearchRequest, _search),
        ServedTool("draft_report", "Report drafting", "Draft a chest X-ray IMPRESSION from FINDINGS through the governed agent graph, citing "
                   "similar prior cases (mode retrieval-only runs without a model). " + tasks["report"].description,
                   tasks["report"].input_model, _task("report"), read_only=False, hidden=frozenset({"image_path"})),
        ServedTool("diagnosis_support", "Diagnosis support", tasks["differential"].description, tasks["differential"].input_model, _task("differential"), read_only=False),
        ServedTool("cohort_query", "Cohort query", tasks["cohort"].description, tasks["cohort"].input_model, _task("cohort"), read_only=False),
        ServedTool("drug_interactions", "Drug-interaction check", tasks["interactions"].description, tasks["interactions"].input_model, _task("interactions"), read_only=False),
        ServedTool("get_run", "Run lookup", "A run's status, plan, evidence, policy decisions and output, by thread id (your own runs, or any with the review right).",
                   RunLookup, _get_run),
        ServedTool("get_trace", "Trace lookup", "The OpenTelemetry spans of one run, by run id (needs the read_trace right).", TraceLookup, _get_trace),
    ]
    return {t.name: t for t in found}


_SERVED: dict[str, ServedTool] = {}


def served_tools() -> dict[str, ServedTool]:
    """Every served tool by name (built once: the task registry is static)."""
    if not _SERVED:
        _SERVED.update(_tools())
    return _SERVED


def check_arguments(tool: ServedTool, arguments: dict[str, Any]) -> None:
    """Refuse oversized or schema-breaking arguments before anything runs."""
    size = len(json.dumps(arguments, default=str).encode("utf-8"))
    if size > MAX_ARGUMENT_BYTES:
        raise PayloadTooLargeError(f"arguments of {tool.name} are {size} bytes, over the {MAX_ARGUMENT_BYTES}-byte limit", hint="send only the findings text, not whole documents")
    allowed = set(tool.input_model.model_fields) - tool.hidden
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise RequestError(f"invalid arguments for {tool.name}: unknown field(s) {', '.join(unknown)}", hint=f"fields: {', '.join(sorted(allowed))}")
    try:
        tool.input_model.model_validate(arguments, strict=False)
    except ValueError as exc:  # pydantic's ValidationError
        errors = getattr(exc, "errors", None)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in errors(include_url=False)) if errors else str(exc)
        raise RequestError(f"invalid arguments for {tool.name}: {problems}", hint=f"fields: {', '.join(sorted(allowed))}") from None


def call_tool(resources: Resources, caller: Caller, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """Run served tool ``name`` as ``caller``; returns the result as JSON-able data.

    Raises:
        UnknownServedToolError, PayloadTooLargeError, RequestError: before any service runs.
        CallerError, ActionDeniedError, ToolDeniedError, RunDeniedError: refused by policy (audited by the service).
    """
    tool = served_tools().get(name)
    if tool is None:
        raise UnknownServedToolError(f"unknown tool {name!r}", hint=f"tools: {', '.join(sorted(served_tools()))}")
    require_caller(caller, resources)  # identity first: an anonymous caller learns nothing, not even schema errors
    args = dict(arguments or {})
    check_arguments(tool, args)
    result = tool.handler(resources, caller, args)
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else json.loads(json.dumps(result, default=str))


def case_report_text(resources: Resources, caller: Caller, case_id: str) -> str:
    """The de-identified report of a case as text (the ``sage://cases/{id}/report`` resource)."""
    return cases.case_report(resources, caller, cases.CaseRequest.parse({"case_id": case_id})).as_text()


def trace_json(resources: Resources, caller: Caller, run_id: str) -> str:
    """A run's spans as JSON (the ``sage://runs/{id}/trace`` resource)."""
    return json.dumps(runs.trace(resources, caller, TraceLookup.parse({"run_id": run_id}).run_id), default=str)
