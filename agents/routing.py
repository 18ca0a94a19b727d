"""Free-text routing: which registered task serves a request, and why.

Default: embedding similarity between the text and each task's description and examples
(all-MiniLM-L6-v2, the same embedder as retrieval); the best task wins if its similarity clears
:data:`MIN_SIMILARITY`, otherwise the request is out of scope and declined with the scores.
Optional (``Context.routing == "llm"``): the chat model proposes a plan as JSON, which is
validated and repaired by ``agents.plan.repair_plan`` and falls back to embeddings if unusable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.tasks.base import TaskSpec, all_tasks
from core.errors import SageError
from tools.resources import Resources

MIN_SIMILARITY = 0.30  # below this the text is unlike every task: decline rather than guess
# Replies, not destinations of similarity: the legacy router declines on its own threshold instead.
NOT_EMBEDDING_ROUTED = frozenset({"clarify", "decline"})


class OutOfScopeError(SageError):
    """No registered task serves the request."""


@dataclass(frozen=True)
class Route:
    """The routing decision for one text."""

    task: str
    score: float
    reason: str
    scores: dict[str, float]


def _task_matrix(resources: Resources, specs: list[TaskSpec]) -> tuple[list[str], np.ndarray]:
    """One row per (task, description-or-example); embedded once per installation (on Resources)."""

    def build() -> tuple[list[str], np.ndarray]:
        owners: list[str] = []
        texts: list[str] = []
        for spec in specs:
            for text in (spec.description, *spec.examples):
                owners.append(spec.name)
                texts.append(text)
        return owners, resources.embedder.embed(texts)

    return resources.derived("task_vectors:" + ",".join(sorted(s.name for s in specs)), build)


def route_by_embedding(resources: Resources, text: str) -> Route:
    """Best task by max cosine similarity to its description/examples; raises OutOfScopeError."""
    specs = [s for s in all_tasks() if s.name not in NOT_EMBEDDING_ROUTED]
    owners, matrix = _task_matrix(resources, specs)
    query = resources.embedder.embed([text])[0]
    sims = matrix @ query
    scores: dict[str, float] = {}
    for owner, sim in zip(owners, sims, strict=True):
        scores[owner] = max(scores.get(owner, -1.0), float(sim))
    best = max(scores, key=lambda name: scores[name])
    ranked = ", ".join(f"{n}={s:.2f}" for n, s in sorted(scores.items(), key=lambda kv: -kv[1]))
    if scores[best] < MIN_SIMILARITY:
        raise OutOfScopeError(
            f"the request matches no clinical task (best {best} at {scores[best]:.2f} < {MIN_SIMILARITY})",
            hint=f"ask about one of: {', '.join(sorted(scores))}; scores: {ranked}",
        )
    return Route(task=best, score=scores[best], reason=f"embedding similarity {scores[best]:.2f} to task {best!r} ({ranked})", scores=scores)


ROUTER_PROMPT = (
    "Choose the clinical task for the request and plan its steps. Tasks:\n{tasks}\n"
    'Answer with JSON only: {{"task": NAME, "reason": TEXT, "steps": [{{"agent": "governance_pre"|"data"|"model"|"task"|"governance_post", "tools": [NAMES], "reason": TEXT}}]}}\n'
    "Request: {text}\nJSON:"
)


def llm_plan_proposal(resources: Resources, model_name: str, text: str, max_new_tokens: int = 160) -> dict[str, Any]:
    """Ask the chat model for a plan; returns the parsed JSON object (untrusted) or raises ValueError."""
    from models.lm.types import GenerationParams

    tasks = "\n".join(f"- {s.name}: {s.description}" for s in all_tasks())
    messages = [{"role": "user", "content": ROUTER_PROMPT.format(tasks=tasks, text=text)}]
    result = resources.zoo.chat_model(model_name).generate(messages, GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0))
    return parse_plan_json(result.text)


def parse_plan_json(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer; ValueError when there is none."""
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    if not match:
        raise ValueError(f"no JSON object in model output {text[:120]!r}")
    value = json.loads(match.group(0))
    if not isinstance(value, dict):
        raise ValueError("plan JSON is not an object")
    return value
