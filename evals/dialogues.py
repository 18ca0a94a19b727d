"""Scripted clinician dialogues replayed through real chat threads, scored turn by turn.

Each dialogue (``evals/data/routing/dialogues.jsonl``) is a list of turns with the expected task,
whether the reply must cite evidence, and which memory the turn depends on (``task``: a short
follow-up continues the thread's task; ``patient``: the patient named earlier stays the subject).
Placeholders ``{pid}``, ``{case}``, ``{case2}`` are filled with real ids of the lakehouse the
dialogues run on. Every turn is also checked for leaks: no patient's MRN, name, address or phone
from the record may appear in a reply. Each turn is also routed alone, without its thread, by the
same router (``baseline_routed``): the same-run baseline that shows what the thread's memory adds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.settings import Settings

DIALOGUES = Path(__file__).resolve().parent / "data" / "routing" / "dialogues.jsonl"
IDENTIFYING = ("mrn", "given_name", "family_name", "address", "phone")


class Turn(BaseModel):
    """One scripted turn and what a right reply looks like."""

    text: str
    task: str
    evidence: bool = False
    memory: Literal["task", "patient"] | None = None


class Dialogue(BaseModel):
    """A scripted conversation of 3-8 turns."""

    id: str
    name: str
    turns: list[Turn] = Field(min_length=3, max_length=8)


class TurnScore(BaseModel):
    """How one replayed turn did."""

    dialogue: str
    turn: int
    expected: str
    routed: str
    route_ok: bool
    evidence_ok: bool | None
    memory_ok: bool | None
    leaked: bool
    baseline_routed: str = Field(description="The same router on the turn alone, without the thread (same run).")
    baseline_ok: bool


def load_dialogues(path: Path | str = DIALOGUES) -> list[Dialogue]:
    """The scripted dialogues."""
    return [Dialogue.model_validate(json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def fixture_ids(settings: Settings) -> dict[str, str]:
    """Real ids to fill the placeholders: a patient with an active medication and two train cases."""
    from lakehouse.query import QueryEngine

    engine = QueryEngine(settings)
    pid = engine.sql("SELECT patient_id FROM medications WHERE status = 'active' ORDER BY patient_id LIMIT 1").records()[0]["patient_id"]
    cases = [r["report_id"] for r in engine.sql("SELECT report_id FROM reports WHERE split = 'train' AND findings IS NOT NULL ORDER BY report_id LIMIT 2").records()]
    return {"pid": str(pid), "case": str(cases[0]), "case2": str(cases[-1])}


def identifiers(settings: Settings) -> list[str]:
    """Identifying strings of every patient (what a reply must never contain)."""
    from lakehouse.query import QueryEngine

    rows = QueryEngine(settings).sql(f"SELECT {', '.join(IDENTIFYING)} FROM patients").records()
    values = {str(r[c]) for r in rows for c in ("mrn", "address", "phone") if r.get(c)}
    values |= {f"{r['given_name']} {r['family_name']}" for r in rows if r.get("given_name") and r.get("family_name")}
    return sorted(v for v in values if len(v) >= 5)


def replay(settings: Settings, dialogues: list[Dialogue], router: Any, *, user: str = "eval-clinician", role: str = "clinician") -> list[TurnScore]:
    """Run every dialogue on its own chat thread (through the chat service) and score each turn."""
    from services.base import Caller
    from services.chat import ChatRequest
    from services.chat import turn as chat_service
    from tools.resources import Resources

    resources = Resources.for_settings(settings)
    resources.derived("router", lambda: router)  # the router under evaluation serves these turns

    ids = fixture_ids(settings)
    secrets = identifiers(settings)
    scores: list[TurnScore] = []
    for dialogue in dialogues:
        thread = f"eval-{dialogue.id}"
        for number, turn in enumerate(dialogue.turns, start=1):
            text = turn.text.format(**ids)
            reply = chat_service(resources, Caller(user=user, role=role, purpose="treatment"), ChatRequest(thread_id=thread, message=text))
            routed = "decline" if reply.status == "denied" else str(reply.task)
            evidence_ok = bool(reply.evidence_ids) if turn.evidence else None
            memory_ok = None
            if turn.memory == "patient":
                memory_ok = ids["pid"] in reply.evidence_ids
            elif turn.memory == "task":
                memory_ok = routed == turn.task
            leaked = any(secret in reply.text for secret in secrets)
            baseline = _route_alone(router, text)
            scores.append(TurnScore(dialogue=dialogue.id, turn=number, expected=turn.task, routed=routed, route_ok=routed == turn.task, evidence_ok=evidence_ok, memory_ok=memory_ok, leaked=leaked, baseline_routed=baseline, baseline_ok=baseline == turn.task))
    return scores


def _route_alone(router: Any, text: str) -> str:
    """The task the router gives a turn without its thread: the no-memory baseline of the same run."""
    from agents.intent import RequestTextError

    try:
        return str(router.route(text).task)
    except RequestTextError:
        return "error"
