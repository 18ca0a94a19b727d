"""All tools by name, the tool set of each agent, and LangChain ``StructuredTool`` views.

Each agent gets only the tools its job needs (least privilege); the governed invoker enforces
this set on every call, in addition to the role checks of the policy pack. MCP and chat expose
the same tools as LangChain ``StructuredTool`` objects whose argument schema is the pydantic
model (with clinical ranges in the field descriptions) and whose infrastructure is closed over.
"""

from __future__ import annotations

import importlib
from typing import Any

from langchain_core.tools import StructuredTool

from tools.base import REGISTRY, ToolDefinition, ToolDeps, UnknownToolError

TOOL_MODULES = ("tools.retrieval", "tools.records", "tools.generation", "tools.clinical", "tools.governance")

# Agent -> tools it may call. "cli" is a direct human caller (sagehealth query/search, MCP).
AGENT_TOOLS: dict[str, frozenset[str]] = {
    "data": frozenset({"retrieve_similar_cases", "case_labels", "query_records", "get_patient_record", "label_findings"}),
    "model": frozenset({"generate_text"}),
    # query_records: the task agent guards and runs model-written cohort SQL (agents.tasks.cohort).
    "task": frozenset({"check_interactions", "label_findings", "query_records"}),
    "governance": frozenset({"policy_check", "redact_phi"}),
    "planner": frozenset(),
    "cli": frozenset({"query_records", "retrieve_similar_cases", "get_patient_record", "check_interactions", "label_findings", "policy_check", "redact_phi"}),
    "chat": frozenset({"retrieve_similar_cases", "get_patient_record", "check_interactions", "label_findings", "generate_text"}),
}


def load_tools() -> dict[str, ToolDefinition]:
    """Import every tool module (each registers its tools once) and return the registry."""
    for module in TOOL_MODULES:
        importlib.import_module(module)
    return REGISTRY


def get_tool(name: str) -> ToolDefinition:
    """The tool called ``name``, or an error listing the known ones."""
    tools = load_tools()
    if name not in tools:
        raise UnknownToolError(f"unknown tool {name!r}", hint=f"known tools: {', '.join(sorted(tools))}")
    return tools[name]


def tools_for_agent(agent: str) -> frozenset[str]:
    """Tool names ``agent`` may call (empty for unknown agents: deny by default)."""
    return AGENT_TOOLS.get(agent, frozenset())


def as_structured_tool(definition: ToolDefinition, deps: ToolDeps) -> StructuredTool:
    """A LangChain tool for ``definition`` with ``deps`` closed over (invisible to the model)."""

    def _run(**kwargs: Any) -> Any:
        return definition.run(deps, definition.args_model(**kwargs))

    return StructuredTool.from_function(func=_run, name=definition.name, description=definition.description, args_schema=definition.args_model)
