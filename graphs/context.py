"""Per-run, read-only configuration of a graph run (LangGraph ``context_schema``).

The caller's identity, role and purpose come from here and never from the model or the
request body: a prompt cannot make a run act for another user. Nodes read it through
``Runtime[Context]``; it is not checkpointed, so a resumed run gets it again from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.settings import Settings


@dataclass(kw_only=True, frozen=True)
class Context:
    """Who runs the graph, why, and with which model."""

    user: str = field(metadata={"description": "Authenticated caller name (audited on every tool call)."})
    role: str = field(metadata={"description": "Caller role; the active policy pack decides what it may do."})
    purpose: str = field(default="treatment", metadata={"description": "Purpose of use (treatment, research, operations...)."})
    settings: Settings = field(default_factory=Settings, metadata={"description": "Paths, endpoints and defaults of this installation."})
    model: str | None = field(default=None, metadata={"description": "Zoo name of the chat model; None uses settings.chat_model."})
    adapter: str | None = field(default=None, metadata={"description": "LoRA adapter for report drafting; None uses settings.adapter."})
    routing: Literal["embedding", "llm"] = field(default="embedding", metadata={"description": "How the planner routes free text: embedding similarity or the chat model."})
    max_new_tokens: int | None = field(default=None, metadata={"description": "Overrides the task's generation budget when set (sagehealth run --max-new-tokens)."})
    router: Any = field(default=None, metadata={"description": "agents.router.Router for chat turns (held by the caller); None: the legacy embedding router."})

    @property
    def model_name(self) -> str:
        """The chat model this run uses."""
        return self.model or self.settings.chat_model

    @property
    def adapter_name(self) -> str | None:
        """The adapter this run uses, if any."""
        return self.adapter if self.adapter is not None else self.settings.adapter
