"""Chat turns routed by the :class:`agents.router.Router`: decision -> task requests, and the thread's run memory.

The router decides; this module turns its decision into the requests the clinical graph runs
(one per step of a multi-intent turn, in order) and keeps what later turns need in the thread's
``memory``: the tasks of earlier turns (so "and aspirin?" after a drug check stays a drug check),
the patient being discussed (named in any intent of any turn, until another is named), and a
short record of each run (task, status, route, reason, evidence ids, tools) that the ``answer``
task answers "why was my last report flagged?" from.
Nothing here holds state: the router comes from the caller, the memory from the checkpoint.
"""

from __future__ import annotations

from typing import Any

from agents.chat import remember
from agents.intent import RoutingDecision
from agents.planner import input_from_text, validate_input
from agents.router import Router
from agents.router_rules import DECLINE_REASONS
from agents.tasks.base import get_task
from agents.tasks.text_inputs import patient_id_in

MAX_REMEMBERED_RUNS = 10  # the answer task reads the newest; older runs stay in the checkpoint history


def step_input(task: str, text: str, decision: RoutingDecision, memory: dict[str, Any]) -> dict[str, Any]:
    """The task input of one routed step (replies get the router's reason; answers get the thread's runs)."""
    if task == "decline":
        return {"text": text, "reason": DECLINE_REASONS.get(decision.decline_kind or "out_of_scope", DECLINE_REASONS["out_of_scope"])}
    if task == "clarify":
        return {"text": text}
    if task == "answer":
        return {"question": text, "thread": list(memory.get("runs", []))[-MAX_REMEMBERED_RUNS:]}
    return input_from_text(get_task(task), text)


def routed_requests(router: Router, text: str, memory: dict[str, Any], *, identifiers_allowed: bool = False) -> tuple[RoutingDecision, list[dict[str, Any]], dict[str, Any]]:
    """Route a chat turn; returns the decision, one validated request per step, and the updated memory.

    A declined turn becomes a single ``decline`` request (no step of it runs). Raises
    ``RequestTextError`` for bad text and ``SageError`` for input a task cannot use.
    """
    history = list(memory.get("tasks", []))
    decision = router.route(text, history, identifiers_allowed=identifiers_allowed)
    steps = [(decision.task, text)] if decision.task == "decline" else [(s.task, s.text) for s in decision.steps]
    requests: list[dict[str, Any]] = []
    memory = dict(memory)
    for task, part in steps:
        spec = get_task(task)
        raw = step_input(task, part, decision, memory)
        if task != "decline" and (named := patient_id_in(part)) is not None:
            # The patient one intent names is the subject of the later ones ("summarise patient P12
            # and check warfarin with aspirin for them"), even when that intent's task (a record
            # question) has no patient field of its own to carry it.
            memory["patient_id"] = named
        raw, memory = remember(spec.input_model, raw, memory)
        requests.append({"task": task, "input": validate_input(spec, raw), "text": part})
    memory["tasks"] = [*history, *(r["task"] for r in requests)][-MAX_REMEMBERED_RUNS:]
    return decision, requests, memory


def run_record(request: dict[str, Any], result: dict[str, Any], route_reason: str) -> dict[str, Any]:
    """What the thread remembers of one run (no clinical text, no identifiers: ids and reasons only)."""
    error = result.get("error") or {}
    return {
        "task": request.get("task"),
        "status": result.get("status"),
        "route_reason": route_reason[:300],
        "error": {"message": str(error.get("message", ""))[:300]} if error else None,
        "evidence_ids": [str(i) for i in (result.get("evidence") or {}).get("ids", [])][:20],
        "tools": list(dict.fromkeys(str(c.get("tool") or c.get("name")) for c in result.get("tool_calls") or [] if isinstance(c, dict))),
    }


def remember_runs(memory: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Memory with the newest run records appended (bounded)."""
    return {**memory, "runs": [*memory.get("runs", []), *records][-MAX_REMEMBERED_RUNS:]}
