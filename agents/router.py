"""The free-text router: rules for what must never be guessed, a classifier for the rest, the thread for follow-ups.

Order of a decision (:meth:`Router.route`):

1. the text is checked (empty, huge or binary requests are errors, see ``agents.intent``);
2. governance rules decline identifier requests without the right, injections and harmful asks;
3. a slash command (``/search ...``) routes to its task;
4. a short follow-up ("and aspirin?", "what about over 80?") continues the thread's last task;
5. the turn is split into its intents, and each part is classified by a logistic regression over
   all-MiniLM-L6-v2 embeddings and hashed character n-grams (fit on the dev split of
   ``evals/data/routing/requests.jsonl``); below :data:`MIN_CONFIDENCE` the router asks back
   (``clarify``) instead of guessing.

No module-level state: a :class:`Router` is built once (``Router.load``/``Router.fit``) and held
by whoever serves requests, so tests and services decide its lifetime.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from agents.classifier import SoftmaxClassifier
from agents.intent import ROUTABLE_TASKS, RoutedStep, RoutingDecision, TaskName, check_request_text
from agents.router_rules import (
    DECLINE_REASONS,
    command,
    decline_kind,
    intent_rule,
    is_follow_up,
    is_why_follow_up,
    split_intents,
)
from tools.resources import Resources

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "evals" / "data" / "routing" / "requests.jsonl"
MIN_CONFIDENCE = 0.25  # below: ask back; tuned by 5-fold cross-validation on the dev split only
DECLINE_CONFIDENCE = 0.5  # the classifier alone declines only when this sure; otherwise its runner-up serves
CLINICAL_DECLINE_CONFIDENCE = 0.8  # ... and this sure when the request names a drug, finding, patient or case
NGRAM_DIM = 1024
NGRAM_SIZES = (3, 4, 5)
# Embedding block scaled against the n-gram block. 5-fold CV on the 535-item dev split (rules + classifier;
# classifier alone in brackets): 1 -> 0.987 (0.858), 1.5 -> 0.991 (0.867), 2 -> 0.993 (0.869),
# 3 -> 0.991 (0.858), 4 -> 0.989 (0.852). MIN_CONFIDENCE 0.25 vs 0.35 and DECLINE_CONFIDENCE 0.4 vs 0.5
# made no difference at 2.
EMBED_WEIGHT = 2.0
CONTEXT_TASKS = frozenset({"report", "differential", "cohort", "interactions", "search"})
_PATIENT = re.compile(
    r"\b(?:patient|pt)\.?\s*(?:id\s*)?[:#]?\s*[A-Za-z]?\d[\w-]*|\b[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE
)

TASK_TOOLS: dict[str, tuple[str, ...]] = {
    "report": ("label_findings", "case_labels", "retrieve_similar_cases", "generate_text"),
    "differential": ("get_patient_record", "label_findings", "retrieve_similar_cases"),
    "cohort": ("query_records",),
    "interactions": ("check_interactions",),
    "search": ("retrieve_similar_cases",),
    "feedback": (),
    "answer": (),
    "clarify": (),
    "decline": (),
}


class Embedder(Protocol):
    """What the router needs of an embedder (``models.embedder.TextEmbedder``)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class RoutingExample(BaseModel):
    """One labelled request of the routing set."""

    id: str
    text: str
    task: TaskName
    split: Literal["dev", "test"]
    kind: Literal["ordinary", "ambiguous", "must_decline", "off_topic", "multi", "context"]
    steps: list[TaskName] = Field(
        default_factory=list, description="Expected tasks in order, for multi-intent turns."
    )
    tools: list[str] | None = Field(None, description="Expected tools where they matter.")
    history: list[TaskName] = Field(
        default_factory=list, description="Tasks of the thread's earlier turns (context items)."
    )


def load_examples(path: Path | str = DEFAULT_DATA, split: str | None = None) -> list[RoutingExample]:
    """The labelled requests of ``path`` (JSONL), optionally only one split."""
    rows = [
        RoutingExample.model_validate(json.loads(line))
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [r for r in rows if split is None or r.split == split]


def ngram_features(texts: Sequence[str]) -> np.ndarray:
    """Hashed character 3-5-gram counts, L2-normalised: robust to typos and shorthand ("ddx", "pt")."""
    out = np.zeros((len(texts), NGRAM_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        padded = f" {' '.join(text.lower().split())} "
        for n in NGRAM_SIZES:
            for i in range(len(padded) - n + 1):
                out[row, zlib.crc32(padded[i : i + n].encode()) % NGRAM_DIM] += 1.0
        norm = float(np.linalg.norm(out[row]))
        if norm:
            out[row] /= norm
    return out


def names_clinical(text: str) -> bool:
    """Whether a request names a known drug, a labelled finding, a patient or a case (so it is not off-topic)."""
    from agents.tasks.mentions import case_id_in, findings_in
    from agents.tasks.text_inputs import patient_id_in
    from lakehouse.knowledge.drugs import drugs_in_text

    return bool(patient_id_in(text) or case_id_in(text) or findings_in(text) or drugs_in_text(text))


def tools_for(task: str, text: str) -> list[str]:
    """Tools a step is expected to call: the task's, plus the record when the text names a patient."""
    tools = list(TASK_TOOLS.get(task, ()))
    if task == "interactions" and _PATIENT.search(text):
        tools.insert(0, "get_patient_record")
    if task == "differential" and not _PATIENT.search(text):
        tools.remove("get_patient_record")
    return tools


class Router:
    """Routes free text to a task. Build with :meth:`load` (from the repo's data) or :meth:`fit`."""

    def __init__(
        self,
        embedder: Embedder,
        classifier: SoftmaxClassifier,
        *,
        min_confidence: float = MIN_CONFIDENCE,
        use_rules: bool = True,
    ) -> None:
        self.embedder = embedder
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.use_rules = use_rules

    @classmethod
    def fit(cls, embedder: Embedder, examples: Sequence[RoutingExample], **kwargs: object) -> Router:
        """Fit the classifier on single-intent examples without thread context (deterministic)."""
        train = [e for e in examples if not e.steps and not e.history]
        if not train:
            raise ValueError("no training examples")
        features = cls._features(embedder, [e.text for e in train])
        return cls(embedder, SoftmaxClassifier.fit(features, [e.task for e in train]), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def load(cls, embedder: Embedder, data: Path | str = DEFAULT_DATA, **kwargs: object) -> Router:
        """The router fit on the dev split of the labelled set, with the installation's embedder."""
        return cls.fit(embedder, load_examples(data, split="dev"), **kwargs)

    @staticmethod
    def _features(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        return np.hstack([EMBED_WEIGHT * embedder.embed(list(texts)), ngram_features(texts)])

    def classify(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Probability per task for each text (classifier only, no rules)."""
        probs = self.classifier.predict_proba(self._features(self.embedder, texts))
        return [
            {label: float(p) for label, p in zip(self.classifier.labels, row, strict=True)} for row in probs
        ]

    def route(
        self, text: object, history: Sequence[str] = (), *, identifiers_allowed: bool = False
    ) -> RoutingDecision:
        """Decide the task(s) for one turn; ``history`` lists the thread's earlier tasks, oldest first.

        Raises:
            RequestTextError: empty, huge or binary text.
        """
        clean = check_request_text(text)
        if self.use_rules:
            if (found := decline_kind(clean, identifiers_allowed)) is not None:
                kind, matched = found
                # An injection's own words are not repeated (they would be instructions in every later echo).
                shown = "" if kind == "injection" else f": {matched!r}"
                return _single("decline", clean, "rules", f"declined: {DECLINE_REASONS[kind]} (rule {kind}{shown})", decline_kind=kind)
            if (cmd := command(clean)) is not None:
                task, rest = cmd
                return _single(task, rest or clean, "command", f"slash command /{task}")  # type: ignore[arg-type]
            last = next((t for t in reversed(history) if t in CONTEXT_TASKS), None)
            if history and is_why_follow_up(clean):
                return _single(
                    "answer",
                    clean,
                    "context",
                    f"a 'why' about the previous {history[-1]} turn is answered from its evidence",
                )
            if last and is_follow_up(clean):
                return _single(last, clean, "context", f"short follow-up of the thread's {last} turn")  # type: ignore[arg-type]
        parts = split_intents(clean) if self.use_rules else [clean]
        scored = self.classify(parts)
        steps: list[RoutedStep] = []
        confidences: list[float] = []
        fired: list[str] = []
        for part, scores in zip(parts, scored, strict=True):
            task, confidence = max(scores.items(), key=lambda kv: kv[1])
            if self.use_rules and (rule := intent_rule(part)) is not None:
                task, confidence = rule[0], 1.0
                fired.append(f"{rule[0]} (rule {rule[1]})")
            else:
                # A decline costs a clinician an answer: the classifier alone declines only when sure,
                # and surer still when the text names something clinical (a drug, a finding, a patient,
                # a case); the governance rules above decline the unsafe asks whatever they name.
                if task == "decline" and confidence < (
                    CLINICAL_DECLINE_CONFIDENCE if names_clinical(part) else DECLINE_CONFIDENCE
                ):
                    task, confidence = sorted(scores.items(), key=lambda kv: -kv[1])[1]
                if confidence < self.min_confidence:
                    task = "clarify"
            confidences.append(confidence)
            if steps and steps[-1].task == task:
                steps[-1] = RoutedStep(task=task, text=f"{steps[-1].text}; {part}", tools=steps[-1].tools)  # type: ignore[arg-type]
            else:
                steps.append(RoutedStep(task=task, text=part, tools=[]))  # type: ignore[arg-type]
        if len(steps) == 1:
            steps = [RoutedStep(task=steps[0].task, text=clean, tools=[])]
        elif any(
            s.task == "clarify" for s in steps
        ):  # a vague part next to a clear one: serve the clear ones
            steps = [s for s in steps if s.task != "clarify"]
        steps = [s.model_copy(update={"tools": tools_for(s.task, s.text)}) for s in steps]
        scores = scored[0]
        ranked = ", ".join(f"{k}={v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:3])
        first = steps[0].task
        if first == "clarify" and max(scores.values()) < self.min_confidence:
            reason = f"no task is likely enough (best {ranked}; below {self.min_confidence:.2f}): ask back"
        elif first == "clarify":
            reason = f"classifier: {ranked}; too vague to act on: ask back"
        elif len(steps) > 1:
            reason = (
                f"{len(steps)} requests in one turn, served in order: {' -> '.join(s.task for s in steps)}"
            )
        else:
            reason = f"classifier: {ranked}"
        if fired:
            reason = f"{reason}; rules: {', '.join(fired)}"
        decline = "out_of_scope" if any(s.task == "decline" for s in steps) else None
        chosen: TaskName = "decline" if decline else first
        return RoutingDecision(
            task=chosen,
            steps=steps,
            method="rules" if fired and len(fired) == len(parts) else "classifier",
            confidence=round(min(confidences), 4),
            reason=reason,
            decline_kind=decline,
            scores={k: round(v, 4) for k, v in scores.items()},
        )


def _single(
    task: TaskName, text: str, method: str, reason: str, decline_kind: str | None = None
) -> RoutingDecision:
    step = RoutedStep(task=task, text=text, tools=tools_for(task, text))
    return RoutingDecision(
        task=task, steps=[step], method=method, confidence=1.0, reason=reason, decline_kind=decline_kind
    )  # type: ignore[arg-type]


__all__ = ["ROUTABLE_TASKS", "Router", "RoutingExample", "load_examples", "tools_for"]


def router_for(resources: Resources) -> Router:
    """The installation's router, fit once (a second or two) and kept on its Resources."""
    return resources.derived("router", lambda: Router.load(resources.embedder))
